/**
 * Built-in functions of the synchronous jsonata replaced by the engine's own,
 * with the same signature, results and errors, where jsonata's would not do
 * synchronously:
 *
 * - `$sort` (and the order-by operator `^(...)`, which uses it): jsonata's
 *   merge sort merges by recursion, one call per item, and copies the rest of
 *   the list at every step. Awaited, the recursion never filled the stack;
 *   synchronous, 20,000 items overflow it, and the copies make 40,000
 *   numbers cost seconds. This one splits the list the same way and merges
 *   with a loop: the same comparisons in the same order (so a comparator that
 *   is not a proper order still gives jsonata's result), in O(n log n).
 * - `$distinct`: jsonata compares every item with every item kept so far,
 *   deeply: 20,000 objects took 8 s. This one files each item under a key
 *   that two items share exactly when jsonata finds them equal, and keeps
 *   the first of each, in order: O(n).
 * - `$pad` and `$join`: jsonata's, after a check that what they would build
 *   is within `limits.max_string_length`. Every built-in's result is held to
 *   the limits after the call (EvaluationFrame.leaveCall); these two can
 *   build a string far larger than their arguments, so they are stopped
 *   before (`$pad("", 150000000)` exhausted the heap of the whole process).
 * - `$length`, `$substring` and `$pad`: jsonata counts characters by code
 *   point by making an array of every character of the string (30–60 ms for a
 *   million characters, on the main thread, in one call that nothing can
 *   interrupt). These count without it, and where the string has no
 *   surrogate (so code points are UTF-16 units) slice it natively: the same
 *   results, a millisecond per million characters. A string with surrogates
 *   goes through jsonata's own code.
 */
import { markCheap } from './costs.js'
import { limitError, stringTooLong } from './frame.js'
import { isArrayOfNumbers, isArrayOfStrings } from './runtime.js'
import { internals } from './sync-jsonata.js'

type Comparator = (a: unknown, b: unknown) => unknown

/** What jsonata passes a built-in as `this`. */
interface Focus {
  readonly options?: { readonly maxStringLength?: number; readonly sequence?: number }
  readonly environment?: { readonly base?: unknown }
}

/** The evaluation's clock, read every so many steps (EvaluationFrame.tick), from a built-in's focus. */
function clockOf(focus: Focus): () => void {
  const base = (focus as Focus | undefined)?.environment?.base as { tick?(): void } | undefined
  return base?.tick === undefined ? () => {} : () => base.tick!()
}

function sort(this: Focus, arr: unknown, comparator: unknown): unknown {
  if (arr === undefined) return undefined
  const list = arr as unknown[]
  if (list.length <= 1) return list
  let comp: Comparator
  if (comparator === undefined) {
    // The default order only works on numbers, or on strings.
    if (!isArrayOfNumbers(list) && !isArrayOfStrings(list)) throw { stack: new Error().stack, code: 'D3070', index: 1 }
    comp = (a, b) => (a as number) > (b as number)
  } else {
    comp = comparator as Comparator
  }
  return mergeSort(list, comp, clockOf(this))
}

function mergeSort(array: unknown[], comp: Comparator, tick: () => void): unknown[] {
  if (!Array.isArray(array) || array.length <= 1) return array
  const middle = Math.floor(array.length / 2)
  const left = mergeSort(array.slice(0, middle), comp, tick)
  const right = mergeSort(array.slice(middle), comp, tick)
  const merged: unknown[] = []
  let l = 0
  let r = 0
  while (l < left.length && r < right.length) {
    tick()
    // The comparator says whether the left item goes after the right one.
    if (comp(left[l], right[r])) merged.push(right[r++])
    else merged.push(left[l++])
  }
  while (l < left.length) merged.push(left[l++])
  while (r < right.length) merged.push(right[r++])
  return merged
}



const jsonataPad = internals.fn['pad'] as unknown as (this: Focus, str: unknown, width: unknown, char: unknown) => unknown
const jsonataJoin = internals.fn['join'] as unknown as (this: Focus, strs: unknown, separator: unknown) => unknown

