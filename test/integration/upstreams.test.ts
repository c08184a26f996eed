import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ServerResponse } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeCerts, type TestCerts } from '../helpers/certs.js'
import { startHttpsUpstream, type TestHttpsUpstream } from '../helpers/https-upstream.js'
import { linesWritten } from '../helpers/logs.js'
import { protectedBy, startOAuthServer, type TestOAuthServer } from '../helpers/oauth-server.js'
import { startProxy, type TestProxy } from '../helpers/proxy.js'
import { callStep, freePort, ROOT, runServerToExit, startServer, type Answer, type PayloadOptions, type RunningServer } from '../helpers/server.js'
import { tempDir } from '../helpers/temp.js'
import { json, startUpstream, type Handler, type TestUpstream } from '../helpers/upstream.js'

/**
 * Named upstreams (`upstreams:` and `http.upstream`) end to end: the real
 * server against real loopback servers for the API, OAuth tokens, TLS and a
 * proxy. The fixtures take `${file:PATH}` secrets by absolute path: each is
 * copied into the folder of the generated certificates with @DIR@ replaced.
 */
const FIXTURES = join(ROOT, 'test/fixtures/upstreams')

/** Writes a fixture into `dir` with @DIR@ replaced by `dir`; returns the copy's path. */
function materialize(fixture: string, dir: string): string {
  const path = join(dir, fixture)
  writeFileSync(path, readFileSync(join(FIXTURES, fixture), 'utf8').replaceAll('@DIR@', dir))
  return path
}

// Secrets: each must reach its destination and nothing else.
// RFC 6749 2.3.1 has Basic credentials form-urlencoded first: this one needs it.
const CLIENT_SECRET = 's3cr3t:with/special+chars ü'
const POST_CLIENT_SECRET = 'post-secret-5e0c1f'
const BASIC_PASSWORD = 'p@ss:w0rd-93ab'
const BEARER_TOKEN = 'bearer-from-file-7c1d'
const PAY_CLIENT_ID = 'pay-client'

const ok: Handler = (_req, res) => json(res, 200, { ok: true })

