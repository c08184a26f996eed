import { createScrubber, type Scrubber } from '../core/secrets.js'

/**
 * Takes secrets out of every log line, at every level, whatever field or
 * message they ended up in: the signature keys, every value of the config
 * that came from the environment (see HttpAction.secrets), credential header
 * values, and anything shaped like a signature (a run of 64 or more hex
 * characters, in any case, also inside a longer token). The set changes with
 * the config, since a reload can bring new values. Matching the finished line
 * catches what a field-name rule cannot: a secret inside a message, an error,
 * a caller-chosen request_id.
 */
export interface Redactor {
  /** Replaces the secrets that come from the config (the keys stay). */
  setConfigSecrets(values: Iterable<string>): void
  apply(line: string): string
}

export const CENSOR = '[REDACTED]'
// The lookbehind starts a match only where a run of hex characters starts,
// which keeps the replacement linear in the line.
const SIGNATURE_SHAPE_ALL = /(?<![0-9a-fA-F])[0-9a-fA-F]{64,}/g

export function createRedactor(keys: readonly string[]): Redactor {
  let scrubber: Scrubber = createScrubber(keys, CENSOR)
  return {
    setConfigSecrets(values) {
      scrubber = createScrubber([...keys, ...values], CENSOR)
    },
    apply(line) {
      // A log line is JSON: secrets are replaced inside its strings only, so
      // that a secret made of digits cannot break a number and the line.
      const out = hasHexRun(line) ? line.replace(SIGNATURE_SHAPE_ALL, CENSOR) : line
      return scrubber.json(out)
    },
  }
}

/**
 * Whether a line has a run of 64 hex characters: one pass, a few hundred ns
 * for a log line, where a regular expression takes microseconds (it tries
 * every start inside every shorter run, such as a request id's).
 */
function hasHexRun(line: string): boolean {
  let run = 0
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i) | 0x20 // lower case for letters
    if ((c >= 48 && c <= 57) || (c >= 97 && c <= 102)) {
      if (++run === 64) return true
    } else {
      run = 0
    }
  }
  return false
}
