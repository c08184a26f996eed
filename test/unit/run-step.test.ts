import { describe, expect, it } from 'vitest'
import type { Payload } from '../../src/core/protocol.js'
import { answerOf, NO_UPSTREAM, registryFrom } from '../helpers/config.js'

const STEPS = `
version: 1
steps:
  plain:
    exit_code: success
  fixed_data:
    transform: '{ "myOutput": "myValue" }'
    exit_code: done
  checked:
    input:
      type: object
      required: [amount]
      properties:
        amount: { type: number, minimum: 1 }
    exit_code: success
  needs_data:
    input: { type: object }
    exit_code: success
  from_deps:
    transform: '{ "email": fetch_user.data.email, "amount": $data.amount, "flow": $context.flow_name, "root_keys": $keys($) }'
    exit_code: success
  nothing:
    transform: 'missing.field'
    exit_code: success
  broken:
    transform: '"a" + 1'
    exit_code: success
  deep:
    transform: '($f := function($n) { 1 + $f($n + 1) }; $f(0))'
    exit_code: success
  endless:
    transform: '($f := function($n) { $f($n + 1) }; $f(0))'
    exit_code: success
`

const payload = (stepName: string, extra: Partial<Payload> = {}): Payload => ({ context: { step_name: stepName, ...extra.context }, ...('data' in extra ? { data: extra.data } : {}) })

describe('runStep', async () => {
  const registry = await registryFrom({ 'steps.yaml': STEPS })

  it('answers a static exit code and leaves data out when there is none', async () => {
    const result = await answerOf(registry, 'plain', payload('plain'), NO_UPSTREAM)
    expect(result).toEqual({ exit_code: 'success' })
    expect('data' in result).toBe(false)
  })

  it("answers the transform's result as data", async () => {
    expect(await answerOf(registry, 'fixed_data', payload('fixed_data'), NO_UPSTREAM)).toEqual({ exit_code: 'done', data: { myOutput: 'myValue' } })
  })

  it('leaves data out when the transform yields nothing', async () => {
    const result = await answerOf(registry, 'nothing', payload('nothing'), NO_UPSTREAM)
    expect(result).toEqual({ exit_code: 'success' })
    expect('data' in result).toBe(false)
  })

  it('roots the transform at dependencies_context, with $data and $context bound', async () => {
    const result = await answerOf(registry, 'from_deps',
      payload('from_deps', {
        data: { amount: 5 },
        context: { step_name: 'from_deps', flow_name: 'checkout', dependencies_context: { fetch_user: { data: { email: 'a@b.c' }, exit_code: 'success' } } },
      }),
      NO_UPSTREAM,
    )
    expect(result).toEqual({ exit_code: 'success', data: { email: 'a@b.c', amount: 5, flow: 'checkout', root_keys: 'fetch_user' } })
  })

  it('roots the transform at {} when dependencies_context is absent', async () => {
    const result = await answerOf(registry, 'from_deps', payload('from_deps', { data: { amount: 1 } }), NO_UPSTREAM)
    expect(result).toEqual({ exit_code: 'success', data: { amount: 1 } })
  })

  it('fails with input_invalid and ajv errors with instancePath', async () => {
    const result = await answerOf(registry, 'checked', payload('checked', { data: { amount: 0 } }), NO_UPSTREAM)
    expect(result.exit_code).toBe('failure')
    const error = (result.data as { error: { code: string; message: string; details: { instancePath: string; keyword: string }[] } }).error
    expect(error.code).toBe('input_invalid')
    expect(error.message).toContain('data/amount must be >= 1')
    expect(error.details).toEqual([expect.objectContaining({ instancePath: '/amount', keyword: 'minimum' })])
  })

  it('checks absent data as null', async () => {
    const result = await answerOf(registry, 'needs_data', payload('needs_data'), NO_UPSTREAM)
    expect(result).toMatchObject({ exit_code: 'failure', data: { error: { code: 'input_invalid', details: [{ instancePath: '', keyword: 'type' }] } } })
    expect(await answerOf(registry, 'needs_data', payload('needs_data', { data: {} }), NO_UPSTREAM)).toEqual({ exit_code: 'success' })
  })

  it('fails with transform_failed, the JSONata message and no stack trace', async () => {
    const result = await answerOf(registry, 'broken', payload('broken'), NO_UPSTREAM)
    expect(result).toMatchObject({ exit_code: 'failure', data: { error: { code: 'transform_failed', details: { code: 'T2001' } } } })
    expect(JSON.stringify(result)).not.toMatch(/\bat .*\.js:\d+/)
    expect(JSON.stringify(result)).not.toContain('stack')
  })

  it('stops deep recursion at limits.max_depth (500 nested calls by default), saying where the expression is', async () => {
    const result = await answerOf(registry, 'deep', payload('deep'), NO_UPSTREAM)
    expect(result).toEqual({
      exit_code: 'failure',
      data: { error: { code: 'transform_failed', message: 'transform failed: function calls nest deeper than 500 (limits.max_depth)', details: { code: 'depth', message: 'function calls nest deeper than 500 (limits.max_depth)', at: 'steps.yaml:29:17' } } },
    })
  })

  it('stops an endless (tail-recursive) loop at limits.timeout_ms (1000 ms by default)', async () => {
    const result = await answerOf(registry, 'endless', payload('endless'), NO_UPSTREAM)
    expect(result).toMatchObject({ exit_code: 'failure', data: { error: { code: 'transform_failed', details: { code: 'timeout', at: 'steps.yaml:32:17' } } } })
  })

  it('checks a schema pattern in linear time: a pattern that backtracks in JavaScript answers at once', async () => {
    // '^(a+)+$' against 40 characters would take hours with JavaScript's engine: a test that hung would time out.
    const withPattern = await registryFrom({ 'steps.yaml': "version: 1\nsteps:\n  p:\n    input: { type: string, pattern: '^(a+)+$' }\n    exit_code: success\n" })
    const result = await answerOf(withPattern, 'p', payload('p', { data: 'a'.repeat(40) + 'b' }), NO_UPSTREAM)
    expect(result).toMatchObject({ exit_code: 'failure', data: { error: { code: 'input_invalid', details: [{ keyword: 'pattern' }] } } })
    expect(await answerOf(withPattern, 'p', payload('p', { data: 'aaa' }), NO_UPSTREAM)).toEqual({ exit_code: 'success' })
  })
})
