/**
 * Takes secrets out of every log line, whatever field or message they ended
 * up in: signature keys, header values read from the environment or sent as
 * authorization, and anything shaped like a signature (64 lowercase hex
 * characters). The set changes with the config, since a reload can bring new
 * headers. Matching the finished line catches what a field-name rule cannot:
 * a secret inside a message or an error.
 */
export interface Redactor {
  /** Replaces the secrets that come from the config (the keys stay). */
  setConfigSecrets(values: Iterable<string>): void
  apply(line: string): string
}

const CENSOR = '[REDACTED]'
const SIGNATURE_SHAPE = /(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])/
const SIGNATURE_SHAPE_ALL = new RegExp(SIGNATURE_SHAPE.source, 'g')
// Shorter values are too likely to occur by chance in ordinary text.
const MIN_LENGTH = 4

export function createRedactor(keys: readonly string[]): Redactor {
  let secrets: string[] = []
  const fixed = forms(keys)
  const update = (config: Iterable<string>) => {
    // Longest first, so a secret that contains another is replaced whole.
    secrets = [...new Set([...fixed, ...forms(config)])].sort((a, b) => b.length - a.length)
  }
  update([])
  return {
    setConfigSecrets: update,
    apply(line) {
      let out = SIGNATURE_SHAPE.test(line) ? line.replace(SIGNATURE_SHAPE_ALL, CENSOR) : line
      for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join(CENSOR)
      return out
    },
  }
}

/** A value as written, and as it appears inside a JSON string. */
function forms(values: Iterable<string>): string[] {
  const out: string[] = []
  for (const value of values) {
    if (value.length < MIN_LENGTH) continue
    out.push(value)
    const escaped = JSON.stringify(value).slice(1, -1)
    if (escaped !== value) out.push(escaped)
  }
  return out
}
