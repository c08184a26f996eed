import { rootCertificates } from 'node:tls'
import { Agent, EnvHttpProxyAgent, ProxyAgent, type Dispatcher } from 'undici'
import type { TlsSettings, UpstreamConnection } from '../core/registry.js'
import { createGate, type Gate } from './gate.js'
import { createTokenCache, type TokenCache } from './oauth.js'

/** What a call through a named upstream uses besides the request: its pool, its gate, its token. */
export interface UpstreamRuntime {
  readonly dispatcher: Dispatcher
  readonly gate: Gate | undefined
  readonly tokens: TokenCache | undefined
}

/** Finds the runtime of an upstream; step tests give every upstream their mock. */
export type RuntimeFor = (connection: UpstreamConnection) => UpstreamRuntime

export interface Pools {
  readonly runtimeFor: RuntimeFor
  /** After a reload: closes the pools and forgets the tokens that no upstream of the new config uses. */
  retain(connections: Iterable<UpstreamConnection>): void
  /** Closes every pool, letting calls in flight finish. */
  close(): Promise<void>
}

export interface PoolOptions {
  readonly userAgent: string
  /** Told of each token request's end, for metrics. */
  readonly onTokenRequest?: (upstream: string, ok: boolean) => void
  /** Told when the number of calls waiting for an upstream's max_concurrency changes, for metrics. */
  readonly onQueue?: (upstream: string, waiting: number) => void
}

/** The keep-alive and connect settings every pool shares with the default dispatcher. */
export const AGENT_OPTIONS = { keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000 } as const
export const CONNECT_TIMEOUT_MS = 10_000

/**
 * The dispatcher for calls without an upstream: direct, or through the proxy
 * that HTTPS_PROXY / HTTP_PROXY name, except for the hosts of NO_PROXY
 * (undici's EnvHttpProxyAgent reads them, in either case).
 */
export function createDefaultDispatcher(env: NodeJS.ProcessEnv = process.env): Dispatcher {
  const options = { ...AGENT_OPTIONS, connect: { timeout: CONNECT_TIMEOUT_MS } }
  return proxiesInEnvironment(env) ? new EnvHttpProxyAgent(options) : new Agent(options)
}

/**
 * Whether the environment names a proxy. Without one, EnvHttpProxyAgent
 * would only add a URL parse per request: a plain Agent does the same.
 */
export function proxiesInEnvironment(env: NodeJS.ProcessEnv = process.env): boolean {
  return ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'].some((name) => (env[name] ?? '') !== '')
}

/**
 * One undici pool per distinct set of connection settings (TLS, proxy,
 * concurrency), kept across reloads while some upstream still has those
 * settings, so keep-alive connections and tokens survive a reload that does
 * not change them.
 */
export function createPools(options: PoolOptions): Pools {
  const pools = new Map<string, Dispatcher>()
  const gates = new Map<string, Gate>()
  const tokens = new Map<string, TokenCache>()
  const runtimes = new WeakMap<UpstreamConnection, UpstreamRuntime>()

  function runtimeFor(connection: UpstreamConnection): UpstreamRuntime {
    let runtime = runtimes.get(connection)
    if (runtime !== undefined) return runtime
    let dispatcher = pools.get(connection.poolKey)
    if (dispatcher === undefined) pools.set(connection.poolKey, (dispatcher = createDispatcher(connection)))
    // A gate per upstream name and settings: two upstreams never share a cap.
    const gateKey = `${connection.name}\u0000${connection.poolKey}`
    let gate = gates.get(gateKey)
    if (gate === undefined && connection.maxConcurrency !== undefined) {
      gates.set(gateKey, (gate = createGate(connection.maxConcurrency, (waiting) => options.onQueue?.(connection.name, waiting))))
    }
    let cache = tokens.get(connection.tokenKey)
    if (cache === undefined && connection.oauth2 !== undefined) {
      tokens.set(
        connection.tokenKey,
        (cache = createTokenCache({ settings: connection.oauth2, dispatcher, userAgent: options.userAgent, onRequest: (ok) => options.onTokenRequest?.(connection.name, ok) })),
      )
    }
    runtime = { dispatcher, gate, tokens: cache }
    runtimes.set(connection, runtime)
    return runtime
  }

  return {
    runtimeFor,
    retain(connections) {
      const keep = [...connections]
      const poolKeys = new Set(keep.map((c) => c.poolKey))
      for (const [key, pool] of pools) {
        if (poolKeys.has(key)) continue
        pools.delete(key)
        // Calls in flight on it (from requests that started on the old config) finish first.
        void pool.close().catch(() => {})
      }
      const gateKeys = new Set(keep.map((c) => `${c.name}\u0000${c.poolKey}`))
      for (const key of gates.keys()) if (!gateKeys.has(key)) gates.delete(key)
      const tokenKeys = new Set(keep.map((c) => c.tokenKey))
      for (const key of tokens.keys()) if (!tokenKeys.has(key)) tokens.delete(key)
    },
    async close() {
      await Promise.all([...pools.values()].map((pool) => pool.close().catch(() => {})))
      pools.clear()
    },
  }
}

function createDispatcher(connection: UpstreamConnection): Dispatcher {
  const tls = tlsOptions(connection.tls)
  const common = { ...AGENT_OPTIONS, ...(connection.maxConcurrency !== undefined ? { connections: connection.maxConcurrency } : {}) }
  const connect = { timeout: CONNECT_TIMEOUT_MS, ...tls }
  switch (connection.proxy.kind) {
    case 'none':
      return new Agent({ ...common, connect })
    case 'url':
      // The target's TLS settings apply inside the tunnel (requestTls), not to the proxy.
      return new ProxyAgent({ ...common, uri: connection.proxy.url, requestTls: connect, proxyTls: { timeout: CONNECT_TIMEOUT_MS } })
    case 'environment':
      if (!proxiesInEnvironment()) return new Agent({ ...common, connect })
      return new EnvHttpProxyAgent({ ...common, connect, requestTls: connect } as ConstructorParameters<typeof EnvHttpProxyAgent>[0])
  }
}

/** Node's TLS options from an upstream's settings: a `ca` adds to Node's default trust rather than replacing it. */
export function tlsOptions(tls: TlsSettings | undefined): Record<string, unknown> {
  if (tls === undefined) return {}
  return {
    ...(tls.ca !== undefined ? { ca: [...rootCertificates, tls.ca] } : {}),
    ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
    ...(tls.key !== undefined ? { key: tls.key } : {}),
    ...(tls.passphrase !== undefined ? { passphrase: tls.passphrase } : {}),
    ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
    ...(tls.insecureSkipVerify ? { rejectUnauthorized: false } : {}),
  }
}
