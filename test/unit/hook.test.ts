import { describe, expect, it } from 'vitest'
import { SIGNATURE_ERROR } from '../../src/core/errors.js'
import { handleHook, hookBodyOf, readHookBody, type HookBody } from '../../src/core/hook.js'
import { createVerifier, sign } from '../../src/core/signature.js'
import { NO_UPSTREAM, registryFrom } from '../helpers/config.js'

const KEY = 'wsk_unit'
const verify = createVerifier([KEY])

function bodyOf(text: string): HookBody {
  const read = readHookBody(text, 1000)
  if (!read.ok) throw new Error(read.error)
  return read.body
}

describe('handleHook', async () => {
  const registry = await registryFrom({ 'steps.yaml': 'version: 1\nsteps:\n  step_a:\n    exit_code: success\n' })
  const signed = (payload: unknown) => hookBodyOf({ payload, signature: sign(JSON.stringify(payload), KEY) })

  it('runs a signed request for a known step', async () => {
    const payload = { context: { step_name: 'step_a' } }
    expect(await handleHook(signed(payload), registry, verify, NO_UPSTREAM)).toEqual({
      kind: 'ran',
      status: 200,
      payload,
      keyIndex: 0,
      result: { exit_code: 'success' },
      body: '{"exit_code":"success"}',
    })
  })

  it('checks the signature over the payload as sent, and over JSON.stringify of it when its sender reformatted it', async () => {
    const payload = { context: { step_name: 'step_a', note: 'é/ü' } }
    const signature = sign(JSON.stringify(payload), KEY)
    // Pretty-printed, and with escapes another serializer writes: parsed and serialized again.
    const pretty = JSON.stringify({ payload, signature }, null, 2).replace('é', '\\u00e9').replace('/', '\\/')
    expect(await handleHook(bodyOf(pretty), registry, verify, NO_UPSTREAM)).toMatchObject({ kind: 'ran', keyIndex: 0 })
    // Another writer's compact bytes, signed as they are (here: a number written 1.0).
    const raw = '{"context":{"step_name":"step_a","n":1.0}}'
    const body = bodyOf(`{"payload":${raw},"signature":"${sign(raw, KEY)}"}`)
    expect(await handleHook(body, registry, verify, NO_UPSTREAM)).toMatchObject({ kind: 'ran', payload: { context: { n: 1 } } })
  })

  it('checks the signature before the step name, so unsigned callers learn nothing', async () => {
    const known = await handleHook(hookBodyOf({ payload: { context: { step_name: 'step_a' } }, signature: '0'.repeat(64) }), registry, verify, NO_UPSTREAM)
    const unknown = await handleHook(hookBodyOf({ payload: { context: { step_name: 'nope' } }, signature: '0'.repeat(64) }), registry, verify, NO_UPSTREAM)
    expect(known).toEqual(unknown)
    expect(known).toMatchObject({ status: 400, reason: 'signature', error: SIGNATURE_ERROR })
  })

  it.each([
    ['no signature', { payload: { context: { step_name: 'step_a' } } }],
    ['a signature that is not a string', { payload: { context: { step_name: 'step_a' } }, signature: 7 }],
    ['an upper-case signature', { payload: { context: { step_name: 'step_a' } }, signature: sign('{"context":{"step_name":"step_a"}}', KEY).toUpperCase() }],
  ])('refuses %s', async (_name, body) => {
    expect(await handleHook(hookBodyOf(body), registry, verify, NO_UPSTREAM)).toMatchObject({ status: 400, reason: 'signature', error: SIGNATURE_ERROR })
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
    const outcome = await handleHook(hookBodyOf(body), registry, verify, NO_UPSTREAM)
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
})

describe('readHookBody', () => {
  it('refuses a body nested deeper than MAX_JSON_DEPTH before parsing it', () => {
    const deep = `{"payload":{"context":{"step_name":"step_a"},"data":${'['.repeat(500_000)}${']'.repeat(500_000)}},"signature":"x"}`
    expect(readHookBody(deep, 1000)).toEqual({ ok: false, error: 'request body is nested deeper than 1000 levels at line 1, column 1051 (MAX_JSON_DEPTH)' })
  })

  it('refuses prototype-poisoning keys anywhere, rather than stripping them', () => {
    for (const text of ['{"__proto__":{}}', '{"payload":{"a":[{"\\u005f_proto__":1}]}}', '{"payload":{"constructor":{"prototype":{}}}}']) {
      expect(readHookBody(text, 1000)).toEqual({ ok: false, error: 'request body contains a forbidden key (__proto__ or constructor.prototype)' })
    }
    expect(readHookBody('{"payload":{"constructor":{"name":"x"},"prototype":1}}', 1000)).toMatchObject({ ok: true })
  })

  it('says where a body is not JSON, without quoting it', () => {
    expect(readHookBody('\u001f\u008b\u0008\u0000binary', 1000)).toEqual({ ok: false, error: 'request body is not valid JSON: unexpected character U+001F at line 1, column 1' })
  })
})
