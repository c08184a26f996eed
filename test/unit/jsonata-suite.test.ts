import { describe, expect, it } from 'vitest'
import { compile, LIMIT_CODES, NO_LIMITS, type JsonataError } from '../../src/engine/index.js'
import { loadSuite, type SuiteCase } from '../helpers/jsonata-suite.js'

/**
 * Every case of the official JSONata suite, against step-runner's engine:
 * each must give the suite's result, or raise the suite's error code.
 */
const cases = loadSuite()

/** A result as the suite writes it: JSON (sequences become arrays, functions vanish). */
function asJson(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value) ?? 'null')
}

async function run(c: SuiteCase): Promise<{ ok: true; value: unknown } | { ok: false; error: JsonataError }> {
  try {
    // The reference runner bounds these cases itself and raises U1001 past
    // its bounds; the engine's own limit errors stand for it here.
    const limits = c.timelimit === undefined ? NO_LIMITS : { ...NO_LIMITS, timeoutMs: c.timelimit, maxEvaluationDepth: c.depth ?? 0 }
    const expression = compile(c.expr, limits)
    return { ok: true, value: await expression.evaluate(c.input, c.bindings) }
  } catch (err) {
    return { ok: false, error: err as JsonataError }
  }
}

describe('the JSONata conformance suite', () => {
  it('has every case of the suite', () => {
    expect(cases.length).toBe(1686)
  })

  for (const group of [...new Set(cases.map((c) => c.group))]) {
    describe(group, () => {
      for (const c of cases.filter((k) => k.group === group)) {
        it(c.id, async () => {
          const outcome = await run(c)
          const expected = c.expect
          if (expected.kind === 'error') {
            expect(outcome.ok ? { result: asJson(outcome.value) } : { code: expected.code === 'U1001' && LIMIT_CODES.has(outcome.error.code) ? 'U1001' : outcome.error.code }, c.expr).toEqual({ code: expected.code })
            if (expected.token !== undefined && !outcome.ok) expect(outcome.error.token).toBe(expected.token)
            if (expected.message !== undefined && !outcome.ok) expect(outcome.error.message).toBe(expected.message)
            return
          }
          if (!outcome.ok) throw new Error(`${c.expr}\nraised ${outcome.error.code}: ${outcome.error.message}`)
          if (expected.kind === 'undefined') expect(outcome.value, c.expr).toBeUndefined()
          else if (expected.unordered) expect(asJson(outcome.value), c.expr).toEqual(expect.arrayContaining(expected.value as unknown[]))
          else expect(asJson(outcome.value), c.expr).toEqual(expected.value)
        })
      }
    })
  }
})
