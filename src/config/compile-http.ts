import type { Expression } from '../core/expression.js'
import { CREDENTIAL_HEADERS, DEFAULT_RETRY_STATUSES, METHODS_WITHOUT_BODY } from '../core/http-step.js'
import type { BodyKind, HttpAction, HttpMethod, UrlTemplate } from '../core/registry.js'
import type { CompiledUpstream, HttpDefaults } from './compile-upstreams.js'
import type { Diagnostic } from './diagnostics.js'
import { interpolate, type Interpolation, type SecretFiles } from './interpolate.js'
import { reportReferences } from './references.js'
import { didYouMean } from './suggest.js'
import type { PartialHttpCall } from './validate-format.js'
import { describePath, diagnosticAt, type NodePath, type YamlSource } from './yaml-source.js'

export const HTTP_DEFAULTS = {
  method: 'POST' as HttpMethod,
  timeoutMs: 5000,
  maxResponseBytes: 1024 * 1024,
  idempotentAttempts: 3,
  backoffMs: 200,
  maxBackoffMs: 5000,
} as const

const IDEMPOTENT: ReadonlySet<HttpMethod> = new Set(['GET', 'HEAD', 'PUT', 'DELETE'])


/** Headers that step-runner sets itself, or that only the HTTP client may set. */
const RESERVED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'x-request-id', 'idempotency-key'])

/** Why a header name cannot be configured, or undefined when it can. */
export function headerNameProblem(name: string): string | undefined {
  if (RESERVED_HEADERS.has(name.toLowerCase())) return `header '${name}' is set by step-runner or the HTTP client and cannot be configured`
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) return `'${name}' is not a valid header name`
  return undefined
}

/** The content type each body kind is sent with, unless a header says otherwise. */
const CONTENT_TYPES: Readonly<Record<BodyKind, string>> = {
  json: 'application/json',
  form: 'application/x-www-form-urlencoded',
  text: 'text/plain; charset=utf-8',
}

export interface HttpContext {
  readonly source: YamlSource
  readonly env: Readonly<Record<string, string | undefined>>
  /** `${file:PATH}` contents, read before compiling. */
  readonly files: SecretFiles
  /** Lint in CI, where secrets are absent: a missing variable or secret file is a warning. */
  readonly allowMissingEnv: boolean
  readonly defaults: HttpDefaults
  /** Every upstream name written, with its compiled form (undefined when it has errors, already reported). */
  readonly upstreams: ReadonlyMap<string, CompiledUpstream | undefined>
  /** Collects the upstream names that steps use, for the unused-upstream warning. */
  readonly usedUpstreams: Set<string>
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
  let upstream: CompiledUpstream | undefined
  let upstreamFailed = false
  if (http.upstream !== undefined) {
    ctx.usedUpstreams.add(http.upstream)
    upstream = ctx.upstreams.get(http.upstream)
    if (!ctx.upstreams.has(http.upstream)) {
      const known = [...ctx.upstreams.keys()]
      const hint = didYouMean(http.upstream, known) || (known.length > 0 ? ` (known upstreams: ${known.join(', ')})` : ' (the file has no upstreams)')
      ctx.diagnostics.push(diagnosticAt(ctx.source, [...at, 'upstream'], 'value', `unknown upstream '${http.upstream}'${hint}`, 'upstream-unknown'))
    }
    // An upstream with errors has its own messages: the step just does not load.
    upstreamFailed = upstream === undefined
    if (upstream !== undefined) secrets.push(...upstream.secrets)
  }
  const url =
    http.url === undefined
      ? undefined
      : http.upstream !== undefined
        ? compilePath(http.url, [...at, 'url'], ctx, secrets, upstream)
        : compileUrl(http.url, [...at, 'url'], ctx, secrets)

  const params = http.params === undefined ? undefined : ctx.expression(http.params, [...at, 'params'])
  const query = http.query === undefined ? undefined : ctx.expression(http.query, [...at, 'query'])
  if (url !== undefined) checkPlaceholders(url, http, params, at, ctx)

  const body: BodyKind = http.body ?? 'json'
  const headers = compileHeaders(http.headers ?? {}, method, body, upstream?.headers ?? {}, [...at, 'headers'], ctx, secrets)
  if (methodKnown && hasTransform && METHODS_WITHOUT_BODY.has(method)) {
    ctx.diagnostics.push(diagnosticAt(ctx.source, [...at.slice(0, -1), 'transform'], 'key', `the transform's result is not sent: ${method} requests have no body`, 'body-ignored', 'warning'))
  }

