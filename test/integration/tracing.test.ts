import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { payloadFor, postWith, ROOT, signedBody, startServer, type RunningServer } from '../helpers/server.js'
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver.js'
import { json, startUpstream, type TestUpstream } from '../helpers/upstream.js'

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
const PARENT_ID = '00f067aa0ba902b7'

describe('traces with OpenTelemetry, exported to a real OTLP/HTTP receiver', () => {
  let receiver: OtlpReceiver
  let upstream: TestUpstream
  let server: RunningServer

  beforeAll(async () => {
    receiver = await startOtlpReceiver()
    upstream = await startUpstream()
    upstream.on('/charge', (_req, res) => json(res, 201, { id: 'ch_1' }))
    server = await startServer({
      stepsFile: join(ROOT, 'test/fixtures/replay/steps.yaml'),
      env: {
        UPSTREAM: upstream.url,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        // Export within 100 ms rather than 5 s.
        OTEL_BSP_SCHEDULE_DELAY: '100',
      },
    })
  })
  afterAll(async () => {
    await server.stop()
    await upstream.close()
    await receiver.close()
  })

  it("continues the caller's traceparent: a /hook span with the step's attributes, a client span per attempt, traceparent sent upstream, trace_id in the log", async () => {
    const payload = payloadFor('charge', { data: { amount: 5 }, context: { request_id: 'mqr_trace_1', flow_id: 'flow_trace' } })
    const answer = await postWith(server, signedBody(payload), { 'content-type': 'application/json', traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` })
    expect(answer.body).toEqual({ exit_code: 'success', data: { charge: 'ch_1' } })

    await expect.poll(() => receiver.spans.filter((s) => s.traceId === TRACE_ID).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2)
    const hook = receiver.spans.find((s) => s.traceId === TRACE_ID && s.name === 'POST /hook')!
    expect(hook).toMatchObject({ parentSpanId: PARENT_ID, kind: 2, service: 'step-runner' })
    expect(hook.attributes).toMatchObject({
      'step_runner.step_name': 'charge',
      'step_runner.exit_code': 'success',
      'step_runner.flow_id': 'flow_trace',
      'step_runner.request_id': 'mqr_trace_1',
      'http.response.status_code': 200,
    })
    // Never data: the amount is in no attribute.
    expect(JSON.stringify(hook.attributes)).not.toContain('"amount"')
    const client = receiver.spans.find((s) => s.traceId === TRACE_ID && s.kind === 3)!
    expect(client.parentSpanId).toBe(hook.spanId)

    const [received] = upstream.seen('/charge')
    expect(received!.headers['traceparent']).toBe(`00-${TRACE_ID}-${client.spanId}-01`)

    await expect.poll(() => server.output().stdout).toMatch(new RegExp(`"trace_id":"${TRACE_ID}","span_id":"${hook.spanId}"[^\\n]*"step answered"`))
  })

  it('starts a new trace for a request without traceparent', async () => {
    const answer = await postWith(server, signedBody(payloadFor('hello', { data: { name: 'Ada' }, context: { request_id: 'mqr_trace_2' } })), { 'content-type': 'application/json' })
    expect(answer.body).toEqual({ exit_code: 'success', data: { hello: 'Ada' } })
    await expect.poll(() => receiver.spans.some((s) => s.attributes['step_runner.request_id'] === 'mqr_trace_2'), { timeout: 10_000 }).toBe(true)
    const span = receiver.spans.find((s) => s.attributes['step_runner.request_id'] === 'mqr_trace_2')!
    expect(span.parentSpanId).toBe('')
    expect(span.traceId).not.toBe(TRACE_ID)
  })
})

describe('without OpenTelemetry variables', () => {
  it('loads no SDK: no trace ids in the log, no traceparent upstream', async () => {
    const upstream = await startUpstream()
    upstream.on('/charge', (_req, res) => json(res, 201, { id: 'ch_2' }))
    const server = await startServer({ stepsFile: join(ROOT, 'test/fixtures/replay/steps.yaml'), env: { UPSTREAM: upstream.url } })
    try {
      const answer = await postWith(server, signedBody(payloadFor('charge', { data: { amount: 5 } })), { 'content-type': 'application/json', traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` })
      expect(answer.body).toEqual({ exit_code: 'success', data: { charge: 'ch_2' } })
      expect(upstream.seen('/charge')[0]!.headers['traceparent']).toBeUndefined()
      await expect.poll(() => server.output().stdout).toContain('"step answered"')
      expect(server.output().stdout).not.toContain('trace_id')
    } finally {
      await server.stop()
      await upstream.close()
    }
  })
})
