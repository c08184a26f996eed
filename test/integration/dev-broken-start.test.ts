import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { callStep, runServerToExit, startServer } from '../helpers/server.js'
import { tempDir } from '../helpers/temp.js'
import { eventually } from '../helpers/wait.js'

const GOOD = 'version: 1\nsteps:\n  greet:\n    transform: \'{ "hello": $data.name }\'\n    exit_code: success\n'
const BROKEN = 'version: 1\nsteps:\n  greet:\n    transform: \'{ "hello": $data.name \'\n    exit_code: success\n'

describe('npm run dev on a steps file that is broken at start', () => {
  it('keeps running: /hook answers 503 with the errors, /readyz 503, and the first valid save starts serving', async () => {
    const dir = tempDir('step-runner-dev-broken-')
    const steps = join(dir, 'steps.yaml')
    writeFileSync(steps, BROKEN)
    const server = await startServer({ stepsFile: steps, args: ['--dev'], cwd: dir })
    try {
      const refused = await callStep(server, 'greet', { data: { name: 'Ada' } })
      expect(refused.status).toBe(503)
      expect(refused.body).toMatchObject({ error: expect.stringContaining('no valid config is loaded yet'), errors: [expect.stringMatching(/steps\.yaml:4:\d+: error: .*JSONata syntax error/)] })
      expect((await fetch(`${server.url}/readyz`)).status).toBe(503)
      const health = (await (await fetch(`${server.url}/healthz`)).json()) as { config: { last_reload: { ok: boolean; errors: string[] } } }
      expect(health.config.last_reload.ok).toBe(false)

      writeFileSync(steps, GOOD)
      const answer = await eventually(() => callStep(server, 'greet', { data: { name: 'Ada' } }), (a) => a.status === 200)
      expect(answer.body).toEqual({ exit_code: 'success', data: { hello: 'Ada' } })
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200)
    } finally {
      await server.stop()
    }
  })

  it('npm start still refuses to start on it', async () => {
    const dir = tempDir('step-runner-start-broken-')
    writeFileSync(join(dir, 'steps.yaml'), BROKEN)
    const result = await runServerToExit({ stepsFile: join(dir, 'steps.yaml') })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('not started: 1 error')
  })
})

describe('npm run dev and data_schema', () => {
  it("warns when a success answer's data does not match its step's data_schema", async () => {
    const dir = tempDir('step-runner-dev-schema-')
    const steps = join(dir, 'steps.yaml')
    writeFileSync(steps, 'version: 1\nsteps:\n  total:\n    transform: \'{ "total": $string($data.n) }\'\n    exit_code: success\n    data_schema: { type: object, properties: { total: { type: number } } }\n')
    const server = await startServer({ stepsFile: steps, args: ['--dev'], cwd: dir })
    try {
      // The answer itself is unchanged: the warning is for the developer.
      expect((await callStep(server, 'total', { data: { n: 12 } })).body).toEqual({ exit_code: 'success', data: { total: '12' } })
      await eventually(async () => server.output().stdout, (out) => out.includes('the answer of total does not match its data_schema'))
      expect(server.output().stdout).toContain('data.total must be number')
      // And the run is flagged in its trace (the console marks it in its list of runs).
      const [trace] = (await (await fetch(`${server.url}/dev/runs`)).json()) as { data_schema_errors?: string }[]
      expect(trace!.data_schema_errors).toBe('data.total must be number')
    } finally {
      await server.stop()
    }
  })
})
