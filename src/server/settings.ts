/**
 * Every environment variable the server reads, read and checked in one place
 * at start-up. A bad value stops the start with a message naming the variable.
 */
export interface Settings {
  readonly port: number
  readonly host: string
  readonly stepsFile: string
  /** Undefined when SIGNATURE_KEY is unset (allowed outside production only). */
  readonly signatureKeys: readonly string[] | undefined
  readonly logLevel: LogLevel
  readonly production: boolean
  readonly metrics: boolean
  readonly bodyLimit: number
  /** How long a shutdown waits for in-flight requests before cancelling them. */
  readonly shutdownTimeoutMs: number
  /** Time allowed to receive a whole request, headers and body. */
  readonly requestTimeoutMs: number
  readonly keepAliveTimeoutMs: number
  readonly connectionTimeoutMs: number
  /** Open connections accepted at once; undefined: derived from the descriptor limit at start-up; 0: no cap. */
  readonly maxConnections: number | undefined
  readonly listenBacklog: number
  readonly overload: {
    readonly maxEventLoopDelayMs: number
    readonly maxEventLoopUtilization: number
    readonly maxHeapUsedBytes: number
    readonly maxRssBytes: number
    readonly retryAfterSeconds: number
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** The variables, in the order the README lists them. */
export const ENVIRONMENT = [
  'PORT',
  'HOST',
  'STEPS_FILE',
  'SIGNATURE_KEY',
  'NODE_ENV',
  'LOG_LEVEL',
  'METRICS',
  'BODY_LIMIT',
  'SHUTDOWN_TIMEOUT_MS',
  'REQUEST_TIMEOUT_MS',
  'KEEP_ALIVE_TIMEOUT_MS',
  'CONNECTION_TIMEOUT_MS',
  'MAX_CONNECTIONS',
  'LISTEN_BACKLOG',
  'MAX_EVENT_LOOP_DELAY_MS',
  'MAX_EVENT_LOOP_UTILIZATION',
  'MAX_HEAP_USED_BYTES',
  'MAX_RSS_BYTES',
  'OVERLOAD_RETRY_AFTER_S',
] as const

export type SettingsResult = { ok: true; settings: Settings } | { ok: false; errors: string[] }

export function readSettings(env: NodeJS.ProcessEnv): SettingsResult {
  const errors: string[] = []
  const read = reader(env, errors)
  const production = env['NODE_ENV'] === 'production'

  const logLevel = read.oneOf('LOG_LEVEL', LOG_LEVELS, 'info')
  const metrics = read.oneOf('METRICS', ['on', 'off'] as const, 'on') === 'on'

  let signatureKeys: string[] | undefined
  const rawKeys = env['SIGNATURE_KEY']
  if (rawKeys !== undefined && rawKeys.trim() !== '') {
    // Several keys, comma-separated, let an operator roll the orchestrator's key.
    signatureKeys = rawKeys.split(',').map((k) => k.trim())
    if (signatureKeys.some((k) => k === '')) errors.push('SIGNATURE_KEY has an empty key between commas')
  } else if (production) {
    errors.push('SIGNATURE_KEY must be set when NODE_ENV=production (the key the orchestrator signs webhooks with)')
  }

  const settings: Settings = {
    port: read.integer('PORT', 3000, 0, 65535),
    host: read.text('HOST', '0.0.0.0'),
    stepsFile: read.text('STEPS_FILE', './steps.yaml'),
    signatureKeys,
    logLevel,
    production,
    metrics,
    bodyLimit: read.integer('BODY_LIMIT', 1024 * 1024, 1, 1024 * 1024 * 1024),
    shutdownTimeoutMs: read.integer('SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
    requestTimeoutMs: read.integer('REQUEST_TIMEOUT_MS', 30_000, 1, 3_600_000),
    keepAliveTimeoutMs: read.integer('KEEP_ALIVE_TIMEOUT_MS', 72_000, 1, 3_600_000),
    connectionTimeoutMs: read.integer('CONNECTION_TIMEOUT_MS', 300_000, 1, 3_600_000),
    maxConnections: read.optionalInteger('MAX_CONNECTIONS', 0, 10_000_000),
    // The kernel caps it at net.core.somaxconn.
    listenBacklog: read.integer('LISTEN_BACKLOG', 2048, 1, 65_535),
    overload: {
      maxEventLoopDelayMs: read.integer('MAX_EVENT_LOOP_DELAY_MS', 1000, 0, 600_000),
      maxEventLoopUtilization: read.fraction('MAX_EVENT_LOOP_UTILIZATION', 0.98),
      maxHeapUsedBytes: read.integer('MAX_HEAP_USED_BYTES', 0, 0, Number.MAX_SAFE_INTEGER),
      maxRssBytes: read.integer('MAX_RSS_BYTES', 0, 0, Number.MAX_SAFE_INTEGER),
      retryAfterSeconds: read.integer('OVERLOAD_RETRY_AFTER_S', 10, 1, 3600),
    },
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, settings }
}

function reader(env: NodeJS.ProcessEnv, errors: string[]) {
  const raw = (name: string): string | undefined => {
    const value = env[name]?.trim()
    return value === undefined || value === '' ? undefined : value
  }
  return {
    text: (name: string, fallback: string): string => raw(name) ?? fallback,
    integer(name: string, fallback: number, min: number, max: number): number {
      return this.optionalInteger(name, min, max) ?? fallback
    },
    optionalInteger(name: string, min: number, max: number): number | undefined {
      const value = raw(name)
      if (value === undefined) return undefined
      if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
        errors.push(`${name} must be a whole number from ${min} to ${max}; got '${value}'`)
        return undefined
      }
      return Number(value)
    },
    fraction(name: string, fallback: number): number {
      const value = raw(name)
      if (value === undefined) return fallback
      const n = Number(value)
      if (!/^\d*\.?\d+$/.test(value) || n > 1) {
        errors.push(`${name} must be a number from 0 to 1 (0 turns the check off); got '${value}'`)
        return fallback
      }
      return n
    },
    oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
      const value = raw(name)?.toLowerCase()
      if (value === undefined) return fallback
      if (!(allowed as readonly string[]).includes(value)) {
        errors.push(`${name} must be one of ${allowed.join(', ')}; got '${env[name]}'`)
        return fallback
      }
      return value as T
    },
  }
}