/** A handler that holds each request `ms` before answering, counting the requests it holds at once. */
function holding(ms: number): Handler & { readonly max: () => number } {
  let inFlight = 0
  let max = 0
  const handler: Handler = (_req, res: ServerResponse) => {
    inFlight++
    max = Math.max(max, inFlight)
    // 'close' also when the caller gives up first: a request it abandoned no longer counts.
    res.on('close', () => inFlight--)
    setTimeout(() => {
      if (!res.destroyed) json(res, 200, { ok: true })
    }, ms)
  }
  return Object.assign(handler, { max: () => max })
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('named upstreams', () => {
  let certs: TestCerts
  let api: TestUpstream
  let plain: TestUpstream
  let oauth: TestOAuthServer
  let broken: TestOAuthServer
  let proxy: TestProxy
  let tls: TestHttpsUpstream
  let mtls: TestHttpsUpstream
  let other: TestHttpsUpstream
  let server: RunningServer
  /** Every answer the server gave, to check that no secret is in one. */
  const answers: Answer[] = []

  const call = async (target: RunningServer, step: string, options: PayloadOptions = {}) => {
    const answer = await callStep(target, step, options)
    answers.push(answer)
    return answer
  }
  const run = (step: string, options: PayloadOptions = {}) => call(server, step, options)
  const hostOf = (url: string) => new URL(url).host

  beforeAll(async () => {
    certs = makeCerts()
    writeFileSync(join(certs.dir, 'pay-client-secret.txt'), `${CLIENT_SECRET}\n`)
    // Two newlines: `${file:PATH}` removes one.
    writeFileSync(join(certs.dir, 'audience.txt'), 'payments\n\n')
    writeFileSync(join(certs.dir, 'basic-password.txt'), `${BASIC_PASSWORD}\n`)
    writeFileSync(join(certs.dir, 'bearer-token.txt'), `${BEARER_TOKEN}\n`)

    api = await startUpstream()
    plain = await startUpstream()
    oauth = await startOAuthServer({
      clients: { [PAY_CLIENT_ID]: CLIENT_SECRET, 'post-client': POST_CLIENT_SECRET, 'short-client': POST_CLIENT_SECRET, 'revoke-client': POST_CLIENT_SECRET },
      expiresIn: (id) => (id === 'short-client' ? 1 : 3600),
    })
    broken = await startOAuthServer({ clients: { [PAY_CLIENT_ID]: CLIENT_SECRET } })
    broken.fail({ status: 500, error: 'server_error' })
    proxy = await startProxy()
    tls = await startHttpsUpstream({ cert: certs.server.cert.pem, key: certs.server.key.pem })
    mtls = await startHttpsUpstream({ cert: certs.server.cert.pem, key: certs.server.key.pem, ca: certs.clientCa.pem, requestCert: true })
    other = await startHttpsUpstream({ cert: certs.otherServer.cert.pem, key: certs.otherServer.key.pem })
    for (const s of [tls, mtls, other]) s.on('/api/v1/hello', ok)

    // startServer passes only PATH from this process's environment: no
    // HTTP_PROXY or NO_PROXY of the machine running the tests leaks in.
    server = await startServer({
      stepsFile: materialize('steps.yaml', certs.dir),
      env: {
        LOG_LEVEL: 'debug',
        API_URL: api.url,
        TOKEN_URL: oauth.url,
        BROKEN_TOKEN_URL: broken.url,
        PROXY_URL: proxy.url,
        CLOSED_PORT: String(await freePort()),
        TLS_PORT: String(tls.port),
        MTLS_PORT: String(mtls.port),
        OTHER_PORT: String(other.port),
        PAY_CLIENT_ID,
        POST_CLIENT_SECRET,
        PAY_USER: 'pay-user',
        KEY_PASS: certs.client.passphrase,
      },
    })
  })
  afterAll(async () => {
    await server?.stop()
    await Promise.all([api, plain, oauth, broken, proxy, tls, mtls, other].map((s) => s?.close()))
  })

  describe('OAuth2 client credentials', () => {
    it('fetches one token for 50 concurrent calls, and reuses it for later calls', async () => {
      api.on('/api/v1/me', protectedBy(oauth))
      // A slow token endpoint: all 50 calls are waiting for the token at once.
      oauth.delay(100)
      let concurrent: Answer[]
      try {
        concurrent = await Promise.all(Array.from({ length: 50 }, () => run('oauth_me')))
      } finally {
        oauth.delay(0)
      }
      for (const answer of concurrent) expect(answer.body).toEqual({ exit_code: 'success', data: { ok: true } })
      const tokenRequests = oauth.requestsOf(PAY_CLIENT_ID)
      expect(tokenRequests).toHaveLength(1)
      const token = tokenRequests[0]!.token
      expect(new Set(api.seen('/api/v1/me').map((r) => r.headers['authorization']))).toEqual(new Set([`Bearer ${token}`]))

      expect((await run('oauth_me')).body).toEqual({ exit_code: 'success', data: { ok: true } })
      expect(oauth.requestsOf(PAY_CLIENT_ID)).toHaveLength(1)
      expect(api.seen('/api/v1/me').at(-1)!.headers['authorization']).toBe(`Bearer ${token}`)
    })

    it('an API that echoes the request does not pass the token on: the answer has [redacted] in its place', async () => {
      api.on('/api/v1/echo', (req, res) => {
        const auth = String(req.headers['authorization'])
        res.setHeader('x-echo', auth)
        json(res, 200, { authorization: auth, token: auth.slice('Bearer '.length) })
      })
      const answer = await run('oauth_echo')
      const token = oauth.requestsOf(PAY_CLIENT_ID)[0]!.token
      expect(answer.body).toEqual({ exit_code: 'success', data: { authorization: 'Bearer [redacted]', token: '[redacted]' } })
      expect(answer.text).not.toContain(token)
    })

    it('client_auth basic (the default): HTTP Basic with the id and secret form-urlencoded; grant_type, scopes joined by a space and params in the form', () => {
      const [request] = oauth.requestsOf(PAY_CLIENT_ID)
      // The server accepted the credentials only if they decoded to the configured ones (status 200).
      expect(request).toMatchObject({
        method: 'POST',
        path: '/oauth/token',
        clientAuth: 'basic',
        status: 200,
        form: { grant_type: 'client_credentials', scope: 'payments.write payments.read', audience: 'payments' },
      })
      expect(request!.form['client_secret']).toBeUndefined()
      expect(request!.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/)
    })

    it('client_auth post: client_id and client_secret in the form, no authorization header; a ${file:} value loses one trailing newline only', async () => {
      api.on('/api/v1/post-me', protectedBy(oauth))
      expect((await run('oauth_post_me')).body).toEqual({ exit_code: 'success', data: { ok: true } })
      const requests = oauth.requestsOf('post-client')
      expect(requests).toHaveLength(1)
      expect(requests[0]).toMatchObject({ method: 'POST', path: '/oauth/token', clientAuth: 'post', status: 200 })
      expect(requests[0]!.form).toEqual({
        grant_type: 'client_credentials',
        client_id: 'post-client',
        client_secret: POST_CLIENT_SECRET,
        scope: 'payments.read',
        audience: 'payments\n',
        resource: 'https://payments.example',
      })
      expect(requests[0]!.headers['authorization']).toBeUndefined()
    })

    it('refreshes a token near its expiry: with expires_in 1, a call 1.1 s later gets a new one', async () => {
      api.on('/api/v1/short-me', protectedBy(oauth))
      expect((await run('oauth_short_me')).body).toEqual({ exit_code: 'success', data: { ok: true } })
      await sleep(1100)
      expect((await run('oauth_short_me')).body).toEqual({ exit_code: 'success', data: { ok: true } })
      const tokens = oauth.requestsOf('short-client').map((r) => r.token)
      expect(tokens).toHaveLength(2)
      expect(api.seen('/api/v1/short-me').map((r) => r.headers['authorization'])).toEqual(tokens.map((t) => `Bearer ${t}`))
    })

    it('after a 401 from the API, fetches a new token and calls again, once', async () => {
      api.on('/api/v1/revoke-me', protectedBy(oauth))
      expect((await run('oauth_revoke_me')).body).toEqual({ exit_code: 'success', data: { ok: true } })
      const [first] = oauth.requestsOf('revoke-client')
      oauth.revoke(first!.token!)

      expect((await run('oauth_revoke_me')).body).toEqual({ exit_code: 'success', data: { ok: true } })
      const tokens = oauth.requestsOf('revoke-client').map((r) => r.token)
      expect(tokens).toHaveLength(2)
      // The first call, then the refused one with the revoked token, then the same call with the new token.
      expect(api.seen('/api/v1/revoke-me').map((r) => r.headers['authorization'])).toEqual([`Bearer ${tokens[0]}`, `Bearer ${tokens[0]}`, `Bearer ${tokens[1]}`])
    })

    it('a second 401 in a row is the answer', async () => {
      api.on('/api/v1/always-401', (_req, res) => json(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' }))
      expect((await run('oauth_always_401')).body).toMatchObject({ exit_code: 'failure', data: { error: { code: 'upstream_status', status: 401 } } })
      const seen = api.seen('/api/v1/always-401')
      expect(seen).toHaveLength(2)
      // The second call carried a new token.
      expect(seen[1]!.headers['authorization']).not.toBe(seen[0]!.headers['authorization'])
    })

    it('a failing token endpoint: upstream_failed with reason auth, and the API is never called', async () => {
      expect((await run('oauth_broken_charge', { data: { amount: 5 } })).body).toMatchObject({
        exit_code: 'failure',
        data: { error: { code: 'upstream_failed', details: { reason: 'auth', status: 500, attempts: 1 } } },
      })
      expect(broken.requests.length).toBeGreaterThanOrEqual(1)
      expect(api.seen('/api/v1/broken-charge')).toHaveLength(0)
    })

    it('a refused client secret: upstream_failed with reason auth and the 401, and the API is never called', async () => {
      expect((await run('oauth_wrong_secret_charge', { data: { amount: 5 } })).body).toMatchObject({
        exit_code: 'failure',
        data: { error: { code: 'upstream_failed', details: { reason: 'auth', status: 401 } } },
      })
      expect(api.seen('/api/v1/wrong-secret-charge')).toHaveLength(0)
    })
  })

  describe('basic and bearer auth, secrets from ${file:PATH}', () => {
    it('basic: authorization Basic base64(user:password), the file read without its trailing newline', async () => {
      api.on('/api/v1/basic-me', ok)
      expect((await run('basic_me')).body).toEqual({ exit_code: 'success', data: { ok: true } })
      expect(api.seen('/api/v1/basic-me')[0]!.headers['authorization']).toBe(`Basic ${Buffer.from(`pay-user:${BASIC_PASSWORD}`).toString('base64')}`)
    })

    it('bearer: authorization Bearer <token>', async () => {
      api.on('/api/v1/bearer-me', ok)
      expect((await run('bearer_me')).body).toEqual({ exit_code: 'success', data: { ok: true } })
      expect(api.seen('/api/v1/bearer-me')[0]!.headers['authorization']).toBe(`Bearer ${BEARER_TOKEN}`)
    })

    it('a ${file:PATH} that is not there: the server refuses to start, naming the steps file, line and column', async () => {
      const dir = tempDir('step-runner-no-file-')
      const stepsFile = materialize('file-missing.yaml', dir)
      const lines = readFileSync(stepsFile, 'utf8').split('\n')
      const line = lines.findIndex((l) => l.trimStart().startsWith('bearer: ${file:'))
      const col = lines[line]!.indexOf('${file:') + 1
      const result = await runServerToExit({ stepsFile })
      expect(result.code).toBe(1)
      const output = result.stderr + result.stdout
      expect(output).toContain(`${stepsFile}:${line + 1}:${col}`)
      expect(output).toContain('no-such-token.txt')
    })
  })

  describe('merging with the upstream', () => {
    it("appends the step's path to the upstream's base path, sends the upstream's headers, a step's header overriding one in any case", async () => {
      api.on('/api/v1/users/u1/charges', (_req, res) => json(res, 201, { id: 'ch_1' }))
      expect((await run('charge_card', { data: { amount: 5, user_id: 'u1' } })).body).toEqual({ exit_code: 'success', data: { id: 'ch_1' } })
      const [received] = api.seen('/api/v1/users/u1/charges')
      expect(received).toMatchObject({ method: 'POST', path: '/api/v1/users/u1/charges' })
      expect(received!.headers).toMatchObject({ 'x-api-version': '2024-06', 'x-tenant': 'beta', 'content-type': 'application/json' })
      expect(JSON.parse(received!.body)).toEqual({ amount: 5 })
    })
  })

  describe('request and response bodies', () => {
    it('body: form sends the object form-urlencoded, an array repeating its key', async () => {
      api.on('/api/v1/form', ok)
      expect((await run('form_body', { data: { a: 1, tag: ['x', 'y'] } })).body).toMatchObject({ exit_code: 'success' })
      const [received] = api.seen('/api/v1/form')
      expect(received!.headers['content-type']).toBe('application/x-www-form-urlencoded')
      expect(received!.body).toBe('a=1&tag=x&tag=y')
    })

    it('body: form with a nested object: transform_failed naming the key, nothing sent', async () => {
      const before = api.seen('/api/v1/form').length
      expect((await run('form_body', { data: { a: 1, nested_key: { b: 1 } } })).body).toMatchObject({
        exit_code: 'failure',
        data: { error: { code: 'transform_failed', message: expect.stringContaining('nested_key') } },
      })
      expect(api.seen('/api/v1/form')).toHaveLength(before)
    })

    it('body: text sends a string as text/plain; charset=utf-8, as it is', async () => {
      api.on('/api/v1/text', ok)
      expect((await run('text_body', { data: 'hello, wörld\nline 2' })).body).toMatchObject({ exit_code: 'success' })
      const [received] = api.seen('/api/v1/text')
      expect(received!.headers['content-type']).toBe('text/plain; charset=utf-8')
      expect(received!.body).toBe('hello, wörld\nline 2')
    })

    it('body: text with a transform that is not a string: transform_failed, nothing sent', async () => {
      const before = api.seen('/api/v1/text').length
      expect((await run('text_body', { data: { x: 1 } })).body).toMatchObject({ exit_code: 'failure', data: { error: { code: 'transform_failed' } } })
      expect(api.seen('/api/v1/text')).toHaveLength(before)
    })

    it("a step's content-type header overrides the body's", async () => {
      api.on('/api/v1/xml', ok)
      expect((await run('xml_body', { data: '<a>1</a>' })).body).toMatchObject({ exit_code: 'success' })
      const [received] = api.seen('/api/v1/xml')
      expect(received!.headers['content-type']).toBe('application/xml')
      expect(received!.body).toBe('<a>1</a>')
    })

    it('parses an application/x-www-form-urlencoded answer into an object', async () => {
      api.on('/api/v1/form-answer', (_req, res) => res.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded' }).end('a=1&b=x+y'))
      expect((await run('form_answer')).body).toEqual({ exit_code: 'success', data: { a: '1', b: 'x y' } })
    })
  })

  describe('status policy', () => {
    it('on_status replaces the default list: a 409 is retried to max_attempts, a 503 is not', async () => {
      api.on('/api/v1/status/409', (_req, res) => json(res, 409, { conflict: true }))
      expect((await run('status_policy', { data: { code: 409 } })).body).toMatchObject({
        exit_code: 'failure',
        data: { error: { code: 'upstream_failed', details: { reason: 'status', attempts: 3, status: 409 } } },
      })
      expect(api.seen('/api/v1/status/409')).toHaveLength(3)

      api.on('/api/v1/status/503', (_req, res) => json(res, 503, { busy: true }))
      expect((await run('status_policy', { data: { code: 503 } })).body).toMatchObject({ exit_code: 'failure', data: { error: { code: 'upstream_status', status: 503 } } })
      expect(api.seen('/api/v1/status/503')).toHaveLength(1)
    })

    it('on_network_error: false: a refused connection is tried once', async () => {
      expect((await run('no_network_retry')).body).toMatchObject({
        exit_code: 'failure',
        data: { error: { code: 'upstream_failed', details: { reason: 'connect', attempts: 1 } } },
      })
    })
  })

  describe('max_concurrency', () => {
    it('never has more calls in flight than the cap; the others wait for a slot', async () => {
      const handler = holding(200)
      api.on('/api/v1/limited', handler)
      const results = await Promise.all(Array.from({ length: 10 }, () => run('limited_call')))
      for (const answer of results) expect(answer.body).toEqual({ exit_code: 'success', data: { ok: true } })
      expect(api.seen('/api/v1/limited')).toHaveLength(10)
      expect(handler.max()).toBeLessThanOrEqual(2)
    })

    it("waiting for a slot counts against the step's timeout", async () => {
      api.on('/api/v1/limited-short', holding(200))
      const results = await Promise.all(Array.from({ length: 10 }, () => run('limited_short_call')))
      const timedOut = results.filter((a) => (a.body as { data?: { error?: { details?: { reason?: string } } } }).data?.error?.details?.reason === 'timeout')
      expect(timedOut.length).toBeGreaterThan(0)
      for (const answer of timedOut) expect(answer.body).toMatchObject({ exit_code: 'failure', data: { error: { code: 'upstream_failed', details: { reason: 'timeout' } } } })
      for (const answer of results.filter((a) => !timedOut.includes(a))) expect(answer.body).toEqual({ exit_code: 'success', data: { ok: true } })
    })
  })

  describe('proxy: in the upstream', () => {
    it('proxy: URL sends calls to an http target through it', async () => {
      api.on('/api/v1/proxied', ok)
      const before = proxy.count(hostOf(api.url))
      expect((await run('proxied_me')).body).toEqual({ exit_code: 'success', data: { ok: true } })
      expect(proxy.count(hostOf(api.url))).toBeGreaterThan(before)
      expect(api.seen('/api/v1/proxied')).toHaveLength(1)
    })

    it('an https target goes through a CONNECT tunnel', async () => {
      expect((await run('tls_proxied_hello')).body).toEqual({ exit_code: 'success', data: { ok: true } })
      expect(proxy.connects).toContain(`localhost:${tls.port}`)
    })
  })

  describe('TLS', () => {
    const failed = { exit_code: 'failure', data: { error: { code: 'upstream_failed' } } }
    const succeeded = { exit_code: 'success', data: { ok: true } }

    it('a server certificate from a private CA: refused without tls.ca, trusted with it', async () => {
      const before = tls.seen('/api/v1/hello').length
      expect((await run('tls_untrusted_hello')).body).toMatchObject(failed)
      expect(tls.seen('/api/v1/hello')).toHaveLength(before)
      expect((await run('tls_trusted_hello')).body).toEqual(succeeded)
      expect(tls.seen('/api/v1/hello')).toHaveLength(before + 1)
    })

    it('insecure_skip_verify: true accepts the certificate without its CA', async () => {
      const before = tls.seen('/api/v1/hello').length
      expect((await run('tls_insecure_hello')).body).toEqual(succeeded)
      expect(tls.seen('/api/v1/hello')).toHaveLength(before + 1)
    })

    it('a server that requires a client certificate: refused without cert and key, served with them', async () => {
      expect((await run('mtls_no_cert_hello')).body).toMatchObject(failed)
      expect(mtls.seen('/api/v1/hello')).toHaveLength(0)
      expect((await run('mtls_cert_hello')).body).toEqual(succeeded)
      expect(mtls.connections.at(-1)).toMatchObject({ clientCn: 'step-runner test client', authorized: true })
    })

    it('an encrypted client key with its passphrase', async () => {
      const before = mtls.connections.length
      expect((await run('mtls_encrypted_key_hello')).body).toEqual(succeeded)
      expect(mtls.connections.slice(before)).toEqual([expect.objectContaining({ clientCn: 'step-runner test client', authorized: true })])
    })

    it('servername: sent as SNI and verified against the certificate instead of the URL host', async () => {
      const before = tls.connections.length
      expect((await run('servername_in_cert_hello')).body).toEqual(succeeded)
      expect(tls.connections.slice(before).map((c) => c.servername)).toContain('payments.internal')

      expect((await run('servername_not_in_cert_hello')).body).toMatchObject(failed)

      // A certificate for other.internal only: reachable at 127.0.0.1 through servername alone.
      expect((await run('other_by_servername_hello')).body).toEqual(succeeded)
      expect(other.connections.at(-1)!.servername).toBe('other.internal')
      expect((await run('other_by_ip_hello')).body).toMatchObject(failed)
    })
  })

  describe('proxies from the environment', () => {
    let withProxy: RunningServer
    let withNoProxy: RunningServer

    beforeAll(async () => {
      plain.on('/plain', ok)
      api.on('/api/v1/env', ok)
      api.on('/api/v1/bypass', ok)
      const stepsFile = materialize('env-proxy.yaml', certs.dir)
      const env = { API_URL: api.url, PLAIN_URL: plain.url, TLS_PORT: String(tls.port), HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url }
      withProxy = await startServer({ stepsFile, env })
      withNoProxy = await startServer({ stepsFile, env: { ...env, NO_PROXY: '127.0.0.1,localhost' } })
    })
    afterAll(async () => {
      await withProxy?.stop()
      await withNoProxy?.stop()
    })

    /** Calls a step and says whether the proxy saw a new request to `target` meanwhile. */
    const throughProxy = async (target: RunningServer, step: string, hostPort: string) => {
      const before = proxy.count(hostPort)
      expect((await call(target, step)).body).toEqual({ exit_code: 'success', data: { ok: true } })
      return proxy.count(hostPort) > before
    }

    // First, while this server has no connection to the API that a wrong
    // implementation could reuse: proxy none must open its own.
    it('proxy: none connects directly even with HTTP_PROXY set', async () => {
      expect(await throughProxy(withProxy, 'bypass', hostOf(api.url))).toBe(false)
      expect(api.seen('/api/v1/bypass')).toHaveLength(1)
    })

    it('without a proxy key, HTTP_PROXY is used for an http upstream', async () => {
      expect(await throughProxy(withProxy, 'via_upstream', hostOf(api.url))).toBe(true)
    })

    it('HTTPS_PROXY is used for an https upstream', async () => {
      expect(await throughProxy(withProxy, 'tls_via_upstream', `localhost:${tls.port}`)).toBe(true)
    })

    it('a step with a plain http.url and no upstream uses it too', async () => {
      expect(await throughProxy(withProxy, 'plain_url', hostOf(plain.url))).toBe(true)
    })

    it('NO_PROXY exempts its hosts', async () => {
      expect(await throughProxy(withNoProxy, 'via_upstream', hostOf(api.url))).toBe(false)
      expect(await throughProxy(withNoProxy, 'tls_via_upstream', `localhost:${tls.port}`)).toBe(false)
      expect(await throughProxy(withNoProxy, 'plain_url', hostOf(plain.url))).toBe(false)
    })
  })

  describe("the upstream's limits", () => {
    it('max_response_bytes: a body declared over it is refused, and the server goes on serving', async () => {
      api.on('/api/v1/tiny', (_req, res) => json(res, 200, { blob: 'x'.repeat(100) }))
      // Several times: the whole small body often arrives with the headers,
      // and dropping an unread body must not throw, however it arrived.
      for (let i = 0; i < 10; i++) {
        expect((await run('tiny_answer')).body).toMatchObject({ exit_code: 'failure', data: { error: { code: 'upstream_failed', details: { reason: 'too_large' } } } })
      }
      expect((await run('bearer_me')).body).toEqual({ exit_code: 'success', data: { ok: true } })
    })
  })

  it('counts attempts by upstream, token requests by outcome, and shows the max_concurrency queue', async () => {
    const res = await fetch(`${server.url}/metrics`)
    const text = await res.text()
    expect(text).toMatch(/^upstream_requests_total\{step="oauth_me",upstream="oauth_basic",status="200"\} [1-9]\d*$/m)
    expect(text).toMatch(/^upstream_duration_seconds_count\{step="oauth_me",upstream="oauth_basic"\} [1-9]\d*$/m)
    expect(text).toMatch(/^oauth_token_requests_total\{upstream="oauth_basic",outcome="ok"\} 1$/m)
    expect(text).toMatch(/^oauth_token_requests_total\{upstream="oauth_broken",outcome="failed"\} [1-9]\d*$/m)
    // Every call of the max_concurrency tests has ended: nobody waits.
    expect(text).toMatch(/^upstream_queue_waiting\{upstream="limited"\} 0$/m)
  })

  it('on SIGHUP, re-reads secret files: an unchanged upstream keeps its token, a rotated client secret gets a new one', async () => {
    const healthz = async () => ((await (await fetch(`${server.url}/healthz`)).json()) as { config: { hash: string; last_reload?: { at: string; ok: boolean } } }).config
    const reload = async () => {
      const before = (await healthz()).last_reload?.at ?? ''
      server.process.kill('SIGHUP')
      for (;;) {
        const config = await healthz()
        if ((config.last_reload?.at ?? '') > before) return config
        await new Promise((r) => setTimeout(r, 20))
      }
    }
    const hashBefore = (await healthz()).hash
    const tokensBefore = oauth.requestsOf(PAY_CLIENT_ID).length
    expect(await reload()).toMatchObject({ hash: hashBefore, last_reload: { ok: true } })
    expect((await run('oauth_me')).body).toEqual({ exit_code: 'success', data: { ok: true } })
    expect(oauth.requestsOf(PAY_CLIENT_ID)).toHaveLength(tokensBefore)

    // The secret rotates: the file changes, the token server accepts the new secret only.
    const rotated = `${CLIENT_SECRET}-rotated`
    oauth.setSecret(PAY_CLIENT_ID, rotated)
    writeFileSync(join(certs.dir, 'pay-client-secret.txt'), `${rotated}\n`)
    const after = await reload()
    expect(after).toMatchObject({ last_reload: { ok: true } })
    expect(after.hash).not.toBe(hashBefore)
    expect((await run('oauth_me')).body).toEqual({ exit_code: 'success', data: { ok: true } })
    expect(oauth.requestsOf(PAY_CLIENT_ID)).toHaveLength(tokensBefore + 1)
  })

  // Last, so that it sees the output of every call above.
  it('never writes a client secret, password or token to its output or an answer', async () => {
    await linesWritten()
    const { stdout, stderr } = server.output()
    expect(stdout).toContain('"msg":"step answered"')
    const secrets = [CLIENT_SECRET, POST_CLIENT_SECRET, BASIC_PASSWORD, BEARER_TOKEN, certs.client.passphrase, ...oauth.issued]
    expect(oauth.issued.length).toBeGreaterThan(0)
    for (const text of [stdout, stderr, ...answers.map((a) => a.text), ...answers.map((a) => JSON.stringify(a.headers))]) {
      for (const secret of secrets) expect(text).not.toContain(secret)
    }
  })
})
