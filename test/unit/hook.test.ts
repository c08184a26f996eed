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

describe('readHookBody, signature first (the orchestrator\'s own shape)', async () => {
  const registry = await registryFrom({ 'steps.yaml': 'version: 1\nsteps:\n  step_a:\n    exit_code: success\n' })
  const bodyText = (payloadText: string, signature = sign(payloadText, KEY)) => `{"payload":${payloadText},"signature":"${signature}"}`
  /** What the server answers for a body: the read's refusal, or handleHook's outcome. */
  const answer = async (text: string, withVerifier: boolean, maxDepth = 1000) => {
    const read = readHookBody(text, maxDepth, withVerifier ? verify : undefined)
    return read.ok ? { kind: read.body.kind, outcome: await handleHook(read.body, registry, verify, NO_UPSTREAM) } : { error: read.error }
  }
  /** The same answer both ways; returns how the body was read with the verifier. */
  const same = async (text: string, maxDepth = 1000) => {
    const short = await answer(text, true, maxDepth)
    const scanned = await answer(text, false, maxDepth)
    expect(scanned.kind === undefined || scanned.kind === 'scanned').toBe(true)
    expect({ ...short, kind: undefined }).toEqual({ ...scanned, kind: undefined })
    return short.kind
  }

  it('reads a signed body of the exact shape the short way, with the answer the scan gives', async () => {
    const payload = { context: { step_name: 'step_a', request_id: 'mqr_1' }, data: { a: [1, 'x', null, { b: true }] } }
    expect(await same(bodyText(JSON.stringify(payload)))).toBe('signed')
  })

  it('gives the scan the rest, with the same answer: unsigned, other key, reformatted, forbidden keys, too deep, too long, not one value', async () => {
    const payload = JSON.stringify({ context: { step_name: 'step_a' } })
    // How the body is read with the verifier: by the scan, or refused by it.
    const cases: Array<[string, string, 'scanned' | 'refused', number?]> = [
      ['wrong signature', bodyText(payload, '0'.repeat(64)), 'scanned'],
      ['signed with another key', bodyText(payload, sign(payload, 'other')), 'scanned'],
      ['upper-case signature', bodyText(payload, sign(payload, KEY).toUpperCase()), 'scanned'],
      ['spaces', JSON.stringify({ payload: JSON.parse(payload), signature: sign(payload, KEY) }, null, 1), 'scanned'],
      ['__proto__ key', bodyText('{"context":{"step_name":"step_a"},"__proto__":{"x":1}}'), 'refused'],
      ['escaped __proto__ key', bodyText('{"context":{"step_name":"step_a"},"a":[{"\\u005f_proto__":1}]}'), 'refused'],
      ['constructor.prototype', bodyText('{"context":{"step_name":"step_a"},"constructor":{"prototype":{}}}'), 'refused'],
      ['"prototype" that is harmless', bodyText('{"context":{"step_name":"step_a"},"constructor":{"name":"x"},"prototype":1}'), 'scanned'],
      ['deeper than MAX_JSON_DEPTH', bodyText(`{"context":{"step_name":"step_a"},"d":${'['.repeat(12)}${']'.repeat(12)}}`), 'refused', 10],
      ['brackets in strings past MAX_JSON_DEPTH', bodyText(`{"context":{"step_name":"step_a"},"d":"${'['.repeat(12)}"}`), 'scanned', 10],
      ['longer than 16 KiB', bodyText(JSON.stringify({ context: { step_name: 'step_a' }, pad: 'x'.repeat(17 * 1024) })), 'scanned'],
      ['signed but not JSON', bodyText('{"context":{"step_name":"step_a"},"a":}'), 'refused'],
      ['two payloads, signed as one span', bodyText('{"context":{"step_name":"nope"}},"payload":{"context":{"step_name":"step_a"}}'), 'scanned'],
      ['a payload that is not an object', `{"payload":[1],"signature":"${sign('[1]', KEY)}"}`, 'scanned'],
      ['space before the comma', bodyText(`${payload} `), 'scanned'],
      ['another member first', `{"x":1,"payload":${payload},"signature":"${sign(payload, KEY)}"}`, 'scanned'],
    ]
    for (const [name, text, read, maxDepth] of cases) expect(await same(text, maxDepth), name).toBe(read === 'refused' ? undefined : read)
  })

  it('answers as the scan does for any payload, signed or not (property)', async () => {
    const { default: fc } = await import('fast-check')
    const payload = fc.record({ context: fc.record({ step_name: fc.constantFrom('step_a', 'nope', ''), request_id: fc.string() }), data: fc.jsonValue({ maxDepth: 4 }) })
    const reads = { signed: 0, scanned: 0, refused: 0 }
    await fc.assert(
      fc.asyncProperty(payload, fc.boolean(), fc.nat(14), async (p, signed, maxDepth) => {
        const text = JSON.stringify(p)
        reads[(await same(bodyText(text, signed ? sign(text, KEY) : sign(text, 'not the key')), maxDepth + 1)) ?? 'refused']++
      }),
      { seed: 20261129, numRuns: 300 },
    )
    // Each way was taken: the short one, the scan, and the scan's refusal (too deep).
    expect(Math.min(reads.signed, reads.scanned, reads.refused)).toBeGreaterThan(10)
  })
})
