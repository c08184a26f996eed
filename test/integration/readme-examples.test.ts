import { execFile } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { readmeBlock } from '../helpers/readme.js'
import { ROOT, startServer, TEST_KEY } from '../helpers/server.js'

const exec = promisify(execFile)

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

async function run(file: string, args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  try {
    const { stdout, stderr } = await exec(file, args, { cwd: ROOT, env: { PATH: process.env['PATH'], ...env } })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

const cli = (name: string, args: readonly string[], env?: Record<string, string>) => run(process.execPath, [join(ROOT, 'dist/cli', `${name}.js`), ...args], env)

/** The bundled steps file and every example: each a steps.yaml with its steps.test.yaml. */
const EXAMPLES = ['steps.yaml', ...readdirSync(join(ROOT, 'examples')).map((dir) => join('examples', dir, 'steps.yaml'))]

describe('the bundled steps and every example in examples/', () => {
  it('finds the examples', () => {
    expect(EXAMPLES).toContain('examples/charge/steps.yaml')
    for (const steps of EXAMPLES) expect(existsSync(join(ROOT, steps.replace(/\.yaml$/, '.test.yaml'))), `${steps} has no step tests`).toBe(true)
  })

  for (const steps of EXAMPLES) {
    it(`${steps}: lint-steps finds no error and no warning, with the \${VAR}s its step tests set`, async () => {
      const tests = parse(readFileSync(join(ROOT, steps.replace(/\.yaml$/, '.test.yaml')), 'utf8')) as { env?: Record<string, string> }
      const result = await cli('lint-steps', [steps, '--format', 'json'], tests.env)
      expect(JSON.parse(result.stdout)).toEqual([])
      expect(result.code).toBe(0)
    })

    it(`${steps}: every step test passes`, async () => {
      const result = await cli('test-steps', [steps])
      const lines = result.stdout.trim().split('\n')
      expect(lines.slice(0, -1).filter((l) => !l.startsWith('✓ '))).toEqual([])
      expect(lines.at(-1)).toMatch(/^[1-9]\d* passed, 0 failed$/)
      expect(result.code).toBe(0)
    })
  }
})

describe('npm run send, as the README shows it', () => {
  it('prints what the README says its commands print, with the context the README documents', async () => {
    const server = await startServer()
    try {
      // The README's commands, run by a shell; `npm run send --` is the built CLI without npm's build first.
      const commands = readmeBlock('commands: send').text.replaceAll('npm run send --', `"${process.execPath}" dist/cli/send.js`)
      const result = await run('sh', ['-c', `set -e\n${commands}`], { PORT: new URL(server.url).port, SIGNATURE_KEY: TEST_KEY })
      expect(result.stderr).toBe('')
      expect(result.stdout).toBe(readmeBlock('output: send').text)

      const answeredLines = () =>
        server
          .output()
          .stdout.split('\n')
          .filter((l) => l.includes('"step answered"'))
          .map((l) => JSON.parse(l) as Record<string, unknown>)
      // Log lines are written asynchronously: they trail the answers.
      await expect.poll(() => answeredLines().length).toBe(2)
      const answered = answeredLines()
      for (const line of answered) expect(line).toMatchObject({ flow_id: 'manual_flow', request_id: expect.stringMatching(/^mqr_[0-9a-f]{32}$/), key_index: 0 })
    } finally {
      await server.stop()
    }
  })

  it('signs with the first key of SIGNATURE_KEY, split and trimmed as the server does, and refuses what the server refuses', async () => {
    const keys = ` ${TEST_KEY} ,\twsk_second_key_0123456789 `
    const server = await startServer({ env: { SIGNATURE_KEY: keys } })
    try {
      const sent = await cli('send', ['step_c', '--url', `${server.url}/hook`], { SIGNATURE_KEY: keys })
      expect(sent).toMatchObject({ code: 0, stdout: expect.stringMatching(/^HTTP 200\n/) })
      // Log lines are written asynchronously: they trail the answer.
      await expect.poll(() => server.output().stdout).toMatch(/"step_name":"step_c","exit_code":"success","status":200,.*"key_index":0/)
    } finally {
      await server.stop()
    }
    for (const bad of [`${TEST_KEY},,other`, `,${TEST_KEY}`, `${TEST_KEY},`]) {
      const sent = await cli('send', ['step_c', '--url', 'http://127.0.0.1:9/hook'], { SIGNATURE_KEY: bad })
      expect(sent).toMatchObject({ code: 2, stdout: '', stderr: 'send: SIGNATURE_KEY has an empty key between commas\n' })
    }
  })

  it('sends the step named on the command line, whatever --context says', async () => {
    const server = await startServer()
    try {
      const sent = await cli('send', ['step_c', '--url', `${server.url}/hook`, '--context', '{"step_name": "step_a", "flow_id": "f_1"}'], { SIGNATURE_KEY: TEST_KEY })
      expect(JSON.parse(sent.stdout.slice(sent.stdout.indexOf('{')))).toEqual({ exit_code: 'success', data: { myOutput: 'myValue' } })
      await expect.poll(() => server.output().stdout).toContain('"flow_id":"f_1","step_name":"step_c"')
    } finally {
      await server.stop()
    }
  })
})

describe('npm run dev', () => {
  it("shows the server's pid in every pretty log line, for kill -HUP", async () => {
    const server = await startServer({ args: ['--dev'] })
    try {
      // The step tests' count is logged last at start-up: every line before it is out.
      await expect.poll(() => server.output().stdout).toContain('step tests: ')
      const logLines = server.output().stdout.split('\n').filter((l) => l.startsWith('['))
      expect(logLines.find((l) => l.includes('serving 4 steps'))).toBeDefined()
      for (const line of logLines) expect(line).toMatch(new RegExp(`^\\[\\d\\d:\\d\\d:\\d\\d\\.\\d{3}\\] [A-Z]+ \\(${server.process.pid}\\): `))
    } finally {
      await server.stop()
    }
  })
})
