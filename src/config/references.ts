import type { Diagnostic, Rule } from './diagnostics.js'
import type { Interpolation } from './interpolate.js'
import { diagnosticInValue, type NodePath, type YamlSource } from './yaml-source.js'

export interface ReferenceContext {
  readonly source: YamlSource
  readonly diagnostics: Diagnostic[]
  /** Lint in CI, where secrets are absent: a missing variable or secret file is a warning. */
  readonly allowMissingEnv: boolean
}

/**
 * Reports, each at its place inside the value, what `interpolate` could not
 * resolve: unset variables, unreadable secret files, and text that is no
 * reference (worded by the caller, which knows what the value may hold).
 * Returns whether everything resolved.
 */
export function reportReferences(result: Interpolation, at: NodePath, ctx: ReferenceContext, malformed: { readonly describe: (text: string) => string; readonly rule: Rule }): boolean {
  const severity = ctx.allowMissingEnv ? 'warning' : 'error'
  for (const m of result.missing) ctx.diagnostics.push(diagnosticInValue(ctx.source, at, m.index, `environment variable ${m.name} is not set`, 'env-missing', severity))
  for (const u of result.unreadable) ctx.diagnostics.push(diagnosticInValue(ctx.source, at, u.index, `cannot read the secret file ${u.path}: ${u.message}`, 'secret-file', severity))
  for (const m of result.malformed) ctx.diagnostics.push(diagnosticInValue(ctx.source, at, m.index, malformed.describe(m.text), malformed.rule))
  return result.missing.length === 0 && result.unreadable.length === 0 && result.malformed.length === 0
}
