import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { json, type Handler } from './upstream.js'

/**
 * How a token request authenticated its client (RFC 6749 2.3.1): HTTP Basic,
 * `client_secret` in the form (`post`), both (refused) or none.
 */
export type ClientAuth = 'basic' | 'post' | 'both' | 'none'

export interface TokenRequest {
  readonly method: string
  /** Path and query as sent. */
  readonly path: string
  readonly headers: IncomingMessage['headers']
  /** The form fields; a repeated field keeps its last value (OAuth forbids repeats). */
  readonly form: Record<string, string>
  readonly clientAuth: ClientAuth
  /** The client id it claimed, from whichever place it used; undefined with none. */
  readonly clientId: string | undefined
  /** What the server answered. */
  readonly status: number
  /** The token issued, when it issued one. */
  readonly token: string | undefined
}

export interface OAuthServerOptions {
  /** Registered clients: id → secret. */
  readonly clients: Record<string, string>
  /** `expires_in` of issued tokens, in seconds, also when the API stops accepting them. Default 3600. */
  readonly expiresIn?: number | ((clientId: string) => number)
}

/** A failure the token endpoint answers instead of a token. */
export interface TokenFailure {
  readonly status: number
  /** The OAuth error code (RFC 6749 5.2), such as `server_error` or `invalid_client`. */
  readonly error: string
}

export interface TestOAuthServer {
  readonly url: string
  /** `${url}/oauth/token` */
  readonly tokenUrl: string
  /** Every request to the server, token or not, in order. */
  readonly requests: TokenRequest[]
  /** Token requests of one client (by the id it claimed). */
  requestsOf(clientId: string): TokenRequest[]
  /** Every token issued, in order: `tok-1`, `tok-2`, ... */
  readonly issued: string[]
  /** Answer every token request with this failure from now on; null to issue tokens again. */
  fail(failure: TokenFailure | null): void
  /** Wait this long before answering each token request (0 by default). */
  delay(ms: number): void
  /** Whether a token was issued here, is not revoked and has not expired. */
  isValid(token: string): boolean
  /** Makes an issued token invalid, as an authorization server does when it rotates keys. */
  revoke(token: string): void
  /** Accepts only this secret for the client from now on (a rotation). */
  setSecret(clientId: string, secret: string): void
  close(): Promise<void>
}

/**
 * A real OAuth 2.0 token endpoint (client credentials grant) on loopback:
 * POST /oauth/token with a form body, the client authenticated by HTTP Basic
 * or by `client_id`/`client_secret` form fields.
 */
