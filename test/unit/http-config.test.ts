import { describe, expect, it } from 'vitest'
import type { HttpAction } from '../../src/core/registry.js'
import { problemsOf, registryFrom } from '../helpers/config.js'

const stepsWith = (step: string, defaults = '') => `version: 1\n${defaults}steps:\n  s:\n${step.replace(/^/gm, '    ')}\n`
const actionOf = async (step: string, defaults = '', env: Record<string, string> = {}) =>
  (await registryFrom({ 'steps.yaml': stepsWith(step, defaults) }, 'steps.yaml', env)).steps.get('s')!.action as HttpAction

describe('HTTP step config', () => {
  it('fills in the defaults: POST, 5 s, 1 MiB, no retries for POST', async () => {
    const action = await actionOf('http:\n  url: https://api.example.com/v1/things')
    expect(action).toMatchObject({
      kind: 'http',
      method: 'POST',
      url: { origin: 'https://api.example.com', parts: ['/v1/things'] },
      policy: { timeoutMs: 5000, maxResponseBytes: 1048576, retry: { maxAttempts: 1, backoffMs: 200, maxBackoffMs: 5000 } },
    })
    expect(action.headers).toEqual({ 'user-agent': expect.stringMatching(/^step-runner\/\d+\.\d+\.\d+$/), 'content-type': 'application/json' })
  })

  it.each([
    ['GET', 3],
    ['HEAD', 3],
    ['PUT', 3],
    ['DELETE', 3],
    ['POST', 1],
    ['PATCH', 1],
  ])('retries %s up to %d attempts by default', async (method, attempts) => {
    expect((await actionOf(`http:\n  method: ${method}\n  url: https://a.example/x`)).policy.retry.maxAttempts).toBe(attempts)
  })

  it('retries POST with non_idempotent: true, 3 attempts unless said otherwise', async () => {
    expect((await actionOf('http:\n  url: https://a.example/x\n  retry: { non_idempotent: true }')).policy.retry.maxAttempts).toBe(3)
    expect((await actionOf('http:\n  url: https://a.example/x\n  retry: { non_idempotent: true, max_attempts: 5 }')).policy.retry.maxAttempts).toBe(5)
  })

  it('takes timeout, size and retry from the defaults block, key by key under the step', async () => {
    const defaults = 'defaults:\n  http:\n    timeout_ms: 1000\n    max_response_bytes: 2048\n    retry: { max_attempts: 4, backoff_ms: 10, max_backoff_ms: 100 }\n'
    const action = await actionOf('http:\n  method: GET\n  url: https://a.example/x\n  timeout_ms: 50\n  retry: { backoff_ms: 20 }', defaults)
    expect(action.policy).toEqual({ timeoutMs: 50, maxResponseBytes: 2048, retry: { maxAttempts: 4, backoffMs: 20, maxBackoffMs: 100, onStatus: new Set([408, 429, 500, 502, 503, 504]), onNetworkError: true } })
  })

  it('resolves ${VAR} in the URL and headers once, and remembers every value from the environment as a secret, and whole header values too', async () => {
    const action = await actionOf(
      'http:\n  url: ${BASE}/users/{id}\n  params: \'{ "id": $data.id }\'\n  headers:\n    authorization: Bearer ${TOKEN}\n    x-plain: literal {braces}',
      '',
      { BASE: 'https://api.example.com/v2', TOKEN: 's3cret' },
    )
    expect(action.url).toEqual({ origin: 'https://api.example.com', parts: ['/v2/users/', 'id', ''] })
    expect(action.headers).toMatchObject({ authorization: 'Bearer s3cret', 'x-plain': 'literal {braces}' })
    expect(action.secrets).toEqual(['https://api.example.com/v2', 'https://api.example.com', 's3cret', 'Bearer s3cret'])
  })

  it('uses ${VAR:-default} when the variable is unset, and never reads a variable value as a placeholder', async () => {
    expect((await actionOf('http:\n  url: ${BASE:-http://127.0.0.1:4010}/x')).url).toEqual({ origin: 'http://127.0.0.1:4010', parts: ['/x'] })
    expect((await actionOf('http:\n  url: https://a.example/${SEG}', '', { SEG: '{notaplaceholder}' })).url.parts).toEqual(['/{notaplaceholder}'])
  })

  it.each([
    ['a relative URL', 'url: /just/a/path', '5:12', 'steps.s.http.url must be an absolute http(s) URL, such as https://api.example.com/v1/items'],
    ['another scheme', 'url: ftp://files.example/x', '5:12', 'steps.s.http.url must be an http or https URL, not ftp:'],
    ['credentials', 'url: https://user:pw@a.example/x', '5:12', 'steps.s.http.url must not carry credentials: put them in a header, such as authorization: "Bearer ${TOKEN}"'],
    ['a placeholder in the host', "url: https://{tenant}.example.com/x\n  params: '{ \"tenant\": \"a\" }'", '5:12', 'steps.s.http.url: placeholders may be in the path and query only, never in the scheme, host or port'],
    ['a placeholder without params', 'url: https://a.example/users/{id}', '5:12', 'URL placeholder {id} has no value: add http.params, such as params: \'{ "id": $data.id }\''],
    ['params that miss a placeholder', "url: https://a.example/users/{id}/{rev}\n  params: '{ \"id\": 1 }'", '6:15', 'http.params gives no value for the URL placeholder {rev}'],
    ['a malformed placeholder', 'url: https://a.example/users/{a b}', '5:36', "'{a b}' is neither a {placeholder} nor a ${VARIABLE}"],
    ['an unset variable', 'url: https://a.example/${NOPE_NOT_SET}/x', '5:30', 'environment variable NOPE_NOT_SET is not set'],
    ['a reserved header', 'url: https://a.example/x\n  headers: { idempotency-key: abc }', '6:18', "header 'idempotency-key' is set by step-runner or the HTTP client and cannot be configured"],
    ['an unset variable in a header', 'url: https://a.example/x\n  headers:\n    authorization: Bearer ${NOPE_TOKEN}', '7:31', 'environment variable NOPE_TOKEN is not set'],
  ])('reports %s at its position', async (_name, http, at, message) => {
    expect(await problemsOf({ 'steps.yaml': stepsWith(`http:\n  ${http}`) })).toEqual([`steps.yaml:${at}: error: ${message}`])
  })

  it('reports a step with both exit_code and http, or neither, or output without http', async () => {
    expect(await problemsOf({ 'steps.yaml': stepsWith('exit_code: success\nhttp: { url: "https://a.example/x" }') })).toEqual([
      'steps.yaml:3:3: error: steps.s has both exit_code and http: a step is either static (exit_code) or an HTTP call (http)',
    ])
    expect(await problemsOf({ 'steps.yaml': stepsWith('description: nothing to do') })).toEqual(['steps.yaml:3:3: error: steps.s needs exit_code (a static step) or http (an HTTP call)'])
    expect(await problemsOf({ 'steps.yaml': stepsWith("exit_code: success\noutput: '{}'") })).toEqual([
      'steps.yaml:5:5: error: steps.s.output needs http: output maps the response of an HTTP step',
    ])
  })

  it('reports an unknown method and a bad retry value', async () => {
    expect(await problemsOf({ 'steps.yaml': stepsWith('http:\n  method: FETCH\n  url: https://a.example/x\n  retry: { max_attempts: 0 }') })).toEqual([
      'steps.yaml:5:15: error: steps.s.http.method must be one of "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"',
      'steps.yaml:7:30: error: steps.s.http.retry.max_attempts must be >= 1',
    ])
  })

  it('warns when a setting has no effect', async () => {
    expect(await problemsOf({ 'steps.yaml': stepsWith("transform: '{}'\nhttp:\n  method: GET\n  url: https://a.example/x") })).toEqual([
      "steps.yaml:4:5: warning: the transform's result is not sent: GET requests have no body",
    ])
    expect(await problemsOf({ 'steps.yaml': stepsWith('http:\n  url: https://a.example/x\n  retry: { max_attempts: 3 }') })).toEqual([
      'steps.yaml:6:30: warning: POST is retried only with non_idempotent: true, so max_attempts has no effect',
    ])
  })
})
