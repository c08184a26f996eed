import { Scalar } from 'yaml'
import type { YamlSource } from './yaml-source.js'

/**
 * Maps an index into a scalar's value back to an offset in the YAML text, so
 * that an error inside an expression (a JSONata token, a ${VAR}) is reported
 * where it is written — through quotes, escapes, folded lines and block
 * indentation. Falls back to the scalar's start if the walk does not
 * reproduce the value (a YAML corner this walk does not model).
 */
export function valueOffset(source: YamlSource, node: Scalar, index: number): number {
  const start = node.range?.[0] ?? 0
  const offsets = offsetsOf(source.text, node)
  if (offsets === undefined) return start
  return offsets[Math.max(0, Math.min(index, offsets.length - 1))]!
}

/** offsets[i] is where value character i came from; one extra entry marks the end. */
function offsetsOf(text: string, node: Scalar): number[] | undefined {
  const value = String(node.value)
  const [start, end] = [node.range?.[0] ?? 0, node.range?.[1] ?? 0]
  let walked: { chars: string; offsets: number[] }
  switch (node.type) {
    case Scalar.BLOCK_LITERAL:
    case Scalar.BLOCK_FOLDED:
      walked = walkBlock(text, start, end, node.type === Scalar.BLOCK_FOLDED)
      break
    case Scalar.QUOTE_DOUBLE:
      walked = walkFlow(text, start + 1, end - 1, 'double')
      break
    case Scalar.QUOTE_SINGLE:
      walked = walkFlow(text, start + 1, end - 1, 'single')
      break
    default:
      walked = walkFlow(text, start, end, 'plain')
  }
  // Block scalars may keep or strip final newlines (chomping): compare without them.
  if (walked.chars.replace(/\n+$/, '') !== value.replace(/\n+$/, '')) return undefined
  return [...walked.offsets.slice(0, value.length), walked.offsets[value.length] ?? end]
}

function walkBlock(text: string, start: number, end: number, folded: boolean): { chars: string; offsets: number[] } {
  let pos = text.indexOf('\n', start)
  if (pos < 0 || pos >= end) return { chars: '', offsets: [end] }
  pos += 1
  const lines: { at: number; text: string }[] = []
  while (pos < end) {
    let stop = text.indexOf('\n', pos)
    if (stop < 0 || stop > end) stop = end
    lines.push({ at: pos, text: text.slice(pos, stop) })
    pos = stop + 1
  }
  const indent = Math.min(...lines.filter((l) => l.text.trim() !== '').map((l) => l.text.length - l.text.trimStart().length))
  let chars = ''
  const offsets: number[] = []
  lines.forEach((line, i) => {
    const content = line.text.trim() === '' ? '' : line.text.slice(indent)
    for (let c = 0; c < content.length; c++) {
      chars += content[c]
      offsets.push(line.at + indent + c)
    }
    if (i < lines.length - 1) {
      const next = lines[i + 1]!.text
      // Folding turns a single break between two plain lines into a space.
      chars += folded && content !== '' && !content.startsWith(' ') && next.trim() !== '' && !next.slice(indent).startsWith(' ') ? ' ' : '\n'
      offsets.push(line.at + line.text.length)
    }
  })
  offsets.push(end)
  return { chars, offsets }
}

function walkFlow(text: string, start: number, end: number, style: 'plain' | 'single' | 'double'): { chars: string; offsets: number[] } {
  let chars = ''
  const offsets: number[] = []
  const emit = (c: string, at: number) => {
    chars += c
    for (let k = 0; k < c.length; k++) offsets.push(at)
  }
  let i = start
  while (i < end) {
    const c = text[i]!
    if (c === '\n' || ((c === ' ' || c === '\t') && /^[ \t]*\n/.test(text.slice(i, end)))) {
      // A line break folds to a space; each empty line after it to a newline.
      const breakAt = text.indexOf('\n', i)
      let j = breakAt + 1
      let empty = 0
      for (;;) {
        while (j < end && (text[j] === ' ' || text[j] === '\t')) j++
        if (j < end && text[j] === '\n') {
          empty++
          j++
        } else break
      }
      if (empty === 0) emit(' ', breakAt)
      else for (let k = 0; k < empty; k++) emit('\n', breakAt)
      i = j
      continue
    }
    if (style === 'single' && c === "'" && text[i + 1] === "'") {
      emit("'", i)
      i += 2
      continue
    }
    if (style === 'double' && c === '\\') {
      const e = text[i + 1] ?? ''
      if (e === '\n') {
        // An escaped line break joins the lines with nothing between them.
        i += 2
        while (i < end && (text[i] === ' ' || text[i] === '\t')) i++
        continue
      }
      const hex = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0
      if (hex > 0) {
        emit(String.fromCodePoint(parseInt(text.slice(i + 2, i + 2 + hex), 16)), i)
        i += 2 + hex
        continue
      }
      emit(DOUBLE_ESCAPES[e] ?? e, i)
      i += 2
      continue
    }
    emit(c, i)
    i++
  }
  offsets.push(end)
  return { chars: style === 'plain' ? chars.trimEnd() : chars, offsets }
}

const DOUBLE_ESCAPES: Record<string, string> = {
  '0': '\0', a: '\x07', b: '\b', t: '\t', '\t': '\t', n: '\n', v: '\v', f: '\f', r: '\r', e: '\x1b',
  ' ': ' ', '"': '"', '/': '/', '\\': '\\', N: '\u0085', _: '\u00a0', L: '\u2028', P: '\u2029',
}