export async function startOAuthServer(options: OAuthServerOptions): Promise<TestOAuthServer> {
  const requests: TokenRequest[] = []
  const issued: string[] = []
  const expiry = new Map<string, number>()
  const revoked = new Set<string>()
  const clients: Record<string, string> = { ...options.clients }
  const sockets = new Set<Socket>()
  let failure: TokenFailure | null = null
  let delayMs = 0
  const lifetime = (clientId: string) => (typeof options.expiresIn === 'function' ? options.expiresIn(clientId) : (options.expiresIn ?? 3600))

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const { status, answer } = tokenAnswer(req, body)
      const send = () => {
        if (typeof answer === 'string') res.writeHead(status, { 'content-type': 'text/plain' }).end(answer)
        // RFC 6749 5.1: token answers must not be cached.
        else json(res, status, answer, { 'cache-control': 'no-store', ...(status === 401 ? { 'www-authenticate': 'Basic realm="test"' } : {}) })
      }
      if (delayMs > 0) setTimeout(send, delayMs)
      else send()
    })
    function tokenAnswer(req: IncomingMessage, body: string): { status: number; answer: unknown } {
      const form = Object.fromEntries(new URLSearchParams(body))
      const basic = parseBasic(req.headers['authorization'])
      // A client_id field beside Basic is tolerated (some clients send it); a client_secret is a second method.
      const posted = form['client_secret'] !== undefined
      const clientAuth: ClientAuth = basic !== undefined && posted ? 'both' : basic !== undefined ? 'basic' : posted ? 'post' : 'none'
      const clientId = basic?.id ?? form['client_id']
      const secret = basic?.secret ?? form['client_secret']
      const record = (status: number, token?: string) => requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, form, clientAuth, clientId, status, token })
      const oauthError = (status: number, error: string, description: string) => {
        record(status)
        return { status, answer: { error, error_description: description } }
      }
      if ((req.url ?? '').split('?')[0] !== '/oauth/token') {
        record(404)
        return { status: 404, answer: 'not found' }
      }
      if (req.method !== 'POST') return oauthError(405, 'invalid_request', 'the token endpoint takes POST')
      if (!/^application\/x-www-form-urlencoded\s*(;|$)/i.test(req.headers['content-type'] ?? '')) return oauthError(400, 'invalid_request', 'the body must be application/x-www-form-urlencoded')
      if (failure !== null) return oauthError(failure.status, failure.error, 'the test made this endpoint fail')
      // RFC 6749 2.3: a client must not use more than one authentication method in a request.
      if (clientAuth === 'both') return oauthError(400, 'invalid_request', 'more than one client authentication method')
      if (basic !== undefined && form['client_id'] !== undefined && form['client_id'] !== basic.id) return oauthError(400, 'invalid_request', 'client_id differs from the Basic credentials')
      if (clientId === undefined || secret === undefined || clients[clientId] !== secret) return oauthError(401, 'invalid_client', 'client authentication failed')
      if (form['grant_type'] !== 'client_credentials') return oauthError(400, 'unsupported_grant_type', `grant_type ${form['grant_type']}`)
      const token = `tok-${issued.length + 1}`
      const expiresIn = lifetime(clientId)
      issued.push(token)
      expiry.set(token, Date.now() + expiresIn * 1000)
      record(200, token)
      return { status: 200, answer: { access_token: token, token_type: 'Bearer', expires_in: expiresIn } }
    }
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const url = `http://127.0.0.1:${port}`
  return {
    url,
    tokenUrl: `${url}/oauth/token`,
    requests,
    requestsOf: (clientId) => requests.filter((r) => r.clientId === clientId),
    issued,
    fail: (f) => void (failure = f),
    delay: (ms) => void (delayMs = ms),
    isValid: (token) => !revoked.has(token) && (expiry.get(token) ?? 0) > Date.now(),
    revoke: (token) => void revoked.add(token),
    setSecret: (clientId, secret) => void (clients[clientId] = secret),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}

/** RFC 6749 2.3.1: Basic credentials whose id and secret are each form-urlencoded first. */
function parseBasic(header: string | undefined): { id: string; secret: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '')
  if (match === null) return undefined
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon === -1) return undefined
  const unform = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '))
  try {
    return { id: unform(decoded.slice(0, colon)), secret: unform(decoded.slice(colon + 1)) }
  } catch {
    // Not valid percent-encoding: the client did not encode as 2.3.1 says.
    return { id: decoded.slice(0, colon), secret: decoded.slice(colon + 1) }
  }
}

/** The bearer token of a request, if it sent one. */
export function bearerOf(req: IncomingMessage): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(req.headers['authorization'] ?? '')?.[1]
}

/**
 * An API handler for startUpstream that accepts only tokens the OAuth server
 * currently considers valid: 401 with `invalid_token` otherwise (RFC 6750 3.1),
 * `then` (by default `{"ok":true}`) when valid. The token is never echoed.
 */
export function protectedBy(oauth: TestOAuthServer, then: Handler = (_req, res) => json(res, 200, { ok: true })): Handler {
  return (req, res, n) => {
    const token = bearerOf(req)
    if (token === undefined || !oauth.isValid(token)) {
      json(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' })
      return
    }
    then(req, res, n)
  }
}
