import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { OFFLOAD } from '../../src/engine/frame.js'
import { compile, INLINE_MS, type EngineLimits } from '../../src/engine/index.js'
import { charge, COUNTED_MS, nextTurn, overBudget, TURN_BUDGET_MS } from '../../src/engine/turns.js'
import { EvaluatorPool, type Job, type Outcome } from '../../src/engine/pool.js'
import { JsonText, jsonProblem, nesting, NotData } from '../../src/engine/values.js'

const LIMITS: EngineLimits = { timeoutMs: 2000, maxDepth: 500, maxItems: 100_000, maxStringLength: 10_000_000 }
const SPIN = '($f := function($n) { $f($n + 1) }; $f(0))'

describe('the evaluation threads', () => {
  const pool = new EvaluatorPool(2)
  afterAll(() => pool.close())
  const job = (source: string, extra: Partial<Job> = {}): Job => ({ source, limits: LIMITS, input: { a: [1, 2, 3] }, bindings: { x: 10 }, timestamp: Date.now(), deadline: Date.now() + LIMITS.timeoutMs, ...extra })
  // A result comes back as JSON text: here, the value it stands for.
  const settled = (outcome: Outcome) => (outcome.ok ? { ok: true, value: outcome.result?.toJSON() } : outcome)
  const run = async (j: Job) => settled(await pool.run(j))

  it('evaluates over the input and bindings, with the clock it is given', async () => {
    expect(await run(job('$sum(a) + $x'))).toEqual({ ok: true, value: 16 })
    expect(await run(job('$millis()', { timestamp: 1_700_000_000_000 }))).toEqual({ ok: true, value: 1_700_000_000_000 })
    // A sequence (an array with jsonata's own push) crosses as the array it is.
    expect(await run(job('a.($ * 2)'))).toEqual({ ok: true, value: [2, 4, 6] })
  })

  it('sends the input and bindings as JSON text and gets the result back the same way: nothing lost on the way', async () => {
    const text = 'a\u2028b "quoted" \\ \ud800 lone \u{1F600}'
    const input = { text, nested: [{ b: 1, a: [null, true, 1.5e300] }], empty: {} }
    expect(await run(job('$', { input, bindings: undefined }))).toEqual({ ok: true, value: input })
    const both = '{ "length": $length(text), "x": $x }'
    expect(await run(job(both, { input, bindings: { x: [text] } }))).toEqual({ ok: true, value: compile(both, LIMITS).evaluate(input, { x: [text] }) })
    expect(compile(both, LIMITS).evaluate(input, { x: [text] })).toEqual({ length: text.length - 1, x: [text] })
    // Nothing: no input, no bindings, and no result.
    expect(await run(job('$x', { input: undefined, bindings: undefined }))).toEqual({ ok: true, value: undefined })
    expect(await run(job('$exists($)', { input: undefined }))).toEqual({ ok: true, value: false })
  })

  it('gives a JSONata error back as the main thread would raise it: code, position, token, message', async () => {
    let inline: { code: string; position: number; token: string; message: string } | undefined
    try {
      compile('$x + "s"', LIMITS).evaluate({}, { x: 10 })
    } catch (err) {
      inline = err as typeof inline
    }
    expect(inline?.code).toBe('T2002')
    expect(await run(job('$x + "s"'))).toMatchObject({ ok: false, error: { code: inline!.code, position: inline!.position, token: inline!.token, message: inline!.message } })
  })

  it('sends a result back as the JSON text it is answered as, with how deeply it nests', async () => {
    const outcome = await pool.run(job('{ "a": [[$x]], "b": "\u2028" }'))
    expect(outcome.ok).toBe(true)
    const result = (outcome as { result: unknown }).result
    expect(result).toBeInstanceOf(JsonText)
    expect(result).toEqual(new JsonText('{"a":[[10]],"b":"\u2028"}', 3))
    expect(await pool.run(job('$x'))).toEqual({ ok: true, result: new JsonText('10', 0) })
  })

  it('describes a result that is not data rather than failing to send it', async () => {
    expect(await run(job('function($v) { $v }'))).toEqual({ ok: false, notData: 'a function' })
  })

  it('ends an evaluation at its deadline, time spent waiting for a thread included, and goes on with new threads', async () => {
    const deadline = Date.now() + 500
    const outcomes = await Promise.all(Array.from({ length: 5 }, () => run(job(SPIN, { deadline, limits: { ...LIMITS, timeoutMs: 500 } }))))
    for (const outcome of outcomes) expect(outcome).toMatchObject({ ok: false, error: { code: 'timeout', value: 500 } })
    expect(await run(job('$x'))).toEqual({ ok: true, value: 10 })
  })

  it('fails an evaluation that grows its heap too far with `memory`, and goes on', async () => {
    const outcome = await run(job('$count([1..$n].{ "a": [1..1000] })', { bindings: { n: 100_000 }, deadline: Date.now() + 20_000 }))
    expect(outcome).toMatchObject({ ok: false, error: { code: 'memory' } })
    expect(await run(job('$x'))).toEqual({ ok: true, value: 10 })
  })

  it('refuses work once closed', async () => {
    const closed = new EvaluatorPool(1)
    await closed.close()
    expect(await closed.run(job('1'))).toMatchObject({ ok: false, error: { message: 'the expression engine is shut down' } })
  })
})

