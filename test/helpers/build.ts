import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * vitest global setup: compile src/ to dist/ so the tests start the real
 * server, and make one folder for every temporary file of the run (see
 * tempDir), removed at the end whatever the tests left in it.
 */
export default function setup(): () => void {
  const root = fileURLToPath(new URL('../..', import.meta.url))
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.'], { cwd: root, stdio: 'inherit' })
  const temp = mkdtempSync(join(tmpdir(), 'step-runner-tests-'))
  process.env['STEP_RUNNER_TEST_TMP'] = temp
  return () => rmSync(temp, { recursive: true, force: true })
}
