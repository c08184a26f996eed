import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { finishAnswer, type StepRun } from '../../src/core/answer.js'
import { DEFAULT_LIMITS } from '../../src/core/limits.js'
import { createScrubber } from '../../src/core/secrets.js'
import { traceBody } from '../../src/core/trace.js'
import { JsonText, nesting } from '../../src/engine/values.js'

const SECRET = 's3cr3t-"quoted"'
const secrets = createScrubber([SECRET, 'another-secret'], '[REDACTED]')
const asText = (value: unknown) => new JsonText(JSON.stringify(value), nesting(value))
const run = (exitCode: string, data: unknown): StepRun => ({ result: { exit_code: exitCode, data }, stage: 'transform' })

describe('an answer whose data came back from an evaluation thread as JSON text', () => {
  it('is the answer the parsed data makes, byte for byte, secrets replaced, and reads as that data', () => {
    const data = fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.constantFrom(SECRET, { token: `Bearer ${SECRET}` }, ['another-secret', 12, { 'another-secret': SECRET }]))
    fc.assert(
      fc.property(fc.constantFrom('success', 'failure', 'needs_review'), data, (exitCode, value) => {
        // As it crossed: through JSON (-0 is 0 there).
        const parsed = finishAnswer(run(exitCode, JSON.parse(JSON.stringify(value))), DEFAULT_LIMITS, secrets)
        const spliced = finishAnswer(run(exitCode, asText(value)), DEFAULT_LIMITS, secrets)
        expect(spliced.body).toBe(parsed.body)
        expect(spliced.result).toEqual(parsed.result)
        expect(JSON.stringify(spliced.result)).toBe(JSON.stringify(parsed.result))
      }),
      { seed: 20261130, numRuns: 300 },
    )
    const answer = finishAnswer(run('success', asText({ key: SECRET })), DEFAULT_LIMITS, secrets)
    expect(answer.body).toBe('{"exit_code":"success","data":{"key":"[REDACTED]"}}')
    expect(answer.result.data).toEqual({ key: SECRET })
  })

  it('is held to MAX_ANSWER_BYTES as any answer is', () => {
    const limits = { ...DEFAULT_LIMITS, maxAnswerBytes: 100 }
    const value = ['é'.repeat(60)]
    const parsed = finishAnswer(run('success', value), limits, secrets)
    expect(finishAnswer(run('success', asText(value)), limits, secrets)).toEqual(parsed)
    expect(parsed.result.data).toMatchObject({ error: { code: 'transform_failed', details: { max_answer_bytes: 100 } } })
  })

  it('parses its data only when something reads it, and once', () => {
    const text = asText({ a: [1, 2] })
    let parses = 0
    const counted = Object.assign(Object.create(JsonText.prototype) as JsonText, text, {
      toJSON: () => (parses++, JSON.parse(text.text) as unknown),
    })
    const { result } = finishAnswer(run('success', counted), DEFAULT_LIMITS, secrets)
    expect(result.exit_code).toBe('success')
    expect(parses).toBe(0)
    expect(result.data).toEqual({ a: [1, 2] })
    expect(result.data).toBe(result.data)
    expect(parses).toBe(1)
  })

  it('is traced as the value it stands for, or cut as the same JSON would be', () => {
    expect(traceBody(asText({ a: 1 }))).toEqual({ a: 1 })
    const big = Array.from({ length: 10_000 }, (_, i) => ({ i }))
    expect(traceBody(asText(big))).toBe(traceBody(big))
    expect(String(traceBody(big))).toMatch(/more characters of JSON\]$/)
  })
})
