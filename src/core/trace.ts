/**
 * A run's trace, stage by stage: what `npm run dev` keeps for `/dev/runs`,
 * what `send --trace` and `test-steps --trace` print. Recording is opt-in
 * per run (StepRuntime.trace): the server records nothing outside --dev.
 */
import { JsonText } from '../engine/values.js'

/** The stage names a trace uses (pinned): an HTTP step has one `attempt` per attempt. */
export type TraceStageName = 'input' | 'transform' | 'request' | 'attempt' | 'response' | 'output'

export interface TraceStage {
  readonly name: TraceStageName
  readonly duration_ms: number
  readonly [field: string]: unknown
}

export interface TraceRecorder {
  /** Records a stage that took `durationMs`, with what it saw or made. */
  stage(name: TraceStageName, durationMs: number, fields: Record<string, unknown>): void
}

/** The largest body a trace keeps of a request or a response, in UTF-16 units. */
export const TRACE_BODY_LIMIT = 64 * 1024

/** A body as a trace keeps it: past TRACE_BODY_LIMIT, cut with a marker saying how much was left out. */
export function traceBody(body: unknown): unknown {
  if (typeof body === 'string') return body.length <= TRACE_BODY_LIMIT ? body : `${body.slice(0, TRACE_BODY_LIMIT)}… [truncated: ${body.length - TRACE_BODY_LIMIT} more characters]`
  if (body === undefined) return undefined
  const text = body instanceof JsonText ? body.text : JSON.stringify(body)
  if (text === undefined || text.length <= TRACE_BODY_LIMIT) return body instanceof JsonText ? body.toJSON() : body
  return `${text.slice(0, TRACE_BODY_LIMIT)}… [truncated: ${text.length - TRACE_BODY_LIMIT} more characters of JSON]`
}

/** Milliseconds since `started` (performance.now()), to the microsecond. */
export function since(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000
}

/** A run's recording: its stages in order, and when it started (for `started_at` and `duration_ms`). */
export interface TraceRecording extends TraceRecorder {
  readonly stages: TraceStage[]
  readonly startedAt: Date
  /** The run's duration so far, in ms to the microsecond. */
  elapsed(): number
}

/** A recorder that keeps its stages in order, started now. */
export function createTraceRecorder(): TraceRecording {
  const stages: TraceStage[] = []
  const t0 = performance.now()
  return {
    stages,
    startedAt: new Date(),
    elapsed: () => since(t0),
    stage(name, durationMs, fields) {
      stages.push({ name, duration_ms: Math.round(durationMs * 1000) / 1000, ...fields })
    },
  }
}
