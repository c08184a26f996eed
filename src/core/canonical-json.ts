/**
 * `JSON.stringify(JSON.parse(text))` as UTF-8 bytes, computed from the text
 * without building the value, for text that scanJson accepted.
 *
 * The signature covers JSON.stringify(payload). A sender that reformats the
 * payload after signing it (pretty-printing, escaping `/` or non-ASCII) makes
 * the server write it again the way JSON.stringify does before hashing. With
 * JSON.parse and JSON.stringify that costs 40 to 250 ms for a 1 MB body of the
 * wrong shape (V8 allocates every array and object, and its stringifier
 * checks for cycles along the whole stack at every value), which any unsigned
 * caller could make the server spend. This is one linear pass that writes
 * bytes into one buffer, rewriting only what JSON.stringify writes otherwise:
 *
 * - whitespace between tokens is dropped;
 * - a string with escapes is written again (`JSON.stringify(JSON.parse(token))`);
 * - a number not in its shortest form is written as JSON.stringify writes it
 *   (`1.0` → `1`, `1E2` → `100`, `-0` → `0`, `1e400` → `null`);
 * - an object whose keys JSON.parse would not keep in the order written is
 *   reordered: integer keys (array indexes) first in ascending order, then
 *   the others in the order of their first appearance; a repeated key keeps
 *   its first place and its last value.
 *
 * Reordering moves bytes that were already written; nested deep enough, that
 * could add up. Past a budget of moves it gives up (undefined) and the caller
 * falls back to JSON.stringify(JSON.parse(text)): no JSON.stringify writer
 * ever needs a reorder, so only hand-made text pays for that.
 */
