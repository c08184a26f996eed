import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { secretFileError, secretFileText } from '../config/interpolate.js'
import { DEFAULT_LIMITS } from '../core/limits.js'

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
  /** Most bytes of log lines waiting to be written to stdout; past it, new lines are dropped. */
  readonly logBufferBytes: number
  /** WATCH: follow the config files and reload when their content changes; undefined = the mode's default (on with --dev). */
  readonly watch: boolean | undefined
  /** WATCH_POLL_MS: also compare the files' content this often (0 = never); undefined = the mode's default. */
  readonly watchPollMs: number | undefined
  /** REPLAY_TTL_S in ms: how long an answer is given again to the same payload (0: no replay cache). */
  readonly replayTtlMs: number
  /** REPLAY_CACHE_MAX_BYTES: the in-memory replay cache's bound. */
  readonly replayCacheMaxBytes: number
  /** REDIS_URL: the replay store shared by every worker and replica, instead of memory. */
  readonly redisUrl: string | undefined
  /** REDIS_TIMEOUT_MS: the longest a request waits for Redis before it runs without it. */
  readonly redisTimeoutMs: number
  /** WORKERS: server processes (node's cluster) when more than 1; `auto` is os.availableParallelism(). */
  readonly workers: number
  /** WATCHDOG_MS: a worker whose event loop does not answer the primary for this long is killed and replaced. */
  readonly watchdogMs: number
  readonly production: boolean
  readonly metrics: boolean
  readonly bodyLimit: number
  /** Deepest nesting of a request body, an upstream body, or a step's data. */
  readonly maxJsonDepth: number
  readonly maxAnswerBytes: number
  /** Where /metrics and the detailed /healthz are served instead of the main port, when set. */
  readonly admin: { readonly port: number; readonly host: string } | undefined
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
  'SIGNATURE_KEY_FILE',
  'NODE_ENV',
  'LOG_LEVEL',
  'LOG_BUFFER_BYTES',
  'METRICS',
  'BODY_LIMIT',
  'MAX_JSON_DEPTH',
  'MAX_ANSWER_BYTES',
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
  'ADMIN_PORT',
  'ADMIN_HOST',
  'WORKERS',
  'WATCHDOG_MS',
  'WATCH',
  'WATCH_POLL_MS',
  'REPLAY_TTL_S',
  'REPLAY_CACHE_MAX_BYTES',
  'REDIS_URL',
  'REDIS_TIMEOUT_MS',
  // Read by OpenTelemetry's SDK, and by undici's EnvHttpProxyAgent, not
  // here: listed for the README's table.
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_TRACES_EXPORTER',
  'HTTPS_PROXY',
  'HTTP_PROXY',
  'NO_PROXY',
] as const

export type SettingsResult = { ok: true; settings: Settings } | { ok: false; errors: string[] }

