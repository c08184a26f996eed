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

export function createVerifier(keys: readonly string[]): Verifier {
  if (keys.length === 0) throw new Error('a verifier needs at least one key')
  const keyBytes = keys.map((key) => Buffer.from(key, 'utf8'))
  if (keys.length === 1) {
    // One key, the usual case: one call of the one-shot hash, which spares
    // the Hash object that createHash makes (most of the cost of a small payload).
    const key = keys[0]!
    const only = keyBytes[0]!
    return (payloadJson, signature) => {
      if (typeof signature !== 'string' || !SIGNATURE_FORMAT.test(signature)) return -1
      const signed = typeof payloadJson === 'string' ? payloadJson + key : Buffer.concat([payloadJson, only])
      return timingSafeEqual(hash('sha256', signed, 'buffer'), Buffer.from(signature, 'hex')) ? 0 : -1
    }
  }
  return (payloadJson, signature) => {
    if (typeof signature !== 'string' || !SIGNATURE_FORMAT.test(signature)) return -1
    const given = Buffer.from(signature, 'hex')
    // Hash the payload once; each key only extends a copy of that state.
    const prefix = typeof payloadJson === 'string' ? createHash('sha256').update(payloadJson, 'utf8') : createHash('sha256').update(payloadJson)
    let matched = -1
    // Every key is compared, matched or not, so timing tells nothing of which.
    for (let i = 0; i < keyBytes.length; i++) {
      const hash = i === keyBytes.length - 1 ? prefix : prefix.copy()
      const expected = hash.update(keyBytes[i]!).digest()
      if (timingSafeEqual(expected, given) && matched === -1) matched = i
    }
    return matched
  }
}