describe('evaluateIsolated', () => {
  it('answers on this thread what takes less than INLINE_MS, and the rest on a thread, with the same result', async () => {
    expect(INLINE_MS).toBeGreaterThan(0)
    const quick = compile('$sum(a)', LIMITS)
    expect(await quick.evaluateIsolated({ a: [1, 2] })).toBe(3)
    // ~30 ms of work: it starts here, gives way, and is evaluated again on a thread.
    const long = compile('$count($filter([1..20000], function($v) { $string($v) & "x" != "y" }))', LIMITS)
    expect(await long.evaluateIsolated({})).toBe(20_000)
    expect(await compile('$sort($)', LIMITS).evaluateIsolated(Array.from({ length: 40_000 }, (_, i) => 40_000 - i))).toHaveLength(40_000)
  })

  it('moves a built-in call over a big list or string to a thread before it starts, unless the function is cheap at any size', () => {
    const onMainThread = { yieldAt: Date.now() + 60_000 }
    const big = Array.from({ length: 5_000 }, (_, i) => 5_000 - i)
    const gaveWay = (source: string, input: unknown): boolean => {
      try {
        compile(source, LIMITS).evaluate(input, undefined, onMainThread)
        return false
      } catch (err) {
        if (err === OFFLOAD) return true
        throw err
      }
    }
    expect(gaveWay('$sort($)', big)).toBe(true)
    expect(gaveWay('$distinct($)', big)).toBe(true)
    expect(gaveWay('$split($, ",")', ','.repeat(300_000))).toBe(true)
    expect(gaveWay('$count($)', big)).toBe(false)
    expect(gaveWay('$sum($)', big)).toBe(false)
    expect(gaveWay('$sort($)', big.slice(0, 100))).toBe(false)
    // On a thread (no yieldAt), the same call runs.
    expect(compile('$sort($)[0]', LIMITS).evaluate(big)).toBe(1)
  })

  it('with asText, gives a result made on a thread as its JSON text, unparsed; one made here as the value', async () => {
    const items = Array.from({ length: 20_000 }, (_, i) => ({ id: i % 5_000, tags: ['a', { b: i % 3 }] }))
    const distinct = compile('$distinct($data.items)', LIMITS)
    const asText = await distinct.evaluateIsolated({}, { data: { items } }, { asText: true })
    expect(asText).toBeInstanceOf(JsonText)
    const value = await distinct.evaluateIsolated({}, { data: { items } })
    expect(value).not.toBeInstanceOf(JsonText)
    expect((asText as JsonText).text).toBe(JSON.stringify(value))
    expect((asText as JsonText).depth).toBe(4)
    expect((value as unknown[]).length).toBe(15_000)
    // Quick: evaluated here, and never text.
    expect(await compile('$sum(a)', LIMITS).evaluateIsolated({ a: [1, 2] }, undefined, { asText: true })).toBe(3)
  })

  it('lets other work in once the evaluations of a turn have taken TURN_BUDGET_MS', async () => {
    // Fails on its depth after a few ms: each one is short enough to stay on this thread.
    const deep = compile('( $deeper := function($n) { 1 + $deeper($n + 1) }; $deeper(0) )', { ...LIMITS, maxDepth: 500 })
    let finished = 0
    let finishedWhenOtherWorkRan: number | undefined
    setImmediate(() => (finishedWhenOtherWorkRan = finished))
    const outcomes = await Promise.all(
      Array.from({ length: 60 }, () =>
        deep.evaluateIsolated({}).then(
          () => 'success',
          (err: { code?: string }) => err.code,
        ).finally(() => finished++),
      ),
    )
    expect(outcomes).toEqual(Array.from({ length: 60 }, () => 'depth'))
    expect(finishedWhenOtherWorkRan).toBeGreaterThan(0)
    expect(finishedWhenOtherWorkRan).toBeLessThan(60)
  })

  it('counts only evaluations that take long enough to matter, per turn', async () => {
    // What the tests before spent in their last turn.
    await nextTurn()
    expect(overBudget()).toBe(false)
    for (let i = 0; i < 1000; i++) charge(COUNTED_MS / 2)
    expect(overBudget()).toBe(false)
    charge(TURN_BUDGET_MS / 2)
    expect(overBudget()).toBe(false)
    charge(TURN_BUDGET_MS / 2)
    expect(overBudget()).toBe(true)
    await nextTurn()
    expect(overBudget()).toBe(false)
  })

  it('fails past the timeout, counted from when it was requested', async () => {
    await expect(compile(SPIN, { ...LIMITS, timeoutMs: 300 }).evaluateIsolated({})).rejects.toMatchObject({ code: 'timeout', value: 300 })
  })

  it('returns a result that is not data as NotData, described', async () => {
    const slowFunction = compile('($c := $count($filter([1..20000], function($v) { $string($v) & "x" != "y" })); function($v) { $v + $c })', LIMITS)
    const value = await slowFunction.evaluateIsolated({})
    expect(value).toBeInstanceOf(NotData)
  })
})

describe('JsonText', () => {
  it('nests as deep as the value it stands for', () => {
    expect([null, 1, 'x', true].map(nesting)).toEqual([0, 0, 0, 0])
    expect(nesting([])).toBe(1)
    expect(nesting({})).toBe(1)
    expect(nesting({ a: [1, { b: [] }], c: 2 })).toBe(4)
    expect(nesting([[[[]]], []])).toBe(4)
  })

  it('is held to a depth as the value it stands for is, where it stands in the value', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.integer({ min: 0, max: 8 }), fc.boolean(), (value, maxDepth, inside) => {
        const text = new JsonText(JSON.stringify(value), nesting(value))
        const whole = inside ? { at: [text] } : text
        const parsed = inside ? { at: [value] } : value
        expect(jsonProblem(whole, maxDepth)).toBe(jsonProblem(parsed, maxDepth))
        expect(JSON.stringify(whole)).toBe(JSON.stringify(parsed))
      }),
      { seed: 20261130, numRuns: 500 },
    )
  })
})