function pad(this: Focus, str: unknown, width: unknown, char: unknown): unknown {
  if (typeof str !== 'string' || typeof width !== 'number') return jsonataPad.call(this, str, width, char)
  const unit = typeof char === 'string' && char.length > 0 ? char : ' '
  const trunc = Math.trunc(width)
  const target = Math.abs(trunc)
  const max = this.options?.maxStringLength
  // jsonata builds the padding whole before it cuts it to length.
  if (max !== undefined && (target > max || (target - str.length) * unit.length > max)) throw stringTooLong(Math.max(target, (target - str.length) * unit.length), max)
  // jsonata's steps, with its own length and substring made fast (see above).
  const padLength = target - codePoints(str)
  if (!(padLength > 0)) return str
  // Past this, jsonata's own code fails as jsonata fails (an array too long).
  if (padLength > MAX_NATIVE_PAD) return jsonataPad.call(this, str, width, char)
  let padding = unit.repeat(padLength)
  if (unit.length > 1) padding = substring(padding, 0, padLength) as string
  return trunc > 0 ? str + padding : padding + str
}

/** Well under V8's longest string: a padding this long is built natively. */
const MAX_NATIVE_PAD = 1 << 28

const SURROGATE = /[\uD800-\uDFFF]/

/** Code points, as jsonata counts them (`for...of`): a high surrogate followed by a low one is one; a lone surrogate is one. */
function codePoints(str: string): number {
  if (!SURROGATE.test(str)) return str.length
  let count = 0
  for (let i = 0; i < str.length; i++, count++) {
    const c = str.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < str.length) {
      const d = str.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) i++
    }
  }
  return count
}

const jsonataLength = internals.fn['length'] as unknown as (str: unknown) => unknown
const jsonataSubstring = internals.fn['substring'] as unknown as (str: unknown, start: unknown, length: unknown) => unknown

function length(str: unknown): unknown {
  return typeof str === 'string' ? codePoints(str) : jsonataLength(str)
}

/**
 * jsonata's `$substring`: with no surrogate in the string, code points are
 * UTF-16 units, and String's slice treats start and end exactly as Array's
 * slice of the characters does.
 */
function substring(str: unknown, start: unknown, length: unknown): unknown {
  if (typeof str !== 'string' || typeof start !== 'number' || SURROGATE.test(str)) return jsonataSubstring(str, start, length)
  let from = start
  if (str.length + from < 0) from = 0
  if (typeof length !== 'undefined') {
    if ((length as number) <= 0) return ''
    const end = from >= 0 ? from + (length as number) : str.length + from + (length as number)
    return str.slice(from, end)
  }
  return str.slice(from)
}

function join(this: Focus, strs: unknown, separator: unknown): unknown {
  const max = this.options?.maxStringLength
  if (max !== undefined && Array.isArray(strs)) {
    let length = typeof separator === 'string' ? separator.length * Math.max(0, strs.length - 1) : Math.max(0, strs.length - 1) * 0
    for (const s of strs) length += typeof s === 'string' ? s.length : 0
    if (length > max) throw stringTooLong(length, max)
  }
  return jsonataJoin.call(this, strs, separator)
}

const jsonataSplit = internals.fn['split'] as unknown as (this: Focus, str: unknown, separator: unknown, limit: unknown) => unknown

/**
 * `$split` by a string, counted before it is made: a short string of commas
 * splits into millions of items (the limit on the result would only see
 * them built).
 */
function split(this: Focus, str: unknown, separator: unknown, limit: unknown): unknown {
  const max = this.options?.sequence
  if (max !== undefined && typeof str === 'string' && typeof separator === 'string' && (typeof limit !== 'number' || limit > max)) {
    let parts = 1
    if (separator === '') parts = str.length
    else for (let at = str.indexOf(separator); at !== -1 && parts <= max; at = str.indexOf(separator, at + separator.length)) parts++
    if (parts > max) throw limitError('items', max, `a list of more than ${max} items (limits.max_items)`)
  }
  return jsonataSplit.call(this, str, separator, limit)
}

const jsonataDistinct = internals.fn['distinct'] as unknown as (this: unknown, arr: unknown) => unknown