export function readSettings(env: NodeJS.ProcessEnv): SettingsResult {
  const errors: string[] = []
  const read = reader(env, errors)
  const production = env['NODE_ENV'] === 'production'

  const logLevel = read.oneOf('LOG_LEVEL', LOG_LEVELS, 'info')
  const metrics = read.oneOf('METRICS', ['on', 'off'] as const, 'on') === 'on'

  const keys = signatureKeysOf(env)
  if (!keys.ok) errors.push(keys.error)
  const signatureKeys = keys.ok ? keys.keys : undefined
  if (keys.ok && signatureKeys === undefined && production) {
    errors.push('SIGNATURE_KEY must be set when NODE_ENV=production (the key the orchestrator signs webhooks with), or SIGNATURE_KEY_FILE naming a file that holds it')
  }

  const host = read.text('HOST', '0.0.0.0')
  const adminPort = read.optionalInteger('ADMIN_PORT', 0, 65535)
  const settings: Settings = {
    port: read.integer('PORT', 3000, 0, 65535),
    host,
    stepsFile: read.text('STEPS_FILE', './steps.yaml'),
    signatureKeys,
    logLevel,
    // 64 KiB holds the longest lines (a failed reload's errors); 16 MiB is a few
    // seconds of lines at full load, minutes at ordinary loads.
    logBufferBytes: read.integer('LOG_BUFFER_BYTES', 16 * 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024),
    watch: rawOf(env, 'WATCH') === undefined ? undefined : read.oneOf('WATCH', ['on', 'off'] as const, 'off') === 'on',
    watchPollMs: read.optionalInteger('WATCH_POLL_MS', 0, 3_600_000),
    replayTtlMs: read.integer('REPLAY_TTL_S', 600, 0, 7 * 24 * 3600) * 1000,
    replayCacheMaxBytes: read.integer('REPLAY_CACHE_MAX_BYTES', 64 * 1024 * 1024, 1024, 64 * 1024 * 1024 * 1024),
    redisUrl: rawOf(env, 'REDIS_URL'),
    redisTimeoutMs: read.integer('REDIS_TIMEOUT_MS', 1000, 1, 60_000),
    workers: workersOf(rawOf(env, 'WORKERS'), errors),
    watchdogMs: read.integer('WATCHDOG_MS', 10_000, 100, 600_000),
    production,
    metrics,
    bodyLimit: read.integer('BODY_LIMIT', 1024 * 1024, 1, 1024 * 1024 * 1024),
    // Past about 4,000 levels V8's own JSON.stringify runs out of stack: 2000 keeps a margin.
    maxJsonDepth: read.integer('MAX_JSON_DEPTH', DEFAULT_LIMITS.maxJsonDepth, 1, 2000),
    maxAnswerBytes: read.integer('MAX_ANSWER_BYTES', DEFAULT_LIMITS.maxAnswerBytes, 1024, 1024 * 1024 * 1024),
    admin: adminPort === undefined ? undefined : { port: adminPort, host: read.text('ADMIN_HOST', host) },
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
  if (settings.admin === undefined && rawOf(env, 'ADMIN_HOST') !== undefined) errors.push('ADMIN_HOST is set but ADMIN_PORT is not: set ADMIN_PORT to serve /metrics and the detailed /healthz there')
  if (settings.admin !== undefined && settings.admin.port !== 0 && settings.admin.port === settings.port) errors.push(`ADMIN_PORT must differ from PORT (both are ${settings.port})`)
  return errors.length > 0 ? { ok: false, errors } : { ok: true, settings }
}

/**
 * SIGNATURE_KEY as the server reads it, and `npm run send` too, so that both
 * sign with the same first key: comma-separated keys (several let an operator
 * roll the orchestrator's key), each trimmed of surrounding whitespace. So a
 * key can contain neither a comma nor whitespace at its ends. Unset or blank:
 * no keys (undefined); an empty key between commas is an error.
 */
export function signatureKeysOf(env: NodeJS.ProcessEnv): { ok: true; keys: string[] | undefined } | { ok: false; error: string } {
  const direct = env['SIGNATURE_KEY']
  const file = rawOf(env, 'SIGNATURE_KEY_FILE')
  const hasDirect = direct !== undefined && direct.trim() !== ''
  if (hasDirect && file !== undefined) {
    return { ok: false, error: 'SIGNATURE_KEY and SIGNATURE_KEY_FILE are both set: set one of them (SIGNATURE_KEY_FILE names a file holding the key, such as a mounted secret)' }
  }
  let raw = direct
  let name = 'SIGNATURE_KEY'
  // The container-secrets convention: the key in a file, such as /run/secrets/signature_key.
  if (!hasDirect && file !== undefined) {
    name = `SIGNATURE_KEY_FILE (${file})`
    try {
      raw = secretFileText(readFileSync(file, 'utf8'))
    } catch (err) {
      return { ok: false, error: `SIGNATURE_KEY_FILE: cannot read ${file}: ${secretFileError(err)}` }
    }
    if (raw.trim() === '') return { ok: false, error: `SIGNATURE_KEY_FILE: ${file} is empty` }
  }
  if (raw === undefined || raw.trim() === '') return { ok: true, keys: undefined }
  const keys = raw.split(',').map((k) => k.trim())
  return keys.includes('') ? { ok: false, error: `${name} has an empty key between commas` } : { ok: true, keys }
}

/** WORKERS: a whole number from 1 to 1024, or `auto` (one per core); 1 when unset. */
function workersOf(raw: string | undefined, errors: string[]): number {
  if (raw === undefined) return 1
  if (raw.toLowerCase() === 'auto') return availableParallelism()
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 1024) {
    errors.push(`WORKERS must be auto or a whole number from 1 to 1024; got '${raw}'`)
    return 1
  }
  return Number(raw)
}

function rawOf(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim()
  return value === undefined || value === '' ? undefined : value
}

function reader(env: NodeJS.ProcessEnv, errors: string[]) {
  const raw = (name: string) => rawOf(env, name)
  return {
    text: (name: string, fallback: string): string => raw(name) ?? fallback,
    optionalInteger(name: string, min: number, max: number): number | undefined {
      const value = raw(name)
      if (value === undefined) return undefined
      if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
        errors.push(`${name} must be a whole number from ${min} to ${max}; got '${value}'`)
        return undefined
      }
      return Number(value)
    },
    integer(name: string, fallback: number, min: number, max: number): number {
      return this.optionalInteger(name, min, max) ?? fallback
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
