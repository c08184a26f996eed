import fc from 'fast-check'
import jsonata from 'jsonata'
import { describe, expect, it } from 'vitest'
import { compile } from '../../src/engine/index.js'
import { data, expression } from '../helpers/jsonata-gen.js'

/**
 * The engine against jsonata-js itself, on random expressions over random
 * data: the same result (as JSON) or the same error code, every time.
 * Seeded, so that a run is the same run everywhere; a failure prints the
 * expression and the data to replay.
 */
type Outcome = { result: unknown } | { code: string }

async function outcome(run: () => Promise<unknown>): Promise<Outcome> {
  try {
    const value = await run()
    return { result: value === undefined ? '(nothing)' : JSON.parse(JSON.stringify(value, functionsNamed) ?? '"(not JSON)"') }
  } catch (err) {
    // Without a code: a JavaScript error, as jsonata raises it (a message about
    // a function value that cannot be written out names the scope's class).
    return { code: String((err as { code?: unknown }).code ?? (err as Error).message.replace(/constructor '\w+'/, "constructor '...'")) }
  }
}

/** A function in a result (a lambda, which holds its scope, or a built-in) compares as what it is. */
function functionsNamed(_key: string, value: unknown): unknown {
  if (typeof value === 'function') return '(function)'
  const v = value as { _jsonata_lambda?: unknown; _jsonata_function?: unknown } | null
  if (v !== null && typeof v === 'object' && (v._jsonata_lambda === true || v._jsonata_function === true)) return '(function)'
  return value
}

async function both(source: string, input: unknown): Promise<[Outcome, Outcome]> {
  const bindings = { data: { n: 2 } }
  const reference = await outcome(() => jsonata(source).evaluate(input, bindings))
  const engine = await outcome(async () => compile(source).evaluate(input, bindings))
  return [engine, reference]
}

/**
 * jsonata-js evaluates the items of an array constructor, and the values of
 * an object constructor, concurrently (Promise.all): when two of them fail,
 * it reports whichever failure settles first in its promise schedule. The
 * engine evaluates them in order and reports the first in order. Both fail,
 * with possibly different codes: that, and only that, is allowed to differ.
 */
function concurrentFailures(source: string, engine: Outcome, reference: Outcome): boolean {
  return 'code' in engine && 'code' in reference && hasConcurrentParts(jsonata(source).ast())
}

/** Whether a parse tree has an array constructor with two items or more, or an object constructor with two pairs or more. */
function hasConcurrentParts(node: unknown): boolean {
  if (typeof node !== 'object' || node === null) return false
  const n = node as { type?: string; value?: string; expressions?: unknown[]; lhs?: unknown }
  if (n.type === 'unary' && n.value === '[' && (n.expressions?.length ?? 0) >= 2) return true
  if (Array.isArray(n.lhs) && n.lhs.length >= 2 && (n.type === 'unary' || n.type === undefined)) return true
  return Object.values(node).some(hasConcurrentParts)
}

