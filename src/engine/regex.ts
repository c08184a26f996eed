/**
 * Regular expressions on a linear-time engine (re2js, a port of RE2): no
 * pattern and no input can make a match backtrack for seconds, as `(a+)+$`
 * does on 30 characters with JavaScript's own engine.
 *
 * `LinearRegExp` stands where jsonata uses a RegExp (its `RegexEngine`
 * option): built from the RegExp that jsonata's parser makes of a `/.../`
 * literal, it offers what jsonata's matcher uses of one — `exec` and
 * `lastIndex`, with the `g` flag's meaning — and finds the same matches at
 * the same indexes, in UTF-16 units. `linearRegExp` is the same for ajv's
 * `pattern` and `patternProperties` (its `code.regExp` option).
 *
 * RE2 has no backreferences and no lookaround (they are what makes a match
 * exponential): a pattern that uses them does not compile, and the steps
 * file that has it does not load (see `patternProblem`).
 */
import { RE2JS } from 're2js'

/** JavaScript's escapes that RE2 spells otherwise: `\uXXXX` is `\x{XXXX}`. */
function translate(source: string): string {
  return source.replace(/(\\+)u([0-9a-fA-F]{4})/g, (whole, slashes: string, hex: string) => (slashes.length % 2 === 1 ? `${slashes.slice(1)}\\x{${hex}}` : whole))
}

function flagsOf(flags: string): number {
  let out = 0
  if (flags.includes('i')) out |= RE2JS.CASE_INSENSITIVE
  if (flags.includes('m')) out |= RE2JS.MULTILINE
  if (flags.includes('s')) out |= RE2JS.DOTALL
  return out
}

/** Why a pattern cannot run on the linear-time engine, or undefined when it can. */
export function patternProblem(source: string, flags = ''): string | undefined {
  try {
    RE2JS.compile(translate(source), flagsOf(flags))
    return undefined
  } catch (err) {
    const message = (err as Error).message.replace(/^error parsing regexp: /, '')
    return `${message} (step-runner runs regular expressions on a linear-time engine, RE2, which has no backreferences and no lookaround)`
  }
}

interface ExecResult extends Array<string | undefined> {
  index: number
  input: string
}

/**
 * Compiled patterns, by source and flags. jsonata makes a new matcher of a
 * `/.../` literal at every evaluation (it keeps a position in it); the
 * compiled program itself is immutable, and compiling it again each time
 * cost more than most matches. Bounded: the oldest go first.
 */
const programs = new Map<string, RE2JS>()
const MAX_PROGRAMS = 1000

function compiled(source: string, flags: string): RE2JS {
  const key = `${flags}/${source}`
  let program = programs.get(key)
  if (program === undefined) {
    program = RE2JS.compile(translate(source), flagsOf(flags))
    if (programs.size >= MAX_PROGRAMS) programs.delete(programs.keys().next().value!)
    programs.set(key, program)
  }
  return program
}

/** What jsonata uses of a RegExp, on RE2. */
export class LinearRegExp {
  lastIndex = 0
  private readonly re: RE2JS
  readonly source: string
  readonly flags: string

  constructor(pattern: unknown, flags?: string) {
    // As `new RegExp(x)`: a RegExp is copied, anything else is read as text.
    // (jsonata clones the left side of ?: and ?? through JSON, which turns a
    // regular expression into {}, that is the pattern "[object Object]".)
    const isRegExp = pattern instanceof RegExp || pattern instanceof LinearRegExp
    this.source = isRegExp ? (pattern as RegExp).source : String(pattern)
    this.flags = flags ?? (isRegExp ? (pattern as RegExp).flags : '')
    this.re = compiled(this.source, this.flags)
  }

  exec(input: string): ExecResult | null {
    const str = String(input)
    const global = this.flags.includes('g')
    const from = global ? this.lastIndex : 0
    if (from > str.length) {
      this.lastIndex = 0
      return null
    }
    const matcher = this.re.matcher(str)
    if (!matcher.find(from)) {
      if (global) this.lastIndex = 0
      return null
    }
    const result = [matcher.group(0) ?? ''] as unknown as ExecResult
    for (let g = 1; g <= matcher.groupCount(); g++) result.push(matcher.group(g) ?? undefined)
    result.index = matcher.start()
    result.input = str
    if (global) this.lastIndex = matcher.end()
    return result
  }

  test(input: string): boolean {
    return this.exec(input) !== null
  }
}

/** ajv's `code.regExp`: patterns are compiled with ajv's flags (`u`), matched with `test`. */
export function linearRegExp(pattern: string, flags: string): { test(input: string): boolean } {
  return new LinearRegExp(pattern, flags.replace('g', ''))
}
