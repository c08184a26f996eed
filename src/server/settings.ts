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
  /** How long a shutdown waits for in-flight requests before cancelling them. */
  readonly shutdownTimeoutMs: number
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

export type SettingsResult = { ok: true; settings: Settings } | { ok: false; errors: string[] }

export function readSettings(env: NodeJS.ProcessEnv): SettingsResult {
  const errors: string[] = []
  const production = env['NODE_ENV'] === 'production'

  const port = integer(env, 'PORT', 3000, 0, 65535, errors)
  const shutdownTimeoutMs = integer(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000, errors)
  const host = nonEmpty(env['HOST']) ?? '0.0.0.0'
  const stepsFile = nonEmpty(env['STEPS_FILE']) ?? './steps.yaml'

  const logLevel = (nonEmpty(env['LOG_LEVEL']) ?? 'info').toLowerCase()
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    errors.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}; got '${env['LOG_LEVEL']}'`)
  }

  let signatureKeys: string[] | undefined
  const rawKeys = env['SIGNATURE_KEY']
  if (rawKeys !== undefined && rawKeys.trim() !== '') {
    // Several keys, comma-separated, let an operator roll the orchestrator's key.
    signatureKeys = rawKeys.split(',').map((k) => k.trim())
    if (signatureKeys.some((k) => k === '')) errors.push('SIGNATURE_KEY has an empty key between commas')
  } else if (production) {
    errors.push('SIGNATURE_KEY must be set when NODE_ENV=production (the key the orchestrator signs webhooks with)')
  }

  if (errors.length > 0) return { ok: false, errors }
  return { ok: true, settings: { port, host, stepsFile, signatureKeys, logLevel: logLevel as LogLevel, production, shutdownTimeoutMs } }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim()
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number, errors: string[]): number {
  const raw = nonEmpty(env[name])
  if (raw === undefined) return fallback
  const value = Number(raw)
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    errors.push(`${name} must be a whole number from ${min} to ${max}; got '${raw}'`)
    return fallback
  }
  return value
}
