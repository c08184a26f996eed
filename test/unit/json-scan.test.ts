import fc from 'fast-check'
import secureJson from 'secure-json-parse'
import { describe, expect, it } from 'vitest'
import { scanJson } from '../../src/core/json-scan.js'

const BIG = 100_000

function parses(text: string): boolean {
  try {
    JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text)
    return true
  } catch {
    return false
  }
}

function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0
  let max = 0
  for (const v of Object.values(value)) max = Math.max(max, depthOf(v))
  return max + 1
}

/** Valid JSON with the edits a broken or hostile sender makes. */
const mangled = fc
  .tuple(fc.jsonValue(), fc.nat(), fc.constantFrom('', '"', '\\', '{', '}', '[', ']', ',', ':', '\u0001', '\n', 'x', '\\u12', '\\q', '-', '0', '.', 'e', ' '), fc.boolean())
  .map(([value, at, insert, remove]) => {
    const text = JSON.stringify(value, null, at % 3)
    const k = at % (text.length + 1)
    return remove ? text.slice(0, k) + text.slice(k + 1) : text.slice(0, k) + insert + text.slice(k)
  })

describe('scanJson', () => {
  it('accepts exactly what JSON.parse accepts', () => {
    fc.assert(fc.property(fc.oneof(mangled, fc.string(), fc.jsonValue().map((v) => JSON.stringify(v, null, 1))), (text) => {
      expect(scanJson(text, { maxDepth: BIG }).ok).toBe(parses(text))
    }), { numRuns: 3000 })
  })

  it('measures depth and kind as the parsed value has them', () => {
    fc.assert(fc.property(fc.jsonValue(), fc.nat(4), (value, indent) => {
      const scan = scanJson(JSON.stringify(value, null, indent), { maxDepth: BIG })
      expect(scan).toMatchObject({ ok: true, depth: depthOf(value) })
    }))
  })

  it('refuses nesting past maxDepth at the bracket that goes too deep, without reading further', () => {
    const text = '['.repeat(500_000) + ']'.repeat(500_000)
    const scan = scanJson(text, { maxDepth: 1000 })
    expect(scan).toEqual({ ok: false, reason: 'depth', offset: 1000, message: 'nested deeper than 1000 levels at line 1, column 1001' })
    expect(scanJson('{"a":'.repeat(1000) + '1' + '}'.repeat(1000), { maxDepth: 1000 })).toMatchObject({ ok: true, depth: 1000 })
    expect(scanJson('{"a":'.repeat(1001) + '1' + '}'.repeat(1001), { maxDepth: 1000 })).toMatchObject({ ok: false, reason: 'depth' })
  })

  it('finds prototype-poisoning keys exactly where secure-json-parse refuses them, escaped or not', () => {
    const keys = fc.constantFrom('__proto__', '\\u005f_proto__', 'constructor', 'prototype', 'c\\u006fnstructor', 'prot\\u006ftype', 'a', 'payload')
    const tree: fc.Arbitrary<string> = fc.letrec<{ node: string }>((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.constantFrom('1', '"x"', 'null', '{}', '[]'),
        fc.array(fc.tuple(keys, tie('node')), { maxLength: 3 }).map((pairs) => `{${pairs.map(([k, v]) => `"${k}":${v}`).join(',')}}`),
        fc.array(tie('node'), { maxLength: 3 }).map((items) => `[${items.join(',')}]`),
      ),
    })).node
    fc.assert(fc.property(tree, (text) => {
      let refused = false
      try {
        secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' })
      } catch {
        refused = true
      }
      const scan = scanJson(text, { maxDepth: BIG })
      // The scan may be stricter than secure-json-parse on duplicate keys (it
      // cannot know which "constructor" JSON.parse keeps), never laxer.
      if (refused) expect(scan).toMatchObject({ ok: true, forbiddenAt: expect.any(Number) })
      if (scan.ok && scan.forbiddenAt < 0) expect(refused).toBe(false)
      if (refused && scan.ok) expect(scan.forbiddenAt).toBeGreaterThanOrEqual(0)
    }), { numRuns: 3000 })
  })

  it('gives the span of each requested top-level member, the last one when repeated', () => {
    fc.assert(fc.property(fc.dictionary(fc.constantFrom('payload', 'signature', 'other'), fc.jsonValue()), fc.nat(3), (body, indent) => {
      const text = JSON.stringify(body, null, indent)
      const scan = scanJson(text, { maxDepth: BIG, members: ['payload', 'signature'] })
      expect(scan.ok).toBe(true)
      if (!scan.ok) return
      for (const name of ['payload', 'signature']) {
        const member = scan.members.get(name)
        if (!(name in body)) expect(member).toBeUndefined()
        else expect(JSON.parse(text.slice(member!.span.start, member!.span.end))).toEqual(JSON.parse(JSON.stringify(body[name])))
      }
    }))
    const scan = scanJson('{"payload": 1, "payload": {"a": [1]} ,"signature":"s"}', { maxDepth: 10, members: ['payload'] })
    expect(scan.ok && scan.members.get('payload')).toEqual({ span: { start: 26, end: 36 }, kind: 'object' })
  })

  it('tells text written as JSON.stringify writes it from text reformatted after', () => {
    fc.assert(fc.property(fc.jsonValue(), fc.nat(3), (value, indent) => {
      const text = JSON.stringify(value, null, indent)
      expect(scanJson(text, { maxDepth: BIG })).toMatchObject({ ok: true, asStringified: text === JSON.stringify(value) })
    }))
    expect(scanJson('{"a":"x\\u0001\\n\\"\\\\"}', { maxDepth: 10 })).toMatchObject({ asStringified: true })
    for (const text of ['{"a": 1}', '{"a":"\\/"}', '{"a":"\\u00e9"}', '{"a":"\\u001F"}', '{"a":"\\u000a"}', '[1,\n2]']) {
      expect(scanJson(text, { maxDepth: 10 })).toMatchObject({ ok: true, asStringified: false })
    }
  })

  it('says what is wrong and where without quoting the body', () => {
    expect(scanJson('{"a": 1,}', { maxDepth: 10 })).toMatchObject({ ok: false, message: `unexpected '}': expected a "key" at line 1, column 9` })
    expect(scanJson('{\n  "a": tru\n}', { maxDepth: 10 })).toMatchObject({ ok: false, message: "unexpected 't' at line 2, column 8" })
    expect(scanJson('\u001f\u008b\u0008\u0000', { maxDepth: 10 })).toMatchObject({ ok: false, message: 'unexpected character U+001F at line 1, column 1' })
    expect(scanJson('{"a": "x\u0000y"}', { maxDepth: 10 })).toMatchObject({ ok: false, message: 'character U+0000 inside a string (it must be escaped) at line 1, column 9' })
    expect(scanJson('{"a": "x\\qy"}', { maxDepth: 10 })).toMatchObject({ ok: false, message: 'invalid escape in a string at line 1, column 9' })
    expect(scanJson('{"a": "xy', { maxDepth: 10 })).toMatchObject({ ok: false, message: 'a string is not closed: it starts at line 1, column 7' })
    expect(scanJson('{"a": [1, 2', { maxDepth: 10 })).toMatchObject({ ok: false, message: 'unexpected end of JSON at line 1, column 12' })
    expect(scanJson('{} {}', { maxDepth: 10 })).toMatchObject({ ok: false, message: "unexpected '{' after the JSON value at line 1, column 4" })
    expect(scanJson('[01]', { maxDepth: 10 })).toMatchObject({ ok: false })
    expect(scanJson('\ufeff{}', { maxDepth: 10 })).toMatchObject({ ok: true, top: 'object' })
  })
})