function distinct(this: Focus & { createSequence(): unknown[] }, arr: unknown): unknown {
  if (arr === undefined) return undefined
  if (!Array.isArray(arr) || arr.length <= 1) return arr
  const tick = clockOf(this)
  const firsts: unknown[] = []
  const seen = new Set<string>()
  for (let i = 0; i < arr.length; i++) {
    tick()
    const key = equalityKey(arr[i], i)
    // Something the key cannot stand for: jsonata's own way, item by item.
    if (key === undefined) return jsonataDistinct.call(this, arr)
    const before = seen.size
    if (seen.add(key).size !== before) firsts.push(arr[i])
  }
  if ((arr as { sequence?: boolean }).sequence !== true) return firsts
  const results = this.createSequence()
  for (const item of firsts) results.push(item)
  return results
}

/**
 * A key that two values share exactly when jsonata's deep equality holds
 * between them: the same scalar (0 and -0 alike; NaN never), lists equal item
 * by item, objects with the same own names and values whatever their order.
 * Undefined for what it cannot decide: functions, and objects with a
 * `length`, which that equality may find equal to a list.
 */
function equalityKey(value: unknown, index: number): string | undefined {
  switch (typeof value) {
    case 'string':
      return `s${JSON.stringify(value)}`
    case 'number':
      return Number.isNaN(value) ? `nan${index}` : `n${value === 0 ? 0 : value}`
    case 'boolean':
      return value ? 't' : 'f'
    case 'undefined':
      return 'u'
    case 'object': {
      if (value === null) return 'z'
      if (Array.isArray(value)) {
        let key = '['
        for (let i = 0; i < value.length; i++) {
          const k = equalityKey(value[i], index)
          if (k === undefined) return undefined
          key += k + ','
        }
        return key + ']'
      }
      const proto = Object.getPrototypeOf(value) as unknown
      if (proto !== Object.prototype && proto !== null) return undefined
      // Sorted only when they are not already: items of one shape usually
      // come with their names in one order, often this one.
      const names = Object.getOwnPropertyNames(value)
      for (let i = 1; i < names.length; i++) {
        if (names[i - 1]! > names[i]!) {
          names.sort()
          break
        }
      }
      let key = '{'
      for (let i = 0; i < names.length; i++) {
        const name = names[i]!
        if (name === 'length' || name === '_jsonata_lambda' || name === '_jsonata_function') return undefined
        const k = equalityKey((value as Record<string, unknown>)[name], index)
        if (k === undefined) return undefined
        key += JSON.stringify(name) + ':' + k + ','
      }
      return key + '}'
    }
    default:
      return undefined
  }
}

let installed = false

/** Puts the engine's functions in the place of jsonata's, once. */
export function installFunctions(): void {
  if (installed) return
  installed = true
  internals.fn['sort'] = sort as never
  internals.staticFrame.bind('sort', internals.defineFunction(sort as never, '<af?:a>'))
  internals.staticFrame.bind('pad', internals.defineFunction(pad as never, '<s-ns?:s>'))
  internals.fn['length'] = length as never
  internals.staticFrame.bind('length', internals.defineFunction(length as never, '<s-:n>'))
  internals.fn['substring'] = substring as never
  internals.staticFrame.bind('substring', internals.defineFunction(substring as never, '<s-nn?:s>'))
  internals.staticFrame.bind('distinct', internals.defineFunction(distinct as never, '<x:x>'))
  internals.staticFrame.bind('join', internals.defineFunction(join as never, '<a<s>s?:s>'))
  internals.staticFrame.bind('split', internals.defineFunction(split as never, '<s-(sf)n?:a<s>>'))
  // About as fast at any size the limits allow: never too big for the main thread (costs.ts).
  for (const name of CHEAP) markCheap((internals.staticFrame.lookup(name) as { implementation: unknown }).implementation)
}

const CHEAP = [
  'sum', 'count', 'max', 'min', 'average', 'substring', 'substringBefore', 'substringAfter', 'lowercase', 'uppercase', 'length', 'trim',
  'pad', 'join', 'number', 'floor', 'ceil', 'round', 'abs', 'sqrt', 'power', 'random', 'boolean', 'not', 'lookup', 'exists', 'type', 'append', 'reverse',
  'encodeUrlComponent', 'encodeUrl', 'decodeUrlComponent', 'decodeUrl',
]
