import type { IncomingHttpHeaders } from 'node:http'

/** What a /hook span records once the answer is known: never data. */
export interface HookSpanAttributes {
  readonly stepName: string | undefined
  readonly flowId: string | undefined
  readonly requestId: string | undefined
  readonly exitCode: string | undefined
  readonly status: number
}

/**
 * Traces, when OpenTelemetry is configured: a span per /hook request that
 * continues the caller's `traceparent`, with a child span per outbound
 * attempt (undici's instrumentation, which also sends `traceparent`).
 */
export interface Tracing {
  /** Runs a /hook request inside its span; `end` sets the span's attributes from the answer. */
  hook<T>(headers: IncomingHttpHeaders, run: (end: (attributes: HookSpanAttributes) => void) => Promise<T>): Promise<T>
  /** The ids of the active span, for the log line. */
  logFields(): { trace_id: string; span_id: string } | Record<string, never>
  /** Exports what is left. */
  shutdown(): Promise<void>
}

/** Whether the environment asks for traces (the variables of the OpenTelemetry spec). */
export function tracingRequested(env: NodeJS.ProcessEnv): boolean {
  const exporter = env['OTEL_TRACES_EXPORTER']?.trim()
  if (exporter !== undefined && exporter !== '') return exporter !== 'none'
  return ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'].some((name) => (env[name] ?? '').trim() !== '')
}

/**
 * Starts tracing when the environment asks for it. Otherwise nothing of the
 * SDK is loaded (it is imported here, on demand) and requests pay nothing.
 */
export async function startTracing(env: NodeJS.ProcessEnv, version: string): Promise<Tracing | undefined> {
  if (!tracingRequested(env)) return undefined
  const { startOpenTelemetry } = await import('./otel.js')
  return startOpenTelemetry(version)
}
