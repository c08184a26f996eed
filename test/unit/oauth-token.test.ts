import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Agent } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTokenCache } from '../../src/upstream/oauth.js'

// A real token endpoint on loopback whose answer each test sets.
let answer: (res: import('node:http').ServerResponse) => void = () => {}
let requests = 0
let server: Server
let url: string
const dispatcher = new Agent()

beforeAll(async () => {
  server = createServer((req, res) => {
    requests++
    req.resume()
    req.on('end', () => answer(res))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`
})
afterAll(async () => {
  await dispatcher.close()
  await new Promise((resolve) => server.close(resolve))
})

const settings = () => ({ tokenUrl: url, clientId: 'c', clientSecret: 's3cret', scopes: [], params: {}, clientAuth: 'basic' as const })
const token = (expiresIn?: number) => (res: import('node:http').ServerResponse) =>
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: `tok-${requests}`, token_type: 'Bearer', ...(expiresIn === undefined ? {} : { expires_in: expiresIn }) }))
const signal = () => new AbortController().signal

describe('the OAuth2 token cache', () => {
  it('refreshes when less than min(30 s, 10 % of the lifetime) remains, and assumes 300 s without expires_in', async () => {
    let now = 1_000_000
    const cache = createTokenCache({ settings: settings(), dispatcher, userAgent: 'test', now: () => now })
    answer = token(100)
    const first = await cache.get(signal(), 1000)
    expect(first).toMatchObject({ ok: true })
    now += 89_000 // 11 s left: more than 10 % of 100 s
    expect(await cache.get(signal(), 1000)).toEqual(first)
    now += 2_000 // 9 s left
    answer = token()
    const second = await cache.get(signal(), 1000)
    expect(second).not.toEqual(first)
    now += 269_000 // 31 s left of the default 300 s
    expect(await cache.get(signal(), 1000)).toEqual(second)
    now += 2_000 // 29 s left: under the 30 s cap
    expect(await cache.get(signal(), 1000)).not.toEqual(second)
  })

  it('drops a token the upstream refused, but not one that already replaced it', async () => {
    const cache = createTokenCache({ settings: settings(), dispatcher, userAgent: 'test' })
    answer = token(3600)
    const a = await cache.get(signal(), 1000)
    cache.invalidate('some-older-token')
    expect(await cache.get(signal(), 1000)).toEqual(a)
    cache.invalidate((a as { token: string }).token)
    expect(await cache.get(signal(), 1000)).not.toEqual(a)
  })

  it('reads at most 64 KiB of a token answer', async () => {
    const cache = createTokenCache({ settings: settings(), dispatcher, userAgent: 'test' })
    answer = (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(`{"access_token":"${'x'.repeat(200_000)}","token_type":"Bearer"}`)
    expect(await cache.get(signal(), 1000)).toEqual({ ok: false, status: 200, message: "the token endpoint's answer is over 65536 bytes" })
  })

  it('says why an answer is not a token, with the status, never the body', async () => {
    const cache = createTokenCache({ settings: settings(), dispatcher, userAgent: 'test' })
    answer = (res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"token_type":"Bearer"}')
    expect(await cache.get(signal(), 1000)).toMatchObject({ ok: false, status: 200, message: expect.stringMatching(/^the token endpoint's answer is not a usable token/) })
    answer = (res) => res.writeHead(503, { 'content-type': 'text/html' }).end('<h1>down</h1>')
    expect(await cache.get(signal(), 1000)).toEqual({ ok: false, status: 503, message: 'the token endpoint answered 503' })
    answer = (res) => res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid_scope","error_description":"s3cret"}')
    expect(await cache.get(signal(), 1000)).toEqual({ ok: false, status: 400, message: 'the token endpoint answered 400: invalid_scope' })
  })

  it('gives up on a token endpoint that does not answer in time', async () => {
    const cache = createTokenCache({ settings: settings(), dispatcher, userAgent: 'test' })
    answer = () => {} // never answers
    expect(await cache.get(signal(), 100)).toMatchObject({ ok: false, message: 'the token endpoint did not answer in time' })
  })
})
