import { compile, LIMIT_CODES, type EngineLimits, type Expression as EngineExpression } from '../engine/index.js'
import type { Payload } from './protocol.js'

/** A compiled expression of a steps file, and where it is written there (`file:line:col`). */
export interface Expression extends EngineExpression {
  readonly at?: string
  /** `file:line:col` of an error's token (JSONata's position is just past it), wherever the YAML style put it. */
  readonly locate?: (position: number, token: string | undefined) => string
}

/** The limits of a step's expressions unless its `limits` (or the file's `defaults.limits`) say otherwise. */
export const DEFAULT_EXPRESSION_LIMITS: EngineLimits = {
  timeoutMs: 1000,
  maxDepth: 500,
  maxItems: 100_000,
  maxStringLength: 10_000_000,
}

/**
 * Evaluates a step's expression (transform, params, query) over a payload:
 * the root is dependencies_context ({} when absent), with $data and $context
 * bound. The one place that says what a step expression sees. `asText`: the
 * caller only serializes the result, which may then be a JsonText (see
 * Expression.evaluateIsolated).
 */
export function evaluateOverPayload(expression: Expression, payload: Payload, asText = false): Promise<unknown> {
  return expression.evaluateIsolated(payload.context.dependencies_context ?? {}, { data: payload.data, context: payload.context }, asText ? AS_TEXT : undefined)
}

const AS_TEXT = { asText: true } as const

/** The part of a JSONata error that is safe and useful to show a user. */
export interface ExpressionErrorInfo {
  message: string
  /** JSONata's error code, or the limit the evaluation went past: `timeout`, `depth`, `items`, `string_length`, `memory`. */
  code?: string
  position?: number
  token?: string
  /** Where the expression is written: `file:line:col`. */
  at?: string
}

/** Compiles once, at load. Throws JSONata's own error on a syntax error. */
export function compileExpression(source: string, limits: EngineLimits = DEFAULT_EXPRESSION_LIMITS, at?: string, locate?: (position: number, token: string | undefined) => string): Expression {
  const compiled = compile(source, limits)
  if (at === undefined) return compiled
  return locate === undefined ? { ...compiled, at } : { ...compiled, at, locate }
}

export function describeExpressionError(err: unknown, expression?: Expression): ExpressionErrorInfo {
  const info: ExpressionErrorInfo = { message: String(err) }
  if (typeof err === 'object' && err !== null) {
    const e = err as { message?: unknown; code?: unknown; position?: unknown; token?: unknown }
    info.message = typeof e.message === 'string' && e.message !== '' ? e.message : 'expression failed'
    if (typeof e.code === 'string') info.code = e.code
    // A limit is the evaluation's, not a token's.
    const limit = LIMIT_CODES.has(info.code ?? '')
    if (typeof e.position === 'number' && !limit) info.position = e.position
    if (typeof e.token === 'string' && !limit) info.token = e.token
  }
  if (expression?.at !== undefined) info.at = expression.at
  // An error at a token (not a limit, which is the whole evaluation's) points at the token's first character.
  if (expression?.locate !== undefined && info.position !== undefined) {
    try {
      info.at = expression.locate(info.position, info.token)
    } catch {
      // The expression's start, as above.
    }
  }
  return info
}
