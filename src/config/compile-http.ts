import type { Expression } from '../core/expression.js'
import { METHODS_WITHOUT_BODY } from '../core/http-step.js'
import type { HttpAction, HttpMethod, UrlTemplate } from '../core/registry.js'
import type { Diagnostic } from './diagnostics.js'
import { interpolate } from './interpolate.js'
import type { StepsFile } from './steps-file.generated.js'
import type { PartialHttpCall } from './validate-format.js'
import { describePath, diagnosticAt, diagnosticInValue, type NodePath, type YamlSource } from './yaml-source.js'

export const HTTP_DEFAULTS = {
  method: 'POST' as HttpMethod,
  timeoutMs: 5000,
  maxResponseBytes: 1024 * 1024,
  idempotentAttempts: 3,
  backoffMs: 200,
  maxBackoffMs: 5000,
} as const

const IDEMPOTENT: ReadonlySet<HttpMethod> = new Set(['GET', 'HEAD', 'PUT', 'DELETE'])

/** Headers whose values are credentials even when written in the steps file itself. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'proxy-authorization', 'x-api-key', 'cookie'])

/** Headers that step-runner sets itself, or that only the HTTP client may set. */
const RESERVED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'x-request-id', 'idempotency-key'])

export interface HttpContext {
  readonly source: YamlSource
  readonly env: Readonly<Record<string, string | undefined>>
  /** Lint in CI, where secrets are absent: a missing variable is a warning. */
  readonly allowMissingEnv: boolean
  readonly defaults: NonNullable<NonNullable<StepsFile['defaults']>['http']>
  readonly userAgent: string
  readonly diagnostics: Diagnostic[]
  readonly expression: (text: string, at: NodePath) => Expression | undefined
  /** Whether the format check found a problem here: that part was taken out, and checks that rely on it are skipped. */
  readonly hasFormatErrorAt: (path: NodePath) => boolean
}

/**
 * Compiles an HTTP call. A call with format errors has had its bad parts
 * taken out; what is left is still checked, so that one run shows them all.
 */
export function compileHttp(http: PartialHttpCall, hasTransform: boolean, at: NodePath, ctx: HttpContext): HttpAction | undefined {
  const before = ctx.diagnostics.length
  const method = http.method ?? HTTP_DEFAULTS.method
  // With a format error in the call (`methd: GET`), the method may not be the one meant: no advice that depends on it.
  const methodKnown = !ctx.hasFormatErrorAt(at)
  const secrets: string[] = []
  const url = http.url === undefined ? undefined : compileUrl(http.url, [...at, 'url'], ctx, secrets)

  const params = http.params === undefined ? undefined : ctx.expression(http.params, [...at, 'params'])
  const query = http.query === undefined ? undefined : ctx.expression(http.query, [...at, 'query'])
  if (url !== undefined) checkPlaceholders(url, http, params, at, ctx)

  const headers = compileHeaders(http.headers ?? {}, method, [...at, 'headers'], ctx, secrets)
  if (methodKnown && hasTransform && METHODS_WITHOUT_BODY.has(method)) {
    ctx.diagnostics.push(diagnosticAt(ctx.source, [...at.slice(0, -1), 'transform'], 'key', `the transform's result is not sent: ${method} requests have no body`, 'body-ignored', 'warning'))
  }

  const retry = { ...ctx.defaults.retry, ...http.retry }
  const retriable = IDEMPOTENT.has(method) || retry.non_idempotent === true
  if (methodKnown && !retriable && (http.retry?.max_attempts ?? 1) > 1) {
    ctx.diagnostics.push(
      diagnosticAt(ctx.source, [...at, 'retry', 'max_attempts'], 'value', `${method} is retried only with non_idempotent: true, so max_attempts has no effect`, 'retry-ignored', 'warning'),
    )
  }
  if (ctx.diagnostics.slice(before).some((d) => d.severity === 'error') || url === undefined) return undefined
  return {
    kind: 'http',
    method,
    url,
    params,
    query,
    headers,
    secrets,
    output: undefined,
    policy: {
      timeoutMs: http.timeout_ms ?? ctx.defaults.timeout_ms ?? HTTP_DEFAULTS.timeoutMs,
      maxResponseBytes: http.max_response_bytes ?? ctx.defaults.max_response_bytes ?? HTTP_DEFAULTS.maxResponseBytes,
      retry: {
        maxAttempts: retriable ? (retry.max_attempts ?? HTTP_DEFAULTS.idempotentAttempts) : 1,
        backoffMs: retry.backoff_ms ?? HTTP_DEFAULTS.backoffMs,
        maxBackoffMs: retry.max_backoff_ms ?? HTTP_DEFAULTS.maxBackoffMs,
      },
    },
  }
}

