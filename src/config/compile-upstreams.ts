import { createHash, X509Certificate } from 'node:crypto'
import { createSecureContext } from 'node:tls'
import type { OAuth2Settings, ProxySetting, TlsSettings, UpstreamConnection } from '../core/registry.js'
import { headerNameProblem } from './compile-http.js'
import { reportReferences } from './references.js'
import type { Diagnostic } from './diagnostics.js'
import { interpolate, type SecretFiles } from './interpolate.js'
import type { StepsFile, Upstream } from './steps-file.generated.js'
import { describePath, diagnosticAt, type NodePath, type YamlSource } from './yaml-source.js'

/** The call defaults of `defaults.http`, of an upstream, or of a step's own `http`. */
export type HttpDefaults = NonNullable<NonNullable<StepsFile['defaults']>['http']>

/** An entry of `upstreams`, compiled: what HTTP steps that name it start from. */
export interface CompiledUpstream {
  readonly connection: UpstreamConnection
  /** `https://host:port`, fixed at load. */
  readonly origin: string
  /** The URL's path without its trailing slash (`/api`, or '' for none): a step's path is appended. */
  readonly basePath: string
  /** Lower-case names: the upstream's headers, then its basic or bearer credentials. */
  readonly headers: Readonly<Record<string, string>>
  /** The upstream's call defaults, under the step's own settings and over the file's `defaults.http`. */
  readonly defaults: HttpDefaults
  /** Every value read from the environment or a file, and every credential: for the redactors. */
  readonly secrets: readonly string[]
}

export interface UpstreamContext {
  readonly source: YamlSource
  readonly env: Readonly<Record<string, string | undefined>>
  readonly files: SecretFiles
  /** Lint in CI, where secrets are absent: a missing variable or secret file is a warning. */
  readonly allowMissingEnv: boolean
  readonly diagnostics: Diagnostic[]
  /** Whether the format check found a problem at or inside a path. */
  readonly hasFormatErrorAt: (path: NodePath) => boolean
}

/**
 * Compiles every upstream; one with an error is left out (and the steps that
 * name it fail to compile, without a second message about the name).
 * Returns the names written, valid or not, with the compiled ones.
 */
export function compileUpstreams(written: Readonly<Record<string, Partial<Upstream>>>, ctx: UpstreamContext): Map<string, CompiledUpstream | undefined> {
  const out = new Map<string, CompiledUpstream | undefined>()
  for (const [name, upstream] of Object.entries(written)) out.set(name, compileUpstream(name, upstream, ['upstreams', name], ctx))
  return out
}

function compileUpstream(name: string, written: Partial<Upstream>, at: NodePath, ctx: UpstreamContext): CompiledUpstream | undefined {
  const before = ctx.diagnostics.length
  const secrets: string[] = []
  const text = (value: string | undefined, path: NodePath) => (value === undefined ? undefined : resolve(value, path, ctx, secrets))

  const url = written.url === undefined ? undefined : parseBaseUrl(text(written.url, [...at, 'url']), [...at, 'url'], ctx)

  const headers: Record<string, string> = {}
  for (const [header, value] of Object.entries(written.headers ?? {})) {
    const problem = headerNameProblem(header)
    if (problem !== undefined) {
      ctx.diagnostics.push(diagnosticAt(ctx.source, [...at, 'headers', header], 'key', problem, 'header-invalid'))
      continue
    }
    const resolved = text(value, [...at, 'headers', header])
    if (resolved === undefined) continue
    if (/[\r\n\0]/.test(resolved)) {
      ctx.diagnostics.push(diagnosticAt(ctx.source, [...at, 'headers', header], 'value', `header '${header}' must not contain line breaks`, 'header-invalid'))
      continue
    }
    headers[header.toLowerCase()] = resolved
  }

  let oauth2: OAuth2Settings | undefined
  const auth = written.auth
  if (auth?.basic !== undefined) {
    const username = text(auth.basic.username, [...at, 'auth', 'basic', 'username'])
    const password = text(auth.basic.password, [...at, 'auth', 'basic', 'password'])
    if (username !== undefined && password !== undefined) {
      if (username.includes(':')) ctx.diagnostics.push(diagnosticAt(ctx.source, [...at, 'auth', 'basic', 'username'], 'value', 'a basic auth username cannot contain ":"', 'auth-invalid'))
      const value = `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`
      headers['authorization'] = value
      secrets.push(value, password)
    }
  } else if (auth?.bearer !== undefined) {
    const token = text(auth.bearer, [...at, 'auth', 'bearer'])
    if (token !== undefined) {
      headers['authorization'] = `Bearer ${token}`
      secrets.push(token, `Bearer ${token}`)
    }
  } else if (auth?.oauth2 !== undefined) {
    oauth2 = compileOAuth2(auth.oauth2, [...at, 'auth', 'oauth2'], ctx, secrets)
  }

  const tls = written.tls === undefined ? undefined : compileTls(written.tls, [...at, 'tls'], ctx, secrets)
  const proxy = compileProxy(text(written.proxy, [...at, 'proxy']), [...at, 'proxy'], ctx)

  if (ctx.diagnostics.slice(before).some((d) => d.severity === 'error') || ctx.hasFormatErrorAt(at) || url === undefined || proxy === undefined) return undefined
  if (written.tls !== undefined && tls === undefined) return undefined
  if (auth?.oauth2 !== undefined && oauth2 === undefined) return undefined

  const maxConcurrency = written.max_concurrency
  const poolKey = digest({ tls, proxy, maxConcurrency })
  const connection: UpstreamConnection = Object.freeze({
    name,
    tls,
    proxy,
    maxConcurrency,
    oauth2,
    poolKey,
    tokenKey: oauth2 === undefined ? '' : digest({ oauth2, poolKey }),
  })
  const defaults: HttpDefaults = {
    ...(written.timeout_ms !== undefined ? { timeout_ms: written.timeout_ms } : {}),
    ...(written.max_response_bytes !== undefined ? { max_response_bytes: written.max_response_bytes } : {}),
    ...(written.retry !== undefined ? { retry: written.retry } : {}),
  }
  return { connection, origin: url.origin, basePath: url.basePath, headers, defaults, secrets: secrets.filter((s) => s !== '') }
}

