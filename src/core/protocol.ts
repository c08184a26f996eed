/** The orchestrator's webhook protocol: what it sends and what it expects back. */

export interface DependencyResult {
  data?: unknown
  exit_code?: string
}

export interface StepContext {
  step_name: string
  flow_id?: string
  flow_name?: string
  request_id?: string
  triggered_by?: { step_name?: string; step_execution_id?: string }
  dependencies_context?: Record<string, DependencyResult>
  [key: string]: unknown
}

export interface Payload {
  data?: unknown
  context: StepContext
}

/** The body of a 200 answer. `data` is left out when there is none. */
export interface StepResult {
  exit_code: string
  data?: unknown
}

/** The error a failed step reports under `data.error`. */
export interface StepError {
  code: string
  message: string
  details?: unknown
}

export function failure(code: string, message: string, details?: unknown): StepResult {
  const error: StepError = details === undefined ? { code, message } : { code, message, details }
  return { exit_code: 'failure', data: { error } }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
