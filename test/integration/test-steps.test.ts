import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/server.js'

const exec = promisify(execFile)

async function testSteps(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [join(ROOT, 'dist/cli/test-steps.js'), ...args], { cwd: ROOT, env: { PATH: process.env['PATH'] } })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

describe('npm run test-steps', () => {
  it("passes the repo's own step tests, with a line per test and the closing count", async () => {
    const result = await testSteps()
    expect(result.code).toBe(0)
    const out = result.stdout.trim().split('\n')
    expect(out.at(-1)).toMatch(/^(\d+) passed, 0 failed$/)
    expect(out.slice(0, -1).every((line) => line.startsWith('✓ '))).toBe(true)
    expect(out).toContain('✓ fetch_customer retries a 503 and uses the answer after it (fetch_customer)')
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

  it('finds path/to/steps.test.yaml for path/to/steps.yaml, and says when there is none', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'step-tests-'))
    writeFileSync(join(dir, 'steps.yaml'), 'version: 1\nsteps:\n  a:\n    exit_code: success\n')
    expect(await testSteps(join(dir, 'steps.yaml'))).toMatchObject({ code: 0, stdout: `no step tests: ${join(dir, 'steps.test.yaml')} does not exist\n0 passed, 0 failed\n` })
    writeFileSync(join(dir, 'steps.test.yaml'), 'tests:\n  - { name: a, step: a, expect: { exit_code: failure } }\n')
    expect(await testSteps(join(dir, 'steps.yaml'))).toMatchObject({ code: 1, stdout: '✗ a (a)\n    exit_code: expected "failure", got "success"\n0 passed, 1 failed\n' })
  })

  it('refuses to run when the files have errors, printing them', async () => {
    const result = await testSteps('test/fixtures/lint/test-unknown-step.yaml')
    expect(result.code).toBe(1)
    expect(result.stderr).toContain("test/fixtures/lint/test-unknown-step.test.yaml:6:11: error: test 'refunds' names step 'refund'")
  })
})
