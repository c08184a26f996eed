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
 * Whether a line has a run of 64 hex characters, looking at about one
 * character in 64 of an ordinary line: a run that long covers every 64th
 * position, so only a hex character there is widened into its run. A
 * regular expression takes microseconds (it tries every start inside every
 * shorter run, such as a request id's); a scan of every character, most of
 * a microsecond per line.
 */
export function hasHexRun(line: string): boolean {
  const n = line.length
  for (let probe = 63; probe < n; probe += 64) {
    if (!isHex(line.charCodeAt(probe))) continue
    let start = probe
    while (start > 0 && isHex(line.charCodeAt(start - 1))) start--
    let end = probe + 1
    while (end < n && isHex(line.charCodeAt(end))) end++
    if (end - start >= 64) return true
    // line[end] is not hex: a long run lies wholly after it, and covers end + 64.
    probe = end
  }
  return false
}

function isHex(code: number): boolean {
  const letter = code | 0x20 // lower case
  return (code >= 48 && code <= 57) || (letter >= 97 && letter <= 102)
}
