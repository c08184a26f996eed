import { connect } from 'node:net'
import { Readable } from 'node:stream'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Client, request } from 'undici'
import { callStep, freePort, payloadFor, post, ROOT, runServerToExit, signedBody, startServer, type RunningServer } from '../helpers/server.js'
import { json, startUpstream, type TestUpstream } from '../helpers/upstream.js'
import { logged, logLines, metricsText, sample } from '../helpers/logs.js'

const STEPS = join(ROOT, 'test/fixtures/operations/steps.yaml')
const KEYS = ['wsk_old_rotating_key_0001', 'wsk_new_rotating_key_0002']
const UPSTREAM_TOKEN = 'tok_upstream_secret_7777'
const UPSTREAM_API_KEY = 'apikey_secret_8888'

describe('operations on the real server', () => {
  let upstream: TestUpstream
  let server: RunningServer
  const slowAnswers: (() => void)[] = []

  beforeAll(async () => {
    upstream = await startUpstream()
    upstream.on('/slow', (req, res) => {
      // Answers when the test says so; echoes the credentials it was sent.
      slowAnswers.push(() => json(res, 200, { seen: req.headers['authorization'], key: req.headers['x-api-key'] }))
    })
    server = await startServer({
      stepsFile: STEPS,
      env: { SIGNATURE_KEY: KEYS.join(','), UPSTREAM: upstream.url, UPSTREAM_TOKEN, UPSTREAM_API_KEY, BODY_LIMIT: '2000', LOG_LEVEL: 'info' },
    })
  })
  afterAll(async () => {
    await server.stop()
    await upstream.close()
  })

  const release = async () => {
    while (slowAnswers.length === 0) await new Promise((r) => setTimeout(r, 10))
    slowAnswers.shift()!()
  }

  describe('key rotation', () => {
    it('accepts a request signed with either key, and rejects a third', async () => {
      expect(await callStep(server, 'step_a', {}, KEYS[0])).toMatchObject({ status: 200 })
      expect(await callStep(server, 'step_a', {}, KEYS[1])).toMatchObject({ status: 200 })
      expect(await callStep(server, 'step_a', {}, 'wsk_some_third_key_0003')).toMatchObject({ status: 400, body: { error: 'Invalid input request, please verify the signature' } })
    })

    it('logs which key index matched, never the key', async () => {
      await callStep(server, 'step_a', { context: { request_id: 'mqr_key_index_1' } }, KEYS[1])
      expect(await logged(server, (l) => l['request_id'] === 'mqr_key_index_1')).toMatchObject({ key_index: 1, msg: 'step answered' })
    })
  })

  describe('logs', () => {
    it('writes one JSON line per step request, with its fields', async () => {
      await callStep(server, 'step_a', { context: { request_id: 'mqr_fields_1', flow_id: 'flow_fields' } }, KEYS[0])
      await logged(server, (l) => l['request_id'] === 'mqr_fields_1')
      await callStep(server, 'step_a', { context: { request_id: 'mqr_fields_2' } }, KEYS[0])
      await logged(server, (l) => l['request_id'] === 'mqr_fields_2')
      const lines = logLines(server).filter((l) => l['request_id'] === 'mqr_fields_1')
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatchObject({ level: 30, request_id: 'mqr_fields_1', flow_id: 'flow_fields', step_name: 'step_a', exit_code: 'success', status: 200, duration_ms: expect.any(Number) })
    })

    it('logs rejected requests with the reason', async () => {
      await callStep(server, 'no_such_step', { context: { request_id: 'mqr_rejected_1' } }, KEYS[0])
      expect(await logged(server, (l) => l['request_id'] === 'mqr_rejected_1')).toMatchObject({ status: 404, reason: 'unknown_step', step_name: 'no_such_step' })
    })

    it('never writes a secret: signatures, keys, authorization, ${VAR} header values, wherever they turn up; an upstream that echoes them answers [redacted]', async () => {
      // Secrets that callers make the server repeat: as step names, in errors.
      const signedBodies = [signedBody(payloadFor(KEYS[1]!), KEYS[0]), signedBody(payloadFor(`Bearer ${UPSTREAM_TOKEN}`), KEYS[0]), signedBody(payloadFor(UPSTREAM_API_KEY), KEYS[1])]
      for (const body of signedBodies) expect((await post(server, body)).status).toBe(404)
      const call = callStep(server, 'slow_call', {}, KEYS[0])
      await release()
      // The upstream echoes the credentials it was sent: they never reach the orchestrator.
      expect((await call).body).toEqual({ exit_code: 'success', data: { seen: '[redacted]', key: '[redacted]' } })

      // Lines are written in order, asynchronously: once the last request's is out, all are.
      await logged(server, (l) => l['step_name'] === 'slow_call')
      const { stdout, stderr } = server.output()
      const all = stdout + stderr
      expect(all).toContain('[REDACTED]')
      for (const secret of [...KEYS, UPSTREAM_TOKEN, UPSTREAM_API_KEY]) expect(all).not.toContain(secret)
      for (const body of signedBodies) expect(all).not.toContain((JSON.parse(body) as { signature: string }).signature)
    })
  })

  describe('metrics', () => {
    it('counts step runs, durations, signature failures and upstream calls, and moves with requests', async () => {
      const before = await metricsText(server)
      await callStep(server, 'step_a', {}, KEYS[0])
      await callStep(server, 'step_a', {}, KEYS[0])
      await callStep(server, 'step_a', {}, 'wsk_wrong_key_9999')
      const call = callStep(server, 'slow_call', {}, KEYS[0])
      await release()
      await call
      const after = await metricsText(server)
      const delta = (name: string) => sample(after, name) - sample(before, name)
      expect(delta('step_runs_total{step="step_a",exit_code="success"}')).toBe(2)
      expect(delta('step_duration_seconds_count{step="step_a"}')).toBe(2)
      expect(delta('signature_failures_total')).toBe(1)
      expect(delta('step_runs_total{step="slow_call",exit_code="success"}')).toBe(1)
      expect(delta('upstream_requests_total{step="slow_call",upstream="-",status="200"}')).toBe(1)
      expect(delta('upstream_duration_seconds_count{step="slow_call",upstream="-"}')).toBe(1)
      expect(after).toMatch(/^process_cpu_user_seconds_total /m)
      expect(after).toMatch(/^nodejs_heap_size_used_bytes /m)
      expect(after).toMatch(/^config_reloads_total\{result="ok"\} /m)
    })

    it('counts unknown steps under one label, so made-up names never become series', async () => {
      const before = await metricsText(server)
      for (const name of ['made_up_1', 'made_up_2', 'made_up_3']) await callStep(server, name, {}, KEYS[0])
      const after = await metricsText(server)
      expect(sample(after, 'step_runs_total{step="(unknown)",exit_code="(none)"}') - sample(before, 'step_runs_total{step="(unknown)",exit_code="(none)"}')).toBe(3)
      expect(after).not.toContain('made_up_')
    })

    it('counts reloads by result', async () => {
      const before = sample(await metricsText(server), 'config_reloads_total{result="ok"}')
      server.process.kill('SIGHUP')
      for (;;) {
        if (sample(await metricsText(server), 'config_reloads_total{result="ok"}') === before + 1) break
        await new Promise((r) => setTimeout(r, 20))
      }
    })
  })

  describe('limits', () => {
    /** A signed body of exactly `size` bytes. */
    function bodyOfSize(size: number): string {
      const bare = signedBody(payloadFor('step_a', { data: '' }), KEYS[0])
      const padded = signedBody(payloadFor('step_a', { data: 'x'.repeat(size - bare.length) }), KEYS[0])
      expect(Buffer.byteLength(padded)).toBe(size)
      return padded
    }

    it('accepts a body at BODY_LIMIT and answers 413 at one byte more', async () => {
      expect(await post(server, bodyOfSize(2000))).toMatchObject({ status: 200 })
      expect(await post(server, bodyOfSize(2001))).toMatchObject({ status: 413, body: { error: 'request body is larger than the limit of 2000 bytes' } })
    })

    it('answers 413 to a chunked body past the limit too', async () => {
      const body = bodyOfSize(2001)
      const res = await request(`${server.url}/hook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        // No content-length: the limit must hold on what arrives.
        body: Readable.from([body.slice(0, 1000), body.slice(1000)]),
      })
      expect(res.statusCode).toBe(413)
      await res.body.text()
    })
  })

  it('answers /healthz and /readyz while serving', async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
    const ready = await fetch(`${server.url}/readyz`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toEqual({ status: 'ready' })
  })
})

describe('graceful shutdown', () => {
  it('on SIGTERM, finishes the in-flight request, outbound call included, refuses new ones, and exits 0', async () => {
    const upstream = await startUpstream()
    const answers: (() => void)[] = []
    upstream.on('/slow', (_req, res) => answers.push(() => json(res, 200, { late: true })))
    const server = await startServer({ stepsFile: STEPS, env: { UPSTREAM: upstream.url, UPSTREAM_TOKEN: 'x', UPSTREAM_API_KEY: 'y' } })
    // Two requests on one connection: the second arrives after the signal.
    const client = new Client(server.url, { pipelining: 2 })
    try {
      const inFlight = client.request({ path: '/hook', method: 'POST', headers: { 'content-type': 'application/json' }, body: signedBody(payloadFor('slow_call')) })
      while (answers.length === 0) await new Promise((r) => setTimeout(r, 10))
      const exited = server.stop('SIGTERM')
      while (!server.output().stdout.includes('shutting down')) await new Promise((r) => setTimeout(r, 10))
      const late = client.request({ path: '/readyz', method: 'GET' })
      answers.shift()!()
      const first = await inFlight
      expect(first.statusCode).toBe(200)
      expect(await first.body.json()).toEqual({ exit_code: 'success', data: { late: true } })
      const second = await late
      expect(second.statusCode).toBe(503)
      await second.body.text()
      expect(await exited).toBe(0)
    } finally {
      await client.close().catch(() => {})
      await server.stop()
      await upstream.close()
    }
  })

  it('past SHUTDOWN_TIMEOUT_MS, cancels the outbound call, answers, and still exits 0', async () => {
    const upstream = await startUpstream()
    upstream.on('/slow', () => {})
    const server = await startServer({ stepsFile: STEPS, env: { UPSTREAM: upstream.url, UPSTREAM_TOKEN: 'x', UPSTREAM_API_KEY: 'y', SHUTDOWN_TIMEOUT_MS: '300' } })
    try {
      const closed = upstream.closedBy('/slow')
      const inFlight = callStep(server, 'slow_call')
      while (upstream.seen('/slow').length === 0) await new Promise((r) => setTimeout(r, 10))
      const exited = server.stop('SIGTERM')
      await closed
      expect(await inFlight).toMatchObject({ status: 200, body: { exit_code: 'failure', data: { error: { code: 'upstream_failed', details: { reason: 'cancelled' } } } } })
      expect(await exited).toBe(0)
    } finally {
      await upstream.close()
    }
  })

  it('exits at once on a second signal', async () => {
    const upstream = await startUpstream()
    upstream.on('/slow', () => {})
    const server = await startServer({ stepsFile: STEPS, env: { UPSTREAM: upstream.url, UPSTREAM_TOKEN: 'x', UPSTREAM_API_KEY: 'y', SHUTDOWN_TIMEOUT_MS: '600000' } })
    try {
      const inFlight = callStep(server, 'slow_call').catch((err: Error) => err)
      while (upstream.seen('/slow').length === 0) await new Promise((r) => setTimeout(r, 10))
      server.process.kill('SIGTERM')
      while (!server.output().stdout.includes('shutting down')) await new Promise((r) => setTimeout(r, 10))
      // The in-flight call would hold a graceful shutdown for ten minutes.
      expect(await server.stop('SIGTERM')).not.toBeNull()
      expect(await inFlight).toBeInstanceOf(Error)
      // Logged just before process.exit, which runs no further callback: written synchronously on exit.
      const last = server.output().stdout.trim().split('\n').at(-1)!
      expect(JSON.parse(last)).toMatchObject({ level: 50, msg: 'second SIGTERM, exiting' })
    } finally {
      await upstream.close()
    }
  })
})

describe('overload and timeouts', () => {
  it('answers 503 with Retry-After when the event loop is saturated, on /hook only', async () => {
    const server = await startServer({ stepsFile: STEPS, env: { MAX_EVENT_LOOP_DELAY_MS: '0', MAX_EVENT_LOOP_UTILIZATION: '0.3', OVERLOAD_RETRY_AFTER_S: '7', UPSTREAM: 'http://127.0.0.1:1', UPSTREAM_TOKEN: 'x', UPSTREAM_API_KEY: 'y' } })
    try {
      // Each busy request holds the event loop for a few milliseconds (too
      // short to move to an evaluation thread): forty at a time keep it busy
      // well past 30% of the time.
      let overloaded
      for (let i = 0; i < 50 && overloaded === undefined; i++) {
        const answers = await Promise.all([...Array.from({ length: 40 }, () => callStep(server, 'busy')), callStep(server, 'step_a')])
        answers.push(await callStep(server, 'step_a'))
        overloaded = answers.find((a) => a.status === 503)
      }
      expect(overloaded).toMatchObject({ status: 503, body: { error: expect.stringContaining('overloaded') } })
      expect(overloaded!.headers['retry-after']).toBe('7')
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
    } finally {
      await server.stop()
    }
  })

  /** Opens a raw connection, writes `text`, and resolves with all it received once the server closes it. */
  async function sendAndWait(server: RunningServer, text: string): Promise<string> {
    const { port } = new URL(server.url)
    return new Promise<string>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.write(text))
      let received = ''
      socket.setEncoding('utf8').on('data', (d: string) => (received += d))
      socket.on('error', () => {})
      socket.on('close', () => resolve(received))
    })
  }

  it('answers 408 to a request whose headers never finish arriving, after REQUEST_TIMEOUT_MS', async () => {
    const server = await startServer({ stepsFile: STEPS, env: { REQUEST_TIMEOUT_MS: '300', UPSTREAM: 'http://127.0.0.1:1', UPSTREAM_TOKEN: 'x', UPSTREAM_API_KEY: 'y' } })
    try {
      expect(await sendAndWait(server, 'POST /hook HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n')).toMatch(/^HTTP\/1\.1 408/)
    } finally {
      await server.stop()
    }
  })

  it('closes a connection whose body stops arriving, after CONNECTION_TIMEOUT_MS of silence', async () => {
    const server = await startServer({ stepsFile: STEPS, env: { CONNECTION_TIMEOUT_MS: '300', UPSTREAM: 'http://127.0.0.1:1', UPSTREAM_TOKEN: 'x', UPSTREAM_API_KEY: 'y' } })
    try {
      const received = await sendAndWait(server, 'POST /hook HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"payload":')
      expect(received).not.toMatch(/^HTTP\/1\.1 200/)
    } finally {
      await server.stop()
    }
  })

  it('logs at the level LOG_LEVEL sets', async () => {
    const server = await startServer({ stepsFile: STEPS, port: await freePort(), env: { LOG_LEVEL: 'warn', UPSTREAM: 'http://127.0.0.1:1', UPSTREAM_TOKEN: 'x', UPSTREAM_API_KEY: 'y' } })
    try {
      expect((await callStep(server, 'step_a')).status).toBe(200)
      expect((await callStep(server, 'no_such_step')).status).toBe(404)
    } finally {
      await server.stop()
    }
    expect(server.output().stdout).not.toContain('"level":30')
  })

  it('turns /metrics off with METRICS=off', async () => {
    const server = await startServer({ stepsFile: STEPS, env: { METRICS: 'off', UPSTREAM: 'http://127.0.0.1:1', UPSTREAM_TOKEN: 'x', UPSTREAM_API_KEY: 'y' } })
    try {
      expect((await fetch(`${server.url}/metrics`)).status).toBe(404)
    } finally {
      await server.stop()
    }
  })

  it.each([
    ['BODY_LIMIT', 'lots', "BODY_LIMIT must be a whole number from 1 to 1073741824; got 'lots'"],
    ['METRICS', 'maybe', "METRICS must be one of on, off; got 'maybe'"],
    ['MAX_EVENT_LOOP_UTILIZATION', '2', "MAX_EVENT_LOOP_UTILIZATION must be a number from 0 to 1 (0 turns the check off); got '2'"],
    ['SHUTDOWN_TIMEOUT_MS', '-1', "SHUTDOWN_TIMEOUT_MS must be a whole number from 0 to 600000; got '-1'"],
    ['SIGNATURE_KEY', 'a,,b', 'SIGNATURE_KEY has an empty key between commas'],
  ])('refuses to start on a bad %s, naming it', async (name, value, message) => {
    const result = await runServerToExit({ stepsFile: STEPS, env: { [name]: value } })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(message)
  })
})