describe('the engine against jsonata-js', () => {
  it('gives the same results and the same error codes on random expressions and data', async () => {
    let concurrent = 0
    // DIFF_RUNS and DIFF_SEED run it longer, or differently, by hand.
    const runs = Number(process.env['DIFF_RUNS'] ?? 2000)
    await fc.assert(
      fc.asyncProperty(expression, data, async (source, input) => {
        const [engine, reference] = await both(source, input)
        if ('code' in engine && 'code' in reference && engine.code !== reference.code && concurrentFailures(source, engine, reference)) {
          concurrent++
          return
        }
        expect(engine, `${source}\nover ${JSON.stringify(input)}`).toEqual(reference)
      }),
      { seed: Number(process.env['DIFF_SEED'] ?? 20261129), numRuns: runs },
    )
    // A rare case, not a loophole.
    expect(concurrent).toBeLessThan(runs / 50)
  })

  it('generates expressions that mostly evaluate, and some that fail: both sides are compared', async () => {
    const samples = fc.sample(fc.tuple(expression, data), { seed: 7, numRuns: 400 })
    let results = 0
    let errors = 0
    for (const [source, input] of samples) {
      const [, reference] = await both(source, input)
      if ('code' in reference) errors++
      else results++
    }
    expect(results).toBeGreaterThan(150)
    expect(errors).toBeGreaterThan(10)
  })

  it('counts and cuts strings as jsonata-js does: $length, $substring and $pad over surrogate pairs, lone surrogates and every kind of index', async () => {
    // Characters that make the difference: a pair (one code point, two units), lone halves, and plain ones.
    // Half without surrogates (the engine's native path), half with (jsonata's).
    const text = fc.oneof(
      fc.string({ unit: fc.constantFrom('a', 'b', 'é', ' '), maxLength: 12 }),
      fc.string({ unit: fc.constantFrom('a', 'b', '😀', '\uD83D', '\uDE00', 'é', ' '), maxLength: 12 }),
    )
    const index = fc.oneof(fc.integer({ min: -15, max: 15 }), fc.constantFrom(0.5, -0.5, 2.7, -2.7, 1e9, -1e9))
    const call = fc.oneof(
      text.map((t) => ({ source: '$length($t)', t })),
      fc.tuple(text, index).map(([t, a]) => ({ source: `$substring($t, ${a})`, t })),
      fc.tuple(text, index, index).map(([t, a, b]) => ({ source: `$substring($t, ${a}, ${b})`, t })),
      fc.tuple(text, fc.integer({ min: -20, max: 20 }), fc.constantFrom('', '-', 'ab', '😀', 'x😀')).map(([t, w, c]) => ({ source: `$pad($t, ${w}, ${JSON.stringify(c)})`, t })),
      fc.tuple(text, fc.constantFrom(3.7, -3.7, 0)).map(([t, w]) => ({ source: `$pad($t, ${w})`, t })),
    )
    // The edges, every time: a start just past the front, negative lengths, a lone half at a cut.
    for (const [source, t] of [
      ['$substring($t, -4, 2)', 'abc'], ['$substring($t, -3, 1)', 'abc'], ['$substring($t, -5)', 'abc'], ['$substring($t, 1, -1)', 'abc'],
      ['$substring($t, 1, 2)', 'a😀b'], ['$substring($t, -2)', '\uD83Da\uDE00'], ['$length($t)', '😀\uD83D'], ['$pad($t, -6, "x😀")', 'ab'],
    ]) {
      const reference = await outcome(() => jsonata(source!).evaluate({}, { t }))
      expect(await outcome(async () => compile(source!).evaluate({}, { t })), `${source} with $t = ${JSON.stringify(t)}`).toEqual(reference)
    }
    await fc.assert(
      fc.asyncProperty(call, async ({ source, t }) => {
        const reference = await outcome(() => jsonata(source).evaluate({}, { t }))
        const engine = await outcome(async () => compile(source).evaluate({}, { t }))
        expect(engine, `${source} with $t = ${JSON.stringify(t)}`).toEqual(reference)
      }),
      { seed: 20261129, numRuns: 3000 },
    )
  })

  it('keeps what $distinct keeps in jsonata-js, for values whose text could run together', async () => {
    const inputs: unknown[] = [
      ['a,', 'a', 'a,', '', '', 's1:a', 'a'],
      [{ 'a,b': 1 }, { a: 1, b: 1 }, { 'a,b': 1 }, { a: 1, b: 1 }],
      [{ 'a=1': 2 }, { a: '1=2' }, { a: 1 }, { 'a=1': 2 }, { a: '1=2' }],
      [['a', 'b'], ['a,b'], ['a', 'b'], ['a,b'], [['a'], 'b'], [['a'], 'b']],
      [{ a: { b: 'c' } }, { a: 'b:c' }, { 'a.b': 'c' }, { a: { b: 'c' } }],
      ['1', 1, true, 'true', null, 'null', 1, '1'],
      [{}, [], {}, [], '', 0, -0],
    ]
    for (const input of inputs) {
      const reference = await outcome(() => jsonata('$distinct($)').evaluate(input))
      expect(await outcome(async () => compile('$distinct($)').evaluate(input)), JSON.stringify(input)).toEqual(reference)
    }
  })
})
