/**
 * One linear pass over JSON text, before (or instead of) parsing it: syntax,
 * nesting depth, keys that poison prototypes, and where the top-level members
 * a caller asks for sit in the text.
 *
 * It exists so that refusing a hostile body costs little. V8's JSON.parse and
 * JSON.stringify are fast on ordinary data but not on every shape: a 1 MB body
 * of `[[[…]]]` nested 999 levels costs ~80 ms to parse and ~150 ms to
 * stringify (the stringifier's cycle check walks its whole stack for every
 * value), and nothing bounds the nesting of a body at all. The scan costs a
 * few ms per MB whatever the shape: strings are skipped with indexOf.
 */

export interface Span {
  readonly start: number
  /** Exclusive. */
  readonly end: number
}

export type JsonKind = 'object' | 'array' | 'string' | 'number' | 'literal'

export type ScanResult =
  | {
      readonly ok: true
      readonly top: JsonKind
      /** The value of each requested top-level member (the last one, as JSON.parse keeps), when the top is an object. */
      readonly members: ReadonlyMap<string, { readonly span: Span; readonly kind: JsonKind }>
      /** Offset of the first `__proto__` key, or `constructor` object with a `prototype` key; -1 when none. */
      readonly forbiddenAt: number
      /** The deepest nesting seen: `{}` is 1, `{"a":[]}` is 2, a scalar 0. */
      readonly depth: number
      /**
       * Whether the text is written the way JSON.stringify writes: no
       * whitespace between tokens and no escape that JSON.stringify would not
       * use (`\/`, `\u00e9`, ...). A body that is not was reformatted by
       * its sender after it was serialized.
       */
      readonly asStringified: boolean
    }
  | { readonly ok: false; readonly reason: 'syntax' | 'depth'; readonly offset: number; readonly message: string }

export interface ScanOptions {
  /** Deeper than this is refused (reason 'depth') as soon as it is seen. */
  readonly maxDepth: number
  /** Top-level member names whose value spans to report. */
  readonly members?: readonly string[]
}

const OBJECT = 1
const ARRAY = 2
const CONSTRUCTOR_OBJECT = 3 // an object that is the value of a "constructor" key

const enum C {
  tab = 9,
  lf = 10,
  cr = 13,
  space = 32,
  quote = 34,
  plus = 43,
  comma = 44,
  minus = 45,
  dot = 46,
  zero = 48,
  nine = 57,
  slash = 47,
  colon = 58,
  E = 69,
  open = 91,
  backslash = 92,
  close = 93,
  b = 98,
  e = 101,
  f = 102,
  n = 110,
  r = 114,
  t = 116,
  u = 117,
  openBrace = 123,
  closeBrace = 125,
  bom = 0xfeff,
}

// Control characters are never allowed raw in a JSON string; outside strings
// only tab, LF and CR are (as whitespace).
const CONTROL = /[\u0000-\u001f]/g

