import type { ValidateFunction } from 'ajv'
import type { Expression } from './expression.js'
import type { Scrubber } from './secrets.js'

/** A step that answers a fixed exit code, with its transform's result as data. */
export interface StaticAction {
  readonly kind: 'static'
  readonly exitCode: string
}

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

/**
 * A URL whose origin is fixed at load; only what follows it has placeholders,
 * so no value can change where the request goes.
 */
export interface UrlTemplate {
  readonly origin: string
  /** After the origin: literal text at even indexes, placeholder names at odd ones. */
  readonly parts: readonly string[]
}

export interface RetryPolicy {
  /** Already 1 for POST and PATCH unless retrying them was asked for. */
  readonly maxAttempts: number
  readonly backoffMs: number
  readonly maxBackoffMs: number
  /** The statuses worth another attempt (`retry.on_status`, else 408, 429, 500, 502, 503, 504). */
  readonly onStatus: ReadonlySet<number>
  /** Whether connection errors and timeouts are retried (`retry.on_network_error`, default true). */
  readonly onNetworkError: boolean
}

/** The limits of one outbound call, per attempt and across attempts. */
export interface CallPolicy {
  readonly timeoutMs: number
  readonly maxResponseBytes: number
  readonly retry: RetryPolicy
}

/** How the transform's result travels: JSON, a form (`application/x-www-form-urlencoded`) or plain text. */
export type BodyKind = 'json' | 'form' | 'text'

/** OAuth 2.0 client credentials of an upstream: every value already resolved. */
export interface OAuth2Settings {
  readonly tokenUrl: string
  readonly clientId: string
  readonly clientSecret: string
  readonly scopes: readonly string[]
  /** Extra form fields of the token request. */
  readonly params: Readonly<Record<string, string>>
  /** HTTP Basic (the default) or the client's credentials in the form body. */
  readonly clientAuth: 'basic' | 'post'
}

/** TLS settings of an upstream's connections: PEM texts, already read. */
export interface TlsSettings {
  readonly ca: string | undefined
  readonly cert: string | undefined
  readonly key: string | undefined
  readonly passphrase: string | undefined
  readonly servername: string | undefined
  readonly insecureSkipVerify: boolean
}

/** Where an upstream's connections go: the proxy environment variables, straight to the host, or one proxy. */
export type ProxySetting = { readonly kind: 'environment' } | { readonly kind: 'none' } | { readonly kind: 'url'; readonly url: string }

/**
 * What the shell needs to reach a named upstream beyond the request itself:
 * its own connection pool (TLS, proxy, concurrency) and, for OAuth2, its
 * token. Basic and bearer credentials are headers, added at load.
 */
export interface UpstreamConnection {
  readonly name: string
  readonly tls: TlsSettings | undefined
  readonly proxy: ProxySetting
  /** Calls in flight at once; more wait, inside their attempt's timeout. */
  readonly maxConcurrency: number | undefined
  readonly oauth2: OAuth2Settings | undefined
  /**
   * Everything that makes the pool (TLS, proxy, concurrency), as a string:
   * a reload that leaves it unchanged keeps the pool and its connections.
   */
  readonly poolKey: string
  /** Everything that makes the token (endpoint, client, scopes, params, pool): a reload that leaves it unchanged keeps the token. */
  readonly tokenKey: string
}

/** A step that makes an outbound HTTP call and maps the response. */
export interface HttpAction {
  readonly kind: 'http'
  readonly method: HttpMethod
  readonly url: UrlTemplate
  /** The named upstream the call goes through, or undefined for an absolute `http.url`. */
  readonly upstream: UpstreamConnection | undefined
  /** How the transform's result is encoded (the content-type header is already set at load). */
  readonly body: BodyKind
  readonly params: Expression | undefined
  readonly query: Expression | undefined
  /** Header values with ${VAR} and ${file:...} already resolved; an upstream's headers and basic/bearer credentials included. */
  readonly headers: Readonly<Record<string, string>>
  /**
   * Values read from the environment (in the URL or a header, each on its
   * own and as the whole header value), and credential header values
   * (authorization, ...): never logged, never answered.
   */
  readonly secrets: readonly string[]
  readonly policy: CallPolicy
  readonly output: Expression | undefined
}

export type StepAction = StaticAction | HttpAction

/** A step ready to run: every schema and expression compiled at load. */
export interface CompiledStep {
  readonly name: string
  readonly validate: ValidateFunction | undefined
  /** `data_schema`: what a success answer's data must match (checked by step tests and in npm run dev). */
  readonly dataSchema: ValidateFunction | undefined
  readonly transform: Expression | undefined
  readonly action: StepAction
}

/**
 * One loaded config, immutable once built. A request takes the registry that
 * is current when it arrives and uses it from start to end.
 */
export interface Registry {
  /** Short sha256 of every file the config was read from. */
  readonly hash: string
  readonly loadedAt: Date
  readonly steps: ReadonlyMap<string, CompiledStep>
  /** A hash of each step's definition, to tell which steps a reload changed. */
  readonly fingerprints: ReadonlyMap<string, string>
  /** Every file read to build this config: the steps file first, then schema files. */
  readonly files: readonly string[]
  /** The named upstreams that loaded, for the shell to keep their pools and tokens across reloads. */
  readonly connections: readonly UpstreamConnection[]
  /** Every secret of the config (see HttpAction.secrets), for the log redactor. */
  readonly secretValues: readonly string[]
  /** Replaces those secrets by "[redacted]" in answers and in what upstreams send back. */
  readonly secrets: Scrubber
  /**
   * No config could be loaded: `npm run dev` started on a broken steps file.
   * Such a registry has no steps; /hook answers 503 until a save loads one.
   */
  readonly unavailable?: true
}

/** What `npm run dev` serves before its first valid load: nothing, and it says so. */
export function unavailableRegistry(files: readonly string[], secrets: Scrubber, at: Date): Registry {
  return Object.freeze({ hash: '', loadedAt: at, steps: new Map(), fingerprints: new Map(), files, connections: [], secretValues: [], secrets, unavailable: true as const })
}

/** What a new config changes, step by step. */
export function diffRegistries(before: Registry, after: Registry): { added: string[]; removed: string[]; changed: string[] } {
  const added: string[] = []
  const changed: string[] = []
  for (const [name, fingerprint] of after.fingerprints) {
    const old = before.fingerprints.get(name)
    if (old === undefined) added.push(name)
    else if (old !== fingerprint) changed.push(name)
  }
  const removed = [...before.fingerprints.keys()].filter((name) => !after.fingerprints.has(name))
  return { added, removed, changed }
}
