import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createVerifier, sign } from '../../src/core/signature.js'

const SEED_KEY = 'wsk_upsjOIYYLME2zLPaiDDe9BpXP2ZS8xnw'
// The seed's example payload, as the orchestrator's JSON.stringify writes it.
const SEED_PAYLOAD = {
  data: { foo: 'bar' },
  context: {
    flow_id: 'my_awesome_flow_identifier',
    flow_name: 'my_awesome_flow',
    step_name: 'step_b',
    request_id: 'mqr_4b81ae2d5613446e9e21d76ba2ce26fc',
    triggered_by: { step_name: 'step_a', step_execution_id: 'ste_edf275e1e6e54212aa10662b05719d7a' },
    dependencies_context: { step_a: { data: null, exit_code: 'success' } },
  },
}

describe('sign', () => {
  // Known answers computed once, outside this code (Python's hashlib over the
  // UTF-8 bytes of the compact JSON followed by the key), and pinned here.
  it('matches the known answer for the seed example', () => {
    expect(sign(JSON.stringify(SEED_PAYLOAD), SEED_KEY)).toBe('c3f2333f398597ca471d5165cd8328d0ba4e34d8f6f55fe9c9b30ee63a0d4d30')
  })

  it('hashes non-ASCII text as UTF-8', () => {
    const payload = { data: { name: 'Zoë', city: 'Zürich', emoji: '🚀' }, context: { step_name: 'step_c', dependencies_context: {} } }
    expect(sign(JSON.stringify(payload), SEED_KEY)).toBe('1d7f834135ac1b37c71c2851984306b62a42a36ad2a77ac33f8d18bb4418a223')
  })
})

describe('createVerifier', () => {
  const json = JSON.stringify(SEED_PAYLOAD)
  const good = sign(json, SEED_KEY)
  const verify = createVerifier([SEED_KEY])

  it('accepts the right signature and names the key that matched', () => {
    expect(verify(json, good)).toBe(0)
    expect(createVerifier(['other', SEED_KEY])(json, good)).toBe(1)
  })

  it('takes the payload as text or as its UTF-8 bytes alike, with one key or several, whatever the characters', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 1 }), fc.string({ unit: 'grapheme' }), (key, text) => {
        const payload = JSON.stringify({ text })
        const signature = sign(payload, key)
        const bytes = new TextEncoder().encode(payload)
        expect(createVerifier([key])(payload, signature)).toBe(0)
        expect(createVerifier([key])(bytes, signature)).toBe(0)
        expect(createVerifier(['k0', key])(bytes, signature)).toBe(1)
        expect(createVerifier([key])(JSON.stringify({ text: text + ' ' }), signature)).toBe(-1)
      }),
      { seed: 20261129, numRuns: 300 },
    )
    // Past the size hashed in one call, and at it.
    for (const size of [4000, 4096, 4097, 10_000, 1_000_000]) {
      const payload = JSON.stringify({ text: 'é'.repeat(size) }).slice(0, size)
      const signature = sign(payload, 'wsk_k')
      expect(createVerifier(['wsk_k'])(payload, signature), String(size)).toBe(0)
      expect(createVerifier(['wsk_k'])(new TextEncoder().encode(payload), signature), String(size)).toBe(0)
      expect(createVerifier(['wsk_k'])(payload.slice(1), signature), String(size)).toBe(-1)
    }
  })

  it.each([
    ['missing', undefined],
    ['not a string', 12345],
    ['an array', [good]],
    ['empty', ''],
    ['uppercase hex', good.toUpperCase()],
    ['one character short', good.slice(0, 63)],
    ['one character long', good + '0'],
    // Buffer.from(hex, 'hex') would stop at 'zz' and compare a 31-byte prefix.
    ['valid prefix then non-hex', good.slice(0, 62) + 'zz'],
    ['another key', sign(json, 'wsk_other')],
    ['surrounded by spaces', ` ${good.slice(1)}`],
  ])('rejects a signature that is %s', (_name, signature) => {
    expect(verify(json, signature)).toBe(-1)
  })

  it('rejects a signed payload whose content changed in any way', () => {
    fc.assert(
      fc.property(fc.object(), fc.string({ minLength: 1 }), fc.string(), fc.jsonValue(), (payload, key, field, value) => {
        const changed = { ...payload, [field]: value } // a new field, or a new value for an old one
        fc.pre(JSON.stringify(changed) !== JSON.stringify(payload))
        return createVerifier([key])(JSON.stringify(changed), sign(JSON.stringify(payload), key)) === -1
      }),
      { numRuns: 1000 },
    )
  })

  it('rejects a signed payload with any one character of its JSON changed', () => {
    fc.assert(
      fc.property(fc.object(), fc.nat(), fc.string({ minLength: 1, maxLength: 1 }), (payload, at, char) => {
        const json = JSON.stringify(payload)
        const i = at % json.length
        const mutated = json.slice(0, i) + char + json.slice(i + 1)
        fc.pre(mutated !== json)
        return verify(mutated, sign(json, SEED_KEY)) === -1
      }),
      { numRuns: 1000 },
    )
  })

  it('refuses to be built without a key', () => {
    expect(() => createVerifier([])).toThrow(/at least one key/)
  })
})