export function scanJson(text: string, options: ScanOptions): ScanResult {
  const { maxDepth } = options
  const wanted = options.members ?? []
  const members = new Map<string, { span: Span; kind: JsonKind }>()
  const stack = new Uint8Array(Math.min(maxDepth, text.length) + 2)
  const length = text.length
  const strings = newStringState()
  let depth = 0
  let deepest = 0
  let forbiddenAt = -1
  // A requested top-level member whose value is being scanned.
  let memberName: string | undefined
  let memberStart = 0
  // A "constructor" key was just read: an object that follows is its value.
  let pendingConstructor = false
  let kind: JsonKind = 'literal'
  let spaced = false
  // After '{' or an object's ',': a key and its colon come before the value.
  let expectKey = false
  let c = 0
  // Everything is inline and `i` is a plain local, never captured by a
  // closure: that is what keeps this at a few ns per token.
  let i = text.charCodeAt(0) === C.bom ? 1 : 0
  if ((c = text.charCodeAt(i)) <= C.space && isSpace(c)) {
    spaced = true
    i = skipSpace(text, i)
  }

  // Scan a value (after its key, in an object), then whatever may follow it in its container.
  value: for (;;) {
    c = text.charCodeAt(i)
    if (expectKey) {
      expectKey = false
      if (c !== C.quote) return unexpected(text, i, ': expected a "key"')
      const start = i
      const end = skipString(text, i, strings)
      if (end < 0) return stringFailure(text, i, strings)
      i = end
      if ((c = text.charCodeAt(i)) <= C.space && isSpace(c)) {
        spaced = true
        i = skipSpace(text, i)
        c = text.charCodeAt(i)
      }
      if (c !== C.colon) return unexpected(text, i, ": expected ':' after a key")
      i++
      if ((c = text.charCodeAt(i)) <= C.space && isSpace(c)) {
        spaced = true
        i = skipSpace(text, i)
      }
      // Every name that matters is at least 7 characters long.
      if (end - start >= 9) {
        const escaped = strings.escaped
        if (forbiddenAt < 0 && (keyIs(text, start, end, escaped, '__proto__') || (stack[depth] === CONSTRUCTOR_OBJECT && keyIs(text, start, end, escaped, 'prototype')))) forbiddenAt = start
        if (keyIs(text, start, end, escaped, 'constructor')) pendingConstructor = true
        if (depth === 1) {
          for (const name of wanted) {
            if (keyIs(text, start, end, escaped, name)) {
              memberName = name
              memberStart = i
              break
            }
          }
        }
      }
      c = text.charCodeAt(i)
    }
    if (c === C.quote) {
      const end = skipString(text, i, strings)
      if (end < 0) return stringFailure(text, i, strings)
      i = end
      kind = 'string'
    } else if (c === C.openBrace || c === C.open) {
      if (++depth > maxDepth) return { ok: false, reason: 'depth', offset: i, message: `nested deeper than ${maxDepth} levels ${where(text, i)}` }
      if (depth > deepest) deepest = depth
      const isObject = c === C.openBrace
      stack[depth] = isObject ? (pendingConstructor ? CONSTRUCTOR_OBJECT : OBJECT) : ARRAY
      pendingConstructor = false
      i++
      if ((c = text.charCodeAt(i)) <= C.space && isSpace(c)) {
        spaced = true
        i = skipSpace(text, i)
        c = text.charCodeAt(i)
      }
      if (c !== (isObject ? C.closeBrace : C.close)) {
        expectKey = isObject
        continue value
      }
      i++
      depth--
      kind = isObject ? 'object' : 'array'
    } else if (c === C.minus || (c >= C.zero && c <= C.nine)) {
      if (c === C.minus) c = text.charCodeAt(++i)
      if (c === C.zero) c = text.charCodeAt(++i)
      else if (c > C.zero && c <= C.nine) while ((c = text.charCodeAt(++i)) >= C.zero && c <= C.nine);
      else return invalidNumber(text, i)
      if (c === C.dot) {
        c = text.charCodeAt(++i)
        if (!(c >= C.zero && c <= C.nine)) return invalidNumber(text, i)
        while ((c = text.charCodeAt(++i)) >= C.zero && c <= C.nine);
      }
      if (c === C.e || c === C.E) {
        c = text.charCodeAt(++i)
        if (c === C.plus || c === C.minus) c = text.charCodeAt(++i)
        if (!(c >= C.zero && c <= C.nine)) return invalidNumber(text, i)
        while ((c = text.charCodeAt(++i)) >= C.zero && c <= C.nine);
      }
      kind = 'number'
    } else if ((c === C.t && text.startsWith('true', i)) || (c === C.n && text.startsWith('null', i))) {
      i += 4
      kind = 'literal'
    } else if (c === C.f && text.startsWith('false', i)) {
      i += 5
      kind = 'literal'
    } else {
      return unexpected(text, i)
    }
    pendingConstructor = false

    // After a complete value: close containers, or go on to the next item.
    for (;;) {
      if (depth === 1 && memberName !== undefined) {
        members.set(memberName, { span: { start: memberStart, end: i }, kind })
        memberName = undefined
      }
      if ((c = text.charCodeAt(i)) <= C.space && isSpace(c)) {
        spaced = true
        i = skipSpace(text, i)
        c = text.charCodeAt(i)
      }
      if (depth === 0) {
        if (i < length) return fail(text, i, `unexpected ${describeChar(c)} after the JSON value`)
        return { ok: true, top: kind, members, forbiddenAt, depth: deepest, asStringified: !spaced && !strings.reformatted }
      }
      const container = stack[depth]!
      if (c === C.comma) {
        i++
        if ((c = text.charCodeAt(i)) <= C.space && isSpace(c)) {
          spaced = true
          i = skipSpace(text, i)
        }
        expectKey = container !== ARRAY
        continue value
      }
      if (c === (container === ARRAY ? C.close : C.closeBrace)) {
        i++
        depth--
        kind = container === ARRAY ? 'array' : 'object'
        continue
      }
      return unexpected(text, i, `: expected ',' or '${container === ARRAY ? ']' : '}'}'`)
    }
  }
}

/**
 * Where the scan stands in the text's strings: the next quote, backslash and
 * control character, each searched again only once the scan has passed it,
 * so that strings are skipped at the speed of indexOf and every part of the
 * text is searched once.
 */
interface StringState {
  nextQuote: number
  nextBackslash: number
  nextControl: number
  /** Whether the last string had escapes. */
  escaped: boolean
  /** Whether any string so far had an escape that JSON.stringify does not write. */
  reformatted: boolean
  /** Where the last string went wrong (a control character or a bad escape), or -1. */
  badAt: number
}

function newStringState(): StringState {
  return { nextQuote: -2, nextBackslash: -2, nextControl: -2, escaped: false, reformatted: false, badAt: -1 }
}

