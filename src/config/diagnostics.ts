/** A problem found in a steps file or a schema file, at a 1-based line and column. */
export interface Diagnostic {
  readonly file: string
  readonly line: number
  readonly col: number
  readonly severity: 'error' | 'warning'
  readonly message: string
  /** A stable name for the kind of problem, for tools that filter on it. */
  readonly rule: Rule
}

export type Rule =
  | 'file-unreadable'
  | 'yaml-syntax'
  | 'duplicate-key'
  | 'unknown-key'
  | 'missing-key'
  | 'wrong-type'
  | 'invalid-value'
  | 'step-kind'
  | 'jsonata-syntax'
  | 'regex-unsupported'
  | 'hyphenated-name'
  | 'shape'
  | 'schema-file'
  | 'schema-invalid'
  | 'env-missing'
  | 'secret-file'
  | 'upstream-unknown'
  | 'upstream-unused'
  | 'auth-invalid'
  | 'tls-invalid'
  | 'proxy-invalid'
  | 'insecure'
  | 'url-invalid'
  | 'placeholder'
  | 'header-invalid'
  | 'retry-ignored'
  | 'body-ignored'
  | 'test-unknown-step'

/** `path:line:col: severity: message`, the way compilers and eslint print them. */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${d.severity}: ${d.message}`
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error')
}

export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return [...diagnostics].sort(
    (a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) || a.line - b.line || a.col - b.col,
  )
}
