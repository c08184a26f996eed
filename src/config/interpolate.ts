/**
 * `${VAR}` and `${VAR:-default}` from the environment, and `{name}` URL
 * placeholders, read in one pass: a value from the environment is inserted as
 * it is and never read again as a placeholder.
 */
const TOKEN = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?|\{([^{}]*)\}/g

export interface Interpolation {
  /** Literal text at even indexes, placeholder names at odd ones (just one part without placeholders). */
  readonly parts: string[]
  /** Variables that are not set (and have no default), with their index in the written text. */
  readonly missing: { name: string; index: number }[]
  /** `${...}` that is not a variable reference, and `{...}` that is not a placeholder name. */
  readonly malformed: { text: string; index: number }[]
  /** Whether any part came from the environment. */
  readonly usedEnv: boolean
  /** The values inserted from the environment (not defaults written in the file). */
  readonly envValues: string[]
}

export function interpolate(written: string, env: Readonly<Record<string, string | undefined>>, placeholders: boolean): Interpolation {
  const parts = ['']
  const missing: Interpolation['missing'] = []
  const malformed: Interpolation['malformed'] = []
  let usedEnv = false
  const envValues: string[] = []
  let last = 0
  for (const match of written.matchAll(TOKEN)) {
    const index = match.index
    parts[parts.length - 1] += written.slice(last, index)
    last = index + match[0].length
    const [text, name, fallback, placeholder] = match
    if (name !== undefined) {
      const value = env[name]
      usedEnv = true
      if (value !== undefined && value !== '') {
        parts[parts.length - 1] += value
        envValues.push(value)
      }
      else if (fallback !== undefined) parts[parts.length - 1] += fallback
      else missing.push({ name, index })
    } else if (placeholder !== undefined) {
      if (!placeholders) {
        parts[parts.length - 1] += text
      } else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(placeholder)) {
        parts.push(placeholder, '')
      } else {
        malformed.push({ text, index })
      }
    } else {
      malformed.push({ text, index })
    }
  }
  parts[parts.length - 1] += written.slice(last)
  return { parts, missing, malformed, usedEnv, envValues }
}
