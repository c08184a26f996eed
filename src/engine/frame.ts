import { getHeapStatistics } from 'node:v8'
import { isBigCall } from './costs.js'
import type { JBase, JFrame } from './sync-jsonata.js'

/**
 * A scope of variables, as jsonata's frames are: `bind`, `lookup` up the
 * chain, and the fields jsonata's evaluator reads from a frame. A class, so
 * that making one (every block, every call of a function) allocates one
 * object rather than jsonata's four; jsonata's own frames and these chain
 * into each other freely.
 */
export class Frame implements JFrame {
  /**
   * The scope's variables, made at its first binding (most scopes of a small
   * evaluation bind nothing). A Map: an object without a prototype (as
   * jsonata's) is a slow dictionary from its first key.
   */
  bindings: Map<string | symbol, unknown> | undefined = undefined
  async: boolean
  isParallelCall: boolean
  global: unknown
  base!: JFrame & JBase;
  [key: string]: unknown

  constructor(readonly parent: JFrame | null) {
    this.async = parent === null ? false : parent.async === true
    this.isParallelCall = parent === null ? false : parent.isParallelCall === true
    this.global = parent === null ? { ancestry: [null] } : parent.global
    if (parent !== null) this.base = parent.base
  }

  /** The evaluation's clock as a Date (jsonata's $toMillis reads it): made when first asked for. */
  get timestamp(): Date | null {
    const base = this.base as { clock?(): Date } | undefined
    return base?.clock === undefined ? null : base.clock()
  }

  bind(name: string, value: unknown): void {
    ;(this.bindings ??= new Map()).set(name, value)
  }

  /** The value this scope itself binds to a name, or NOT_BOUND. */
  own(name: string | symbol): unknown {
    const bindings = this.bindings
    if (bindings === undefined) return NOT_BOUND
    const value = bindings.get(name)
    return value !== undefined || bindings.has(name) ? value : NOT_BOUND
  }

  lookup(name: string | symbol): unknown {
    let frame: JFrame | null = this
    while (frame instanceof Frame) {
      const value = frame.own(name)
      if (value !== NOT_BOUND) return value
      frame = frame.parent
    }
    return frame === null ? undefined : frame.lookup(name)
  }
}

/** What Frame.own answers for a name the scope does not bind. */
export const NOT_BOUND: unique symbol = Symbol('not bound')

/**
 * Thrown through an evaluation that has run on the main thread for longer
 * than it may: the evaluation starts again on an evaluation thread (pool.ts).
 */
export const OFFLOAD: { readonly offload: true } = { offload: true } // not frozen: jsonata's handlers add a position and token to what passes them

/** The bounds of one evaluation (see EngineLimits). */
export interface FrameLimits {
  readonly maxDepth: number
  readonly maxItems: number
  readonly maxStringLength: number
  readonly maxMemoryBytes: number
}

/** An error for a limit the evaluation went past: `code` names the limit. */
export function limitError(code: 'timeout' | 'depth' | 'items' | 'string_length' | 'memory', value: number, message: string): { code: string; value: number; message: string } {
  return { code, value, message }
}

/**
 * What jsonata sets on the frame of one evaluation (its clock, depth and
 * options), and the engine's own bounds: how deep function calls nest, and
 * how much every call may build (items, string length, and all it built,
 * roughly in bytes).
 */
export class EvaluationFrame extends Frame implements JBase {
  depth = 0
  calls = 0
  /** The heap's size when it was first checked (at the 64th tick): an evaluation that ends sooner never reads it. */
  private heapAtStart = -1
  private ticks = 0
  readonly RegexEngine: unknown
  readonly options: { timeout?: number; stack?: number; sequence?: number; maxStringLength?: number }
  readonly createSequence: (...items: unknown[]) => unknown[]
  /** When the evaluation must end (D1012, the timeout), in ms; Infinity for never. */
  private readonly deadline: number

  constructor(
    parent: JFrame,
    options: { timeout?: number; stack?: number; sequence?: number; maxStringLength?: number },
    createSequence: (...items: unknown[]) => unknown[],
    regexEngine: unknown,
    /** The evaluation's clock ($now, $millis), in ms since the epoch. */
    readonly time: number,
    readonly limits: FrameLimits,
    /** When the evaluation must end (D1012), in ms; Infinity for never. */
    deadline: number,
    /** When it gives way to an evaluation thread (OFFLOAD), in ms; Infinity for never. */
    yieldAt: number,
  ) {
    super(parent)
    this.base = this as unknown as JFrame & JBase
    this.options = options
    this.createSequence = createSequence
    this.RegexEngine = regexEngine
    this.deadline = deadline
    this.yieldAt = yieldAt
  }

