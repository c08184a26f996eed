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

describe('isolation: hostile evaluations run apart from other requests', () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startServer({ stepsFile: STEPS, cwd: ROOT, env: { SHUTDOWN_TIMEOUT_MS: '10000' } })
  })
  afterAll(async () => {
    await server.stop()
  })

  it('answers a cheap step while ten evaluations that never end run, then fails each of them on timeout', async () => {
    const order: string[] = []
    const hostile = Array.from({ length: 10 }, () => callStep(server, 'spinning').then((answer) => (order.push('spinning'), answer)))
    const cheap = await callStep(server, 'cheap')
    order.push('cheap')
    expect(cheap.body).toEqual({ exit_code: 'success' })
    for (const answer of await Promise.all(hostile)) {
      expect(answer.status).toBe(200)
      expect(answer.body).toMatchObject({ exit_code: 'failure', data: { error: { code: 'transform_failed', details: { code: 'timeout', at: `${STEPS}:46:17` } } } })
    }
    // The cheap step did not wait for any of them.
    expect(order[0]).toBe('cheap')
    expect(server.process.exitCode).toBeNull()
  })

  it('fails an evaluation that exhausts its memory with `memory`, and the process goes on', async () => {
    const answer = await callStep(server, 'hog', { data: { n: 100_000 } })
    expect(answer.body).toMatchObject({ exit_code: 'failure', data: { error: { code: 'transform_failed', details: { code: 'memory', at: `${STEPS}:42:17` } } } })
    expect((await callStep(server, 'cheap')).body).toEqual({ exit_code: 'success' })
    expect(server.process.exitCode).toBeNull()
  })

  it('does legitimate heavy work: $sort of 40,000 numbers, $distinct of 20,000 objects, a regex that backtracking engines choke on', async () => {
    const numbers = Array.from({ length: 40_000 }, (_, i) => (i * 7919) % 40_000)
    expect((await callStep(server, 'sorted', { data: { numbers } })).body).toEqual({ exit_code: 'success', data: [0, 39_999] })
    const items = Array.from({ length: 20_000 }, (_, i) => ({ id: i % 5_000, tags: ['a', 'b'] }))
    expect((await callStep(server, 'distinct', { data: { items } })).body).toEqual({ exit_code: 'success', data: 5_000 })
    // The whole list, made on an evaluation thread and answered as the JSON text it sent back.
    const list = await callStep(server, 'distinct_list', { data: { items } })
    expect(list.text).toBe(JSON.stringify({ exit_code: 'success', data: { items: items.slice(0, 5_000) } }))
    expect((await callStep(server, 'backtracking', { data: { text: `${'a'.repeat(40)}!` } })).body).toEqual({ exit_code: 'success', data: false })
  })

  it('on SIGTERM during hostile evaluations, answers every request sent before it and exits 0', async () => {
    const own = await startServer({ stepsFile: STEPS, cwd: ROOT, env: { SHUTDOWN_TIMEOUT_MS: '5000' } })
    const hostile = Array.from({ length: 10 }, () => callStep(own, 'spinning'))
    const sorted = callStep(own, 'sorted', { data: { numbers: [3, 1, 2] } })
    // The requests are in: each has been logged as received, or is being evaluated.
    await new Promise((resolve) => setTimeout(resolve, 200))
    const exited = own.stop('SIGTERM')
    for (const answer of await Promise.all(hostile)) expect(answer.body).toMatchObject({ exit_code: 'failure', data: { error: { details: { code: 'timeout' } } } })
    expect((await sorted).body).toEqual({ exit_code: 'success', data: [1, 3] })
    expect(await exited).toBe(0)
  })
})
