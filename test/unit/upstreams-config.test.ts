import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { formatDiagnostic } from '../../src/config/diagnostics.js'
import { loadConfig } from '../../src/config/load.js'
import type { HttpAction } from '../../src/core/registry.js'
import { problemsOf, registryFrom } from '../helpers/config.js'
import { ROOT } from '../helpers/server.js'

const CA = readFileSync(join(ROOT, 'examples/ledger/secrets/internal-ca.pem'), 'utf8')
const CERT = readFileSync(join(ROOT, 'examples/ledger/secrets/client.pem'), 'utf8')
const KEY = readFileSync(join(ROOT, 'examples/ledger/secrets/client.key'), 'utf8')

const file = (upstreams: string, steps: string) => `version: 1\nupstreams:\n${upstreams.replace(/^/gm, '  ')}\nsteps:\n${steps.replace(/^/gm, '  ')}\n`
const USES_API = 's:\n  http:\n    upstream: api\n    method: GET\n    url: /items/{id}\n    params: \'{ "id": $data.id }\''
const actionOf = async (upstreams: string, steps = USES_API, files: Record<string, string> = {}, env: Record<string, string> = {}) =>
  (await registryFrom({ 'steps.yaml': file(upstreams, steps), ...files }, 'steps.yaml', env)).steps.get('s')!.action as HttpAction

describe('upstreams in the steps file', () => {
  it('appends the step\'s path to the upstream\'s base path, merges headers (the step\'s win, in any case) and layers the call defaults', async () => {
    const action = await actionOf(
      'api:\n  url: https://api.example.com/v2/\n  headers: { x-api-version: "1", X-Tenant: acme }\n  timeout_ms: 700\n  retry: { max_attempts: 4, backoff_ms: 7 }',
      's:\n  http:\n    upstream: api\n    method: GET\n    url: /items/{id}\n    params: \'{ "id": $data.id }\'\n    headers: { x-tenant: other }\n    retry: { backoff_ms: 9 }',
    )
    expect(action.url).toEqual({ origin: 'https://api.example.com', parts: ['/v2/items/', 'id', ''] })
    expect(action.headers).toMatchObject({ 'x-api-version': '1', 'x-tenant': 'other' })
    expect(action.policy).toMatchObject({ timeoutMs: 700, retry: { maxAttempts: 4, backoffMs: 9 } })
    expect(action.upstream).toMatchObject({ name: 'api', proxy: { kind: 'environment' }, oauth2: undefined })
  })

  it('turns basic and bearer into an authorization header, and counts their values as secrets', async () => {
    const basic = await actionOf('api:\n  url: https://a.example\n  auth:\n    basic: { username: "${U}", password: "${P}" }', USES_API, {}, { U: 'user', P: 'pa55word' })
    expect(basic.headers['authorization']).toBe(`Basic ${Buffer.from('user:pa55word').toString('base64')}`)
    expect(basic.secrets).toEqual(expect.arrayContaining(['pa55word', basic.headers['authorization']]))
    const bearer = await actionOf('api:\n  url: https://a.example\n  auth:\n    bearer: ${file:token.txt}', USES_API, { 'token.txt': 'tok-from-file\n' })
    expect(bearer.headers['authorization']).toBe('Bearer tok-from-file')
    expect(bearer.secrets).toContain('tok-from-file')
  })

  it('reads ${file:PATH} relative to the steps file, one trailing newline removed, in step URLs and headers too', async () => {
    const action = await actionOf(
      'api:\n  url: https://a.example',
      's:\n  http:\n    upstream: api\n    url: /x/${file:seg.txt}\n    headers: { x-key: "k ${file:/abs/key.txt}" }',
      { 'seg.txt': 'segment\r\n', '/abs/key.txt': 'secret-key\n' },
    )
    expect(action.url.parts).toEqual(['/x/segment'])
    expect(action.headers['x-key']).toBe('k secret-key')
  })

  it('keeps OAuth2, TLS, proxy and max_concurrency for the shell, with keys that change only with the settings', async () => {
    const upstream = `api:\n  url: https://a.example\n  auth:\n    oauth2:\n      token_url: https://auth.example/token\n      client_id: c1\n      client_secret: \${file:secret}\n      scopes: [a, b]\n      params: { audience: x }\n      client_auth: post\n  tls:\n    ca: \${file:ca.pem}\n    cert: \${file:c.pem}\n    key: \${file:c.key}\n    servername: api.internal\n  proxy: http://proxy.example:3128\n  max_concurrency: 3`
    const files = { secret: 's3cret\n', 'ca.pem': CA, 'c.pem': CERT, 'c.key': KEY }
    const a = await actionOf(upstream, USES_API, files)
    expect(a.upstream).toMatchObject({
      oauth2: { tokenUrl: 'https://auth.example/token', clientId: 'c1', clientSecret: 's3cret', scopes: ['a', 'b'], params: { audience: 'x' }, clientAuth: 'post' },
      tls: { ca: CA.slice(0, -1), cert: CERT.slice(0, -1), key: KEY.slice(0, -1), servername: 'api.internal', insecureSkipVerify: false },
      proxy: { kind: 'url', url: 'http://proxy.example:3128/' },
      maxConcurrency: 3,
    })
    const again = await actionOf(upstream, USES_API, files)
    expect(again.upstream!.poolKey).toBe(a.upstream!.poolKey)
    expect(again.upstream!.tokenKey).toBe(a.upstream!.tokenKey)
    const other = await actionOf(upstream.replace('max_concurrency: 3', 'max_concurrency: 4'), USES_API, files)
    expect(other.upstream!.poolKey).not.toBe(a.upstream!.poolKey)
    expect(a.secrets).toEqual(expect.arrayContaining(['s3cret', KEY.slice(0, -1)]))
  })

  it('takes body kinds and the status policy', async () => {
    const action = await actionOf('api:\n  url: https://a.example', 's:\n  http:\n    upstream: api\n    url: /f\n    body: form\n    retry: { on_status: [409], on_network_error: false }')
    expect(action.body).toBe('form')
    expect(action.headers['content-type']).toBe('application/x-www-form-urlencoded')
    expect(action.policy.retry).toMatchObject({ onStatus: new Set([409]), onNetworkError: false })
    const text = await actionOf('api:\n  url: https://a.example\n  headers: { content-type: text/csv }', 's:\n  http:\n    upstream: api\n    url: /f\n    body: text')
    expect(text.headers['content-type']).toBe('text/csv')
  })
})

