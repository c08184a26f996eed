import { StepErrorCode } from './errors.js'
import { describeExpressionError, evaluateOverPayload, type Expression } from './expression.js'
import { failure, isPlainObject, type Payload, type StepResult } from './protocol.js'
import type { HttpAction, HttpMethod, UrlTemplate } from './registry.js'
import type { OutboundRequest, Upstream, UpstreamResponse } from './upstream.js'

/** What an HTTP step needs from outside the core to run. */
export interface StepRuntime {
  readonly upstream: Upstream
  /** Aborts the outbound call: the caller went away, or the server is shutting down. */
  readonly signal?: AbortSignal | undefined
}

export const METHODS_WITHOUT_BODY: ReadonlySet<HttpMethod> = new Set(['GET', 'HEAD', 'DELETE'])

/** Ends a step early with a failure result; its message is the result's. */
class StepFailure extends Error {
  constructor(
    message: string,
    readonly result: StepResult,
  ) {
    super(message)
  }
}

/** Runs the call of an HTTP step, given the transform's result (the request body). */
export async function runHttpStep(name: string, action: HttpAction, payload: Payload, body: unknown, runtime: StepRuntime): Promise<StepResult> {
  let request: OutboundRequest
  try {
    const params = await evaluate(action.params, 'params', payload)
    const query = await evaluate(action.query, 'query', payload)
    request = buildRequest(name, action, payload, body, params, query)
  } catch (err) {
    if (err instanceof StepFailure) return err.result
    throw err
  }

  const outcome = await runtime.upstream.send(name, request, action.policy, runtime.signal)
  if (!outcome.ok) {
    const details: Record<string, unknown> = { reason: outcome.reason, attempts: outcome.attempts }
    if (outcome.response !== undefined) {
      details['status'] = outcome.response.status
      details['body'] = decodeBody(outcome.response)
    }
    return failure(StepErrorCode.upstreamFailed, outcome.message, details)
  }
  return mapResponse(action.output, outcome.response, payload)
}

async function evaluate(expression: Expression | undefined, key: 'params' | 'query', payload: Payload): Promise<unknown> {
  if (expression === undefined) return undefined
  try {
    return await evaluateOverPayload(expression, payload)
  } catch (err) {
    const info = describeExpressionError(err)
    const message = `http.${key} failed: ${info.message}`
    throw new StepFailure(message, failure(StepErrorCode.transformFailed, message, info))
  }
}

function transformFailed(message: string): StepFailure {
  return new StepFailure(message, failure(StepErrorCode.transformFailed, message))
}

export function buildRequest(name: string, action: HttpAction, payload: Payload, body: unknown, params: unknown, query: unknown): OutboundRequest {
  const url = fillUrl(action.url, params) + queryString(query)
  const headers: Record<string, string> = { ...action.headers }
  const requestId = payload.context.request_id
  if (typeof requestId === 'string' && requestId !== '') {
    headers['x-request-id'] = requestId
    // Stable across retries and across the orchestrator's own redeliveries.
    headers['idempotency-key'] = `${requestId}:${name}`
  }
  const sendsBody = !METHODS_WITHOUT_BODY.has(action.method) && body !== undefined
  if (!sendsBody) delete headers['content-type']
  return { method: action.method, url, headers, body: sendsBody ? JSON.stringify(body) : undefined }
}

/** Fills `{name}` placeholders, percent-encoded, after the fixed origin. */
export function fillUrl(template: UrlTemplate, params: unknown): string {
  if (template.parts.length === 1) return template.origin + template.parts[0]!
  if (!isPlainObject(params)) throw transformFailed(`http.params must yield an object with a value for each URL placeholder; got ${describe(params)}`)
  let out = template.origin
  for (let i = 0; i < template.parts.length; i++) {
    const part = template.parts[i]!
    if (i % 2 === 0) {
      out += part
      continue
    }
    const value = params[part]
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw transformFailed(`http.params gave no usable value for the URL placeholder {${part}} (a string or a number is needed; got ${describe(value)})`)
    }
    const text = String(value)
    // "." and ".." would be read as path steps, moving the request elsewhere on the host.
    if (text === '.' || text === '..' || text === '') throw transformFailed(`http.params.${part} must not be '${text}' (it would change the URL's path)`)
    out += encodeURIComponent(text)
  }
  return out
}

/** `?a=1&b=x%20y` from the query expression's object; arrays repeat the key, null leaves it out. */
export function queryString(query: unknown): string {
  if (query === undefined || query === null) return ''
  if (!isPlainObject(query)) throw transformFailed(`http.query must yield an object; got ${describe(query)}`)
  const pairs: string[] = []
  for (const [key, value] of Object.entries(query)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item === null || item === undefined) continue
      if (typeof item === 'object') throw transformFailed(`http.query.${key} must be a string, number, boolean or a list of them; got ${describe(item)}`)
      pairs.push(`${encodeURIComponent(key)}=${encodeURIComponent(String(item))}`)
    }
  }
  return pairs.length === 0 ? '' : `?${pairs.join('&')}`
}

/** Parsed JSON when the response says it is JSON (and is), else the text; undefined when empty. */
export function decodeBody(response: UpstreamResponse): unknown {
  if (response.body.length === 0) return undefined
  const text = response.body.toString('utf8')
  const type = response.headers['content-type']
  if (typeof type === 'string' && /^application\/(?:[\w.+-]+\+)?json\b/i.test(type.trim())) {
    try {
      return JSON.parse(text)
    } catch {
      return text
    }
  }
  return text
}

async function mapResponse(output: Expression | undefined, response: UpstreamResponse, payload: Payload): Promise<StepResult> {
  const body = decodeBody(response)
  if (output === undefined) {
    if (response.status >= 200 && response.status < 300) return body === undefined ? { exit_code: 'success' } : { exit_code: 'success', data: body }
    return { exit_code: 'failure', data: { error: { code: StepErrorCode.upstreamStatus, message: `upstream answered ${response.status}`, status: response.status, body } } }
  }
  let mapped: unknown
  try {
    mapped = await output.evaluate({ status: response.status, headers: response.headers, body }, { data: payload.data, context: payload.context })
  } catch (err) {
    const info = describeExpressionError(err)
    return failure(StepErrorCode.outputFailed, `output failed: ${info.message}`, { ...info, status: response.status })
  }
  if (!isPlainObject(mapped) || typeof mapped['exit_code'] !== 'string' || mapped['exit_code'] === '') {
    return failure(StepErrorCode.outputFailed, `output must yield an object with a non-empty string exit_code; got ${describe(mapped)}`, { status: response.status })
  }
  const data = mapped['data']
  return data === undefined ? { exit_code: mapped['exit_code'] } : { exit_code: mapped['exit_code'], data }
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing'
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'an object'
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}
