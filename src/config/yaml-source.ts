import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml'
import type { Diagnostic, Rule } from './diagnostics.js'
import { valueOffset } from './scalar-positions.js'

/** A parsed YAML (or JSON) file that remembers where each node came from. */
export interface YamlSource {
  readonly file: string
  readonly text: string
  readonly doc: Document.Parsed
  readonly lines: LineCounter
}

export type PathSegment = string | number
export type NodePath = readonly PathSegment[]

export interface Position {
  readonly line: number
  readonly col: number
}

export function parseYamlSource(file: string, text: string): { source: YamlSource; diagnostics: Diagnostic[] } {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  const source: YamlSource = { file, text, doc, lines }
  const diagnostics = doc.errors.map((e) =>
    diagnosticAtOffset(source, e.pos[0], e.code === 'DUPLICATE_KEY' ? duplicateKeyMessage(source, e.pos[0]) : firstLine(e.message), e.code === 'DUPLICATE_KEY' ? 'duplicate-key' : 'yaml-syntax'),
  )
  return { source, diagnostics }
}

/**
 * The document as plain values. Aliases are capped, so that a small file
 * cannot expand into a huge one: past the cap it is a diagnostic, not a crash.
 */
export function toValue(source: YamlSource): { ok: true; value: unknown } | { ok: false; diagnostic: Diagnostic } {
  try {
    return { ok: true, value: source.doc.toJS({ maxAliasCount: 100 }) }
  } catch (err) {
    return { ok: false, diagnostic: { file: source.file, line: 1, col: 1, severity: 'error', message: (err as Error).message, rule: 'yaml-syntax' } }
  }
}

/** Why a file could not be read, in words: "not found", "is a directory", "cannot be read (EACCES)". */
export function unreadable(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOENT') return 'not found'
  if (code === 'EISDIR') return 'is a directory'
  return `cannot be read (${code ?? String(err)})`
}

export function positionAtOffset(source: YamlSource, offset: number): Position {
  const { line, col } = source.lines.linePos(Math.max(0, Math.min(offset, source.text.length)))
  return { line, col }
}

export function diagnosticAtOffset(source: YamlSource, offset: number, message: string, rule: Rule, severity: Diagnostic['severity'] = 'error'): Diagnostic {
  return { file: source.file, ...positionAtOffset(source, offset), severity, message, rule }
}

/**
 * The node at a path of map keys and sequence indexes, and the key node that
 * names it (when its parent is a map). Stops at the deepest node that exists,
 * so a diagnostic can always point somewhere near.
 */
export function locate(source: YamlSource, path: NodePath): { node: Node | undefined; key: Node | undefined; found: boolean } {
  let node: unknown = source.doc.contents
  let key: Node | undefined
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment))
      if (pair === undefined) return { node: node as Node, key, found: false }
      key = pair.key as Node
      node = pair.value ?? undefined
    } else if (isSeq(node)) {
      const item = node.items[Number(segment)]
      if (item === undefined) return { node: node as Node, key, found: false }
      key = undefined
      node = item
    } else {
      return { node: node as Node | undefined, key, found: false }
    }
  }
  return { node: node as Node | undefined, key, found: true }
}

/** Where to point for a path: its key (`at: 'key'`) or its value. */
export function offsetOf(source: YamlSource, path: NodePath, at: 'key' | 'value' = 'value'): number {
  const { node, key, found } = locate(source, path)
  const target = found && at === 'key' && key !== undefined ? key : (node ?? key)
  return target?.range?.[0] ?? 0
}

export function diagnosticAt(source: YamlSource, path: NodePath, at: 'key' | 'value', message: string, rule: Rule, severity: Diagnostic['severity'] = 'error'): Diagnostic {
  return diagnosticAtOffset(source, offsetOf(source, path, at), message, rule, severity)
}

/**
 * A diagnostic at a character of a scalar's value (a bad token inside an
 * expression, a variable inside a URL), wherever the YAML style put it.
 */
export function diagnosticInValue(source: YamlSource, path: NodePath, index: number, message: string, rule: Rule, severity: Diagnostic['severity'] = 'error'): Diagnostic {
  const { node, found } = locate(source, path)
  const offset = found && isScalar(node) ? valueOffset(source, node, index) : offsetOf(source, path, 'value')
  return diagnosticAtOffset(source, offset, message, rule, severity)
}

/** `steps.charge_card.http.url`, quoting segments that are not plain names. */
export function describePath(path: NodePath): string {
  if (path.length === 0) return 'the file'
  return path
    .map((s, i) => (typeof s === 'number' ? `[${s}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(s) ? (i === 0 ? s : `.${s}`) : `[${JSON.stringify(s)}]`))
    .join('')
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')
}

function duplicateKeyMessage(source: YamlSource, offset: number): string {
  const name = source.text.slice(offset).match(/^["']?([^"':\n]*)/)?.[1]?.trim()
  return name ? `duplicate key '${name}' (it is already defined above)` : 'duplicate key (it is already defined above)'
}
