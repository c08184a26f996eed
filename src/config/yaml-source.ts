import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node, type YAMLError } from 'yaml'
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
  const openers = unclosedOpeners(doc, text)
  const diagnostics = doc.errors.map((e) => {
    if (e.code === 'DUPLICATE_KEY') return diagnosticAtOffset(source, e.pos[0], duplicateKeyMessage(source, e.pos[0]), 'duplicate-key')
    const opener = openers(e)
    if (opener === undefined) return diagnosticAtOffset(source, e.pos[0], firstLine(e.message), 'yaml-syntax')
    return diagnosticAtOffset(source, opener, `this '${text[opener]}' is never closed: ${firstLine(e.message)}`, 'yaml-syntax')
  })
  return { source, diagnostics }
}

/**
 * yaml reports an unclosed flow collection or quoted scalar where the closing
 * character was expected: at the next key, or at the very end of the file, a
 * line past its last one. The bracket or quote that is never closed is what
 * to fix, so point there. Each error takes the innermost node that ends where
 * it was reported (`[a, [b` has two).
 */
function unclosedOpeners(doc: Document.Parsed, text: string): (error: YAMLError) => number | undefined {
  const candidates: { start: number; end: number; opener: string }[] = []
  visit(doc, (_key, node) => {
    // A pair's key or value may be null (`key:` with nothing after it).
    const range = (node as Node | null)?.range
    if (range === undefined || range === null) return
    const opener = text[range[0]]
    if (opener === '[' || opener === '{' || opener === '"' || opener === "'") candidates.push({ start: range[0], end: range[1], opener })
  })
  candidates.sort((a, b) => b.start - a.start)
  const used = new Set<number>()
  return (error) => {
    const opener = /^Flow sequence\b/.test(error.message) ? '[' : /^Flow map\b/.test(error.message) ? '{' : /^Missing closing (["'])quote/.exec(error.message)?.[1]
    if (opener === undefined) return undefined
    const found = candidates.find((c) => c.opener === opener && c.end === error.pos[0] && !used.has(c.start))
    if (found === undefined) return undefined
    used.add(found.start)
    return found.start
  }
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

/**
 * The line and column of an offset, never past the end of the file: an
 * offset at or after the end of the text (where parsers report "unexpected
 * end") points at its last character instead, a place an editor can show.
 */
/** `path:1:1: error: <what> not found`: a file that could not be read, named as given. */
export function unreadableFile(path: string, what: string, err: unknown): Diagnostic {
  return { file: path, line: 1, col: 1, severity: 'error', message: `${what} ${unreadable(err)}`, rule: 'file-unreadable' }
}

export function positionAtOffset(source: YamlSource, offset: number): Position {
  const last = source.text.trimEnd().length - 1
  const { line, col } = source.lines.linePos(Math.max(0, Math.min(offset, last)))
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
  // A value written as nothing (`a:`) has an empty range just past the colon: its key is where it is.
  const empty = node?.range !== undefined && node.range !== null && node.range[0] === node.range[1]
  const target = found && (at === 'key' || empty) && key !== undefined ? key : (node ?? key)
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
