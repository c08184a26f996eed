import { execFile } from 'node:child_process'
import { cpSync, statSync, symlinkSync, utimesSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/server.js'
import { tempDir } from '../helpers/temp.js'

const run = promisify(execFile)

describe('scripts/build-if-changed.mjs (what send, lint-steps, test-steps, start and dev run first)', () => {
  // Two runs of tsc: seconds each, more on a loaded machine.
  it('builds a tree never built, then not again until a source changes', { timeout: 120_000 }, async () => {
    const dir = tempDir('step-runner-build-')
    for (const entry of ['src', 'scripts', 'schemas', 'tsconfig.json', 'package.json', 'package-lock.json']) cpSync(join(ROOT, entry), join(dir, entry), { recursive: true })
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
    const script = join(dir, 'scripts/build-if-changed.mjs')
    // The stamp carries the time of the last build's start.
    const stamp = join(dir, 'dist/.build-stamp')
    // Sources from the past, as a checkout leaves them.
    const past = new Date(Date.now() - 60_000)
    utimesSync(join(dir, 'src/main.ts'), past, past)

    await run(process.execPath, [script], { cwd: dir })
    const first = statSync(stamp).mtimeMs
    expect(statSync(join(dir, 'dist/main.js')).isFile()).toBe(true)
    await run(process.execPath, [script], { cwd: dir })
    expect(statSync(stamp).mtimeMs).toBe(first)

    // A save: the next call builds again.
    const later = new Date(Date.now() + 1000)
    utimesSync(join(dir, 'src/main.ts'), later, later)
    await run(process.execPath, [script], { cwd: dir })
    expect(statSync(stamp).mtimeMs).toBeGreaterThan(first)
    const { stdout } = await run(process.execPath, [join(dir, 'dist/cli/send.js'), '--help'], { cwd: dir })
    expect(stdout).toContain('usage')
  })
})
