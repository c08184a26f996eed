import { gzipSync } from 'node:zlib'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { callStep, freePort, payloadFor, ROOT, signedBody, startServer, type RunningServer } from '../helpers/server.js'
import { linesWritten } from '../helpers/logs.js'
import { json, startUpstream, type TestUpstream } from '../helpers/upstream.js'
import { request } from 'undici'

const TOKEN = 'tok_secret_4242'

describe('HTTP steps against a real upstream on loopback', () => {
  let upstream: TestUpstream
  let other: TestUpstream
  let server: RunningServer

  beforeAll(async () => {
    upstream = await startUpstream()
    other = await startUpstream()
    server = await startServer({
      stepsFile: join(ROOT, 'test/fixtures/http/steps.yaml'),
      env: { UPSTREAM: upstream.url, PAYMENTS_TOKEN: TOKEN, CLOSED_PORT: String(await freePort()) },
    })
  })
  afterAll(async () => {
    await server.stop()
    await upstream.close()
    await other.close()
  })

  const getItem = (id: string) => callStep(server, 'get_item', { data: { id } })

  describe('the request as the upstream receives it', () => {
    it('has the transform as JSON body, params percent-encoded in the path, the query, and the headers', async () => {
      upstream.on('/v1/users/u%201%2Fx%3F%23/charges', (_req, res) => json(res, 201, { id: 'ch_1' }))
      const answer = await callStep(server, 'charge_card', {
        data: { amount: 5, user_id: 'u 1/x?#' },
        deps: { fetch_user: { data: { email: 'a@b.c' }, exit_code: 'success' } },
      })
      expect(answer.body).toEqual({ exit_code: 'success', data: { charge_id: 'ch_1', status: 201 } })
      const [received] = upstream.seen('/v1/users/u%201%2Fx%3F%23/charges')
      expect(received).toMatchObject({ method: 'POST', path: '/v1/users/u%201%2Fx%3F%23/charges?expand=customer&tag=a%20b&tag=c%26d' })
      expect(JSON.parse(received!.body)).toEqual({ amount: 5, email: 'a@b.c' })
      expect(received!.headers).toMatchObject({
        authorization: `Bearer ${TOKEN}`,
        'x-tenant': 'acme',
        'content-type': 'application/json',
        'x-request-id': 'mqr_4b81ae2d5613446e9e21d76ba2ce26fc',
        'idempotency-key': 'mqr_4b81ae2d5613446e9e21d76ba2ce26fc:charge_card',
        'user-agent': expect.stringMatching(/^step-runner\/\d+\.\d+\.\d+$/),
      })
    })

    it('sends a body made on an evaluation thread as the same JSON', async () => {
      upstream.on('/bulk', (_req, res) => json(res, 200, { ok: true }))
      const items = Array.from({ length: 20_000 }, (_, i) => ({ id: i % 5_000, tags: ['a', { n: i % 5_000 }] }))
      const answer = await callStep(server, 'bulk_upload', { data: { items } })
      expect(answer.body).toEqual({ exit_code: 'success', data: { ok: true } })
      const [received] = upstream.seen('/bulk')
      expect(received!.body).toBe(JSON.stringify({ items: items.slice(0, 5_000) }))
      expect(received!.headers).toMatchObject({ 'content-type': 'application/json' })
    })

    it('can never leave the origin, whatever the params', async () => {
      upstream.on('/v1/users/%2F%2Fevil.example%2Fx/charges', (_req, res) => json(res, 201, { id: 'ch_2' }))
      const answer = await callStep(server, 'charge_card', { data: { amount: 1, user_id: '//evil.example/x' } })
      expect(answer.body).toMatchObject({ exit_code: 'success' })
      expect(upstream.seen('/v1/users/%2F%2Fevil.example%2Fx/charges')).toHaveLength(1)
    })

    it('refuses a value that would walk up the path', async () => {
      const before = upstream.requests.length
      const answer = await getItem('..')
      expect(answer.body).toMatchObject({ exit_code: 'failure', data: { error: { code: 'transform_failed', message: expect.stringContaining("must not be '..'") } } })
      expect(upstream.requests.length).toBe(before)
    })

    it('sends no body with GET', async () => {
      upstream.on('/items/nobody', (_req, res) => json(res, 200, {}))
      await getItem('nobody')
      const [received] = upstream.seen('/items/nobody')
      expect(received).toMatchObject({ method: 'GET', body: '' })
      expect(received!.headers['content-type']).toBeUndefined()
    })
  })

  it('keeps connections alive across calls and steps: one shared dispatcher', async () => {
    upstream.on('/items/ka1', (_req, res) => json(res, 200, {}))
    upstream.on('/items/ka2', (_req, res) => json(res, 200, {}))
    await getItem('ka1')
    await getItem('ka2')
    expect(upstream.seen('/items/ka2')[0]!.remotePort).toBe(upstream.seen('/items/ka1')[0]!.remotePort)
  })

  describe('mapping the response', () => {
    it('applies output: any status can be mapped', async () => {
      upstream.on('/v1/users/declined/charges', (_req, res) => json(res, 402, { id: 'ch_3', error: 'card declined' }))
      expect((await callStep(server, 'charge_card', { data: { amount: 1, user_id: 'declined' } })).body).toEqual({
        exit_code: 'failure',
        data: { charge_id: 'ch_3', status: 402 },
      })
    })

    it('without output, answers success with the parsed JSON body of a 2xx', async () => {
      upstream.on('/items/1', (_req, res) => json(res, 200, { id: 1, name: 'lamp' }))
      expect((await getItem('1')).body).toEqual({ exit_code: 'success', data: { id: 1, name: 'lamp' } })
    })

    it('without output, answers the text of a body that is not JSON', async () => {
      upstream.on('/items/text', (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('just text'))
      expect((await getItem('text')).body).toEqual({ exit_code: 'success', data: 'just text' })
      upstream.on('/items/lying', (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{not json'))
      expect((await getItem('lying')).body).toEqual({ exit_code: 'success', data: '{not json' })
    })

    it('without output, answers failure with upstream_status for anything but 2xx', async () => {
      upstream.on('/items/missing', (_req, res) => json(res, 404, { error: 'no such item' }))
      expect((await getItem('missing')).body).toEqual({
        exit_code: 'failure',
        data: { error: { code: 'upstream_status', message: 'upstream answered 404', status: 404, body: { error: 'no such item' } } },
      })
    })

    it('decompresses a gzip body it did not ask for', async () => {
      upstream.on('/items/zipped', (_req, res) => res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(gzipSync('{"ok":true}')))
      expect((await getItem('zipped')).body).toEqual({ exit_code: 'success', data: { ok: true } })
    })

    it('answers output_failed when output does not yield an exit_code, or throws', async () => {
      upstream.on('/items/x', (_req, res) => json(res, 200, { a: 1 }))
      expect((await callStep(server, 'bad_output')).body).toMatchObject({ exit_code: 'failure', data: { error: { code: 'output_failed', message: expect.stringContaining('exit_code') } } })
      upstream.on('/items/y', (_req, res) => json(res, 200, { a: 'text' }))
      expect((await callStep(server, 'output_error')).body).toMatchObject({ exit_code: 'failure', data: { error: { code: 'output_failed' } } })
    })

    it('answers transform_failed when params give no value for a placeholder', async () => {
      expect((await callStep(server, 'params_error', { data: {} })).body).toMatchObject({
        exit_code: 'failure',
        data: { error: { code: 'transform_failed', message: expect.stringContaining('{id}') } },
      })
    })
  })

  describe('faults, with the exact number of attempts the upstream saw', () => {
    it('a hang before headers: timeout, retried to 3 attempts for GET', async () => {
      upstream.on('/items/hang', () => {})
      const answer = await getItem('hang')
      expect(answer.body).toMatchObject({
        exit_code: 'failure',
        data: { error: { code: 'upstream_failed', message: 'gave up after 3 attempts: timeout after 400 ms', details: { reason: 'timeout', attempts: 3 } } },
      })
      expect(upstream.seen('/items/hang')).toHaveLength(3)
    })

    it('a body that trickles past the timeout: timeout, 3 attempts', async () => {
      upstream.on('/items/trickle', (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' })
        const timer = setInterval(() => res.write('x'), 50)
        res.on('close', () => clearInterval(timer))
      })
      expect((await getItem('trickle')).body).toMatchObject({ data: { error: { code: 'upstream_failed', message: 'gave up after 3 attempts: timeout after 400 ms' } } })
      expect(upstream.seen('/items/trickle')).toHaveLength(3)
    })

    it('a connection reset mid-body: 3 attempts', async () => {
      upstream.on('/items/reset', (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' })
        res.write('{"partial": ')
        setTimeout(() => res.socket?.resetAndDestroy(), 20)
      })
      expect((await getItem('reset')).body).toMatchObject({
        data: { error: { code: 'upstream_failed', message: 'gave up after 3 attempts: connection to [redacted] closed before the response was complete' } },
      })
      expect(upstream.seen('/items/reset')).toHaveLength(3)
    })

    it('a 5 MB body: over the limit, not retried', async () => {
      upstream.on('/items/huge', (_req, res) => json(res, 200, { blob: 'x'.repeat(5 * 1024 * 1024) }))
      expect((await getItem('huge')).body).toMatchObject({ data: { error: { code: 'upstream_failed', message: 'response over 1048576 bytes', details: { reason: 'too_large', attempts: 1 } } } })
      expect(upstream.seen('/items/huge')).toHaveLength(1)
    })

    it('a 5 MB body without content-length: the limit holds on what is read', async () => {
      upstream.on('/items/huge-chunked', (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' })
        const chunk = 'y'.repeat(64 * 1024)
        let sent = 0
        const pump = () => {
          while (sent < 80 && res.write(chunk)) sent++
          if (sent < 80) res.once('drain', pump)
          else res.end()
        }
        res.on('error', () => {})
        pump()
      })
      expect((await getItem('huge-chunked')).body).toMatchObject({ data: { error: { code: 'upstream_failed', message: 'response over 1048576 bytes' } } })
      expect(upstream.seen('/items/huge-chunked')).toHaveLength(1)
    })

    it('a gzip bomb: the limit holds after decompression', async () => {
      const bomb = gzipSync(Buffer.alloc(20 * 1024 * 1024, 0x20))
      expect(bomb.length).toBeLessThan(1024 * 1024)
      upstream.on('/items/bomb', (_req, res) => res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' }).end(bomb))
      expect((await getItem('bomb')).body).toMatchObject({ data: { error: { code: 'upstream_failed', message: 'response over 1048576 bytes' } } })
    })

    it('a 302 to another host: an answer like any other, never followed', async () => {
      other.on('/stolen', (_req, res) => json(res, 200, { followed: true }))
      upstream.on('/items/moved', (_req, res) => res.writeHead(302, { location: `${other.url}/stolen` }).end())
      expect((await getItem('moved')).body).toEqual({ exit_code: 'failure', data: { error: { code: 'upstream_status', message: 'upstream answered 302', status: 302 } } })
      expect(upstream.seen('/items/moved')).toHaveLength(1)
      expect(other.requests).toHaveLength(0)
    })

    it('a 503 with Retry-After: retried, and the answer after it is used', async () => {
      upstream.on('/items/busy', (_req, res, n) => (n < 3 ? json(res, 503, { busy: true }, { 'retry-after': '1' }) : json(res, 200, { id: 'busy' })))
      expect((await getItem('busy')).body).toEqual({ exit_code: 'success', data: { id: 'busy' } })
      expect(upstream.seen('/items/busy')).toHaveLength(3)
    })

    it('a Retry-After far in the future is capped by max_backoff_ms, and retries run out', async () => {
      upstream.on('/items/down', (_req, res) => json(res, 503, { down: true }, { 'retry-after': '3600' }))
      expect((await getItem('down')).body).toEqual({
        exit_code: 'failure',
        data: { error: { code: 'upstream_failed', message: 'gave up after 3 attempts: the upstream answered 503 each time', details: { reason: 'status', attempts: 3, status: 503, body: { down: true } } } },
      })
      expect(upstream.seen('/items/down')).toHaveLength(3)
    })

    it('connection refused: retried, then a message that says so', async () => {
      expect((await callStep(server, 'closed_port')).body).toMatchObject({
        exit_code: 'failure',
        data: { error: { code: 'upstream_failed', message: 'gave up after 3 attempts: connection refused by [redacted]', details: { reason: 'connect', attempts: 3 } } },
      })
    })

    it.each([408, 429, 500, 502, 503, 504])('a %d is retried', async (status) => {
      upstream.on(`/items/status-${status}`, (_req, res, n) => (n === 1 ? json(res, status, {}) : json(res, 200, { second: true })))
      expect((await getItem(`status-${status}`)).body).toEqual({ exit_code: 'success', data: { second: true } })
      expect(upstream.seen(`/items/status-${status}`)).toHaveLength(2)
    })

    it.each([400, 401, 404, 409, 422, 501])('a %d is not retried', async (status) => {
      upstream.on(`/items/status-${status}`, (_req, res) => json(res, status, {}))
      expect((await getItem(`status-${status}`)).body).toMatchObject({ exit_code: 'failure', data: { error: { code: 'upstream_status', status } } })
      expect(upstream.seen(`/items/status-${status}`)).toHaveLength(1)
    })

    it('a POST is not retried by default', async () => {
      upstream.on('/post-once', (_req, res) => json(res, 503, { busy: true }))
      expect((await callStep(server, 'post_once')).body).toMatchObject({ exit_code: 'failure', data: { error: { code: 'upstream_status', status: 503 } } })
      expect(upstream.seen('/post-once')).toHaveLength(1)
    })

    it('a POST with non_idempotent: true is retried, with the same idempotency key', async () => {
      upstream.on('/post-retried', (_req, res, n) => (n < 3 ? json(res, 502, {}) : json(res, 200, { done: true })))
      expect((await callStep(server, 'post_retried')).body).toEqual({ exit_code: 'success', data: { done: true } })
      const seen = upstream.seen('/post-retried')
      expect(seen).toHaveLength(3)
      expect(new Set(seen.map((r) => r.headers['idempotency-key'])).size).toBe(1)
      expect(seen.map((r) => JSON.parse(r.body))).toEqual([{ n: 1 }, { n: 1 }, { n: 1 }])
    })

    it('a caller that goes away cancels the outbound call', async () => {
      upstream.on('/items/slow', () => {})
      const closed = upstream.closedBy('/items/slow')
      const controller = new AbortController()
      const sent = request(`${server.url}/hook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: signedBody(payloadFor('get_item', { data: { id: 'slow' } })),
        signal: controller.signal,
      }).catch((err: Error) => err)
      while (upstream.seen('/items/slow').length === 0) await new Promise((r) => setTimeout(r, 10))
      controller.abort()
      await sent
      await closed
      // Cancelled, not retried: one attempt only.
      await new Promise((r) => setTimeout(r, 100))
      expect(upstream.seen('/items/slow')).toHaveLength(1)
    })
  })

  // Last, so that it sees the output of every call above.
  it('never writes a secret from the environment to its output', async () => {
    await linesWritten()
    const { stdout, stderr } = server.output()
    expect(stdout).toContain('"msg":"step answered"')
    expect(stdout + stderr).not.toContain(TOKEN)
  })
})
