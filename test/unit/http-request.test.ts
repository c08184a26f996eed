import { describe, expect, it } from 'vitest'
import { JsonText } from '../../src/engine/values.js'
import { buildRequest, DEFAULT_RETRY_STATUSES, encodeBody, fillUrl, queryString, readResponse } from '../../src/core/http-step.js'
import { createGate } from '../../src/upstream/gate.js'
import { DEFAULT_LIMITS } from '../../src/core/limits.js'
import { createScrubber } from '../../src/core/secrets.js'
import type { CallPolicy, HttpAction } from '../../src/core/registry.js'
import { backoff, retryAfter } from '../../src/upstream/undici-upstream.js'

const policy: CallPolicy = { timeoutMs: 1000, maxResponseBytes: 100, retry: { maxAttempts: 3, backoffMs: 100, maxBackoffMs: 1000, onStatus: DEFAULT_RETRY_STATUSES, onNetworkError: true } }
const action: HttpAction = {
  kind: 'http',
  method: 'POST',
  url: { origin: 'https://api.example.com', parts: ['/users/', 'id', '/charges'] },
  upstream: undefined,
  body: 'json',
  params: undefined,
  query: undefined,
  headers: { 'user-agent': 'step-runner/1.0.0', 'content-type': 'application/json', authorization: 'Bearer x' },
  secrets: ['Bearer x'],
  policy,
  output: undefined,
}
const context = { step_name: 'charge', request_id: 'mqr_1' }

describe('fillUrl', () => {
  it('percent-encodes every value, so none can add a path step, a query or a fragment', () => {
    expect(fillUrl(action.url, { id: 'a b/c?d#e&f' })).toBe('https://api.example.com/users/a%20b%2Fc%3Fd%23e%26f/charges')
    expect(fillUrl(action.url, { id: 42 })).toBe('https://api.example.com/users/42/charges')
    expect(fillUrl(action.url, { id: 'é' })).toBe('https://api.example.com/users/%C3%A9/charges')
  })

  it.each([['.'], ['..'], ['']])("refuses '%s', which would change the path", (id) => {
    expect(() => fillUrl(action.url, { id })).toThrow()
  })

  it('refuses a missing value, an object, and params that are not an object', () => {
    expect(() => fillUrl(action.url, {})).toThrow(/\{id\}/)
    expect(() => fillUrl(action.url, { id: { a: 1 } })).toThrow(/\{id\}/)
    expect(() => fillUrl(action.url, 'id')).toThrow(/must yield an object/)
  })

  it('leaves a URL without placeholders as written', () => {
    expect(fillUrl({ origin: 'http://h:81', parts: ['/a?b=1'] }, undefined)).toBe('http://h:81/a?b=1')
  })
})

describe('queryString', () => {
  it('encodes keys and values, repeats keys for lists, leaves out null', () => {
    expect(queryString({ q: 'a b&c', tag: ['x', 2, true], skip: null, 'k y': 1 })).toBe('?q=a%20b%26c&tag=x&tag=2&tag=true&k%20y=1')
    expect(queryString({})).toBe('')
    expect(queryString(undefined)).toBe('')
  })

  it('refuses nested objects and non-objects', () => {
    expect(() => queryString({ a: { b: 1 } })).toThrow(/http\.query\.a/)
    expect(() => queryString('a=1')).toThrow(/must yield an object/)
  })
})

describe('buildRequest', () => {
  it('adds x-request-id and an idempotency key, and sends the body as JSON', () => {
    const request = buildRequest('charge', action, { context }, { amount: 5 }, { id: 'u1' }, { expand: 'customer' })
    expect(request).toEqual({
      method: 'POST',
      url: 'https://api.example.com/users/u1/charges?expand=customer',
      headers: { ...action.headers, 'x-request-id': 'mqr_1', 'idempotency-key': 'mqr_1:charge' },
      body: '{"amount":5}',
    })
  })

  it('sends no body, and no content-type, for GET or when the transform gave nothing', () => {
    expect(buildRequest('charge', { ...action, method: 'GET' }, { context }, { amount: 5 }, { id: 'u1' }, undefined)).toMatchObject({ body: undefined, headers: expect.not.objectContaining({ 'content-type': expect.anything() }) })
    expect(buildRequest('charge', action, { context }, undefined, { id: 'u1' }, undefined).body).toBeUndefined()
  })

  it('leaves out the request headers when the context has no request_id', () => {
    const headers = buildRequest('charge', action, { context: { step_name: 'charge' } }, {}, { id: 'u1' }, undefined).headers
    expect(headers).not.toHaveProperty('x-request-id')
    expect(headers).not.toHaveProperty('idempotency-key')
  })
})

