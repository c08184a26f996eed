import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** vitest global setup: compile src/ to dist/ so the tests start the real server. */
export default function setup(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url))
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.'], { cwd: root, stdio: 'inherit' })
}
