import secureJson from 'secure-json-parse'
import { JsonText, jsonProblem, stageFailure, type StepRun } from './answer.js'
import { describeExpressionError, evaluateOverPayload, type Expression } from './expression.js'
import { scanJson } from './json-scan.js'
import type { CoreLimits } from './limits.js'
import { isPlainObject, type Payload } from './protocol.js'
import type { BodyKind, HttpAction, HttpMethod, UrlTemplate } from './registry.js'
import type { Scrubber } from './secrets.js'
import { since, traceBody, type TraceRecorder } from './trace.js'
import type { OutboundRequest, Upstream, UpstreamResponse } from './upstream.js'

/** What a step needs from outside the core to run. */
export interface StepRuntime {
  readonly upstream: Upstream
  /** Aborts the outbound call: the caller went away, or the server is shutting down. */
  readonly signal?: AbortSignal | undefined
  readonly limits: CoreLimits
  /** Told of what a step survived but an operator should know about, for the log. */
  readonly warn?: ((step: string, message: string) => void) | undefined
  /** Whether the run was cancelled (its answer is then not one to replay). */
  readonly cancelled?: (() => boolean) | undefined
  /** Records the run's stages (npm run dev, send --trace, test-steps --trace). */
  readonly trace?: TraceRecorder | undefined
}

export const METHODS_WITHOUT_BODY: ReadonlySet<HttpMethod> = new Set(['GET', 'HEAD', 'DELETE'])

/** Headers whose values are credentials, whoever wrote them: secrets in the config, redacted in traces. */
export const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set(['authorization', 'proxy-authorization', 'x-api-key', 'cookie'])

/** Statuses worth another attempt unless `retry.on_status` says otherwise: the upstream may answer differently soon. */
export const DEFAULT_RETRY_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504])

/** Ends a step early with a failed run. */
class StepFailure extends Error {
  constructor(readonly run: StepRun) {
    super((run.result.data as { error: { message: string } }).error.message)
  }
}

/** Runs the call of an HTTP step, given the transform's result (the request body). */
export async function runHttpStep(name: string, action: HttpAction, payload: Payload, body: unknown, runtime: StepRuntime, secrets: Scrubber): Promise<StepRun> {
  const { trace } = runtime
  let request: OutboundRequest
  let started = performance.now()
  try {
    const params = await evaluate(action.params, 'params', payload)
    const query = await evaluate(action.query, 'query', payload)
    request = buildRequest(name, action, payload, body, params, query)
  } catch (err) {
    if (err instanceof StepFailure) {
      trace?.stage('request', since(started), { error: (err.run.result.data as { error: unknown }).error })
      return err.run
    }
    throw err
  }
  trace?.stage('request', since(started), { method: request.method, url: secrets.text(request.url), headers: traceHeaders(request.headers, secrets), body: traceBody(request.body) })

  started = performance.now()
  const outcome = await runtime.upstream.send(
    name,
    request,
    action.policy,
    runtime.signal,
    trace === undefined
      ? undefined
      : (attempt) =>
          trace.stage('attempt', attempt.durationMs, {
            attempt: attempt.n,
            method: request.method,
            url: secrets.text(request.url),
            headers: traceHeaders(request.headers, secrets),
            body: traceBody(request.body),
            ...(attempt.status !== undefined ? { status: attempt.status } : { reason: attempt.reason }),
            ...(attempt.backoffMs !== undefined ? { backoff_ms: Math.round(attempt.backoffMs) } : {}),
          }),
  )
  const read = (response: UpstreamResponse) => {
    const seen = readResponse(response, runtime, secrets, (message) => runtime.warn?.(name, message))
    if (trace !== undefined) {
      if (seen.ok) trace.stage('response', 0, { status: seen.status, headers: seen.headers, body: traceBody(seen.body) })
      else trace.stage('response', 0, { status: response.status, error: seen.message })
    }
    return seen
  }
  if (!outcome.ok) {
    const details: Record<string, unknown> = { reason: outcome.reason, ...(outcome.status !== undefined ? { status: outcome.status } : {}), attempts: outcome.attempts }
    if (outcome.response !== undefined) {
      const seen = read(outcome.response)
      if (!seen.ok) return stageFailure('upstream', seen.message, { status: outcome.response.status })
      details['status'] = outcome.response.status
      details['body'] = seen.body
    }
    return stageFailure('upstream', secrets.text(outcome.message), details)
  }
  const seen = read(outcome.response)
  if (!seen.ok) return stageFailure('upstream', seen.message, { status: outcome.response.status })
  if (action.output === undefined || trace === undefined) return mapResponse(action.output, seen, payload, runtime.limits)
  started = performance.now()
  const mapped = await mapResponse(action.output, seen, payload, runtime.limits)
  const error = outputError(mapped)
  trace.stage('output', since(started), error !== undefined ? { error } : { result: traceBody(mapped.result) })
  return mapped
}

