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
import { EvaluationFrame, Frame } from './frame.js'
import { installFunctions } from './functions.js'
import { LinearRegExp, patternProblem } from './regex.js'
import { sequenceFactory } from './runtime.js'
import { internals, syncJsonata } from './sync-jsonata.js'

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

installFunctions()

/** Compiles an expression. Throws JSONata's error (`S0xxx`) on a syntax error. */
export function compile(source: string, limits: EngineLimits = NO_LIMITS): Expression {
  const options = {
    ...(limits.timeoutMs > 0 ? { timeout: limits.timeoutMs } : {}),
    ...(limits.maxDepth > 0 ? { stack: limits.maxDepth } : {}),
    ...(limits.maxItems > 0 ? { sequence: limits.maxItems } : {}),
  }
  const parsed = syncJsonata(source, options)
  const ast = parsed.ast()
  checkPatterns(ast)
  // The nodes the compiler takes evaluate through closures from now on; jsonata evaluates the rest.
  compileTree(ast)
  const createSequence = sequenceFactory(limits.maxItems)
  // The frame of the expression, as jsonata makes it: $now and $millis read
  // the clock of the evaluation that calls them.
  let timestamp = new Date()
  const environment = new Frame(internals.staticFrame)
  environment.bind('now', internals.defineFunction(((picture: unknown, timezone: unknown) => fromMillis(timestamp.getTime(), picture, timezone)) as never, '<s?s?:s>'))
  environment.bind('millis', internals.defineFunction((() => timestamp.getTime()) as never, '<:n>'))
  return {
    source,
    // What jsonata's own evaluate does, with the engine's frames.
    evaluate(input, bindings) {
      timestamp = new Date()
      const frame = new EvaluationFrame(environment, options, createSequence as never, LinearRegExp, timestamp)
      if (bindings !== undefined) for (const name of Object.keys(bindings)) frame.bind(name, bindings[name])
      frame.bind('$', input)
      // An array input is one value: wrapped, so that paths do not map over it.
      let root = input
      if (Array.isArray(input) && !(input as { sequence?: boolean }).sequence) {
        const wrapped = createSequence(input)
        wrapped.outerWrapper = true
        root = wrapped
      }
      try {
        return internals.evaluate(ast, root, frame)
      } catch (err) {
        internals.populateMessage(err)
        throw err
      }
    },
    ast: () => ast,
  }
}

/**
 * Every `/.../` literal must run on the linear-time engine: one that cannot
 * (a backreference, a lookaround) fails the compile, as a syntax error does,
 * at the regular expression.
 */
function checkPatterns(node: unknown): void {
  if (typeof node !== 'object' || node === null) return
  const n = node as { type?: string; value?: unknown; position?: number }
  if (n.type === 'regex' && n.value instanceof RegExp) {
    const problem = patternProblem(n.value.source, n.value.flags)
    if (problem !== undefined) {
      const text = `/${n.value.source}/`
      throw { code: 'S0303', position: n.position, token: text, message: `The regular expression ${text} cannot be used: ${problem}` }
    }
    return
  }
  for (const value of Object.values(node)) checkPatterns(value)
}

const fromMillis = (internals.staticFrame.lookup('fromMillis') as { implementation: (millis: number, picture: unknown, timezone: unknown) => unknown }).implementation

/** The error codes of an evaluation that went past a limit (see EngineLimits). */
export const LIMIT_CODES: ReadonlySet<string> = new Set(['D1011', 'D1012', 'D2015'])
