import { describe, expect, it } from 'vitest'
import { formatDiagnostic } from '../../src/config/diagnostics.js'
import { parseYamlSource } from '../../src/config/yaml-source.js'

/** The parse errors of a text, as `line:col: message` lines. */
function errors(text: string): string[] {
  return parseYamlSource('t.yaml', text).diagnostics.map((d) => formatDiagnostic(d).replace(/^t\.yaml:/, '').replace(': error', ''))
}

/** How many lines a text has, the last one counted even without a final newline. */
const lineCount = (text: string) => text.replace(/\n$/, '').split('\n').length

describe('parse errors point at the offending token, inside the file', () => {
  it('an unclosed flow sequence at the end of the file: at its [, not a line past the end', () => {
    const text = 'a: 1\nbroken: [unclosed\n'
    expect(errors(text)).toEqual(["2:9: this '[' is never closed: Flow sequence in block collection must be sufficiently indented and end with a ]"])
  })

  it('an unclosed flow sequence before the next key: at its [, not at the next key', () => {
    expect(errors('a: [unclosed\nb: 2\n')).toEqual(["1:4: this '[' is never closed: Flow sequence in block collection must be sufficiently indented and end with a ]"])
  })

  it('an unclosed flow map, and one [ inside another: each at its own opener', () => {
    expect(errors('a: 1\nb: {x: 1\n')).toEqual(["2:4: this '{' is never closed: Flow map in block collection must be sufficiently indented and end with a }"])
    expect(errors('a: [x, [y\n')).toEqual([
      "1:8: this '[' is never closed: Flow sequence in block collection must be sufficiently indented and end with a ]",
      "1:4: this '[' is never closed: Flow sequence in block collection must be sufficiently indented and end with a ]",
    ])
  })

  it('an unclosed quote at the end of the file: at the opening quote', () => {
    expect(errors('a: 1\nb: "abc\n')).toEqual(["2:4: this '\"' is never closed: Missing closing \"quote"])
    expect(errors("a: 1\nb: 'abc\n  def\n\n")).toEqual(["2:4: this ''' is never closed: Missing closing 'quote"])
  })

  it('a flow sequence at the root, without a final newline', () => {
    expect(errors('[1, 2')).toEqual(["1:1: this '[' is never closed: Flow sequence must end with a ]"])
  })

  it('no error is ever placed past the last line or the last character', () => {
    for (const text of ['a: 1\nbroken: [unclosed\n# a comment\n\n\n', 'a: "x\n\n', '- a\nb: 1\n', 'a: b: c\n', 'a:\n  - [1, 2\n  - 3\n', 'key: |\n  x\n y\n']) {
      const { source, diagnostics } = parseYamlSource('t.yaml', text)
      expect(diagnostics.length).toBeGreaterThan(0)
      for (const d of diagnostics) {
        expect(d.line).toBeLessThanOrEqual(lineCount(text))
        const lineText = source.text.split('\n')[d.line - 1]!
        expect(d.col).toBeLessThanOrEqual(Math.max(1, lineText.length))
      }
    }
  })
})