/** The error of an `output` that failed (not a failure the mapping answered on purpose). */
function outputError(run: StepRun): unknown {
  const error = (run.result.data as { error?: { code?: unknown } } | undefined)?.error
  return error?.code === 'output_failed' ? error : undefined
}

/** Request headers for a trace: credentials and every secret of the config replaced. */
function traceHeaders(headers: Readonly<Record<string, string>>, secrets: Scrubber): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    out[name] = CREDENTIAL_HEADERS.has(name) ? '[redacted]' : secrets.text(value)
  }
  return out
}

async function evaluate(expression: Expression | undefined, key: 'params' | 'query', payload: Payload): Promise<unknown> {
  if (expression === undefined) return undefined
  try {
    return await evaluateOverPayload(expression, payload)
  } catch (err) {
    const info = describeExpressionError(err, expression)
    throw new StepFailure(stageFailure('transform', `http.${key} failed: ${info.message}`, info))
  }
}

function transformFailed(message: string): StepFailure {
  return new StepFailure(stageFailure('transform', message))
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
  return { method: action.method, url, headers, body: sendsBody ? encodeBody(action.body, body) : undefined, upstream: action.upstream }
}

/** The transform's result as the request body, in the step's `http.body` kind. */
export function encodeBody(kind: BodyKind, body: unknown): string {
  if (kind === 'json') return body instanceof JsonText ? body.text : JSON.stringify(body)
  if (kind === 'text') {
    if (typeof body !== 'string') throw transformFailed(`http.body is text, so the transform must yield a string; got ${describe(body)}`)
    return body
  }
  if (!isPlainObject(body)) throw transformFailed(`http.body is form, so the transform must yield an object of fields; got ${describe(body)}`)
  const form = new URLSearchParams()
  for (const [key, value] of Object.entries(body)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item === null || item === undefined) continue
      if (!isScalar(item)) {
        throw transformFailed(`http.body is form, so field '${key}' must be a string, number, boolean or a list of them; got ${describe(item)} (a form has no nesting)`)
      }
      form.append(key, String(item))
    }
  }
  return form.toString()
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
    if (!isScalar(value)) {
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
      if (!isScalar(item)) throw transformFailed(`http.query.${key} must be a string, number, boolean or a list of them; got ${describe(item)}`)
      pairs.push(`${encodeURIComponent(key)}=${encodeURIComponent(String(item))}`)
    }
  }
  return pairs.length === 0 ? '' : `?${pairs.join('&')}`
}

function isScalar(value: unknown): value is string | number | boolean {
  return typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))
}

/** A response as a step sees it: the body decoded, secrets that it echoes replaced. */
export type SeenResponse =
  | { readonly ok: true; readonly status: number; readonly headers: Readonly<Record<string, unknown>>; readonly body: unknown }
  | { readonly ok: false; readonly message: string }

/**
 * Decodes a response for `output` and for the answer: JSON when it says it is
 * JSON (and is), else the text; nothing when empty. A JSON body is held to
 * MAX_JSON_DEPTH and to the request's prototype-poisoning rules, except that
 * a forbidden key is removed rather than refused, so that a step never
 * answers what the next step's request could not carry. A secret of the
 * config that the upstream echoes (in its body or headers) is replaced by
 * "[redacted]": it leaves the process only in the request it was meant for.
 */