describe('readResponse', () => {
  const response = (type: string | undefined, body: string, headers: Record<string, string> = {}) => ({
    status: 200,
    headers: { ...(type === undefined ? {} : { 'content-type': type }), ...headers },
    body: Buffer.from(body),
  })
  const none = createScrubber([], '[redacted]')
  const bodyOf = (type: string | undefined, body: string) => {
    const seen = readResponse(response(type, body), { limits: DEFAULT_LIMITS }, none)
    return seen.ok ? seen.body : seen.message
  }

  it('parses JSON media types, and keeps other text as text', () => {
    expect(bodyOf('application/json; charset=utf-8', '{"a":1}')).toEqual({ a: 1 })
    expect(bodyOf('application/problem+json', '{"title":"x"}')).toEqual({ title: 'x' })
    expect(bodyOf('text/plain', '{"a":1}')).toBe('{"a":1}')
    expect(bodyOf(undefined, 'hello')).toBe('hello')
    expect(bodyOf('application/json', '')).toBeUndefined()
    expect(bodyOf('application/json', '{"a":')).toBe('{"a":')
  })

  it('refuses a JSON body nested deeper than MAX_JSON_DEPTH', () => {
    const deep = '['.repeat(5000) + ']'.repeat(5000)
    expect(bodyOf('application/json', deep)).toBe('upstream body is nested deeper than 1000 levels')
    expect(bodyOf('text/plain', deep)).toBe(deep)
  })

  it('removes prototype-poisoning keys, escaped or not, and says so', () => {
    const warnings: string[] = []
    const seen = readResponse(response('application/json', '{"__proto__":{"x":1},"id":7,"a":{"constructor":{"prototype":{}}},"b":{"\\u005f_proto__":1}}'), { limits: DEFAULT_LIMITS }, none, (m) => warnings.push(m))
    expect(seen).toMatchObject({ ok: true, body: { id: 7, a: {}, b: {} } })
    expect(Object.keys((seen as { body: object }).body)).toEqual(['id', 'a', 'b'])
    expect(warnings).toEqual(['the upstream body had a forbidden key (__proto__ or constructor.prototype): removed it'])
  })

  it('replaces the secrets of the config that an upstream echoes, in its body and headers', () => {
    const secrets = createScrubber(['tok_secret_123', 'https://internal.example'], '[redacted]')
    const echo = readResponse(
      response('application/json', '{"headers":{"authorization":"Bearer tok_secret_123"},"url":"https:\\/\\/internal.example\\/x","tok_secret_123":1,"n":1234}', { 'x-echo': 'tok_secret_123' }),
      { limits: DEFAULT_LIMITS },
      secrets,
    )
    expect(echo).toMatchObject({ ok: true, headers: { 'x-echo': '[redacted]' }, body: { headers: { authorization: 'Bearer [redacted]' }, url: '[redacted]/x', '[redacted]': 1, n: 1234 } })
    expect(readResponse(response('text/plain', 'token=tok_secret_123'), { limits: DEFAULT_LIMITS }, secrets)).toMatchObject({ body: 'token=[redacted]' })
  })
})

