import { isMap, isPair, isScalar, type Scalar } from 'yaml'
import { describe, expect, it } from 'vitest'
import { valueOffset } from '../../src/config/scalar-positions.js'
import { parseYamlSource, positionAtOffset } from '../../src/config/yaml-source.js'

/** The line:col that value index `i` of key `k` maps to, in a one-key YAML document. */
function at(text: string, needle: string): string {
  const { source } = parseYamlSource('t.yaml', text)
  const root = source.doc.contents
  if (!isMap(root)) throw new Error('not a map')
  const pair = root.items[0]
  if (!isPair(pair) || !isScalar(pair.value)) throw new Error('not a scalar')
  const value = String((pair.value as Scalar).value)
  const index = value.indexOf(needle)
  if (index < 0) throw new Error(`'${needle}' not in ${JSON.stringify(value)}`)
  const { line, col } = positionAtOffset(source, valueOffset(source, pair.value as Scalar, index))
  return `${line}:${col}`
}

describe('valueOffset maps a character of a value back to the YAML text', () => {
  it('in a plain scalar, on one line or folded over several', () => {
    expect(at('k: a + b', '+')).toBe('1:6')
    expect(at('k: first +\n  second ~ x', '~')).toBe('2:10')
    expect(at('k: first\n\n  third ~', '~')).toBe('3:9')
  })

  it("in a single-quoted scalar, where '' is one quote", () => {
    expect(at("k: 'it''s ~ here'", '~')).toBe('1:11')
  })

  it('in a double-quoted scalar, through escapes and folded lines', () => {
    expect(at('k: "a \\"q\\" ~"', '~')).toBe('1:13')
    expect(at('k: "\\u00e9 ~"', '~')).toBe('1:12')
    expect(at('k: "one\n  two ~"', '~')).toBe('2:7')
    expect(at('k: "joined\\\n  here ~"', '~')).toBe('2:8')
  })

  it('in literal and folded block scalars', () => {
    expect(at('k: |\n  line one\n    indented ~\n  last\n', '~')).toBe('3:14')
    expect(at('k: >-\n  one\n  two ~\n', '~')).toBe('3:7')
  })
})
