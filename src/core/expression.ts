import { compile, type Expression } from '../engine/index.js'
import type { Payload } from './protocol.js'

export type { Expression }

/**
 * Guardrails on every expression, so a transform cannot hang the event loop or
 * exhaust the stack: JSONata checks both on each evaluation step.
 */
export const EXPRESSION_LIMITS = {
  timeoutMs: 1000,
  maxDepth: 500,
  maxSequence: 100_000,
} as const

/**
 * Evaluates a step's expression (transform, params, query) over a payload:
 * the root is dependencies_context ({} when absent), with $data and $context
 * bound. The one place that says what a step expression sees.
 */
export function evaluateOverPayload(expression: Expression, payload: Payload): unknown {
  return expression.evaluate(payload.context.dependencies_context ?? {}, { data: payload.data, context: payload.context })
}

/** The part of a JSONata error that is safe and useful to show a user. */
export interface ExpressionErrorInfo {
  message: string
  code?: string
  position?: number
  token?: string
}

/** Compiles once, at load. Throws JSONata's own error on a syntax error. */
export function compileExpression(source: string): Expression {
  return compile(source, { timeoutMs: EXPRESSION_LIMITS.timeoutMs, maxDepth: EXPRESSION_LIMITS.maxDepth, maxItems: EXPRESSION_LIMITS.maxSequence })
}

export function describeExpressionError(err: unknown): ExpressionErrorInfo {
  if (typeof err !== 'object' || err === null) return { message: String(err) }
  const e = err as { message?: unknown; code?: unknown; position?: unknown; token?: unknown }
  const info: ExpressionErrorInfo = {
    message: typeof e.message === 'string' && e.message !== '' ? e.message : 'expression failed',
  }
  if (typeof e.code === 'string') info.code = e.code
  if (typeof e.position === 'number') info.position = e.position
  if (typeof e.token === 'string') info.token = e.token
  return info
}
