/**
 * Replaces secrets by value: in JSON text (a log line, an answer), in plain
 * text (an upstream's text body or header) and in parsed values (an upstream's
 * JSON body). Built once per set of secrets; the per-call cost when no secret
 * is present is one `includes` per secret.
 */
export interface Scrubber {
  /** JSON text with each secret inside a string replaced; the text stays valid JSON (numbers and literals are left alone). */
  json(text: string): string
  /** Plain text with every occurrence of a secret replaced. */
  text(text: string): string
  /** A parsed JSON value with secrets replaced in its strings and keys, changed in place. */
  value(value: unknown): unknown
  /**
   * Whether JSON text may hold a secret once parsed: it holds one as written,
   * or it has escapes (another writer may escape what JSON.stringify does not,
   * such as `\/`). When false, `value` of its parse has nothing to do.
   */
  mayHold(jsonText: string): boolean
}

// Shorter values are too likely to occur by chance in ordinary text.
export const MIN_SECRET_LENGTH = 4

export function createScrubber(values: Iterable<string>, replacement: string): Scrubber {
  // Longest first, so that a secret that contains another is replaced whole.
  const raw = [...new Set([...values].filter((v) => v.length >= MIN_SECRET_LENGTH))].sort((a, b) => b.length - a.length)
  // As a secret appears inside a JSON string.
  const escaped = raw.map((v) => JSON.stringify(v).slice(1, -1))
  const everyForm = [...new Set([...raw, ...escaped])].sort((a, b) => b.length - a.length)
  const replacementInJson = JSON.stringify(replacement).slice(1, -1)

  const replaceAll = (text: string, forms: readonly string[], by: string): string => {
    let out = text
    for (const form of forms) if (out.includes(form)) out = out.split(form).join(by)
    return out
  }
  const anyOf = (text: string, forms: readonly string[]): boolean => {
    for (const form of forms) if (text.includes(form)) return true
    return false
  }

  return {
    json(text) {
      if (!anyOf(text, escaped)) return text
      // Only inside string tokens: a secret of digits must not break a number.
      let out = ''
      let last = 0
      for (let i = text.indexOf('"'); i !== -1; ) {
        let end = i + 1
        for (;;) {
          const quote = text.indexOf('"', end)
          if (quote === -1) return out + text.slice(last)
          let backslashes = 0
          for (let k = quote - 1; k > i && text.charCodeAt(k) === 92; k--) backslashes++
          end = quote + 1
          if (backslashes % 2 === 0) break
        }
        const token = text.slice(i, end)
        if (anyOf(token, escaped)) {
          out += text.slice(last, i) + replaceAll(token, escaped, replacementInJson)
          last = end
        }
        i = text.indexOf('"', end)
      }
      return out + text.slice(last)
    },
    mayHold: (text) => raw.length > 0 && (text.includes('\\') || anyOf(text, everyForm)),
    text: (text) => (anyOf(text, everyForm) ? replaceAll(text, everyForm, replacement) : text),
    value(value) {
      if (raw.length === 0) return value
      const walk = (v: unknown): unknown => {
        if (typeof v === 'string') return anyOf(v, raw) ? replaceAll(v, raw, replacement) : v
        if (typeof v !== 'object' || v === null) return v
        if (Array.isArray(v)) {
          for (let i = 0; i < v.length; i++) v[i] = walk(v[i])
          return v
        }
        const o = v as Record<string, unknown>
        for (const key of Object.keys(o)) {
          const clean = anyOf(key, raw) ? replaceAll(key, raw, replacement) : key
          const item = walk(o[key])
          if (clean !== key) {
            delete o[key]
            o[clean] = item
          } else {
            o[key] = item
          }
        }
        return o
      }
      return walk(value)
    },
  }
}