function compileUrl(written: string, at: NodePath, ctx: HttpContext, secrets: string[]): UrlTemplate | undefined {
  const { parts, missing, malformed, envValues } = interpolate(written, ctx.env, true)
  secrets.push(...envValues)
  const severity = ctx.allowMissingEnv ? 'warning' : 'error'
  for (const m of missing) ctx.diagnostics.push(diagnosticInValue(ctx.source, at, m.index, `environment variable ${m.name} is not set`, 'env-missing', severity))
  for (const m of malformed) ctx.diagnostics.push(diagnosticInValue(ctx.source, at, m.index, `'${m.text}' is neither a {placeholder} nor a \${VARIABLE}`, 'url-invalid'))
  if (missing.length > 0 || malformed.length > 0) return undefined

  const bad = (message: string) => {
    ctx.diagnostics.push(diagnosticAt(ctx.source, at, 'value', message, 'url-invalid'))
    return undefined
  }
  let parsed: URL
  try {
    parsed = new URL(parts.map((p, i) => (i % 2 === 0 ? p : 'x')).join(''))
  } catch {
    return bad(`${describePath(at)} must be an absolute http(s) URL, such as https://api.example.com/v1/items`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return bad(`${describePath(at)} must be an http or https URL, not ${parsed.protocol}`)
  if (parsed.username !== '' || parsed.password !== '') return bad(`${describePath(at)} must not carry credentials: put them in a header, such as authorization: "Bearer \${TOKEN}"`)
  if (parsed.hash !== '') return bad(`${describePath(at)} has a #fragment, which is never sent: remove it`)
  // The origin must be written whole before any placeholder, so no value can move the request.
  const authority = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(parts[0]!)
  if (authority === null) return bad(`${describePath(at)} must be an absolute http(s) URL, such as https://api.example.com/v1/items`)
  const rest = parts[0]!.slice(authority[0].length)
  if (parts.length > 1 && rest === '') return bad(`${describePath(at)}: placeholders may be in the path and query only, never in the scheme, host or port`)
  // Messages name the origin of a failed call: when the environment made
  // it, it is as secret as the variable.
  if (envValues.length > 0) secrets.push(parsed.origin)
  return { origin: parsed.origin, parts: [rest === '' || rest.startsWith('/') ? rest : `/${rest}`, ...parts.slice(1)] }
}

function checkPlaceholders(url: UrlTemplate, http: PartialHttpCall, params: Expression | undefined, at: NodePath, ctx: HttpContext): void {
  const names = url.parts.filter((_, i) => i % 2 === 1)
  if (names.length === 0 || ctx.hasFormatErrorAt([...at, 'params'])) return
  if (http.params === undefined) {
    ctx.diagnostics.push(diagnosticAt(ctx.source, [...at, 'url'], 'value', `URL placeholder {${names[0]}} has no value: add http.params, such as params: '{ "${names[0]}": $data.${names[0]} }'`, 'placeholder'))
    return
  }
  // When params is an object literal, its keys are known now: check them at load.
  const keys = params === undefined ? undefined : literalKeys(params)
  if (keys === undefined) return
  for (const name of names) {
    if (!keys.has(name)) ctx.diagnostics.push(diagnosticAt(ctx.source, [...at, 'params'], 'value', `http.params gives no value for the URL placeholder {${name}}`, 'placeholder'))
  }
}

function literalKeys(expression: Expression): Set<string> | undefined {
  const ast = expression.ast() as { type?: string; value?: string; lhs?: unknown }
  if (ast.type !== 'unary' || ast.value !== '{' || !Array.isArray(ast.lhs)) return undefined
  const keys = new Set<string>()
  for (const pair of ast.lhs as [{ type?: string; value?: unknown }, unknown][]) {
    if (pair[0]?.type !== 'string') return undefined
    keys.add(String(pair[0].value))
  }
  return keys
}

function compileHeaders(written: Record<string, string>, method: HttpMethod, at: NodePath, ctx: HttpContext, secrets: string[]): Record<string, string> {
  const headers: Record<string, string> = { 'user-agent': ctx.userAgent }
  if (!METHODS_WITHOUT_BODY.has(method)) headers['content-type'] = 'application/json'
  const severity = ctx.allowMissingEnv ? 'warning' : 'error'
  for (const [name, value] of Object.entries(written)) {
    const lower = name.toLowerCase()
    if (RESERVED_HEADERS.has(lower)) {
      ctx.diagnostics.push(diagnosticAt(ctx.source, [...at, name], 'key', `header '${name}' is set by step-runner or the HTTP client and cannot be configured`, 'header-invalid'))
      continue
    }
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      ctx.diagnostics.push(diagnosticAt(ctx.source, [...at, name], 'key', `'${name}' is not a valid header name`, 'header-invalid'))
      continue
    }
    const { parts, missing, malformed, usedEnv, envValues } = interpolate(value, ctx.env, false)
    for (const m of missing) ctx.diagnostics.push(diagnosticInValue(ctx.source, [...at, name], m.index, `environment variable ${m.name} is not set`, 'env-missing', severity))
    for (const m of malformed) ctx.diagnostics.push(diagnosticInValue(ctx.source, [...at, name], m.index, `'${m.text}' is not a \${VARIABLE} reference`, 'header-invalid'))
    const resolved = parts[0]!
    if (/[\r\n\0]/.test(resolved)) {
      ctx.diagnostics.push(diagnosticAt(ctx.source, [...at, name], 'value', `header '${name}' must not contain line breaks${usedEnv ? ' (check the environment variable)' : ''}`, 'header-invalid'))
      continue
    }
    headers[lower] = resolved
    // The variable's value on its own too: it may turn up without the rest
    // of the header (a "Bearer " prefix) in a log line or an upstream's echo.
    secrets.push(...envValues)
    if ((usedEnv || CREDENTIAL_HEADERS.has(lower)) && resolved !== '') secrets.push(resolved)
  }
  return headers
}
