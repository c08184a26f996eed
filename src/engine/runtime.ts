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