/** From an opening quote at `i`: the offset after the closing quote, or -1. */
function skipString(text: string, i: number, s: StringState): number {
  s.escaped = false
  // Most strings (keys, short values) are short and plain: a loop over their
  // characters beats three searches. Longer ones, or any with an escape or a
  // control character, take the searches below. The cached positions stay
  // right: each is only ever the next one at or after where it was searched.
  const short = Math.min(i + 33, text.length)
  for (let k = i + 1; k < short; k++) {
    const c = text.charCodeAt(k)
    if (c === C.quote) return k + 1
    if (c === C.backslash || c < C.space) break
  }
  let j = i + 1
  for (;;) {
    if (s.nextQuote !== -1 && s.nextQuote < j) s.nextQuote = text.indexOf('"', j)
    const quote = s.nextQuote
    if (quote === -1) return -1
    if (s.nextBackslash !== -1 && s.nextBackslash < j) s.nextBackslash = text.indexOf('\\', j)
    const stop = s.nextBackslash !== -1 && s.nextBackslash < quote ? s.nextBackslash : quote
    if (s.nextControl !== -1 && s.nextControl < j) {
      CONTROL.lastIndex = j
      s.nextControl = CONTROL.exec(text)?.index ?? -1
    }
    if (s.nextControl !== -1 && s.nextControl < stop) {
      s.badAt = s.nextControl
      return -1
    }
    if (stop === quote) return quote + 1
    s.escaped = true
    const c = text.charCodeAt(stop + 1)
    if (c === C.u) {
      if (!isHex(text.charCodeAt(stop + 2)) || !isHex(text.charCodeAt(stop + 3)) || !isHex(text.charCodeAt(stop + 4)) || !isHex(text.charCodeAt(stop + 5))) {
        s.badAt = stop
        return -1
      }
      // JSON.stringify writes \u only for control characters without a short
      // form, in lowercase hex: anything else was escaped by another writer.
      if (!s.reformatted && !stringifyEscape(text, stop)) s.reformatted = true
      j = stop + 6
    } else if (c === C.quote || c === C.backslash || c === C.b || c === C.f || c === C.n || c === C.r || c === C.t) {
      j = stop + 2
    } else if (c === C.slash) {
      s.reformatted = true
      j = stop + 2
    } else {
      s.badAt = stop
      return -1
    }
  }
}

/** Whether the key string between `start` and `end` (quotes included) is `name`, escapes decoded. */
function keyIs(text: string, start: number, end: number, escaped: boolean, name: string): boolean {
  if (!escaped) return end - start - 2 === name.length && text.startsWith(name, start + 1)
  return end - start - 2 >= name.length && (JSON.parse(text.slice(start, end)) as string) === name
}

function stringFailure(text: string, start: number, s: StringState): ScanResult {
  const at = s.badAt
  s.badAt = -1
  if (at < 0) return fail(text, start, 'a string is not closed: it starts')
  const c = text.charCodeAt(at)
  return c === C.backslash ? fail(text, at, 'invalid escape in a string') : fail(text, at, `${describeChar(c)} inside a string (it must be escaped)`)
}

function fail(text: string, offset: number, message: string): ScanResult {
  return { ok: false, reason: 'syntax', offset, message: `${message} ${where(text, offset)}` }
}

function unexpected(text: string, offset: number, expected = ''): ScanResult {
  return offset >= text.length ? fail(text, offset, 'unexpected end of JSON') : fail(text, offset, `unexpected ${describeChar(text.charCodeAt(offset))}${expected}`)
}

function invalidNumber(text: string, offset: number): ScanResult {
  return offset >= text.length ? unexpected(text, offset) : fail(text, offset, `invalid number: unexpected ${describeChar(text.charCodeAt(offset))}`)
}

function isSpace(c: number): boolean {
  return c === C.space || c === C.lf || c === C.cr || c === C.tab
}

function skipSpace(text: string, i: number): number {
  while (isSpace(text.charCodeAt(i))) i++
  return i
}

/** Whether the `\uXXXX` at `at` is one JSON.stringify writes: a control character without a short form, lowercase. */
function stringifyEscape(text: string, at: number): boolean {
  const hex = text.slice(at + 2, at + 6)
  const code = parseInt(hex, 16)
  return code < 0x20 && code !== 8 && code !== 9 && code !== 10 && code !== 12 && code !== 13 && hex === hex.toLowerCase()
}

function isHex(c: number): boolean {
  return (c >= C.zero && c <= C.nine) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70)
}

/** A character named without quoting anything that is not printable ASCII. */
export function describeChar(c: number): string {
  if (Number.isNaN(c)) return 'end of JSON'
  if (c > 32 && c < 127) return `'${String.fromCharCode(c)}'`
  return `character U+${c.toString(16).toUpperCase().padStart(4, '0')}`
}

/** `at line 3, column 7`, counted in characters of the decoded text. */
function where(text: string, offset: number): string {
  let line = 1
  let lineStart = 0
  for (let k = text.indexOf('\n'); k !== -1 && k < offset; k = text.indexOf('\n', k + 1)) {
    line++
    lineStart = k + 1
  }
  return `at line ${line}, column ${offset - lineStart + 1}`
}
