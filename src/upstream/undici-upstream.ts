import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { brotliDecompress, gunzip, inflate } from 'node:zlib'
import { request, type Dispatcher } from 'undici'
import type { CallPolicy } from '../core/registry.js'
import type { OutboundRequest, Upstream, UpstreamFailure, UpstreamOutcome, UpstreamResponse } from '../core/upstream.js'
import type { TokenCache } from './oauth.js'
import type { RuntimeFor, UpstreamRuntime } from './pools.js'

export interface UpstreamOptions {
  /** The dispatcher of calls without a named upstream, shared by every step, so keep-alive connections are shared and outlive reloads. */
  readonly dispatcher: Dispatcher
  /** The pool, concurrency gate and token of a named upstream (see pools.ts). */
  readonly runtimeFor?: RuntimeFor
  /** For tests: the source of jitter. */
  readonly random?: () => number
  /** How to wait between attempts; step tests skip the wait. */
  readonly wait?: (ms: number, signal: AbortSignal | undefined) => Promise<unknown>
  /** Told of each attempt's end, for metrics and logs. */
  readonly onAttempt?: (step: string, result: AttemptReport) => void
}

export interface AttemptReport {
  /** The response status, or the failure's kind. */
  readonly outcome: number | UpstreamFailure
  readonly seconds: number
  /** The named upstream, or '-' for a call to an absolute URL. */
  readonly upstream: string
}

type Attempt =
  | { readonly kind: 'response'; readonly response: UpstreamResponse; readonly token?: string }
  | { readonly kind: 'failed'; readonly reason: UpstreamFailure; readonly message: string; readonly retryable: boolean; readonly status?: number }

const TIMEOUT = Symbol('timeout')

const decompressors: Record<string, (input: Buffer, options: { maxOutputLength: number }) => Promise<Buffer>> = {
  gzip: promisify(gunzip),
  'x-gzip': promisify(gunzip),
  deflate: promisify(inflate),
  br: promisify(brotliDecompress),
}

