/**
 * The expression engine: JSONata, as jsonata 2.2.2 evaluates it.
 *
 * Every expression of a steps file (transform, params, query, output) is
 * compiled here once, at load, and evaluated per request: jsonata's own
 * parse tree, made synchronous (sync-jsonata.ts), its nodes compiled into
 * closures (compile.ts) within the step's limits (frame.ts), on the main
 * thread for at most INLINE_MS and a budget per turn (turns.ts), else on an
 * evaluation thread (pool.ts). This module is what the conformance suite and
 * the differential test run against (test/unit/jsonata-suite.test.ts,
 * test/unit/engine-differential.test.ts).
 */
import { compileTree } from './compile.js'
import { EvaluationFrame, Frame, limitError, OFFLOAD, type FrameLimits } from './frame.js'
import { EvaluatorPool } from './pool.js'
import { NotData } from './values.js'
import { installFunctions } from './functions.js'
import { LinearRegExp, patternProblem } from './regex.js'
import { sequenceFactory } from './runtime.js'
import { charge, nextTurn, overBudget } from './turns.js'
import { internals, syncJsonata } from './sync-jsonata.js'

/** The bounds on one evaluation; 0 is none. A step's `limits` (see the steps-file format). */
export interface EngineLimits {
  /** Wall time of one evaluation, in ms. */
  readonly timeoutMs: number
  /** Deepest nesting of function calls (a lambda or built-in called inside another call). */
  readonly maxDepth: number
  /** Largest sequence or list an operation may build. */
  readonly maxItems: number
  /** Longest string an operation may build, in UTF-16 units. */
  readonly maxStringLength: number
  /**
   * jsonata's own depth limit (its `stack` option): nodes of evaluation, not
   * calls. Only the conformance suite uses it, as its reference runner does.
   */
  readonly maxEvaluationDepth?: number
  /** How much one evaluation may grow the heap (default MAX_EVALUATION_HEAP_BYTES). */
  readonly maxMemoryBytes?: number
}

export const NO_LIMITS: EngineLimits = { timeoutMs: 0, maxDepth: 0, maxItems: 0, maxStringLength: 0 }

/**
 * How much one evaluation may grow the heap before it fails with `memory`,
 * rather than the process running out: well under Node's own heap limit.
 */
export const MAX_EVALUATION_HEAP_BYTES = 512 * 1024 * 1024

/** The codes of the errors an evaluation raises past a limit: `details.code` of a step's failure. */
export const LIMIT_CODES: ReadonlySet<string> = new Set(['timeout', 'depth', 'items', 'string_length', 'memory'])

export interface Expression {
  /** The expression's text. */
  readonly source: string
  /**
   * Evaluates over an input, with variables bound (`{x: 1}` binds `$x`), on
   * this thread, within the limits. Throws a JSONata error (`code`,
   * `position`, `token`, `message`), or a limit's.
   */
  evaluate(input: unknown, bindings?: Readonly<Record<string, unknown>>, clock?: Clock): unknown
  /**
   * The same, isolated: on this thread for at most INLINE_MS, then, when it
   * needs longer, on an evaluation thread (see pool.ts) so that it holds up
   * no other request. What the server calls. With `asText`, a result made
   * on a thread comes back as the JsonText it crossed as, unparsed, for a
   * caller that only serializes it.
   */
  evaluateIsolated(input: unknown, bindings?: Readonly<Record<string, unknown>>, options?: { readonly asText?: boolean }): Promise<unknown>
  /** JSONata's parse tree. */
  ast(): unknown
}

/** When an evaluation runs: its clock ($now), its deadline, when it gives way to a thread. */
export interface Clock {
  readonly timestamp?: number | undefined
  readonly deadline?: number | undefined
  readonly yieldAt?: number | undefined
}

/** How long an evaluation may run on the main thread before it moves to an evaluation thread. */
export const INLINE_MS = 10

/** For how long after an evaluation of an expression moved to a thread the next ones start there. */
export const STRAIGHT_TO_THREAD_MS = 1000

let pool: EvaluatorPool | undefined
/** The evaluation threads, made when first needed. */
export function evaluatorPool(): EvaluatorPool {
  return (pool ??= new EvaluatorPool())
}

