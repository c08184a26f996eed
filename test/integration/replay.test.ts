import { join } from 'node:path'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { callStep, payloadFor, post, ROOT, signedBody, startServer, TEST_KEY, type RunningServer } from '../helpers/server.js'
import { json, startUpstream, type TestUpstream } from '../helpers/upstream.js'
import { metricSample } from '../helpers/logs.js'

const SECOND_KEY = 'wsk_second_0123456789abcdefghijklmnop'

describe('the replay cache (in memory, REPLAY_TTL_S at its default)', () => {
  let upstream: TestUpstream
  let server: RunningServer
  let charges = 0

  beforeAll(async () => {
    upstream = await startUpstream()
    // Each charge takes a while, so that duplicates arrive while it runs.
    upstream.on('/charge', (_req, res) => {
      const id = `ch_${++charges}`
      setTimeout(() => json(res, 201, { id }), 150)
    })
    server = await startServer({
      stepsFile: join(ROOT, 'test/fixtures/replay/steps.yaml'),
      env: { UPSTREAM: upstream.url, SIGNATURE_KEY: `${TEST_KEY},${SECOND_KEY}`, REPLAY_TTL_S: undefined },
    })
  })
  afterAll(async () => {
    await server.stop()
    await upstream.close()
  })

  it('runs 20 concurrent identical requests once: the upstream sees one call, every answer is the same, the others say they are replays', async () => {
    const body = signedBody(payloadFor('charge', { data: { amount: 5 }, context: { request_id: 'mqr_replay_1' } }))
    const answers = await Promise.all(Array.from({ length: 20 }, () => post(server, body)))
    expect(upstream.seen('/charge')).toHaveLength(1)
    expect(new Set(answers.map((a) => a.text))).toEqual(new Set([JSON.stringify({ exit_code: 'success', data: { charge: 'ch_1' } })]))
    expect(answers.every((a) => a.status === 200)).toBe(true)
    expect(answers.filter((a) => a.headers['x-step-runner-replay'] === undefined)).toHaveLength(1)
    expect(answers.filter((a) => a.headers['x-step-runner-replay'] === 'true')).toHaveLength(19)
    expect(await metricSample(server, 'replay_waits_total{step="charge"}')).toBe(19)
  })

  it('answers the same payload again from the cache, whichever key signed it, byte for byte', async () => {
    const payload = payloadFor('charge', { data: { amount: 5 }, context: { request_id: 'mqr_replay_1' } })
    const first = await post(server, signedBody(payload, SECOND_KEY))
    expect(first).toMatchObject({ status: 200, text: JSON.stringify({ exit_code: 'success', data: { charge: 'ch_1' } }) })
    expect(first.headers).toMatchObject({ 'x-step-runner-replay': 'true', 'content-type': 'application/json; charset=utf-8' })
    expect(upstream.seen('/charge')).toHaveLength(1)
    expect(await metricSample(server, 'replays_total{step="charge"}')).toBe(1)
  })

  it('runs a payload that differs in anything, such as its request_id', async () => {
    const answer = await callStep(server, 'charge', { data: { amount: 5 }, context: { request_id: 'mqr_replay_2' } })
    expect(answer.body).toEqual({ exit_code: 'success', data: { charge: 'ch_2' } })
    expect(answer.headers['x-step-runner-replay']).toBeUndefined()
    expect(upstream.seen('/charge')).toHaveLength(2)
  })

  it('does not keep the answer of a run whose caller went away: the next identical request runs', async () => {
    const body = signedBody(payloadFor('charge', { data: { amount: 7 }, context: { request_id: 'mqr_replay_3' } }))
    const gone = new AbortController()
    const abandoned = request(`${server.url}/hook`, { method: 'POST', body, headers: { 'content-type': 'application/json' }, signal: gone.signal }).catch(() => undefined)
    const cancelled = upstream.closedBy('/charge')
    // Wait until the call reached the upstream, then hang up: the step's call is cancelled.
    while (upstream.seen('/charge').length < 3) await new Promise((r) => setTimeout(r, 5))
    gone.abort()
    await abandoned
    await cancelled
    const again = await post(server, body)
    expect(again.headers['x-step-runner-replay']).toBeUndefined()
    expect(again.body).toMatchObject({ exit_code: 'success' })
    expect(upstream.seen('/charge')).toHaveLength(4)
  })
})

describe('REPLAY_TTL_S=0', () => {
  it('runs every request, identical or not', async () => {
    const server = await startServer({ stepsFile: join(ROOT, 'test/fixtures/replay/steps.yaml'), env: { UPSTREAM: 'http://127.0.0.1:9', REPLAY_TTL_S: '0' } })
    try {
      const body = signedBody(payloadFor('hello', { data: { name: 'Ada' } }))
      const answers = await Promise.all([post(server, body), post(server, body)])
      for (const answer of answers) expect(answer.headers['x-step-runner-replay']).toBeUndefined()
      expect(await metricSample(server, 'step_runs_total{step="hello",exit_code="success"}')).toBe(2)
    } finally {
      await server.stop()
    }
  })
})
