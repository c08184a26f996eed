import { describe, expect, it } from 'vitest'
import { SIGNATURE_ERROR } from '../../src/core/errors.js'
import { handleHook } from '../../src/core/hook.js'
import { createVerifier, sign } from '../../src/core/signature.js'
import { NO_UPSTREAM, registryFrom } from '../helpers/config.js'

const KEY = 'wsk_unit'
const verify = createVerifier([KEY])

describe('handleHook', async () => {
  const registry = await registryFrom({ 'steps.yaml': 'version: 1\nsteps:\n  step_a:\n    exit_code: success\n' })
  const signed = (payload: unknown) => ({ payload, signature: sign(JSON.stringify(payload), KEY) })

  it('runs a signed request for a known step', async () => {
    const payload = { context: { step_name: 'step_a' } }
    expect(await handleHook(signed(payload), registry, verify, NO_UPSTREAM)).toEqual({ kind: 'ran', status: 200, payload, keyIndex: 0, result: { exit_code: 'success' } })
  })

  it('checks the signature before the step name, so unsigned callers learn nothing', async () => {
    const known = await handleHook({ payload: { context: { step_name: 'step_a' } }, signature: '0'.repeat(64) }, registry, verify, NO_UPSTREAM)
    const unknown = await handleHook({ payload: { context: { step_name: 'nope' } }, signature: '0'.repeat(64) }, registry, verify, NO_UPSTREAM)
    expect(known).toEqual(unknown)
    expect(known).toMatchObject({ status: 400, reason: 'signature', error: SIGNATURE_ERROR })
  })

  it('answers 404 for a signed request naming an unknown step', async () => {
    expect(await handleHook(signed({ context: { step_name: 'nope' } }), registry, verify, NO_UPSTREAM)).toMatchObject({ status: 404, error: "unknown step 'nope'" })
  })

  it.each([
    ['a body that is not an object', [1, 2], 'request body must be a JSON object'],
    ['a body that is null', null, 'request body must be a JSON object'],
    ['payload missing', { signature: 'x' }, 'must have "payload" as a JSON object'],
    ['payload not an object', { payload: 'x', signature: 'x' }, 'must have "payload" as a JSON object'],
    ['payload an array', { payload: [], signature: 'x' }, 'must have "payload" as a JSON object'],
  ])('answers 400 for %s', async (_name, body, message) => {
    const outcome = await handleHook(body, registry, verify, NO_UPSTREAM)
    expect(outcome).toMatchObject({ kind: 'rejected', status: 400, reason: 'malformed' })
    expect((outcome as { error: string }).error).toContain(message)
  })

  it.each([
    ['context missing', {}, 'payload.context must be a JSON object'],
    ['context not an object', { context: 'x' }, 'payload.context must be a JSON object'],
    ['step_name missing', { context: {} }, 'payload.context.step_name must be a non-empty string'],
    ['step_name not a string', { context: { step_name: 7 } }, 'payload.context.step_name must be a non-empty string'],
    ['step_name empty', { context: { step_name: '' } }, 'payload.context.step_name must be a non-empty string'],
  ])('answers 400 for a signed payload with %s', async (_name, payload, message) => {
    expect(await handleHook(signed(payload), registry, verify, NO_UPSTREAM)).toMatchObject({ status: 400, reason: 'malformed', error: message })
  })

  it('answers 400 when the payload is nested too deeply to stringify', async () => {
    let deep: unknown = {}
    for (let i = 0; i < 20_000; i++) deep = [deep]
    expect(await handleHook({ payload: { context: { step_name: 'step_a' }, data: deep }, signature: 'x' }, registry, verify, NO_UPSTREAM)).toMatchObject({
      status: 400,
      error: 'payload is nested too deeply to be checked',
    })
  })
})
