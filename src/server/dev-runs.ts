import type { TraceStage } from '../core/trace.js'

/** A run's trace as `/dev/runs` serves it (the first six keys are pinned). */
export interface RunTrace {
  readonly request_id: string
  readonly step: string
  readonly started_at: string
  readonly duration_ms: number
  readonly stages: readonly TraceStage[]
  readonly answer: unknown
  /** The verified request, secrets of the config redacted. */
  readonly request: { readonly context: unknown; readonly data: unknown }
  /** A success answer that does not match the step's data_schema: why (npm run dev flags the run). */
  readonly data_schema_errors?: string
}

export interface RunStore {
  add(trace: RunTrace): void
  /** Newest first, of one step when `step` is given. */
  list(step?: string): readonly RunTrace[]
  /** The newest run of a request id. */
  get(requestId: string): RunTrace | undefined
}

/**
 * The traces of the last runs, for `npm run dev` only: at most `maxRuns`,
 * and at most `maxBytes` of their JSON (a run that moved megabytes does not
 * push out hundreds of small ones by count, nor grow the process without end).
 */
export function createRunStore(maxRuns = 200, maxBytes = 32 * 1024 * 1024, onAdd: (trace: RunTrace) => void = () => {}): RunStore {
  const runs: { trace: RunTrace; size: number }[] = []
  let bytes = 0
  return {
    add(trace) {
      const size = JSON.stringify(trace).length
      if (size > maxBytes) return
      runs.push({ trace, size })
      bytes += size
      while (runs.length > maxRuns || bytes > maxBytes) bytes -= runs.shift()!.size
      onAdd(trace)
    },
    list(step) {
      const out: RunTrace[] = []
      for (let i = runs.length - 1; i >= 0; i--) if (step === undefined || runs[i]!.trace.step === step) out.push(runs[i]!.trace)
      return out
    },
    get(requestId) {
      for (let i = runs.length - 1; i >= 0; i--) if (runs[i]!.trace.request_id === requestId) return runs[i]!.trace
      return undefined
    },
  }
}
