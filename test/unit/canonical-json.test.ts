import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { canonicalJson } from '../../src/core/canonical-json.js'
import { scanJson } from '../../src/core/json-scan.js'

/** A tiny seeded random source, so that a failing case replays. */
function random(seed: number): () => number {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    return (s >>> 0) / 2 ** 32
  }
}

/** Writes a JSON value the way other serializers and hand edits do: spaces, escapes, number forms, repeated keys. */
function reformat(value: unknown, rnd: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!
  const ws = () => pick(['', '', ' ', '\n  ', '\t', '\r\n'])
  const str = (s: string) =>
    '"' +
    [...s]
      .map((ch) => {
        const code = ch.charCodeAt(0)
        const escape = rnd() < 0.3
        if (ch === '"' || ch === '\\') return '\\' + ch
        if (code < 0x20 || (escape && ch.length === 1)) {
          const hex = code.toString(16).padStart(4, '0')
          return `\\u${rnd() < 0.5 ? hex : hex.toUpperCase()}`
        }
        if (ch === '/' && escape) return '\\/'
        return ch
      })
      .join('') +
    '"'
  const num = (n: number) => {
    const plain = JSON.stringify(n)
    return pick([plain, plain, n.toExponential(), n.toExponential().toUpperCase(), Number.isInteger(n) && Math.abs(n) < 1e15 ? `${n}.0` : plain, n === 0 ? '-0' : plain])
  }
  const write = (v: unknown): string => {
    if (v === null || typeof v === 'boolean') return String(v)
    if (typeof v === 'number') return num(v)
    if (typeof v === 'string') return str(v)
    if (Array.isArray(v)) return `[${ws()}${v.map((x) => write(x)).join(`${ws()},${ws()}`)}${ws()}]`
    const members = Object.entries(v as Record<string, unknown>).map(([k, x]) => `${str(k)}${ws()}:${ws()}${write(x)}`)
    // A repeated key: JSON.parse keeps the first place and the last value.
    if (members.length > 0 && rnd() < 0.3) members.splice(Math.floor(rnd() * members.length), 0, `${str(Object.keys(v as object)[0]!)}:${write(pick([1, 'x', null, [2]]))}`)
    if (rnd() < 0.3) members.reverse()
    return `{${ws()}${members.join(`${ws()},${ws()}`)}${ws()}}`
  }
  return ws() + write(value) + ws()
}

const keys = fc.oneof(fc.constantFrom('0', '1', '2', '10', '01', '4294967294', '4294967295', '-1', '1.0', 'a', 'b', '__x'), fc.string())
const value: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.oneof(fc.constant(null), fc.boolean(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.string(), fc.string({ unit: 'binary' })),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(keys, tie('v'), { maxKeys: 5 }),
  ),
})).v

describe('canonicalJson', () => {
  it('is JSON.stringify(JSON.parse(text)) for text written every which way', () => {
    fc.assert(
      fc.property(value, fc.integer(), (v, seed) => {
        const text = reformat(v, random(seed))
        expect(scanJson(text, { maxDepth: 1000 }).ok).toBe(true)
        expect(canonicalJson(text), text).toBe(JSON.stringify(JSON.parse(text)))
      }),
      { numRuns: 5000 },
    )
  })

  it('puts integer keys first in ascending order, and keeps a repeated key in its first place with its last value', () => {
    const text = '{ "b": 1, "2": {"y": 1, "x": 2, "y": 3}, "a": [ {"1": 0, "0": 0} ], "1": 0, "b": 2, "4294967295": 0 }'
    expect(canonicalJson(text)).toBe('{"1":0,"2":{"y":3,"x":2},"b":2,"a":[{"0":0,"1":0}],"4294967295":0}')
    expect(canonicalJson(text)).toBe(JSON.stringify(JSON.parse(text)))
  })

  it('writes numbers and strings as JSON.stringify does', () => {
    const text = '[1.0, 1E2, -0, 0.10, 1e400, -1e-7, 0.0000001, 0.000001, -0.5, 12.25, 0.1234567890123456, 123456789012345678, "\\u00e9\\/\\u001F\\n"]'
    expect(canonicalJson(text)).toBe('[1,100,0,0.1,null,-1e-7,1e-7,0.000001,-0.5,12.25,0.1234567890123456,123456789012345680,"é/\\u001f\\n"]')
    expect(canonicalJson(text)).toBe(JSON.stringify(JSON.parse(text)))
  })

  it('leaves text already written by JSON.stringify as it is', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      expect(canonicalJson(JSON.stringify(v))).toBe(JSON.stringify(v))
    }))
  })
})