export function readResponse(response: UpstreamResponse, runtime: Pick<StepRuntime, 'limits'>, secrets: Scrubber, warn: (message: string) => void = () => {}): SeenResponse {
  const headers: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(response.headers)) {
    headers[name] = typeof value === 'string' ? secrets.text(value) : Array.isArray(value) ? value.map((v) => secrets.text(v)) : value
  }
  const seen = (body: unknown): SeenResponse => ({ ok: true, status: response.status, headers, body })
  if (response.body.length === 0) return seen(undefined)
  const text = response.body.toString('utf8')
  const type = response.headers['content-type']
  if (typeof type === 'string' && /^application\/(?:[\w.+-]+\+)?json\b/i.test(type.trim())) {
    const maxDepth = runtime.limits.maxJsonDepth
    const scan = scanJson(text, { maxDepth })
    if (scan.ok) {
      let body: unknown
      if (scan.forbiddenAt >= 0) {
        body = secureJson.parse(text, undefined, { protoAction: 'remove', constructorAction: 'remove' })
        warn('the upstream body had a forbidden key (__proto__ or constructor.prototype): removed it')
      } else {
        body = JSON.parse(text)
      }
      return seen(secrets.mayHold(text) ? secrets.value(body) : body)
    }
    if (scan.reason === 'depth') return { ok: false, message: `upstream body is nested deeper than ${maxDepth} levels` }
    // Not JSON after all: the text, as any other.
  }
  if (typeof type === 'string' && /^application\/x-www-form-urlencoded\b/i.test(type.trim())) return seen(secrets.value(parseForm(text, warn)))
  return seen(secrets.text(text))
}

/** A form body as an object: a repeated field becomes a list, as in the form that `body: form` sends. */
export function parseForm(text: string, warn: (message: string) => void = () => {}): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const [key, value] of new URLSearchParams(text)) {
    // Would set the object's prototype rather than a field.
    if (key === '__proto__') {
      warn('the upstream form body had a __proto__ field: removed it')
      continue
    }
    const existing = Object.hasOwn(out, key) ? out[key] : undefined
    if (existing === undefined) out[key] = value
    else if (Array.isArray(existing)) existing.push(value)
    else out[key] = [existing, value]
  }
  return out
}

async function mapResponse(output: Expression | undefined, response: SeenResponse & { ok: true }, payload: Payload, limits: CoreLimits): Promise<StepRun> {
  const { status, body } = response
  if (output === undefined) {
    if (status >= 200 && status < 300) return { result: body === undefined ? { exit_code: 'success' } : { exit_code: 'success', data: body }, stage: 'upstream' }
    return { result: { exit_code: 'failure', data: { error: { code: 'upstream_status', message: `upstream answered ${status}`, status, body } } }, stage: 'upstream' }
  }
  let mapped: unknown
  try {
    mapped = await output.evaluateIsolated({ status, headers: response.headers, body }, { data: payload.data, context: payload.context })
  } catch (err) {
    const info = describeExpressionError(err, output)
    return stageFailure('output', `output failed: ${info.message}`, { ...info, status })
  }
  if (!isPlainObject(mapped) || typeof mapped['exit_code'] !== 'string' || mapped['exit_code'] === '') {
    return stageFailure('output', `output must yield an object with a non-empty string exit_code; got ${describe(mapped)}`, { status })
  }
  const data = mapped['data']
  const problem = jsonProblem(data, limits.maxJsonDepth)
  if (problem !== undefined) return stageFailure('output', `output returned ${problem} as data`, { status })
  return { result: data === undefined ? { exit_code: mapped['exit_code'] } : { exit_code: mapped['exit_code'], data }, stage: 'output' }
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing'
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'function') return 'a function'
  if (typeof value === 'object') return (value as Record<string, unknown>)['_jsonata_lambda'] === true || (value as Record<string, unknown>)['_jsonata_function'] === true ? 'a function' : 'an object'
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}
