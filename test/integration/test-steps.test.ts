import { execFile } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/server.js'
import { tempDir } from '../helpers/temp.js'

const exec = promisify(execFile)

/** Runs `test-steps` as `npm run test-steps -- ...` would, from the repo root unless told otherwise. */
async function testSteps(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return testStepsIn(ROOT, ...args)
}

async function testStepsIn(cwd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [join(ROOT, 'dist/cli/test-steps.js'), ...args], { cwd, env: { PATH: process.env['PATH'] } })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

/** A folder in the system temp dir for one test, removed after it whatever happens. */
async function inTempDir(use: (dir: string) => Promise<void>): Promise<void> {
  const dir = tempDir('step-tests-')
  try {
    await use(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const STATIC_STEP = 'version: 1\nsteps:\n  a:\n    exit_code: success\n'
const USAGE_START = 'usage: npm run test-steps -- [steps.yaml] [--step NAME] [--grep PATTERN] [--trace | --trace-all]\n'

describe('npm run test-steps', () => {
  it("passes the repo's own step tests, with a line per test and the closing count", async () => {
    const result = await testSteps()
    expect(result.code).toBe(0)
    const out = result.stdout.trim().split('\n')
    expect(out.at(-1)).toMatch(/^(\d+) passed, 0 failed$/)
    expect(out.slice(0, -1).every((line) => line.startsWith('✓ '))).toBe(true)
    expect(out).toContain('✓ fetch_customer retries a 503 and uses the answer after it (fetch_customer)')
  })

  it('runs a subset with --step and --grep, and prints traces with --trace (failing tests) and --trace-all', async () => {
    const only = await testSteps('test/fixtures/step-tests/charges.yaml', '--step', 'greet')
    expect(only.stdout.trim().split('\n').filter((l) => /^[✓✗]/.test(l))).toEqual(['✗ expects other data (greet)'])
    const grep = await testSteps('test/fixtures/step-tests/charges.yaml', '--grep', '^charges')
    expect(grep.stdout).toMatch(/^✓ charges the card \(charge_card\)\n1 passed, 0 failed\n$/)

    const traced = await testSteps('test/fixtures/step-tests/charges.yaml', '--trace')
    // The failing greet test's trace, indented under it; none under the passing test.
    expect(traced.stdout).toMatch(/✗ expects other data \(greet\)\n(?: {4}.*\n)*? {4}trace of greet request_id mqr_test, .*\n {6}transform +[\d.]+ ms\n {10}result: \{"hello":"Ada"\}\n {6}answer +\{"exit_code":"success","data":\{"hello":"Ada"\}\}\n/)
    expect(traced.stdout).toMatch(/✓ charges the card \(charge_card\)\n✗/)
    const all = await testSteps('test/fixtures/step-tests/charges.yaml', '--trace-all', '--step', 'charge_card', '--grep', 'charges the card')
    expect(all.stdout).toMatch(/✓ charges the card \(charge_card\)\n {4}trace of charge_card .*\n {6}transform .*\n(?: {10}.*\n)* {6}request .*\n(?: {10}.*\n)* {6}attempt 1 .*\n {10}method: POST\n/)
    expect(all.stdout).toContain('authorization":"[redacted]"')
    expect((await testSteps('test/fixtures/step-tests/charges.yaml', '--grep', '('))).toMatchObject({ code: 2, stderr: expect.stringContaining('test-steps: --grep: Invalid regular expression') })
  })

  describe('on tests that fail', async () => {
    const result = await testSteps('test/fixtures/step-tests/charges.yaml')
    const report = result.stdout

    it('runs an HTTP step offline against the answers in the test, env from the test file', () => {
      expect(report).toContain('✓ charges the card (charge_card)\n')
    })

    it('shows a readable diff of expected and actual data', () => {
      expect(report).toContain("✗ expects other data (greet)\n    data differs:\n    + actual - expected\n    \n      {\n    +   hello: 'Ada'\n    -   hello: 'Grace'\n      }\n")
    })

    it('fails a test whose step makes a request that nothing answers', () => {
      expect(report).toContain('✗ makes a request nobody answers (charge_card)\n    request 1 (POST /v1/users/u1/charges) has no upstream answer')
    })

    it('compares the requests made, and reports answers left unused', () => {
      expect(report).toContain('1 of the 2 upstream answers were not used: the step made 1 request')
      expect(report).toContain('request 1: expected PUT /v1/users/u2/charges, got POST /v1/users/u1/charges')
      expect(report).toContain('request 1 body differs:')
    })

    it('ends with the count and exits 1', () => {
      expect(report.trim().split('\n').at(-1)).toBe('1 passed, 3 failed')
      expect(result.code).toBe(1)
    })
  })

  it('finds path/to/steps.test.yaml for path/to/steps.yaml', () =>
    inTempDir(async (dir) => {
      writeFileSync(join(dir, 'steps.yaml'), STATIC_STEP)
      writeFileSync(join(dir, 'steps.test.yaml'), 'tests:\n  - { name: a, step: a, expect: { exit_code: failure } }\n')
      expect(await testSteps(join(dir, 'steps.yaml'))).toMatchObject({ code: 1, stdout: '✗ a (a)\n    exit_code: expected "failure", got "success"\n0 passed, 1 failed\n' })
    }))

  it('fails (exit 2) on a steps file named explicitly that is not there, naming it', async () => {
    expect(await testSteps('stpes.yaml')).toEqual({ code: 2, stdout: '', stderr: 'test-steps: stpes.yaml: steps file not found\n' })
  })

  it('fails (exit 2) when a steps file named explicitly has no step tests beside it, naming the path looked for', async () => {
    expect(await testSteps('test/fixtures/lint/clean.yaml')).toEqual({
      code: 2,
      stdout: '',
      stderr: 'test-steps: test/fixtures/lint/clean.test.yaml: step tests file not found (the tests of test/fixtures/lint/clean.yaml live beside it)\n',
    })
  })

  it('refuses a step-tests file given as the steps file, naming the steps file to pass (exit 2)', async () => {
    expect(await testSteps('steps.test.yaml')).toEqual({ code: 2, stdout: '', stderr: 'test-steps: steps.test.yaml: that is a step-tests file; pass the steps file it tests: steps.yaml\n' })
    expect(await testSteps('test/fixtures/step-tests/charges.test.yaml')).toMatchObject({
      code: 2,
      stderr: 'test-steps: test/fixtures/step-tests/charges.test.yaml: that is a step-tests file; pass the steps file it tests: test/fixtures/step-tests/charges.yaml\n',
    })
  })

  it('without an argument, lets the steps.test.yaml beside ./steps.yaml be absent (exit 0), but not ./steps.yaml itself (exit 2)', () =>
    inTempDir(async (dir) => {
      expect(await testStepsIn(dir)).toEqual({ code: 2, stdout: '', stderr: 'test-steps: steps.yaml: steps file not found\n' })
      writeFileSync(join(dir, 'steps.yaml'), STATIC_STEP)
      expect(await testStepsIn(dir)).toEqual({ code: 0, stdout: 'no step tests: steps.test.yaml does not exist\n0 passed, 0 failed\n', stderr: '' })
    }))

  it('prints its usage with --help and -h (exit 0), and with an unknown option (exit 2)', async () => {
    for (const flag of ['--help', '-h']) {
      const result = await testSteps(flag)
      expect(result).toMatchObject({ code: 0, stderr: '' })
      expect(result.stdout.startsWith(USAGE_START)).toBe(true)
      expect(result.stdout).toContain('2 when a file is missing or cannot be read')
    }
    const unknown = await testSteps('--bogus')
    expect(unknown).toMatchObject({ code: 2, stdout: '' })
    expect(unknown.stderr).toMatch(/^test-steps: Unknown option '--bogus'/)
    expect(unknown.stderr).toContain(USAGE_START)
  })

  it('on a steps file that does not parse, prints its parse error alone, inside the file, and runs nothing', async () => {
    const result = await testSteps('test/fixtures/lint/unclosed.yaml')
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr:
        "test/fixtures/lint/unclosed.yaml:8:9: error: this '[' is never closed: Flow sequence in block collection must be sufficiently indented and end with a ]\n" +
        'test-steps: fix the errors above first (npm run lint-steps shows them too)\n',
    })
    expect(readFileSync(join(ROOT, 'test/fixtures/lint/unclosed.yaml'), 'utf8').trimEnd().split('\n')).toHaveLength(8)
  })

  it('refuses to run when the files have errors, printing them', async () => {
    const result = await testSteps('test/fixtures/lint/test-unknown-step.yaml')
    expect(result.code).toBe(1)
    expect(result.stderr).toContain("test/fixtures/lint/test-unknown-step.test.yaml:6:11: error: test 'refunds' names step 'refund'")
  })
})