describe('retry timing', () => {
  it('backs off exponentially with jitter between half and all of the step, capped', () => {
    expect(backoff(1, policy, () => 0)).toBe(50)
    expect(backoff(1, policy, () => 1)).toBe(100)
    expect(backoff(3, policy, () => 1)).toBe(400)
    expect(backoff(10, policy, () => 1)).toBe(1000)
    expect(backoff(10, policy, () => 0)).toBe(500)
  })

  it('honours Retry-After in seconds or as a date, up to max_backoff_ms', () => {
    const answer = (value: string) => ({ status: 503, headers: { 'retry-after': value }, body: Buffer.alloc(0) })
    expect(retryAfter(answer('0'), policy)).toBe(0)
    expect(retryAfter(answer('1'), policy)).toBe(1000)
    expect(retryAfter(answer('3600'), policy)).toBe(1000)
    const now = Date.parse('2026-01-01T00:00:00Z')
    expect(retryAfter(answer('Thu, 01 Jan 2026 00:00:00 GMT'), { ...policy, retry: { ...policy.retry, maxBackoffMs: 5000 } }, now - 2000)).toBe(2000)
    expect(retryAfter(answer('Wed, 31 Dec 2025 00:00:00 GMT'), policy, now)).toBe(0)
    expect(retryAfter(answer('soon'), policy)).toBeUndefined()
    expect(retryAfter({ status: 503, headers: {}, body: Buffer.alloc(0) }, policy)).toBeUndefined()
  })
})

describe('a JSON body', () => {
  it('is the JSON text an evaluation thread made, as it is, or the value serialized', () => {
    expect(encodeBody('json', new JsonText('{"a":[1,"x"]}', 2))).toBe('{"a":[1,"x"]}')
    expect(encodeBody('json', { a: [1, 'x'] })).toBe('{"a":[1,"x"]}')
  })
})

describe('form and text bodies', () => {
  it('encodes a form: lists repeat the key, null leaves the field out, values as text', () => {
    expect(encodeBody('form', { a: 1, tag: ['x y', 'z&'], skip: null, ok: true })).toBe('a=1&tag=x+y&tag=z%26&ok=true')
  })

  it('refuses a nested form field, naming it, and anything but an object', () => {
    expect(() => encodeBody('form', { a: { b: 1 } })).toThrow("field 'a' must be a string, number, boolean or a list of them; got an object (a form has no nesting)")
    expect(() => encodeBody('form', { a: [[1]] })).toThrow("field 'a'")
    expect(() => encodeBody('form', [1])).toThrow('http.body is form, so the transform must yield an object of fields; got a list')
  })

  it('sends text as it is, and refuses a result that is not a string', () => {
    expect(encodeBody('text', 'héllo\n')).toBe('héllo\n')
    expect(() => encodeBody('text', { a: 1 })).toThrow('http.body is text, so the transform must yield a string; got an object')
  })

  it('reads a form response into an object, a repeated field as a list, and drops __proto__', () => {
    const warnings: string[] = []
    const seen = readResponse({ status: 200, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from('a=1&b=x+y&b=z&__proto__=p') }, { limits: DEFAULT_LIMITS }, createScrubber([], '[redacted]'), (m) => warnings.push(m))
    expect(seen).toMatchObject({ ok: true, body: { a: '1', b: ['x y', 'z'] } })
    expect(Object.getPrototypeOf((seen as { body: object }).body)).toBe(Object.prototype)
    expect(warnings).toEqual(['the upstream form body had a __proto__ field: removed it'])
  })
})

describe('the max_concurrency gate', () => {
  it('lets N in, queues the rest in order, and gives up a waiter whose signal aborts', async () => {
    const waiting: number[] = []
    const gate = createGate(2, (n) => waiting.push(n))
    const never = new AbortController().signal
    const a = await gate.enter(never)
    const b = await gate.enter(never)
    const order: string[] = []
    const c = gate.enter(never).then((leave) => (order.push('c'), leave))
    const timeout = new AbortController()
    const d = gate.enter(timeout.signal).catch((reason: unknown) => (order.push('d gave up'), reason))
    const e = gate.enter(never).then((leave) => (order.push('e'), leave))
    expect(gate.waiting).toBe(3)
    timeout.abort('too late')
    expect(await d).toBe('too late')
    expect(gate.waiting).toBe(2)
    a()
    a() // a second release is a no-op
    const leaveC = await c
    expect(order).toEqual(['d gave up', 'c'])
    b()
    await e
    expect(order).toEqual(['d gave up', 'c', 'e'])
    expect(gate.waiting).toBe(0)
    leaveC()
    expect(waiting).toEqual([1, 2, 3, 2, 1, 0])
  })
})
