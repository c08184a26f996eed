import { createHash, hash, timingSafeEqual } from 'node:crypto'

/**
 * The orchestrator's signature: lowercase hex of
 * sha256(JSON.stringify(payload) + key), over UTF-8, as the seed computes it.
 */
export function sign(payloadJson: string, key: string): string {
  return createHash('sha256').update(payloadJson, 'utf8').update(key, 'utf8').digest('hex')
}

/** Returns the index of the key that signed the payload (its JSON, as text or UTF-8 bytes), or -1. */
export type Verifier = (payloadJson: string | Uint8Array, signature: unknown) => number

// Checked before decoding: Buffer.from(hex, 'hex') stops silently at the first
// bad character, so "abc…zz" would otherwise compare as a shorter digest.
const SIGNATURE_FORMAT = /^[0-9a-f]{64}$/

/** Whether a value has the form of a signature: 64 lowercase hex characters. */
export function isSignatureFormat(signature: unknown): signature is string {
  return typeof signature === 'string' && SIGNATURE_FORMAT.test(signature)
}

/** Up to this many characters, a payload signed with one key is hashed in one call (see createVerifier). */
const ONE_SHOT_MAX_CHARS = 4096

export function createVerifier(keys: readonly string[]): Verifier {
  if (keys.length === 0) throw new Error('a verifier needs at least one key')
  const keyBytes = keys.map((key) => Buffer.from(key, 'utf8'))
  // One key (the usual case) and a small payload (nearly every one): one
  // call of the one-shot hash over payload + key, which spares the Hash
  // object that createHash makes, most of the cost at this size. Past a few
  // KB the copy that the concatenation makes costs more than it saves.
  const onlyKey = keys.length === 1 ? keys[0]! : undefined
  return (payloadJson, signature) => {
    if (typeof signature !== 'string' || !SIGNATURE_FORMAT.test(signature)) return -1
    if (onlyKey !== undefined && typeof payloadJson === 'string' && payloadJson.length <= ONE_SHOT_MAX_CHARS) {
      return timingSafeEqual(hash('sha256', payloadJson + onlyKey, 'buffer'), Buffer.from(signature, 'hex')) ? 0 : -1
    }
    const given = Buffer.from(signature, 'hex')
    // Hash the payload once; each key only extends a copy of that state.
    const prefix = typeof payloadJson === 'string' ? createHash('sha256').update(payloadJson, 'utf8') : createHash('sha256').update(payloadJson)
    let matched = -1
    // Every key is compared, matched or not, so timing tells nothing of which.
    for (let i = 0; i < keyBytes.length; i++) {
      const state = i === keyBytes.length - 1 ? prefix : prefix.copy()
      const expected = state.update(keyBytes[i]!).digest()
      if (timingSafeEqual(expected, given) && matched === -1) matched = i
    }
    return matched
  }
}
