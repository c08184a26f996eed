import jsonata from 'jsonata'
import { describe, expect, it } from 'vitest'
import { findHyphenatedNames } from '../../src/config/hyphenated-names.js'

const STEPS = new Set(['fetch-customer', 'a-b-c', 'a-b', 'plain'])

function found(text: string, steps: ReadonlySet<string> = STEPS) {
  return findHyphenatedNames(jsonata(text).ast(), text, steps)
}

describe('findHyphenatedNames: step names that JSONata reads as a subtraction', () => {
  it('finds a hyphenated step name at the start of a path, with the fix', () => {
    expect(found('fetch-customer.data.name')).toEqual([{ name: 'fetch-customer', index: 0, fix: '`fetch-customer`.data.name' }])
  })

  it('joins three names and more, preferring the longest step name', () => {
    expect(found('a-b-c.data')).toEqual([{ name: 'a-b-c', index: 0, fix: '`a-b-c`.data' }])
    expect(found('a-b.data')).toEqual([{ name: 'a-b', index: 0, fix: '`a-b`.data' }])
  })

  it('reads the names on either side of paths: after $., inside an object, with a filter', () => {
    expect(found('$.fetch-customer.exit_code')).toEqual([{ name: 'fetch-customer', index: 2, fix: '`fetch-customer`.exit_code' }])
    expect(found('{ "n": fetch-customer.data.name, "m": a-b-c }')).toEqual([
      { name: 'fetch-customer', index: 7, fix: '`fetch-customer`.data.name' },
      { name: 'a-b-c', index: 38, fix: '`a-b-c`' },
    ])
    expect(found('fetch-customer[0].data')).toEqual([{ name: 'fetch-customer', index: 0, fix: '`fetch-customer`[0].data' }])
  })

  it('leaves alone names in backticks, a subtraction written with spaces, and names that are not steps', () => {
    expect(found('`fetch-customer`.data.name')).toEqual([])
    expect(found('fetch - customer.data')).toEqual([])
    expect(found('fetch -customer.data')).toEqual([])
    expect(found('order-id + 1')).toEqual([])
    expect(found('plain.total - 1')).toEqual([])
  })

  it('finds nothing when no step name has a hyphen', () => {
    expect(found('fetch-customer.data', new Set(['fetch', 'customer']))).toEqual([])
  })
})