/** Ends the evaluation threads: for a process that is stopping. */
export async function closeEvaluatorPool(): Promise<void> {
  await pool?.close()
  pool = undefined
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
    ...(limits.maxEvaluationDepth !== undefined && limits.maxEvaluationDepth > 0 ? { stack: limits.maxEvaluationDepth } : {}),
    ...(limits.maxItems > 0 ? { sequence: limits.maxItems } : {}),
    ...(limits.maxStringLength > 0 ? { maxStringLength: limits.maxStringLength } : {}),
  }
  const frameLimits: FrameLimits = {
    maxDepth: limits.maxDepth > 0 ? limits.maxDepth : Infinity,
    maxItems: limits.maxItems > 0 ? limits.maxItems : Infinity,
    maxStringLength: limits.maxStringLength > 0 ? limits.maxStringLength : Infinity,
    maxMemoryBytes: limits.maxMemoryBytes ?? MAX_EVALUATION_HEAP_BYTES,
  }
  const parsed = syncJsonata(source, options)
  const ast = parsed.ast()
  checkPatterns(ast)
  const createSequence = sequenceFactory(limits.maxItems)
  // The frame of the expression, as jsonata makes it: $now and $millis read
  // the clock of the evaluation that calls them.
  let time = 0
  const environment = new Frame(internals.staticFrame)
  environment.bind('now', internals.defineFunction(((picture: unknown, timezone: unknown) => fromMillis(time, picture, timezone)) as never, '<s?s?:s>'))
  environment.bind('millis', internals.defineFunction((() => time) as never, '<:n>'))
  // The nodes the compiler takes evaluate through closures from now on; jsonata evaluates the rest.
  compileTree(ast, { countDepth: options.stack !== undefined, resolve: (name) => environment.lookup(name) })
  const compiledRoot = (ast as { __compiled?: (input: unknown, env: unknown) => unknown }).__compiled
  /** When an evaluation of this expression last gave way to a thread (ms). */
  let offloadedAt = -Infinity
  const expression: Expression = {
    source,
    // What jsonata's own evaluate does, with the engine's frames.
    evaluate(input, bindings, clock) {
      const now = Date.now()
      time = clock?.timestamp ?? now
      const frame = new EvaluationFrame(environment, options, createSequence as never, LinearRegExp, time, frameLimits, clock?.deadline ?? (limits.timeoutMs > 0 ? now + limits.timeoutMs : Infinity), clock?.yieldAt ?? Infinity)
      frame.bindEvaluation(input, bindings)
      // An array input is one value: wrapped, so that paths do not map over it.
      let root = input
      if (Array.isArray(input) && !(input as { sequence?: boolean }).sequence) {
        const wrapped = createSequence(input)
        wrapped.outerWrapper = true
        root = wrapped
      }
      try {
        return compiledRoot === undefined ? internals.evaluate(ast, root, frame) : compiledRoot(root, frame)
      } catch (err) {
        if (isOffload(err)) throw OFFLOAD
        throw asLimitError(err, limits) ?? (internals.populateMessage(err), err)
      }
    },
    async evaluateIsolated(input, bindings, options) {
      const requested = Date.now()
      const deadline = limits.timeoutMs > 0 ? requested + limits.timeoutMs : undefined
      // Waiting for a turn with budget left (see turns.ts) counts against the
      // timeout, as waiting for a thread does.
      let started = requested
      if (overBudget()) {
        await nextTurn()
        started = Date.now()
      }
      // An expression that needed a thread a moment ago goes straight to one:
      // ten such requests at once would otherwise each take their INLINE_MS of
      // the main thread first.
      if (started - offloadedAt > STRAIGHT_TO_THREAD_MS) {
        const startedPrecisely = performance.now()
        try {
          return expression.evaluate(input, bindings, { timestamp: requested, deadline, yieldAt: started + INLINE_MS })
        } catch (err) {
          if (err !== OFFLOAD) throw err
          offloadedAt = Date.now()
        } finally {
          charge(performance.now() - startedPrecisely)
        }
      }
      const outcome = await evaluatorPool().run({ source, limits, input, bindings, timestamp: requested, deadline: deadline ?? requested + 3_600_000 })
      if (outcome.ok) return options?.asText === true || outcome.result === undefined ? outcome.result : outcome.result.toJSON()
      if ('notData' in outcome) return new NotData(outcome.notData)
      throw outcome.error
    },
    ast: () => ast,
  }
  return expression
}

/** OFFLOAD, as it may come back through jsonata's handlers ($eval wraps what it catches). */
function isOffload(err: unknown): boolean {
  return err === OFFLOAD || (typeof err === 'object' && err !== null && (err as { error?: unknown }).error === OFFLOAD)
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

/** jsonata's own limit errors, and the JavaScript engine's, as the engine's limit errors. */
function asLimitError(err: unknown, limits: EngineLimits): unknown {
  const e = err as { code?: unknown; message?: unknown; error?: unknown }
  // $eval wraps whatever its expression threw (D3121): a limit it reached is
  // still the step's limit, and answers as one.
  if (e.code === 'D3121' && typeof e.error === 'object' && e.error !== null) {
    const inner = e.error as { code?: unknown }
    if (typeof inner.code === 'string' && LIMIT_CODES.has(inner.code)) return inner
    const limit = asLimitError(inner, limits)
    if (limit !== undefined) return limit
  }
  if (e.code === 'D1011') return limitError('depth', limits.maxEvaluationDepth ?? 0, `the evaluation nested deeper than ${limits.maxEvaluationDepth} levels`)
  if (e.code === 'D1012') return limitError('timeout', limits.timeoutMs, `the evaluation took longer than ${limits.timeoutMs} ms (limits.timeout_ms)`)
  if (e.code === 'D2015') return limitError('items', limits.maxItems, `a list of more than ${limits.maxItems} items (limits.max_items)`)
  if (err instanceof RangeError) {
    if (/call stack/i.test(err.message)) return limitError('depth', limits.maxDepth, 'the evaluation nested deeper than the stack allows (limits.max_depth)')
    if (/string length/i.test(err.message)) return limitError('string_length', limits.maxStringLength, 'a string longer than JavaScript allows (limits.max_string_length)')
    if (/array length/i.test(err.message)) return limitError('items', limits.maxItems, 'a list longer than JavaScript allows (limits.max_items)')
  }
  return undefined
}