  private date: Date | undefined
  /** `$` (the evaluation's input) and the caller's variables, read where they are rather than copied into a Map. */
  private input: unknown = undefined
  private callerBindings: Readonly<Record<string, unknown>> | undefined = undefined

  /** Binds `$` and the caller's variables (`{data: ...}` binds `$data`); what the evaluation binds itself comes first. */
  bindEvaluation(input: unknown, bindings: Readonly<Record<string, unknown>> | undefined): void {
    this.input = input
    this.callerBindings = bindings
  }

  override own(name: string | symbol): unknown {
    const value = super.own(name)
    if (value !== NOT_BOUND) return value
    if (name === '$') return this.input
    const caller = this.callerBindings
    return caller !== undefined && typeof name === 'string' && Object.prototype.hasOwnProperty.call(caller, name) ? caller[name] : NOT_BOUND
  }

  clock(): Date {
    return (this.date ??= new Date(this.time))
  }

  /** Past this time (ms), the evaluation gives way (OFFLOAD): it is finished on an evaluation thread. */
  private readonly yieldAt: number

  /**
   * jsonata's guardrails, called at every node: past `stack` levels of
   * evaluation, D1011; past `timeout` ms, D1012. The clock and the heap are
   * read at every 64th call only: reading them cost more than a small node.
   */
  guardrails(): void {
    const stack = this.options.stack
    if (stack !== undefined && stack > 0 && this.depth > stack) throw { code: 'D1011', value: stack, stack: new Error().stack }
    if ((++this.ticks & 63) === 0) this.check()
  }

  /**
   * A step of a loop of the compiled nodes, or a call: the clock and the
   * heap are read every 64th time.
   */
  tick(): void {
    if ((++this.ticks & 63) === 0) this.check()
  }

  private check(): void {
    const now = Date.now()
    if (now > this.yieldAt) throw OFFLOAD
    if (now > this.deadline) throw { code: 'D1012', value: this.options.timeout, stack: new Error().stack }
    this.checkMemory()
  }

  /**
   * A function is called: one level deeper. On the main thread, a call of a
   * built-in too big to start there gives way first (see costs.ts).
   */
  enterCall(proc?: unknown, args?: readonly unknown[]): void {
    if ((++this.ticks & 63) === 0) this.check()
    if (this.yieldAt !== Infinity && args !== undefined && isBigCall(proc, args)) throw OFFLOAD
    if (++this.calls > this.limits.maxDepth) {
      this.calls--
      throw limitError('depth', this.limits.maxDepth, `function calls nest deeper than ${this.limits.maxDepth} (limits.max_depth)`)
    }
  }

  /** What a call returns: what a built-in function built is held to the size limits. */
  leaveCall(result: unknown, proc: unknown): unknown {
    if (proc !== null && typeof proc === 'object' && (proc as { _jsonata_function?: unknown })._jsonata_function === true) return this.built(result)
    return result
  }

  /** Checks the size of a value an operation built. */
  built(value: unknown): unknown {
    if (typeof value === 'string') {
      if (value.length > this.limits.maxStringLength) throw stringTooLong(value.length, this.limits.maxStringLength)
      if (value.length >= BIG) this.checkMemory()
    } else if (Array.isArray(value)) {
      if (value.length > this.limits.maxItems) throw limitError('items', this.limits.maxItems, `a list of ${value.length} items, more than ${this.limits.maxItems} (limits.max_items)`)
      if (value.length >= BIG) this.checkMemory()
    }
    return value
  }

  /**
   * How much the heap has grown since it was first read: past
   * maxMemoryBytes the evaluation fails, before the process runs out. Read
   * every 64th tick and after every big value; first read then too, not when
   * the evaluation begins (reading costs more than most evaluations), so
   * what the first 64 ticks built goes uncounted: small values only.
   */
  checkMemory(): void {
    const used = getHeapStatistics().used_heap_size
    if (this.heapAtStart < 0) this.heapAtStart = used
    else if (used - this.heapAtStart > this.limits.maxMemoryBytes) {
      throw limitError('memory', this.limits.maxMemoryBytes, `the evaluation grew the heap by more than ${Math.round(this.limits.maxMemoryBytes / 2 ** 20)} MiB`)
    }
  }
}

/**
 * A value this long (characters or items) has the heap checked at once,
 * rather than at the next 64th tick: a few such values between two ticks
 * could otherwise grow it by gigabytes unseen.
 */
const BIG = 65_536

export function stringTooLong(length: number, max: number): { code: string; value: number; message: string } {
  return limitError('string_length', max, `a string of ${length} characters, longer than ${max} (limits.max_string_length)`)
}
