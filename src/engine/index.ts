/**
 * The expression engine: JSONata, as jsonata 2.2.2 evaluates it.
 *
 * Every expression of a steps file (transform, params, query, output) is
 * compiled here once, at load, and evaluated per request. For now this is a
 * thin layer over jsonata-js; the layer is what the conformance suite and the
 * differential test run against (test/unit/jsonata-suite.test.ts,
 * test/unit/engine-differential.test.ts), so that a compiled engine can take
 * its place construct by construct with both proving it unchanged.
 */
import { compileTree } from './compile.js'
import { installFunctions } from './functions.js'
import { syncJsonata } from './sync-jsonata.js'

export interface EngineLimits {
  /** Wall time of one evaluation, in ms (0: none). */
  readonly timeoutMs: number
  /** Deepest nesting of evaluation (0: none). */
  readonly maxDepth: number
  /** Largest sequence an evaluation may build (0: none). */
  readonly maxItems: number
}

export const NO_LIMITS: EngineLimits = { timeoutMs: 0, maxDepth: 0, maxItems: 0 }

export interface Expression {
  /** The expression's text. */
  readonly source: string
  /** Evaluates over an input, with variables bound (`{x: 1}` binds `$x`). Throws a JSONata error (`code`, `position`, `token`, `message`). */
  evaluate(input: unknown, bindings?: Readonly<Record<string, unknown>>): unknown
  /** JSONata's parse tree. */
  ast(): unknown
}

/** An error as JSONata raises it. */
export interface JsonataError {
  readonly code: string
  readonly position?: number
  readonly token?: string
  readonly message?: string
}

/** Compiles an expression. Throws JSONata's error (`S0xxx`) on a syntax error. */
installFunctions()

export function compile(source: string, limits: EngineLimits = NO_LIMITS): Expression {
  const compiled = syncJsonata(source, {
    ...(limits.timeoutMs > 0 ? { timeout: limits.timeoutMs } : {}),
    ...(limits.maxDepth > 0 ? { stack: limits.maxDepth } : {}),
    ...(limits.maxItems > 0 ? { sequence: limits.maxItems } : {}),
  })
  // The nodes the compiler takes evaluate through closures from now on; jsonata evaluates the rest.
  compileTree(compiled.ast())
  return {
    source,
    evaluate: (input, bindings) => compiled.evaluate(input, bindings as Record<string, unknown> | undefined),
    ast: () => compiled.ast(),
  }
}

/** The error codes of an evaluation that went past a limit (see EngineLimits). */
export const LIMIT_CODES: ReadonlySet<string> = new Set(['D1011', 'D1012', 'D2015'])