describe('lint of upstreams, each problem at its file:line:col', () => {
  const problems = (text: string, files: Record<string, string> = {}, env: Record<string, string> = {}) => problemsOf({ 'steps.yaml': text, ...files }, 'steps.yaml', env)

  it('an unknown upstream name, with a suggestion', async () => {
    expect(await problems(file('payments:\n  url: https://a.example', 's:\n  http:\n    upstream: paymnets\n    url: /x'))).toEqual([
      "steps.yaml:3:3: warning: upstream 'payments' is not used by any step (http.upstream: payments)",
      "steps.yaml:8:17: error: unknown upstream 'paymnets' (did you mean 'payments'?)",
    ])
  })

  it('a url that is not a path when upstream is set', async () => {
    expect(await problems(file('api:\n  url: https://a.example', 's:\n  http:\n    upstream: api\n    url: https://b.example/x'))).toEqual([
      "steps.yaml:9:12: error: steps.s.http.url must be a path when http.upstream is set (it is appended to the upstream's url), such as /v1/items/{id}",
    ])
    expect(await problems(file('api:\n  url: https://a.example', 's:\n  http:\n    upstream: api\n    url: items'))).toEqual([
      "steps.yaml:9:12: error: steps.s.http.url must start with / when http.upstream is set (it is appended to the upstream's url), such as /items",
    ])
  })

  it('two auth kinds, cert without key, a bad proxy', async () => {
    expect(await problems(file('api:\n  url: https://a.example\n  auth:\n    basic: { username: u, password: p }\n    bearer: t', USES_API))).toEqual([
      'steps.yaml:7:7: error: upstreams.api.auth has basic and bearer: an upstream authenticates one way, so keep one of them',
    ])
    expect(await problems(file('api:\n  url: https://a.example\n  tls:\n    cert: x', USES_API))).toEqual([
      'steps.yaml:6:7: error: upstreams.api.tls.cert needs key: a client certificate is sent with its private key',
    ])
    expect(await problems(file('api:\n  url: https://a.example\n  proxy: socks5://p.example:1080', USES_API))).toEqual([
      'steps.yaml:5:12: error: upstreams.api.proxy must be an http:// or https:// proxy URL, or none',
    ])
  })

  it('an unreadable secret file, at the reference; a warning with --allow-missing-env', async () => {
    const text = file('api:\n  url: https://a.example\n  auth:\n    bearer: "x ${file:/run/secrets/none}"', USES_API)
    expect(await problems(text)).toEqual(['steps.yaml:6:18: error: cannot read the secret file /run/secrets/none: no such file'])
    const lint = await loadConfig('steps.yaml', { env: {}, allowMissingEnv: true, readFile: async (abs) => (abs.endsWith('steps.yaml') ? text : Promise.reject(Object.assign(new Error('nope'), { code: 'ENOENT' }))) })
    expect(lint.ok && lint.warnings.map(formatDiagnostic)).toEqual(['steps.yaml:6:18: warning: cannot read the secret file /run/secrets/none: no such file'])
  })

  it('a CA that holds no certificate, and a key that is not the certificate\'s', async () => {
    expect(await problems(file('api:\n  url: https://a.example\n  tls:\n    ca: ${file:ca.pem}', USES_API), { 'ca.pem': 'not a pem' })).toEqual([
      'steps.yaml:6:11: error: tls.ca holds no PEM certificate (-----BEGIN CERTIFICATE-----)',
    ])
    expect(await problems(file('api:\n  url: https://a.example\n  tls:\n    cert: ${file:c.pem}\n    key: ${file:c.key}', USES_API), { 'c.pem': CA, 'c.key': KEY })).toEqual([
      "steps.yaml:7:12: error: tls.cert and tls.key cannot be used together: the key is not the certificate's key",
    ])
  })

  it('warns of insecure_skip_verify, an http:// token URL and an upstream no step uses', async () => {
    const text = file(
      'api:\n  url: https://a.example\n  tls: { insecure_skip_verify: true }\n  auth:\n    oauth2: { token_url: "http://auth.example/t", client_id: c, client_secret: s }\nunused:\n  url: https://b.example',
      USES_API,
    )
    expect(await problems(text)).toEqual([
      'steps.yaml:5:34: warning: insecure_skip_verify: true accepts any certificate, so anyone on the path can read and change these calls; give tls.ca instead',
      'steps.yaml:7:28: warning: upstreams.api.auth.oauth2.token_url is http://: the client secret and the token travel in clear; use https:// outside a trusted network',
      "steps.yaml:8:3: warning: upstream 'unused' is not used by any step (http.upstream: unused)",
    ])
  })
})
