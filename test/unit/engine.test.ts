import { describe, expect, it } from 'vitest'
import { compile, NO_LIMITS } from '../../src/engine/index.js'

describe('the expression engine', () => {
  it('evaluates synchronously: a value, not a promise', () => {
    expect(compile('1 + 1').evaluate({})).toBe(2)
  })

  it('compiles the common constructs to closures, and leaves the rest to jsonata', () => {
    const compiled = (source: string) => Object.prototype.hasOwnProperty.call(compile(source).ast(), '__compiled')
    for (const source of ['{ "a": $data.x, "n": $count(items) }', 'a.b.c', '$x + 1', '[1, 2]', '(a ? b : c)', '($v := 1; $v)', '$sum(items.price)', '"x" & y']) {
      expect(compiled(source), source).toBe(true)
    }
    for (const source of ['function($x) { $x }', '$uppercase ~> $trim', '/ab+/', 'a.%.b', 'a#$i', 'a^(b)']) expect(compiled(source), source).toBe(false)
  })

  it('sorts 40,000 numbers, and 20,000 items with a comparator, without running out of stack', () => {
    const numbers = Array.from({ length: 40_000 }, (_, i) => (i * 7919) % 40_000)
    expect(compile('$sort($)').evaluate(numbers)).toEqual([...numbers].sort((a, b) => a - b))
    const sorted = compile('$sort($, function($a, $b) { $a < $b })').evaluate(numbers.slice(0, 20_000)) as number[]
    expect(sorted[0]).toBeGreaterThan(sorted[sorted.length - 1]!)
    expect(compile('$count($^($))', NO_LIMITS).evaluate(numbers)).toBe(40_000)
  })

  it('sorts stably, comparing in the order jsonata does', () => {
    const items = [{ k: 1, i: 0 }, { k: 0, i: 1 }, { k: 1, i: 2 }, { k: 0, i: 3 }]
    expect(JSON.stringify(compile('$sort($, function($a, $b) { $a.k > $b.k }).i').evaluate(items))).toBe('[1,3,0,2]')
  })
})
