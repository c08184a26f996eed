import * as oauth from 'oauth4webapi'
import { fetch, type Dispatcher } from 'undici'
import type { OAuth2Settings } from '../core/registry.js'

/** A token, or why none could be had: `status` is the token endpoint's, when it answered. */
export type TokenResult = { readonly ok: true; readonly token: string } | { readonly ok: false; readonly message: string; readonly status?: number }

/**
 * One OAuth 2.0 client-credentials token, shared by every call that needs it:
 * fetched on first use, reused until less than min(30 s, 10 % of its
 * lifetime) remains, refreshed by one token request however many calls wait
 * for it, and dropped when the upstream answers 401 to it.
 */
export interface TokenCache {
  /** The current token, or a new one; a caller stops waiting when its signal aborts (the request goes on for the others). */
  get(signal: AbortSignal, timeoutMs: number): Promise<TokenResult>
  /** The upstream refused this token (401): the next `get` fetches another, unless one already replaced it. */
  invalidate(token: string): void
}

/** The largest token endpoint answer read. */
const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024

class TokenResponseTooLarge extends Error {}

async function readAtMost(stream: ReadableStream<Uint8Array> | null, limit: number): Promise<Uint8Array> {
  if (stream === null) return new Uint8Array()
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.length
    if (size > limit) {
      await stream.cancel().catch(() => {})
      throw new TokenResponseTooLarge(`the token endpoint's answer is over ${limit} bytes`)
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks, size)
}

/** expires_in when the token endpoint gives none. */
const DEFAULT_LIFETIME_S = 300

export interface TokenCacheOptions {
  readonly settings: OAuth2Settings
  /** The upstream's dispatcher: its TLS and proxy settings apply to the token request too. */
  readonly dispatcher: Dispatcher
  readonly userAgent: string
  /** Told of each token request's end. */
  readonly onRequest?: (ok: boolean) => void
  readonly now?: () => number
}

export function createTokenCache(options: TokenCacheOptions): TokenCache {
  const { settings, dispatcher } = options
  const now = options.now ?? Date.now
  const as: oauth.AuthorizationServer = { issuer: new URL(settings.tokenUrl).origin, token_endpoint: settings.tokenUrl }
  const client: oauth.Client = { client_id: settings.clientId }
  const clientAuth = settings.clientAuth === 'post' ? oauth.ClientSecretPost(settings.clientSecret) : oauth.ClientSecretBasic(settings.clientSecret)
  const parameters = new URLSearchParams(settings.params)
  if (settings.scopes.length > 0) parameters.set('scope', settings.scopes.join(' '))

  let current: { token: string; refreshAt: number } | undefined
  let pending: Promise<TokenResult> | undefined

  async function request(timeoutMs: number): Promise<TokenResult> {
    let status: number | undefined
    try {
      const response = await oauth.clientCredentialsGrantRequest(as, client, clientAuth, parameters, {
        // undici's fetch through the upstream's own dispatcher; it never follows redirects.
        [oauth.customFetch]: async (url, init) => {
          const response = await fetch(url, { ...(init as Parameters<typeof fetch>[1]), dispatcher, redirect: 'manual' })
          status = response.status
          // A token answer is a few hundred bytes: a token endpoint gone wrong
          // must not fill the process's memory, which oauth4webapi's
          // response.json() would let it.
          const body = await readAtMost(response.body, MAX_TOKEN_RESPONSE_BYTES)
          return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers as unknown as Headers })
        },
        [oauth.allowInsecureRequests]: as.token_endpoint!.startsWith('http:'),
        signal: AbortSignal.timeout(timeoutMs),
        headers: { 'user-agent': options.userAgent },
      })
      status = response.status
      const result = await oauth.processClientCredentialsResponse(as, client, response)
      const lifetime = typeof result.expires_in === 'number' && result.expires_in > 0 ? result.expires_in : DEFAULT_LIFETIME_S
      const margin = Math.min(30, lifetime / 10)
      current = { token: result.access_token, refreshAt: now() + (lifetime - margin) * 1000 }
      options.onRequest?.(true)
      return { ok: true, token: result.access_token }
    } catch (err) {
      options.onRequest?.(false)
      return { ok: false, message: describeTokenError(err, status), ...(status !== undefined ? { status } : {}) }
    }
  }

  return {
    async get(signal, timeoutMs) {
      if (current !== undefined && now() < current.refreshAt) return { ok: true, token: current.token }
      pending ??= request(timeoutMs).finally(() => (pending = undefined))
      const shared = pending
      if (signal.aborted) throw signal.reason
      return new Promise<TokenResult>((resolve, reject) => {
        const onAbort = () => reject(signal.reason)
        signal.addEventListener('abort', onAbort, { once: true })
        void shared.then((result) => {
          signal.removeEventListener('abort', onAbort)
          resolve(result)
        })
      })
    },
    invalidate(token) {
      if (current?.token === token) current = undefined
    },
  }
}

/**
 * Why the token request failed, for the answer and the log: never the
 * request's form (the client secret) nor a token.
 */
function describeTokenError(err: unknown, status: number | undefined): string {
  if (err instanceof TokenResponseTooLarge) return err.message
  if (err instanceof oauth.ResponseBodyError) {
    const code = typeof err.error === 'string' ? `: ${err.error.replace(/[^\w.-]/g, '').slice(0, 60)}` : ''
    return `the token endpoint answered ${err.status}${code}`
  }
  if (err instanceof oauth.WWWAuthenticateChallengeError) return `the token endpoint answered ${err.status} (client authentication failed)`
  if (status !== undefined && (status < 200 || status >= 300)) return `the token endpoint answered ${status}`
  const e = err as { name?: string; code?: string; cause?: { code?: string; name?: string } }
  if (e.name === 'TimeoutError' || e.cause?.name === 'TimeoutError') return 'the token endpoint did not answer in time'
  if (err instanceof oauth.OperationProcessingError) return `the token endpoint's answer is not a usable token (${err.message})`
  const code = e.cause?.code ?? e.code
  return `the token request failed${code ? ` (${code})` : ''}`
}