export function createUpstream(options: UpstreamOptions): Upstream {
  const random = options.random ?? Math.random
  const wait = options.wait ?? ((ms, signal) => sleep(ms, undefined, { signal }))

  async function attempt(req: OutboundRequest, policy: CallPolicy, signal: AbortSignal | undefined, runtime: UpstreamRuntime | undefined): Promise<Attempt> {
    if (signal?.aborted) return { kind: 'failed', reason: 'cancelled', message: 'cancelled before the call', retryable: false }
    // One deadline for the whole attempt: the token, the wait for a place
    // under max_concurrency, connect, headers and body alike (undici's own
    // timeouts are per phase and reset with each chunk).
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(TIMEOUT), policy.timeoutMs)
    const cancel = () => controller.abort(signal?.reason)
    signal?.addEventListener('abort', cancel, { once: true })
    let leave: (() => void) | undefined
    try {
      let headers = req.headers
      let token: string | undefined
      if (runtime?.tokens !== undefined) {
        const got = await runtime.tokens.get(controller.signal, policy.timeoutMs)
        if (!got.ok) return { kind: 'failed', reason: 'auth', message: `no OAuth2 token: ${got.message}`, retryable: false, ...(got.status !== undefined ? { status: got.status } : {}) }
        token = got.token
        headers = { ...headers, authorization: `Bearer ${token}` }
      }
      if (runtime?.gate !== undefined) leave = await runtime.gate.enter(controller.signal)
      const res = await request(req.url, {
        dispatcher: runtime?.dispatcher ?? options.dispatcher,
        method: req.method,
        headers,
        body: req.body ?? null,
        signal: controller.signal,
      })
      const limit = policy.maxResponseBytes
      const declared = Number(res.headers['content-length'])
      if (req.method !== 'HEAD' && Number.isFinite(declared) && declared > limit) {
        discard(res.body)
        return tooLarge(limit)
      }
      const chunks: Buffer[] = []
      let size = 0
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length
        if (size > limit) {
          discard(res.body)
          return tooLarge(limit)
        }
        chunks.push(chunk)
      }
      let body: Buffer = Buffer.concat(chunks, size)
      const encoding = String(res.headers['content-encoding'] ?? '').trim().toLowerCase()
      const decompress = decompressors[encoding]
      if (decompress !== undefined && body.length > 0) {
        try {
          // The limit holds after decompression too: a small bomb stays small.
          body = await decompress(body, { maxOutputLength: Math.max(limit, 1) })
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return tooLarge(limit)
          return { kind: 'failed', reason: 'error', message: `response body could not be decompressed (${encoding})`, retryable: false }
        }
        if (body.length > limit) return tooLarge(limit)
      }
      if (token === undefined) return { kind: 'response', response: { status: res.statusCode, headers: res.headers, body } }
      // An API that echoes the request (many debug and test APIs do) must
      // not hand the token on to the answer, and from there to the orchestrator.
      return { kind: 'response', response: withoutToken({ status: res.statusCode, headers: res.headers, body }, token), token }
    } catch (err) {
      if (controller.signal.reason === TIMEOUT) {
        return { kind: 'failed', reason: 'timeout', message: `timeout after ${policy.timeoutMs} ms`, retryable: true }
      }
      if (controller.signal.aborted) return { kind: 'failed', reason: 'cancelled', message: 'cancelled: the request was aborted', retryable: false }
      return networkFailure(err, req.url)
    } finally {
      leave?.()
      clearTimeout(timer)
      signal?.removeEventListener('abort', cancel)
    }
  }

  /** What follows an attempt: the call's outcome, another attempt after a delay, or the same attempt with a new OAuth2 token. */
  function decide(
    result: Attempt,
    n: number,
    policy: CallPolicy,
    renewedToken: boolean,
    runtime: UpstreamRuntime | undefined,
  ): { kind: 'done'; outcome: UpstreamOutcome } | { kind: 'retry'; delayMs: number } | { kind: 'renew-token'; token: string; tokens: TokenCache } {
    const { maxAttempts, onStatus, onNetworkError } = policy.retry
    if (result.kind === 'response') {
      const { status } = result.response
      if (status === 401 && result.token !== undefined && !renewedToken && runtime?.tokens !== undefined) return { kind: 'renew-token', token: result.token, tokens: runtime.tokens }
      if (!onStatus.has(status) || maxAttempts === 1) return { kind: 'done', outcome: { ok: true, response: result.response, attempts: n } }
      if (n === maxAttempts) {
        return { kind: 'done', outcome: { ok: false, reason: 'status', message: `gave up after ${n} attempts: the upstream answered ${status} each time`, attempts: n, response: result.response } }
      }
      return { kind: 'retry', delayMs: retryAfter(result.response, policy) ?? backoff(n, policy, random) }
    }
    if (result.reason === 'auth') return { kind: 'done', outcome: { ok: false, reason: 'auth', message: result.message, attempts: n, ...(result.status !== undefined ? { status: result.status } : {}) } }
    if (!result.retryable || !onNetworkError || maxAttempts === 1) return { kind: 'done', outcome: { ok: false, reason: result.reason, message: result.message, attempts: n } }
    if (n === maxAttempts) return { kind: 'done', outcome: { ok: false, reason: result.reason, message: `gave up after ${n} attempts: ${result.message}`, attempts: n } }
    return { kind: 'retry', delayMs: backoff(n, policy, random) }
  }

  return {
    async send(step, req, policy, signal, observe): Promise<UpstreamOutcome> {
      const runtime = req.upstream === undefined ? undefined : options.runtimeFor?.(req.upstream)
      const upstream = req.upstream?.name ?? '-'
      // A 401 to an OAuth2 token is answered once per call by a new token,
      // outside max_attempts: the token may have been revoked early.
      let renewedToken = false
      for (let n = 1; ; n++) {
        const started = performance.now()
        const result = await attempt(req, policy, signal, runtime)
        const seconds = (performance.now() - started) / 1000
        options.onAttempt?.(step, { outcome: result.kind === 'response' ? result.response.status : result.reason, seconds, upstream })
        const next = decide(result, n, policy, renewedToken, runtime)
        // For a trace: each attempt as it ended, and the wait before the next when there is one.
        observe?.({
          n,
          durationMs: seconds * 1000,
          ...(result.kind === 'response' ? { status: result.response.status } : { reason: result.reason }),
          ...(next.kind === 'retry' ? { backoffMs: next.delayMs } : next.kind === 'renew-token' ? { backoffMs: 0 } : {}),
        })
        if (next.kind === 'done') return next.outcome
        if (next.kind === 'renew-token') {
          renewedToken = true
          next.tokens.invalidate(next.token)
          n--
          continue
        }
        try {
          await wait(next.delayMs, signal)
        } catch {
          return { ok: false, reason: 'cancelled', message: `cancelled while waiting to retry (after ${n} attempts)`, attempts: n }
        }
      }
    },
  }
}