  const retry = { ...ctx.defaults.retry, ...upstream?.defaults.retry, ...http.retry }
  const retriable = IDEMPOTENT.has(method) || retry.non_idempotent === true
  if (methodKnown && !retriable && (http.retry?.max_attempts ?? 1) > 1) {
    ctx.diagnostics.push(
      diagnosticAt(ctx.source, [...at, 'retry', 'max_attempts'], 'value', `${method} is retried only with non_idempotent: true, so max_attempts has no effect`, 'retry-ignored', 'warning'),
    )
  }
  if (ctx.diagnostics.slice(before).some((d) => d.severity === 'error') || url === undefined || upstreamFailed) return undefined
  const own = upstream?.defaults ?? {}
  return {
    kind: 'http',
    method,
    url,
    upstream: upstream?.connection,
    body,
    params,
    query,
    headers,
    secrets,
    output: undefined,
    policy: {
      timeoutMs: http.timeout_ms ?? own.timeout_ms ?? ctx.defaults.timeout_ms ?? HTTP_DEFAULTS.timeoutMs,
      maxResponseBytes: http.max_response_bytes ?? own.max_response_bytes ?? ctx.defaults.max_response_bytes ?? HTTP_DEFAULTS.maxResponseBytes,
      retry: {
        maxAttempts: retriable ? (retry.max_attempts ?? HTTP_DEFAULTS.idempotentAttempts) : 1,
        backoffMs: retry.backoff_ms ?? HTTP_DEFAULTS.backoffMs,
        maxBackoffMs: retry.max_backoff_ms ?? HTTP_DEFAULTS.maxBackoffMs,
        onStatus: retry.on_status === undefined ? DEFAULT_RETRY_STATUSES : new Set(retry.on_status),
        onNetworkError: retry.on_network_error ?? true,
      },
    },
  }
}

/** A URL or path with `${VAR}`, `${file:...}` and `{placeholder}` read; undefined (reported) when something is missing. */
function interpolateUrl(written: string, at: NodePath, ctx: HttpContext, secrets: string[]): Interpolation | undefined {
  const result = interpolate(written, ctx.env, true, ctx.files)
  secrets.push(...result.envValues)
  return reportReferences(result, at, ctx, { describe: (text) => `'${text}' is neither a {placeholder} nor a \${VARIABLE}`, rule: 'url-invalid' }) ? result : undefined
}

/** With `upstream`, `http.url` is a path appended to the upstream's URL: the origin is the upstream's, fixed at load. */
function compilePath(written: string, at: NodePath, ctx: HttpContext, secrets: string[], upstream: CompiledUpstream | undefined): UrlTemplate | undefined {
  const result = interpolateUrl(written, at, ctx, secrets)
  if (result === undefined) return undefined
  const { parts } = result
  const first = parts[0]!
  const bad = (message: string) => {
    ctx.diagnostics.push(diagnosticAt(ctx.source, at, 'value', message, 'url-invalid'))
    return undefined
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(first) || first.startsWith('//')) return bad(`${describePath(at)} must be a path when http.upstream is set (it is appended to the upstream's url), such as /v1/items/{id}`)
  if (!first.startsWith('/')) return bad(`${describePath(at)} must start with / when http.upstream is set (it is appended to the upstream's url), such as /${first}`)
  if (parts.some((p, i) => i % 2 === 0 && p.includes('#'))) return bad(`${describePath(at)} has a #fragment, which is never sent: remove it`)
  if (upstream === undefined) return undefined
  return { origin: upstream.origin, parts: [upstream.basePath + first, ...parts.slice(1)] }
}

function compileUrl(written: string, at: NodePath, ctx: HttpContext, secrets: string[]): UrlTemplate | undefined {
  const result = interpolateUrl(written, at, ctx, secrets)
  if (result === undefined) return undefined
  const { parts, envValues } = result

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

/**
 * The headers of a call, in order of precedence: the step's own, then its
 * upstream's (headers and credentials), then user-agent and the body kind's
 * content-type.
 */
function compileHeaders(
  written: Record<string, string>,
  method: HttpMethod,
  body: BodyKind,
  upstreamHeaders: Readonly<Record<string, string>>,
  at: NodePath,
  ctx: HttpContext,
  secrets: string[],
): Record<string, string> {
  const headers: Record<string, string> = { 'user-agent': ctx.userAgent }
  if (!METHODS_WITHOUT_BODY.has(method)) headers['content-type'] = CONTENT_TYPES[body]
  Object.assign(headers, upstreamHeaders)
  if (METHODS_WITHOUT_BODY.has(method)) delete headers['content-type']
  for (const [name, value] of Object.entries(written)) {
    const lower = name.toLowerCase()
    const problem = headerNameProblem(name)
    if (problem !== undefined) {
      ctx.diagnostics.push(diagnosticAt(ctx.source, [...at, name], 'key', problem, 'header-invalid'))
      continue
    }
    const result = interpolate(value, ctx.env, false, ctx.files)
    const { parts, usedEnv, envValues } = result
    reportReferences(result, [...at, name], ctx, { describe: (text) => `'${text}' is not a \${VARIABLE} reference`, rule: 'header-invalid' })
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
