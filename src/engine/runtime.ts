/**
 * The values and environment a compiled expression works with, as JSONata
 * defines them. Sequences are arrays marked `sequence`; they carry the flags
 * JSONata's evaluator reads (`keepSingleton`, `outerWrapper`, `tupleStream`,
 * `cons`). Every helper here does what jsonata 2.2.2's helper of the same name
 * does (src/utils.js, src/jsonata.js), because results and errors must be
 * identical to it.
 */

/** A JSONata sequence: an array of results, with the flags the evaluator sets. */
export interface Sequence extends Array<unknown> {
  sequence?: boolean
  keepSingleton?: boolean
  outerWrapper?: boolean
  tupleStream?: boolean
  cons?: boolean
}

/** A JSONata error, as jsonata-js throws it: a plain object. */
export interface EngineError {
  code: string
  position?: number
  token?: string
  value?: unknown
  value2?: unknown
  message?: string
  stack?: string
}

export function fail(code: string, fields: Omit<EngineError, 'code'> = {}): never {
  throw { code, ...fields } satisfies EngineError
}

/** Per evaluation: the clock, the limits and the sequence factory. */
export interface Base {
  readonly createSequence: (...items: unknown[]) => Sequence
  /** Depth of nested evaluations, as jsonata counts it (its `stack` option). */
  depth: number
  readonly guard: () => void
  readonly timestamp: Date
}

/** A scope of variables: JSONata's frame. */
export class Frame {
  readonly bindings: Record<string, unknown> = Object.create(null) as Record<string, unknown>
  constructor(
    readonly parent: Frame | null,
    readonly base: Base,
  ) {}

  bind(name: string, value: unknown): void {
    this.bindings[name] = value
  }

  lookup(name: string): unknown {
    for (let frame: Frame | null = this; frame !== null; frame = frame.parent) {
      if (name in frame.bindings) return frame.bindings[name]
    }
    return undefined
  }
}

export function isNumeric(n: unknown): n is number {
  if (typeof n !== 'number') return false
  if (Number.isNaN(n)) return false
  if (!Number.isFinite(n)) fail('D1001', { value: n })
  return true
}

export function isArrayOfStrings(arg: unknown): arg is string[] {
  return Array.isArray(arg) && arg.every((item) => typeof item === 'string')
}

export function isArrayOfNumbers(arg: unknown): arg is number[] {
  // Every item is checked, as jsonata's filter does: a non-finite number throws.
  return Array.isArray(arg) && arg.filter((item) => !isNumeric(item)).length === 0
}

export function isSequence(value: unknown): value is Sequence {
  return Array.isArray(value) && (value as Sequence).sequence === true
}

export interface JsonataFunction {
  _jsonata_function: true
  implementation: (...args: unknown[]) => unknown
  signature?: Signature
  token?: string
  position?: number
}

/** A parsed JSONata signature (jsonata's own parser makes them). */
export interface Signature {
  validate(args: unknown[], context: unknown): unknown[]
  definition?: string
}

export interface Lambda {
  _jsonata_lambda: true
  input: unknown
  environment: Frame
  arguments: { value: string }[]
  signature?: Signature
  /** The body's parse tree: a native function for a partially applied built-in. */
  body: unknown
  thunk?: boolean
  token?: string
  position?: number
  apply: (self: unknown, args: unknown[]) => unknown
}

export function isFunction(arg: unknown): boolean {
  const a = arg as { _jsonata_function?: unknown; _jsonata_lambda?: unknown } | null | undefined
  return (a !== null && a !== undefined && typeof a === 'object' && (a._jsonata_function === true || a._jsonata_lambda === true)) || typeof arg === 'function'
}

export function isLambda(arg: unknown): arg is Lambda {
  return typeof arg === 'object' && arg !== null && (arg as { _jsonata_lambda?: unknown })._jsonata_lambda === true
}

export function getFunctionArity(func: { arity?: unknown; implementation?: unknown; length?: unknown; arguments?: unknown[] }): number {
  if (typeof func.arity === 'number') return func.arity
  if (typeof func.implementation === 'function') return func.implementation.length
  if (typeof func.length === 'number') return func.length
  return (func.arguments as unknown[]).length
}

export function isDeepEqual(lhs: unknown, rhs: unknown): boolean {
  if (lhs === rhs) return true
  if (typeof lhs === 'object' && typeof rhs === 'object' && lhs !== null && rhs !== null) {
    if (Array.isArray(lhs) && Array.isArray(rhs)) {
      if (lhs.length !== rhs.length) return false
      for (let i = 0; i < lhs.length; i++) if (!isDeepEqual(lhs[i], rhs[i])) return false
      return true
    }
    const lkeys = Object.getOwnPropertyNames(lhs).sort()
    const rkeys = Object.getOwnPropertyNames(rhs).sort()
    if (lkeys.length !== rkeys.length) return false
    for (let i = 0; i < lkeys.length; i++) if (lkeys[i] !== rkeys[i]) return false
    for (const key of lkeys) if (!isDeepEqual((lhs as Record<string, unknown>)[key], (rhs as Record<string, unknown>)[key])) return false
    return true
  }
  return false
}

export function flatten(arg: unknown, flattened: unknown[] = []): unknown[] {
  if (Array.isArray(arg)) for (const item of arg) flatten(item, flattened)
  else flattened.push(arg)
  return flattened
}

/** Own enumerable keys, as jsonata's utils.keys (Object.keys). */
export function keys(value: object): string[] {
  return Object.keys(value)
}

/**
 * A sequence factory bound to the evaluation's item limit: past it, D2015
 * (as jsonata's `sequence` option does), checked on every push.
 */
export function sequenceFactory(maxItems: number): SequenceFactory {
  if (maxItems <= 0) {
    const createSequence = function createSequence(...items: unknown[]): Sequence {
      const sequence: Sequence = []
      sequence.sequence = true
      if (items.length === 1) sequence.push(items[0])
      return sequence
    } as SequenceFactory
    createSequence.adopt = (items) => {
      const sequence = items as Sequence
      sequence.sequence = true
      return sequence
    }
    return createSequence
  }
  // One push for every sequence of the expression, rather than a closure each.
  function push(this: Sequence, ...pushed: unknown[]): number {
    if (this.length + pushed.length > maxItems) fail('D2015', { value: maxItems })
    return Array.prototype.push.apply(this, pushed)
  }
  const createSequence = function createSequence(...items: unknown[]): Sequence {
    const sequence: Sequence = []
    sequence.push = push
    sequence.sequence = true
    if (items.length === 1) sequence.push(items[0])
    return sequence
  } as SequenceFactory
  createSequence.adopt = (items) => {
    const sequence = items as Sequence
    sequence.push = push
    sequence.sequence = true
    return sequence
  }
  return createSequence
}

/**
 * Makes the sequences of an expression's evaluations (jsonata's
 * createSequence), and turns a list built in one go into one (`adopt`).
 */
export interface SequenceFactory {
  (...items: unknown[]): Sequence
  adopt(items: unknown[]): Sequence
}
