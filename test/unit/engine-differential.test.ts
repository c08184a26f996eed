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
})
