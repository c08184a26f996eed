import { describe, expect, it } from 'vitest'
import { compile, NO_LIMITS } from '../../src/engine/index.js'
import { syncJsonata } from '../../src/engine/sync-jsonata.js'

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

  it('looks names up as jsonata does: own properties of data only, never inside a function value or up a prototype', () => {
    const input = { a: { b: 1 }, list: [{ b: 2 }, { b: [3, 4] }, 5, [{ b: 6 }]] }
    const bindings = { data: { x: { y: 'z' } } }
    for (const source of [
      '($f := function($x) { $x }; [$f.body, $f.environment, $f.input, $f.arguments, $f.signature, $f.apply])',
      '[$string.implementation, $count.signature, { "f": $count }.f.implementation]',
      '[a.constructor, a.__proto__, a.toString, a.hasOwnProperty, $data.constructor, $data.x.__proto__]',
      '[{ "constructor": 1 }.constructor, { "k": { "toString": 2 } }.k.toString]',
      'list.b',
      'list.b.c',
      '$data.x.y',
      'a.b',
      '{ "l": [[1, 2], [3]] }.l',
    ]) {
      let reference: unknown
      try {
        reference = syncJsonata(source).evaluate(input, bindings)
      } catch (err) {
        reference = (err as { code: string }).code
      }
      let engine: unknown
      try {
        engine = compile(source).evaluate(input, bindings)
      } catch (err) {
        engine = (err as { code: string }).code
      }
      expect(JSON.stringify(engine) ?? 'nothing', source).toBe(JSON.stringify(reference) ?? 'nothing')
    }
  })

  it('sorts 40,000 numbers, and 20,000 items with a comparator, without running out of stack', () => {
    const numbers = Array.from({ length: 40_000 }, (_, i) => (i * 7919) % 40_000)
    expect(compile('$sort($)').evaluate(numbers)).toEqual([...numbers].sort((a, b) => a - b))
    const sorted = compile('$sort($, function($a, $b) { $a < $b })').evaluate(numbers.slice(0, 20_000)) as number[]
    expect(sorted[0]).toBeGreaterThan(sorted[sorted.length - 1]!)
    expect(compile('$count($^($))', NO_LIMITS).evaluate(numbers)).toBe(40_000)
  })

  it('keeps the distinct items of 20,000 objects, the first of each in order, as jsonata compares them', () => {
    const objects = Array.from({ length: 20_000 }, (_, i) => ({ id: i % 5000, tags: ['a', Math.floor(i / 5000) % 2], nested: { b: i % 5000, a: 'x' } }))
    expect(compile('$count($distinct($))').evaluate(objects)).toBe(10_000)
    const mixed = [1, '1', 1, 0, -0, null, null, [1, 2], [1, 2], { a: 1, b: 2 }, { b: 2, a: 1 }, { length: 1, 0: 1 }, [1]]
    expect(JSON.stringify(compile('$distinct($)').evaluate(mixed))).toBe(JSON.stringify(syncJsonata('$distinct($)').evaluate(mixed)))
  })

  it('sorts stably, comparing in the order jsonata does', () => {
    const items = [{ k: 1, i: 0 }, { k: 0, i: 1 }, { k: 1, i: 2 }, { k: 0, i: 3 }]
    expect(JSON.stringify(compile('$sort($, function($a, $b) { $a.k > $b.k }).i').evaluate(items))).toBe('[1,3,0,2]')
  })

  it('matches regular expressions in linear time: the patterns that backtrack for seconds in JavaScript end at once', () => {
    // (a+)+$ on 30 characters took 22.6 s in jsonata-js; this widely copied
    // e-mail pattern took 4.3 s on 31. A test that hung would time out.
    expect(compile('$match($, /(a+)+$/)').evaluate('a'.repeat(29) + 'b')).toBeUndefined()
    const email = '/^([a-zA-Z0-9])(([\\-.]|[_]+)?([a-zA-Z0-9]+))*(@){1}[a-z0-9]+[.]{1}(([a-z]{2,3})|([a-z]{2,3}[.]{1}[a-z]{2,3}))$/'
    expect(compile(`$contains($, ${email})`).evaluate('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!')).toBe(false)
    expect(compile(`$contains($, ${email})`).evaluate('ada.lovelace@example.com')).toBe(true)
  })

  it('finds the matches JavaScript finds: groups, indexes, flags, replacements, splits', () => {
    const text = 'Ab ab aB\nx1 y22 Z333'
    for (const source of [
      '$match($, /a(b)?/i)',
      '$match($, /^x/m).index',
      '$replace($, /(\\d+)/, "<$1>")',
      '$split($, /\\s+/)',
      '$match($, /(z)(\\d)?(q)?/i).groups',
      '$replace($, /[a-z]/, function($m) { $uppercase($m.match) })',
    ]) {
      expect(JSON.stringify(compile(source).evaluate(text)), source).toBe(JSON.stringify(syncReference(source, text)))
    }
  })

  it('refuses, at compile, a regular expression that needs backtracking: a backreference or a lookaround', () => {
    expect(() => compile('$match($, /(a)\\1/)')).toThrow(expect.objectContaining({ code: 'S0303', message: expect.stringContaining('no backreferences and no lookaround') }))
    expect(() => compile('$contains($, /a(?=b)/)')).toThrow(expect.objectContaining({ code: 'S0303' }))
  })

  describe('limits', () => {
    const limits = { timeoutMs: 200, maxDepth: 100, maxItems: 1000, maxStringLength: 1000 }
    const failure = (source: string, input: unknown = {}, bounds = limits) => {
      try {
        return { result: compile(source, bounds).evaluate(input) }
      } catch (err) {
        return { code: (err as { code?: string }).code, message: (err as Error).message }
      }
    }

    it('timeout: a loop that never deepens ends on the clock', () => {
      expect(failure('($f := function($n) { $f($n + 1) }; $f(0))')).toEqual({ code: 'timeout', message: 'the evaluation took longer than 200 ms (limits.timeout_ms)' })
    })

    it('depth: calls nested deeper than max_depth', () => {
      expect(failure('($f := function($n) { 1 + $f($n + 1) }; $f(0))')).toEqual({ code: 'depth', message: 'function calls nest deeper than 100 (limits.max_depth)' })
      expect(failure('($f := function($n) { $n = 0 ? 0 : 1 + $f($n - 1) }; $f(90))')).toEqual({ result: 90 })
    })

    it('items: ranges, sequences and lists that functions build', () => {
      expect(failure('[1..5000]')).toMatchObject({ code: 'items' })
      // Counted before the list is made: a short string of commas would make millions.
      expect(failure('$split($, "")', 'x'.repeat(2000))).toMatchObject({ code: 'items', message: 'a list of more than 1000 items (limits.max_items)' })
      expect(failure('$split($, ",")', ','.repeat(5000))).toMatchObject({ code: 'items' })
      expect(failure('$split($, ",", 3)', ','.repeat(5000))).toEqual({ result: ['', '', ''] })
      expect(failure('$reverse($split($, ""))', 'x'.repeat(2000))).toMatchObject({ code: 'items', message: 'a list of more than 1000 items (limits.max_items)' })
      expect(failure('$append([1..600], [1..600])')).toMatchObject({ code: 'items' })
      expect(failure('$count([1..900].($ * 2))')).toEqual({ result: 900 })
      // An array constructor builds a new list too, though jsonata checks no limit there.
      expect(failure('[$, $, $]', Array.from({ length: 600 }, (_, i) => i))).toMatchObject({ code: 'items', message: 'a list of 1800 items, more than 1000 (limits.max_items)' })
      expect(failure('$count([$, $])', Array.from({ length: 400 }, (_, i) => i))).toEqual({ result: 800 })
    })

    it('string_length: checked before $pad, $join and & build their string', () => {
      expect(failure('$pad("", 150000000)')).toEqual({ code: 'string_length', message: 'a string of 150000000 characters, longer than 1000 (limits.max_string_length)' })
      expect(failure('$reduce([1..30], function($a, $i) { $a & $a }, "x")')).toMatchObject({ code: 'string_length' })
      expect(failure('$join([1..100].$pad("", 20), "")')).toMatchObject({ code: 'string_length' })
      expect(failure('$string([1..400])')).toMatchObject({ code: 'string_length' })
      expect(failure('$pad("x", 50)')).toEqual({ result: 'x'.padEnd(50) })
    })

    it('a limit reached inside $eval is the step\'s limit, not $eval\'s wrapped error (D3121)', () => {
      expect(failure('$eval("[1..5000]")')).toMatchObject({ code: 'items', message: 'a list of more than 1000 items (limits.max_items)' })
      expect(failure('$eval($)', '$pad("", 150000000)')).toMatchObject({ code: 'string_length' })
      expect(failure('$eval("$eval(\\"[1..5000]\\")")')).toMatchObject({ code: 'items' })
      expect(failure('$eval("($f := function($n) { $f($n + 1) }; $f(0))")')).toMatchObject({ code: 'timeout' })
      expect(failure('$eval("$x.y(")')).toMatchObject({ code: 'D3120' })
      expect(failure('$eval("$string(1/0)")')).toMatchObject({ code: 'D3121' })
    })

    it('memory: an evaluation that grows the heap past its bound fails, the process does not', () => {
      const bounds = { timeoutMs: 20_000, maxDepth: 100, maxItems: 100_000, maxStringLength: 10_000_000, maxMemoryBytes: 64 * 1024 * 1024 }
      expect(failure('[1..100000].{ "a": [1..1000] }', {}, bounds)).toMatchObject({ code: 'memory' })
    })
  })
})

/** jsonata-js itself, with JavaScript's RegExp: the reference for regular expressions. */
function syncReference(source: string, input: unknown): unknown {
  const result = syncJsonata(source).evaluate(input)
  return result
}
