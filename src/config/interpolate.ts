/**
 * `${VAR}`, `${VAR:-default}` from the environment, `${file:PATH}` from a file
 * read at load, and `{name}` URL placeholders, read in one pass: a value from
 * the environment or a file is inserted as it is and never read again as a
 * placeholder.
 */
const TOKEN = /\$\{file:([^}]*)\}|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?|\{([^{}]*)\}/g

/** Every `${file:PATH}` written in a text, as written. */
const FILE_REFERENCE = /\$\{file:([^}]*)\}/g

/** What `${file:PATH}` resolves to: read by the loader before compiling, so that interpolation stays synchronous. */
export type SecretFile = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly message: string }

/** The secret files of a load, by the path as written. */
export type SecretFiles = ReadonlyMap<string, SecretFile>

export interface Interpolation {
  /** Literal text at even indexes, placeholder names at odd ones (just one part without placeholders). */
  readonly parts: string[]
  /** Variables that are not set (and have no default), with their index in the written text. */
  readonly missing: { name: string; index: number }[]
  /** `${file:PATH}` that could not be read, with the reason and their index in the written text. */
  readonly unreadable: { path: string; message: string; index: number }[]
  /** `${...}` that is not a variable reference, and `{...}` that is not a placeholder name. */
  readonly malformed: { text: string; index: number }[]
  /** Whether any part came from the environment or a file. */
  readonly usedEnv: boolean
  /** The values inserted from the environment and from files (not defaults written in the file): secrets. */
  readonly envValues: string[]
}

export function interpolate(written: string, env: Readonly<Record<string, string | undefined>>, placeholders: boolean, files: SecretFiles = new Map()): Interpolation {
  const parts = ['']
  const missing: Interpolation['missing'] = []
  const unreadable: Interpolation['unreadable'] = []
  const malformed: Interpolation['malformed'] = []
  let usedEnv = false
  const envValues: string[] = []
  let last = 0
  for (const match of written.matchAll(TOKEN)) {
    const index = match.index
    parts[parts.length - 1] += written.slice(last, index)
    last = index + match[0].length
    const [text, filePath, name, fallback, placeholder] = match
    if (filePath !== undefined) {
      usedEnv = true
      const file = files.get(filePath)
      if (file === undefined || !file.ok) {
        unreadable.push({ path: filePath, message: file?.message ?? 'not read', index })
      } else {
        parts[parts.length - 1] += file.text
        if (file.text !== '') envValues.push(file.text)
      }
    } else if (name !== undefined) {
      const value = env[name]
      usedEnv = true
      if (value !== undefined && value !== '') {
        parts[parts.length - 1] += value
        envValues.push(value)
      } else if (fallback !== undefined) parts[parts.length - 1] += fallback
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
  return { parts, missing, unreadable, malformed, usedEnv, envValues }
}

/** The paths of every `${file:PATH}` in the strings of a parsed file, anywhere in it. */
export function fileReferences(value: unknown, into: Set<string> = new Set()): Set<string> {
  if (typeof value === 'string') {
    if (value.includes('${file:')) for (const match of value.matchAll(FILE_REFERENCE)) into.add(match[1]!)
  } else if (Array.isArray(value)) {
    for (const item of value) fileReferences(item, into)
  } else if (typeof value === 'object' && value !== null) {
    for (const item of Object.values(value)) fileReferences(item, into)
  }
  return into
}

/** A file's content as a secret: one trailing newline removed (what `echo` and editors add). */
export function secretFileText(content: string): string {
  return content.endsWith('\r\n') ? content.slice(0, -2) : content.endsWith('\n') ? content.slice(0, -1) : content
}

/** Why a secret file could not be read, in a few words (the variables and the steps file say which file). */
export function secretFileError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOENT') return 'no such file'
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied'
  if (code === 'EISDIR') return 'it is a folder'
  return (err as Error).message ?? String(err)
}
