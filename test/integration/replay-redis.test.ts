import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { callStep, payloadFor, post, ROOT, signedBody, startServer, type RunningServer } from '../helpers/server.js'
import { startRedis, type TestRedis } from '../helpers/redis.js'
import { json, startUpstream, type TestUpstream } from '../helpers/upstream.js'
import { metricSample } from '../helpers/logs.js'

describe('the replay cache on a real redis-server, shared by two server processes', () => {
  let redis: TestRedis
  let upstream: TestUpstream
  let servers: RunningServer[]
  let charges = 0

  beforeAll(async () => {
    redis = await startRedis()
    upstream = await startUpstream()
    upstream.on('/charge', (_req, res) => {
      const id = `ch_${++charges}`
      setTimeout(() => json(res, 201, { id }), 150)
    })
    const env = { UPSTREAM: upstream.url, REDIS_URL: redis.url, REPLAY_TTL_S: undefined, REDIS_TIMEOUT_MS: '300' }
    const stepsFile = join(ROOT, 'test/fixtures/replay/steps.yaml')
    servers = await Promise.all([startServer({ stepsFile, env }), startServer({ stepsFile, env })])
    // Both connected: a first request through each uses the store.
    for (const server of servers) {
      for (;;) {
        await callStep(server, 'hello', { data: { name: `warm-${server.url}` } })
        if ((await metricSample(server, 'replay_store_errors_total')) === 0) break
        await new Promise((r) => setTimeout(r, 50))
      }
    }
  })
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()))
    await upstream.close()
    await redis.kill()
  })

  it('20 concurrent identical requests split across both: the upstream sees exactly one call, all 20 answers are identical', async () => {
    const body = signedBody(payloadFor('charge', { data: { amount: 5 }, context: { request_id: 'mqr_redis_1' } }))
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => post(servers[i % 2]!, body)))
    expect(upstream.seen('/charge')).toHaveLength(1)
    expect(new Set(answers.map((a) => `${a.status} ${a.text}`))).toEqual(new Set([`200 ${JSON.stringify({ exit_code: 'success', data: { charge: 'ch_1' } })}`]))
    expect(answers.filter((a) => a.headers['x-step-runner-replay'] === 'true')).toHaveLength(19)
    // Later, from either process: the stored answer.
    const later = await post(servers[1]!, body)
    expect(later).toMatchObject({ status: 200, text: answers[0]!.text, headers: { 'x-step-runner-replay': 'true' } })
    expect(upstream.seen('/charge')).toHaveLength(1)
  })

  it('with Redis killed, goes on answering (each request runs), counts the failures, logs a warning and stays ready', async () => {
    await redis.kill()
    const body = signedBody(payloadFor('charge', { data: { amount: 9 }, context: { request_id: 'mqr_redis_2' } }))
    const before = upstream.seen('/charge').length
    const answers = await Promise.all([post(servers[0]!, body), post(servers[1]!, body), post(servers[0]!, body)])
    for (const answer of answers) {
      expect(answer.status).toBe(200)
      expect(answer.body).toMatchObject({ exit_code: 'success' })
      expect(answer.headers['x-step-runner-replay']).toBeUndefined()
    }
    expect(upstream.seen('/charge')).toHaveLength(before + 3)
    expect(await metricSample(servers[0]!, 'replay_store_errors_total')).toBeGreaterThanOrEqual(2)
    for (const server of servers) expect((await fetch(`${server.url}/readyz`)).status).toBe(200)
    await expect.poll(() => servers[0]!.output().stdout).toContain('replay store (Redis) unavailable')
  })
})