/** `${VAR}` and `${file:...}` resolved, each problem reported where it is written; undefined when something is missing. */
function resolve(written: string, at: NodePath, ctx: UpstreamContext, secrets: string[]): string | undefined {
  const result = interpolate(written, ctx.env, false, ctx.files)
  secrets.push(...result.envValues)
  return reportReferences(result, at, ctx, { describe: (text) => `'${text}' is neither a \${VARIABLE} nor a \${file:PATH} reference`, rule: 'invalid-value' }) ? result.parts[0]! : undefined
}

function parseBaseUrl(resolved: string | undefined, at: NodePath, ctx: UpstreamContext): { origin: string; basePath: string } | undefined {
  if (resolved === undefined) return undefined
  const bad = (message: string) => {
    ctx.diagnostics.push(diagnosticAt(ctx.source, at, 'value', message, 'url-invalid'))
    return undefined
  }
  let url: URL
  try {
    url = new URL(resolved)
  } catch {
    return bad(`${describePath(at)} must be an absolute http(s) URL with an optional base path, such as https://payments.example.com/api`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return bad(`${describePath(at)} must be an http or https URL, not ${url.protocol}`)
  if (url.username !== '' || url.password !== '') return bad(`${describePath(at)} must not carry credentials: use auth.basic, or a header`)
  if (url.search !== '' || url.hash !== '') return bad(`${describePath(at)} must be a scheme, host, optional port and base path, without ?query or #fragment: put a query in the step's http.query`)
  return { origin: url.origin, basePath: url.pathname.replace(/\/+$/, '') }
}

function compileOAuth2(written: NonNullable<NonNullable<Upstream['auth']>['oauth2']>, at: NodePath, ctx: UpstreamContext, secrets: string[]): OAuth2Settings | undefined {
  const text = (value: string | undefined, path: NodePath) => (value === undefined ? undefined : resolve(value, path, ctx, secrets))
  const tokenUrl = text(written.token_url, [...at, 'token_url'])
  const clientId = text(written.client_id, [...at, 'client_id'])
  const clientSecret = text(written.client_secret, [...at, 'client_secret'])
  const params: Record<string, string> = {}
  let ok = true
  for (const [key, value] of Object.entries(written.params ?? {})) {
    const resolved = text(value, [...at, 'params', key])
    if (resolved === undefined) ok = false
    else params[key] = resolved
    if (['grant_type', 'client_id', 'client_secret', 'scope'].includes(key)) {
      ctx.diagnostics.push(diagnosticAt(ctx.source, [...at, 'params', key], 'key', `'${key}' is set by step-runner in the token request: use ${key === 'scope' ? 'scopes' : key === 'grant_type' ? 'nothing (it is always client_credentials)' : key}`, 'auth-invalid'))
      ok = false
    }
  }
  if (clientSecret !== undefined) secrets.push(clientSecret)
  if (tokenUrl === undefined || clientId === undefined || clientSecret === undefined || !ok) return undefined
  let url: URL
  try {
    url = new URL(tokenUrl)
  } catch {
    ctx.diagnostics.push(diagnosticAt(ctx.source, [...at, 'token_url'], 'value', `${describePath([...at, 'token_url'])} must be an absolute http(s) URL, such as https://auth.example.com/oauth/token`, 'url-invalid'))
    return undefined
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    ctx.diagnostics.push(diagnosticAt(ctx.source, [...at, 'token_url'], 'value', `${describePath([...at, 'token_url'])} must be an http or https URL, not ${url.protocol}`, 'url-invalid'))
    return undefined
  }
  if (url.protocol === 'http:') {
    ctx.diagnostics.push(
      diagnosticAt(ctx.source, [...at, 'token_url'], 'value', `${describePath([...at, 'token_url'])} is http://: the client secret and the token travel in clear; use https:// outside a trusted network`, 'insecure', 'warning'),
    )
  }
  return { tokenUrl: url.href, clientId, clientSecret, scopes: written.scopes ?? [], params, clientAuth: written.client_auth ?? 'basic' }
}

function compileTls(written: NonNullable<Upstream['tls']>, at: NodePath, ctx: UpstreamContext, secrets: string[]): TlsSettings | undefined {
  const before = ctx.diagnostics.length
  const text = (value: string | undefined, key: string) => (value === undefined ? undefined : resolve(value, [...at, key], ctx, secrets))
  const ca = text(written.ca, 'ca')
  const cert = text(written.cert, 'cert')
  const key = text(written.key, 'key')
  const passphrase = text(written.passphrase, 'passphrase')
  const servername = text(written.servername, 'servername')
  if (key !== undefined) secrets.push(key)
  if (passphrase !== undefined) secrets.push(passphrase)
  if (written.insecure_skip_verify === true) {
    ctx.diagnostics.push(
      diagnosticAt(ctx.source, [...at, 'insecure_skip_verify'], 'value', 'insecure_skip_verify: true accepts any certificate, so anyone on the path can read and change these calls; give tls.ca instead', 'insecure', 'warning'),
    )
  }
  if (ctx.diagnostics.slice(before).some((d) => d.severity === 'error')) return undefined
  // Checked now, so that a wrong file is a load error at its line and not
  // the first call's failure.
  if (ca !== undefined) {
    const blocks = ca.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
    const problem =
      blocks.length === 0
        ? 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)'
        : blocks.map((block) => {
            try {
              new X509Certificate(block)
              return undefined
            } catch (err) {
              return `has a certificate that cannot be read (${(err as Error).message})`
            }
          }).find((p) => p !== undefined)
    if (problem !== undefined) ctx.diagnostics.push(diagnosticAt(ctx.source, [...at, 'ca'], 'value', `tls.ca ${problem}`, 'tls-invalid'))
  }
  if (cert !== undefined && key !== undefined) {
    try {
      createSecureContext({ cert, key, ...(passphrase !== undefined ? { passphrase } : {}) })
    } catch (err) {
      ctx.diagnostics.push(diagnosticAt(ctx.source, [...at, 'key'], 'value', `tls.cert and tls.key cannot be used together: ${tlsReason(err)}`, 'tls-invalid'))
    }
  }
  if (ctx.diagnostics.slice(before).some((d) => d.severity === 'error')) return undefined
  return { ca, cert, key, passphrase, servername, insecureSkipVerify: written.insecure_skip_verify === true }
}

/** OpenSSL's reason, without its error-code prefix. */
function tlsReason(err: unknown): string {
  const message = (err as Error).message ?? String(err)
  if (/bad decrypt|bad password|interrupted or cancelled/i.test(message)) return 'the key is encrypted and tls.passphrase is missing or wrong'
  if (/key values mismatch/i.test(message)) return 'the key is not the certificate\'s key'
  return message.replace(/^error:[0-9A-F]+:[^:]*::?/i, '')
}

function compileProxy(resolved: string | undefined, at: NodePath, ctx: UpstreamContext): ProxySetting | undefined {
  if (resolved === undefined) return { kind: 'environment' }
  if (resolved === 'none') return { kind: 'none' }
  let url: URL | undefined
  try {
    url = new URL(resolved)
  } catch {
    url = undefined
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    ctx.diagnostics.push(diagnosticAt(ctx.source, at, 'value', `${describePath(at)} must be an http:// or https:// proxy URL, or none`, 'proxy-invalid'))
    return undefined
  }
  return { kind: 'url', url: url.href }
}

function digest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 32)
}
