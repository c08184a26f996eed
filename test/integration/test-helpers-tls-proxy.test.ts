import { Agent, ProxyAgent, request, type Dispatcher } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeCerts, type TestCerts } from '../helpers/certs.js'
import { startHttpsUpstream, type TestHttpsUpstream } from '../helpers/https-upstream.js'
import { protectedBy, startOAuthServer, type TestOAuthServer } from '../helpers/oauth-server.js'
import { startProxy, type TestProxy } from '../helpers/proxy.js'
import { json, startUpstream, type TestUpstream } from '../helpers/upstream.js'

type ConnectOptions = Exclude<NonNullable<Agent.Options['connect']>, Function>

/**
 * The TLS, OAuth and proxy helpers on their own, from this process with
 * undici: the upstream tests rely on them failing and succeeding for the
 * right reasons.
 */
describe('test helpers: certificates, HTTPS upstream, OAuth server, proxy', () => {
  let certs: TestCerts
  let https: TestHttpsUpstream
  let mtls: TestHttpsUpstream
  let other: TestHttpsUpstream
  let plain: TestUpstream
  let oauth: TestOAuthServer
  let proxy: TestProxy
  const dispatchers: Dispatcher[] = []
  const agent = (connect: ConnectOptions) => {
    const a = new Agent({ connect })
    dispatchers.push(a)
    return a
  }

  beforeAll(async () => {
    certs = makeCerts()
    https = await startHttpsUpstream({ cert: certs.server.cert.pem, key: certs.server.key.pem })
    mtls = await startHttpsUpstream({ cert: certs.server.cert.pem, key: certs.server.key.pem, ca: certs.clientCa.pem, requestCert: true })
    other = await startHttpsUpstream({ cert: certs.otherServer.cert.pem, key: certs.otherServer.key.pem })
    for (const s of [https, mtls, other]) s.on('/hello', (_req, res) => json(res, 200, { hello: true }))
    plain = await startUpstream()
    plain.on('/plain', (_req, res) => json(res, 200, { plain: true }))
    oauth = await startOAuthServer({ clients: { 'svc-a': 'p@ss w:rd/ü', 'svc-b': 'secret-b' }, expiresIn: (id) => (id === 'svc-b' ? 1 : 3600) })
    proxy = await startProxy()
  })
  afterAll(async () => {
    await Promise.all(dispatchers.map((d) => d.close()))
    await Promise.all([https, mtls, other, plain, oauth, proxy].map((s) => s?.close()))
  })

  const get = (url: string, dispatcher: Dispatcher) => request(url, { dispatcher }).then(async (r) => ({ status: r.statusCode, body: await r.body.json() }))

  describe('HTTPS upstream and certificates', () => {
    it('is trusted with the private CA, by name and by IP', async () => {
      const trusting = agent({ ca: certs.ca.pem })
      expect(await get(`https://localhost:${https.port}/hello`, trusting)).toEqual({ status: 200, body: { hello: true } })
      expect(await get(`${https.url}/hello`, trusting)).toEqual({ status: 200, body: { hello: true } })
      expect(https.seen('/hello')).toHaveLength(2)
    })

    it('is refused without the CA', async () => {
      await expect(get(`https://localhost:${https.port}/hello`, agent({}))).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' })
    })

    it('requires a client certificate signed by the client CA when asked to', async () => {
      const before = mtls.seen('/hello').length
      await expect(get(`https://localhost:${mtls.port}/hello`, agent({ ca: certs.ca.pem }))).rejects.toThrow()
      // A certificate from the wrong CA (the server's own) is refused too.
      await expect(get(`https://localhost:${mtls.port}/hello`, agent({ ca: certs.ca.pem, cert: certs.server.cert.pem, key: certs.server.key.pem }))).rejects.toThrow()
      expect(mtls.seen('/hello')).toHaveLength(before)
      expect(mtls.tlsErrors.length).toBeGreaterThanOrEqual(1)

      const withCert = agent({ ca: certs.ca.pem, cert: certs.client.cert.pem, key: certs.client.key.pem })
      expect((await get(`https://localhost:${mtls.port}/hello`, withCert)).status).toBe(200)
      expect(mtls.connections.at(-1)).toEqual({ servername: 'localhost', clientCn: 'step-runner test client', authorized: true })
    })

    it('has an encrypted client key that works with its passphrase only', async () => {
      expect(certs.client.encryptedKey.pem).toContain('-----BEGIN ENCRYPTED PRIVATE KEY-----')
      const withPassphrase = agent({ ca: certs.ca.pem, cert: certs.client.cert.pem, key: certs.client.encryptedKey.pem, passphrase: certs.client.passphrase })
      expect((await get(`https://localhost:${mtls.port}/hello`, withPassphrase)).status).toBe(200)
      await expect(get(`https://localhost:${mtls.port}/hello`, agent({ ca: certs.ca.pem, cert: certs.client.cert.pem, key: certs.client.encryptedKey.pem, passphrase: 'wrong' }))).rejects.toThrow()
    })

    it('records the SNI a connection asked for; a cert is checked against servername, not the URL host', async () => {
      const n = https.connections.length
      expect((await get(`${https.url}/hello`, agent({ ca: certs.ca.pem, servername: 'payments.internal' }))).status).toBe(200)
      expect(https.connections.slice(n).map((c) => c.servername)).toEqual(['payments.internal'])
      // No SNI for an IP address.
      expect((await get(`${https.url}/hello`, agent({ ca: certs.ca.pem }))).status).toBe(200)
      expect(https.connections.at(-1)!.servername).toBeUndefined()

      // The other certificate names only other.internal.
      expect((await get(`${other.url}/hello`, agent({ ca: certs.ca.pem, servername: 'other.internal' }))).status).toBe(200)
      expect(other.connections.at(-1)!.servername).toBe('other.internal')
      await expect(get(`${other.url}/hello`, agent({ ca: certs.ca.pem, servername: 'payments.internal' }))).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
      await expect(get(`${other.url}/hello`, agent({ ca: certs.ca.pem }))).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
    })
  })

  describe('proxy', () => {
    it('tunnels an https target with CONNECT, and records it', async () => {
      const via = new ProxyAgent({ uri: proxy.url, requestTls: { ca: certs.ca.pem } })
      dispatchers.push(via)
      expect(await get(`https://localhost:${https.port}/hello`, via)).toEqual({ status: 200, body: { hello: true } })
      expect(proxy.connects).toContain(`localhost:${https.port}`)
      expect(proxy.count(`localhost:${https.port}`)).toBe(1)
    })

    it('forwards an http target as an absolute-URI request without a tunnel, and records it', async () => {
      const via = new ProxyAgent({ uri: proxy.url, proxyTunnel: false })
      dispatchers.push(via)
      const target = new URL(plain.url).host
      expect(await get(`${plain.url}/plain`, via)).toEqual({ status: 200, body: { plain: true } })
      expect(proxy.forwarded).toContain(`${plain.url}/plain`)
      expect(plain.seen('/plain')[0]!.headers['via']).toMatch(/proxy\//)
      // Tunnelled the default way, it is counted just the same.
      const tunnelling = new ProxyAgent({ uri: proxy.url })
      dispatchers.push(tunnelling)
      expect((await get(`${plain.url}/plain`, tunnelling)).status).toBe(200)
      expect(proxy.count(target)).toBe(2)
    })

    it('records nothing for direct calls', async () => {
      const before = proxy.connects.length + proxy.forwarded.length
      expect((await get(`${plain.url}/plain`, agent({}))).status).toBe(200)
      expect(proxy.connects.length + proxy.forwarded.length).toBe(before)
    })
  })

  describe('OAuth token server', () => {
    const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString()
    const formEncode = (s: string) => encodeURIComponent(s).replace(/%20/g, '+')
    const tokenCall = (body: string, headers: Record<string, string> = {}) =>
      request(oauth.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body }).then(async (r) => ({
        status: r.statusCode,
        body: (await r.body.json()) as Record<string, unknown>,
      }))

    it('issues tokens to HTTP Basic clients, their id and secret form-urlencoded (RFC 6749 2.3.1)', async () => {
      const basic = Buffer.from(`${formEncode('svc-a')}:${formEncode('p@ss w:rd/ü')}`).toString('base64')
      const answer = await tokenCall(form({ grant_type: 'client_credentials', scope: 'a b', audience: 'x' }), { authorization: `Basic ${basic}` })
      expect(answer).toEqual({ status: 200, body: { access_token: 'tok-1', token_type: 'Bearer', expires_in: 3600 } })
      expect(oauth.requestsOf('svc-a')).toEqual([
        expect.objectContaining({ method: 'POST', path: '/oauth/token', clientAuth: 'basic', form: { grant_type: 'client_credentials', scope: 'a b', audience: 'x' }, status: 200 }),
      ])
      expect(oauth.isValid('tok-1')).toBe(true)
    })

    it('issues tokens to clients that post their credentials, with the configured lifetime', async () => {
      const answer = await tokenCall(form({ grant_type: 'client_credentials', client_id: 'svc-b', client_secret: 'secret-b' }))
      expect(answer).toEqual({ status: 200, body: { access_token: 'tok-2', token_type: 'Bearer', expires_in: 1 } })
      expect(oauth.requestsOf('svc-b').map((r) => r.clientAuth)).toEqual(['post'])
      expect(oauth.issued).toEqual(['tok-1', 'tok-2'])
    })

    it('refuses bad credentials, two auth methods at once and other grants', async () => {
      expect(await tokenCall(form({ grant_type: 'client_credentials', client_id: 'svc-b', client_secret: 'nope' }))).toMatchObject({ status: 401, body: { error: 'invalid_client' } })
      const basic = Buffer.from('svc-b:secret-b').toString('base64')
      expect(await tokenCall(form({ grant_type: 'client_credentials', client_id: 'svc-b', client_secret: 'secret-b' }), { authorization: `Basic ${basic}` })).toMatchObject({
        status: 400,
        body: { error: 'invalid_request' },
      })
      expect(await tokenCall(form({ grant_type: 'password', client_id: 'svc-b', client_secret: 'secret-b' }))).toMatchObject({ status: 400, body: { error: 'unsupported_grant_type' } })
      expect(oauth.issued).toHaveLength(2)
    })

    it('can be made to fail, and to answer again', async () => {
      oauth.fail({ status: 500, error: 'server_error' })
      expect(await tokenCall(form({ grant_type: 'client_credentials', client_id: 'svc-b', client_secret: 'secret-b' }))).toMatchObject({ status: 500, body: { error: 'server_error' } })
      oauth.fail(null)
      expect((await tokenCall(form({ grant_type: 'client_credentials', client_id: 'svc-b', client_secret: 'secret-b' }))).status).toBe(200)
    })

    it('protects an API: 401 without a valid token, revoked or not', async () => {
      plain.on('/api', protectedBy(oauth))
      const call = (token?: string) =>
        request(`${plain.url}/api`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } }).then(async (r) => ({ status: r.statusCode, body: await r.body.json() }))
      expect(await call('tok-1')).toEqual({ status: 200, body: { ok: true } })
      expect(await call()).toMatchObject({ status: 401, body: { error: 'invalid_token' } })
      expect(await call('tok-999')).toMatchObject({ status: 401 })
      oauth.revoke('tok-1')
      expect(await call('tok-1')).toMatchObject({ status: 401 })
    })
  })
})
