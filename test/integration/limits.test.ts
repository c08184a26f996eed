import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { callStep, ROOT, startServer, type RunningServer } from '../helpers/server.js'

const STEPS = 'test/fixtures/limits/steps.yaml'

describe('expression limits, per step, on the real server', () => {
  let server: RunningServer
  beforeAll(async () => {
    // Relative, as an operator would give it: details.at names the file so.
    server = await startServer({ stepsFile: STEPS, cwd: ROOT })
  })
  afterAll(async () => {
    await server.stop()
  })

  const failure = async (step: string, data?: unknown) => {
    const answer = await callStep(server, step, data === undefined ? {} : { data })
    expect(answer.status).toBe(200)
    return answer.body as { exit_code: string; data?: { error?: { code: string; message: string; details: { code: string; at: string } } } }
  }

  it('fails a step past its limit with transform_failed, the limit in details.code and the expression in details.at', async () => {
    expect(await failure('endless')).toEqual({
      exit_code: 'failure',
      data: { error: { code: 'transform_failed', message: 'transform failed: the evaluation took longer than 300 ms (limits.timeout_ms)', details: { code: 'timeout', message: 'the evaluation took longer than 300 ms (limits.timeout_ms)', at: `${STEPS}:10:17` } } },
    })
    expect((await failure('split', { text: 'x'.repeat(2000) })).data?.error?.details).toMatchObject({ code: 'items', at: `${STEPS}:16:17` })
    expect((await failure('deep', { n: 60 })).data?.error?.details).toMatchObject({ code: 'depth', at: `${STEPS}:24:17` })
    expect(await failure('deep', { n: 40 })).toEqual({ exit_code: 'success', data: 40 })
  })

  it("takes a step's own limits over the file's defaults, key by key", async () => {
    expect(await failure('generous', { text: 'x'.repeat(2000) })).toEqual({ exit_code: 'success', data: 2000 })
  })

  it('refuses to build a string that would exhaust the heap, and goes on serving', async () => {
    const answer = await failure('padded', { width: 150_000_000 })
    expect(answer.data?.error).toMatchObject({ code: 'transform_failed', details: { code: 'string_length' } })
    expect(await failure('cheap')).toEqual({ exit_code: 'success' })
    expect(server.process.exitCode).toBeNull()
  })
})