export function canonicalJsonBytes(text: string): Buffer | undefined {
  const length = text.length
  let out = Buffer.allocUnsafe(length + 64)
  let o = 0
  let moveBudget = 8 * length + 1024

  const ensure = (extra: number) => {
    if (o + extra <= out.length) return
    const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, o + extra + 64))
    out.copy(bigger, 0, 0, o)
    out = bigger
  }
  /** Writes text[from, to) as UTF-8; a lone surrogate as JSON.stringify escapes it. */
  const write = (source: string, from: number, to: number) => {
    ensure(3 * (to - from)) // a UTF-16 unit is at most 3 UTF-8 bytes
    for (let k = from; k < to; k++) {
      const c = source.charCodeAt(k)
      if (c < 0x80) out[o++] = c
      else if (c < 0x800) {
        out[o++] = 0xc0 | (c >> 6)
        out[o++] = 0x80 | (c & 0x3f)
      } else if (c >= 0xd800 && c <= 0xdfff) {
        const next = source.charCodeAt(k + 1)
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          const point = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00)
          out[o++] = 0xf0 | (point >> 18)
          out[o++] = 0x80 | ((point >> 12) & 0x3f)
          out[o++] = 0x80 | ((point >> 6) & 0x3f)
          out[o++] = 0x80 | (point & 0x3f)
          k++
        } else {
          const escape = `\\u${c.toString(16)}`
          ensure(escape.length + 3 * (to - k))
          for (let e = 0; e < escape.length; e++) out[o++] = escape.charCodeAt(e)
        }
      } else {
        out[o++] = 0xe0 | (c >> 12)
        out[o++] = 0x80 | ((c >> 6) & 0x3f)
        out[o++] = 0x80 | (c & 0x3f)
      }
    }
  }

  // Per open container, by depth: whether it is an object and, for objects,
  // what it takes to put their keys in JSON.parse's order.
  const isObject: boolean[] = []
  const objectStart: number[] = [] // offset in out of the '{'
  // Reused from one object to the next at the same depth: no allocation per object.
  const keys: string[][] = [] // decoded keys, in the order written
  const memberStarts: number[][] = [] // offset in out where each member's key begins
  const reorder: boolean[] = []
  const lastIndex: number[] = [] // the last integer key seen, -1 for none
  const named: boolean[] = [] // whether a non-integer key was seen
  const seen: (Set<string> | undefined)[] = []
  let depth = 0
  let expectKey = false // after '{', or ',' in an object
  let nextBackslash = -2 // searched again only once the scan has passed it
  let scratch = Buffer.allocUnsafe(256) // where reordered members are copied from

  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0
  while (i < length) {
    if (o + 8 > out.length) ensure(8)
    const c = text.charCodeAt(i)
    if (c === 34) {
      const end = stringEnd(text, i)
      if (nextBackslash !== -1 && nextBackslash < i) nextBackslash = text.indexOf('\\', i)
      const escaped = nextBackslash !== -1 && nextBackslash < end
      if (expectKey) {
        // A member starts here: its key decides where JSON.parse puts it.
        expectKey = false
        const d = depth - 1
        const key = escaped ? (JSON.parse(text.slice(i, end)) as string) : text.slice(i + 1, end - 1)
        const names = keys[d]!
        memberStarts[d]!.push(o)
        const index = arrayIndex(key)
        if (index >= 0) {
          if (named[d] === true || index <= lastIndex[d]!) reorder[d] = true
          lastIndex[d] = index
        } else {
          named[d] = true
        }
        // A repeated key: looked up in the list while it is short, in a set after.
        if (!reorder[d]) {
          if (names.length < 16) {
            if (names.includes(key)) reorder[d] = true
          } else {
            let set = seen[d]
            if (set === undefined) seen[d] = set = new Set(names)
            if (set.has(key)) reorder[d] = true
            else set.add(key)
          }
        }
        names.push(key)
      }
      if (escaped) {
        const canonical = JSON.stringify(JSON.parse(text.slice(i, end)) as string)
        write(canonical, 0, canonical.length)
      } else {
        write(text, i, end)
      }
      i = end
    } else if (c === 32 || c === 10 || c === 13 || c === 9) {
      i++
    } else if (c === 45 || (c >= 48 && c <= 57)) {
      let end = i + 1
      while (end < length && isNumberChar(text.charCodeAt(end))) end++
      if (isShortest(text, i, end)) {
        write(text, i, end)
      } else if (isShortest(text, i, trimZeros(text, i, end))) {
        // 1.50 and 1.0 are 1.5 and 1: the same digits, less the zeros at the end.
        write(text, i, trimZeros(text, i, end))
      } else {
        const canonical = JSON.stringify(Number(text.slice(i, end)))
        write(canonical, 0, canonical.length)
      }
      i = end
    } else if (c === 123) {
      isObject[depth] = true
      objectStart[depth] = o
      if (keys[depth] === undefined) {
        keys[depth] = []
        memberStarts[depth] = []
      } else if (keys[depth]!.length > 0) {
        keys[depth]!.length = 0
        memberStarts[depth]!.length = 0
      }
      reorder[depth] = false
      lastIndex[depth] = -1
      named[depth] = false
      seen[depth] = undefined
      depth++
      expectKey = true
      out[o++] = c
      i++
    } else if (c === 125) {
      depth--
      expectKey = false
      if (reorder[depth] === true) {
        const start = objectStart[depth]! + 1
        moveBudget -= o - start
        if (moveBudget < 0) return undefined
        if (scratch.length < o - start) scratch = Buffer.allocUnsafe(Math.max(2 * scratch.length, o - start))
        o = reorderMembers(out, scratch, start, o, memberStarts[depth]!, keys[depth]!)
      }
      out[o++] = c
      i++
    } else if (c === 91) {
      isObject[depth] = false
      depth++
      out[o++] = c
      i++
    } else if (c === 93) {
      depth--
      out[o++] = c
      i++
    } else if (c === 44) {
      expectKey = isObject[depth - 1] === true
      out[o++] = c
      i++
    } else {
      // ':' and the letters of true, false, null
      out[o++] = c
      i++
    }
  }
  return out.subarray(0, o)
}

/** The same, as a string: for tests and tools. */
export function canonicalJson(text: string): string {
  return canonicalJsonBytes(text)?.toString('utf8') ?? JSON.stringify(JSON.parse(text))
}

/**
 * Puts an object's members, written at out[start, end) (between its braces,
 * members at `starts`, separated by commas), in JSON.parse's key order.
 * Returns where they end now: a repeated key's earlier values are dropped.
 */
function reorderMembers(out: Buffer, scratch: Buffer, start: number, end: number, starts: readonly number[], names: readonly string[]): number {
  copyBytes(out, start, end, scratch, 0)
  const count = starts.length
  // Integer keys by their value, the others by first appearance; each with
  // the last member that had its key.
  const indexes: number[] = []
  const integerMember: number[] = []
  const others: string[] = []
  const otherMember: number[] = []
  for (let k = 0; k < count; k++) {
    const name = names[k]!
    const index = arrayIndex(name)
    if (index >= 0) {
      const same = indexes.indexOf(index)
      if (same >= 0) integerMember[same] = k
      else {
        indexes.push(index)
        integerMember.push(k)
      }
    } else {
      const same = count < 16 ? others.indexOf(name) : -1
      if (same >= 0) otherMember[same] = k
      else if (count < 16) {
        others.push(name)
        otherMember.push(k)
      } else {
        return reorderMany(out, scratch, start, end, starts, names)
      }
    }
  }
  const byIndex = indexes.map((_, n) => n).sort((x, y) => indexes[x]! - indexes[y]!)
  let o = start
  let first = true
  const put = (k: number) => {
    if (!first) out[o++] = 44
    first = false
    const from = starts[k]! - start
    const to = k + 1 < count ? starts[k + 1]! - start - 1 : end - start
    o = copyBytes(scratch, from, to, out, o)
  }
  for (const n of byIndex) put(integerMember[n]!)
  for (const k of otherMember) put(k)
  return o
}