/** Exponential backoff with jitter: half fixed, half random, capped. */
export function backoff(attempt: number, policy: CallPolicy, random: () => number): number {
  const ceiling = Math.min(policy.retry.maxBackoffMs, policy.retry.backoffMs * 2 ** (attempt - 1))
  return ceiling / 2 + random() * (ceiling / 2)
}

/** Retry-After in seconds or as an HTTP date, honoured up to max_backoff_ms. */
export function retryAfter(response: UpstreamResponse, policy: CallPolicy, now = Date.now()): number | undefined {
  const header = response.headers['retry-after']
  const value = Array.isArray(header) ? header[0] : header
  if (value === undefined || value.trim() === '') return undefined
  const trimmed = value.trim()
  const ms = /^\d+$/.test(trimmed) ? Number(trimmed) * 1000 : Date.parse(trimmed) - now
  if (!Number.isFinite(ms)) return undefined
  return Math.min(Math.max(ms, 0), policy.retry.maxBackoffMs)
}

const TOKEN_REDACTED = '[redacted]'

/** A response with every occurrence of an OAuth2 token replaced, as written and as JSON would escape it. */
export function withoutToken(response: UpstreamResponse, token: string): UpstreamResponse {
  const forms = [...new Set([token, JSON.stringify(token).slice(1, -1), JSON.stringify(token).slice(1, -1).replaceAll('/', '\\/')])].filter((f) => f.length > 0)
  let body = response.body
  if (forms.some((form) => body.includes(form))) {
    let text = body.toString('utf8')
    for (const form of forms) text = text.split(form).join(TOKEN_REDACTED)
    body = Buffer.from(text, 'utf8')
  }
  let headers = response.headers
  const scrub = (value: string) => (forms.some((form) => value.includes(form)) ? forms.reduce((v, form) => v.split(form).join(TOKEN_REDACTED), value) : value)
  if (Object.values(headers).some((v) => (Array.isArray(v) ? v.some((x) => scrub(x) !== x) : typeof v === 'string' && scrub(v) !== v))) {
    headers = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Array.isArray(v) ? v.map(scrub) : typeof v === 'string' ? scrub(v) : v]))
  }
  return body === response.body && headers === response.headers ? response : { ...response, headers, body }
}

/**
 * Stops reading a body and closes its connection. Destroying a body that was
 * never read makes undici emit an error on it (the request was aborted): with
 * no listener, that error would end the process.
 */
function discard(body: NodeJS.ReadableStream & { destroy(): void }): void {
  body.on('error', () => {})
  body.destroy()
}

function tooLarge(limit: number): Attempt {
  return { kind: 'failed', reason: 'too_large', message: `response over ${limit} bytes`, retryable: false }
}

function networkFailure(err: unknown, url: string): Attempt {
  const e = err as { code?: string; message?: string; cause?: { code?: string } }
  const code = e.code ?? e.cause?.code ?? ''
  const origin = safeOrigin(url)
  switch (code) {
    case 'ECONNREFUSED':
      return { kind: 'failed', reason: 'connect', message: `connection refused by ${origin}`, retryable: true }
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { kind: 'failed', reason: 'connect', message: `cannot resolve the host of ${origin}`, retryable: true }
    case 'EMFILE':
    case 'ENFILE':
      // Out of file descriptors (the error can name whatever file undici was
      // opening): a later attempt may find one free.
      return { kind: 'failed', reason: 'connect', message: `cannot connect to ${origin}: step-runner is out of file descriptors (${code})`, retryable: true }
    case 'UND_ERR_CONNECT_TIMEOUT':
      return { kind: 'failed', reason: 'timeout', message: `timeout connecting to ${origin}`, retryable: true }
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return { kind: 'failed', reason: 'reset', message: `connection to ${origin} closed before the response was complete`, retryable: true }
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return { kind: 'failed', reason: 'timeout', message: `timeout waiting for ${origin}`, retryable: true }
    default:
      return { kind: 'failed', reason: 'error', message: `request to ${origin} failed: ${code ? `${code} ` : ''}${e.message ?? String(err)}`, retryable: false }
  }
}

/** The origin only: paths may carry params and URLs credentials, neither for logs. */
function safeOrigin(url: string): string {
  try {
    return new URL(url).origin
  } catch {
    return 'the upstream'
  }
}