/** The same for objects with many members, with a map rather than lists. */
function reorderMany(out: Buffer, scratch: Buffer, start: number, end: number, starts: readonly number[], names: readonly string[]): number {
  const count = starts.length
  const integers = new Map<number, number>()
  const others = new Map<string, number>() // a Map keeps a key's first place and takes its last value
  for (let k = 0; k < count; k++) {
    const index = arrayIndex(names[k]!)
    if (index >= 0) integers.set(index, k)
    else others.set(names[k]!, k)
  }
  let o = start
  let first = true
  for (const k of [...[...integers].sort((a, b) => a[0] - b[0]).map(([, m]) => m), ...others.values()]) {
    if (!first) out[o++] = 44
    first = false
    o = copyBytes(scratch, starts[k]! - start, k + 1 < count ? starts[k + 1]! - start - 1 : end - start, out, o)
  }
  return o
}

/** Copies from[start, end) to `to` at `at`; returns the end. Small copies by hand: Buffer#copy costs more than a short loop. */
function copyBytes(from: Buffer, start: number, end: number, to: Buffer, at: number): number {
  if (end - start > 64) return at + from.copy(to, at, start, end)
  for (let k = start; k < end; k++) to[at++] = from[k]!
  return at
}

/** The offset after the closing quote of the string that starts at `i`. */
function stringEnd(text: string, i: number): number {
  let j = i + 1
  for (;;) {
    const quote = text.indexOf('"', j)
    let backslashes = 0
    for (let k = quote - 1; k > i && text.charCodeAt(k) === 92; k--) backslashes++
    if (backslashes % 2 === 0) return quote + 1
    j = quote + 1
  }
}

/** The key as an array index (a canonical integer below 2^32 - 1), or -1: V8 orders those first. */
function arrayIndex(key: string): number {
  const first = key.charCodeAt(0)
  if (!(first >= 48 && first <= 57) || key.length > 10 || (first === 48 && key.length > 1)) return -1
  for (let k = 1; k < key.length; k++) {
    const c = key.charCodeAt(k)
    if (c < 48 || c > 57) return -1
  }
  const n = Number(key)
  return n < 4294967295 ? n : -1
}

/**
 * Whether a number token is already as JSON.stringify writes it, decided
 * from its digits for the common forms: an integer, or a decimal without an
 * exponent, of at most 15 significant digits (a double holds those exactly,
 * so its shortest form is the same digits), not `-0`, no trailing zero in the
 * fraction, and not below 1e-6 (JSON.stringify writes those with an exponent).
 * Anything else is converted to be sure.
 */
function isShortest(text: string, start: number, end: number): boolean {
  let k = text.charCodeAt(start) === 45 ? start + 1 : start
  const intStart = k
  while (k < end && isDigit(text.charCodeAt(k))) k++
  const intDigits = k - intStart
  const zero = text.charCodeAt(intStart) === 48
  if (k === end) return zero ? intStart === start : intDigits <= 15
  if (text.charCodeAt(k) !== 46) return false
  const fraction = k + 1
  for (k = fraction; k < end; k++) if (!isDigit(text.charCodeAt(k))) return false
  if (text.charCodeAt(end - 1) === 48) return false
  if (!zero) return intDigits + (end - fraction) <= 15
  let first = fraction
  while (text.charCodeAt(first) === 48) first++
  return first - fraction <= 5 && end - first <= 15
}

/** The end of a decimal without an exponent, less its fraction's trailing zeros (and the point, when nothing is left after it). */
function trimZeros(text: string, start: number, end: number): number {
  let point = start
  while (point < end && text.charCodeAt(point) !== 46) point++
  if (point === end) return end
  for (let k = point + 1; k < end; k++) if (!isDigit(text.charCodeAt(k))) return end
  let last = end
  while (last > point + 1 && text.charCodeAt(last - 1) === 48) last--
  return last === point + 1 ? point : last
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57
}

function isNumberChar(c: number): boolean {
  return (c >= 48 && c <= 57) || c === 46 || c === 101 || c === 69 || c === 43 || c === 45
}
