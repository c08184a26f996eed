import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fastSignature } from './signature.js'

/**
 * jsonata 2.2.2 itself, made synchronous: the installed bundle's text with
 * `async` and `await` taken out, loaded as a module of its own.
 *
 * JSONata's evaluator is asynchronous only so that user functions may return
 * promises; step expressions never call any. Every node it evaluates awaits a
 * promise, which is most of its cost and leaves no room to bound a single
 * evaluation. Taken out, the very same code (parser, evaluator, every
 * built-in function, signatures, error codes and messages) runs synchronously:
 * what the engine's compiled nodes fall back to, with results identical by
 * construction. The text is checked against the pinned version's hash, and
 * each rewrite must match exactly as often as expected, so a different
 * jsonata fails loudly at start-up rather than subtly.
 *
 * Besides `jsonata` itself, the module exposes the evaluator's internals the
 * compiled engine shares (the functions below: its frames, `evaluate`,
 * `apply`, the built-in functions and the error messages).
 */

const JSONATA_SHA256 = '9c2a35f4d895797f123f65c7f9a4ce16b3a295d209e0f3f225a0c3bae1bd9049'

/** [pattern, replacement, how many times it must match]. */
const REWRITES: readonly [RegExp, string, number][] = [
  // Promise.all over evaluations that are values now: the array itself.
  [/await Promise\.all\(/g, '(', 2],
  [/\basync function\b/g, 'function', 43],
  [/\basync \(/g, '(', 3],
  [/\bawait /g, '', 103],
  // A node that the engine compiled evaluates through its closure (see compile.ts).
  [
    /function evaluate\(expr, input, environment\) \{\n {8}var result;/g,
    'function evaluate(expr, input, environment) {\n        if (expr.__compiled !== undefined) return expr.__compiled(input, environment);\n        var result;',
    1,
  ],
  // Every call of a function (a lambda or a built-in) goes through
  // applyInner: where the engine counts how deep calls nest and checks what
  // each call built (see EvaluationFrame.enterCall and leaveCall).
  [
    /function applyInner\(proc, args, input, environment\) \{/g,
    'function applyInner(proc, args, input, environment) { var __base = environment.base; if (__base.enterCall === undefined) return applyUnbounded(proc, args, input, environment); __base.enterCall(proc, args); try { return __base.leaveCall(applyUnbounded(proc, args, input, environment), proc); } finally { __base.calls--; } }\n    function applyUnbounded(proc, args, input, environment) {',
    1,
  ],
  // jsonata's debugging hooks (a callback bound under a symbol, called at
  // every node and every new scope): nothing here binds one, and looking for
  // it walked the whole chain of scopes each time.
  [/var entryCallback = environment\.lookup\(Symbol\.for\('jsonata\.__evaluate_entry'\)\);\s*if\(entryCallback\) \{\s*entryCallback\(expr, input, environment\);\s*\}/g, '', 1],
  [/var exitCallback = environment\.lookup\(Symbol\.for\('jsonata\.__evaluate_exit'\)\);\s*if\(exitCallback\) \{\s*exitCallback\(expr, input, environment, result\);\s*\}/g, '', 1],
  [/var framePushCallback = enclosingEnvironment\.lookup\(Symbol\.for\('jsonata\.__createFrame_push'\)\);\s*if\(framePushCallback\) \{\s*framePushCallback\(enclosingEnvironment, newFrame\);\s*\}/g, '', 1],
  // Every signature jsonata parses (built-ins', and lambdas' that declare
  // one) validates through the engine's faster check (see signature.ts).
  [/\n {8}return \{\n {12}definition: signature,\n/g, '\n        return __engine.fastSignature(params, regex, {\n            definition: signature,\n', 1],
  [/\n {12}\}\n {8}\};\n {4}\}\n\n {4}return parseSignature;/g, '\n            }\n        });\n    }\n\n    return parseSignature;', 1],
  // Expose the internals, inside the evaluator module's scope.
  [
    /jsonata\.parser = parser;/g,
    'jsonata.parser = parser; jsonata.internals = { evaluate, apply, createFrame, staticFrame, defineFunction, populateMessage, fn, isDeepEqual, parseSignature };',
    1,
  ],
]

/** A JSONata frame (scope of variables), as jsonata's createFrame makes it. */
export interface JFrame {
  bind(name: string, value: unknown): void
  lookup(name: string | symbol): unknown
  base: JFrame & JBase
  timestamp?: Date | null
  async?: boolean
  isParallelCall?: boolean
  global?: unknown
  [key: string]: unknown
}

/** What jsonata's evaluate sets on the frame of an evaluation (`exec_env`). */
export interface JBase {
  depth: number
  guardrails(): void
  createSequence(...items: unknown[]): unknown[]
  options?: { timeout?: number; stack?: number; sequence?: number }
  RegexEngine: unknown
}

export interface JsonataInternals {
  evaluate(ast: unknown, input: unknown, environment: JFrame): unknown
  apply(proc: unknown, args: unknown[], input: unknown, environment: JFrame): unknown
  createFrame(parent: JFrame | null): JFrame
  staticFrame: JFrame
  defineFunction(implementation: (...args: never[]) => unknown, signature?: string): unknown
  populateMessage(err: unknown): void
  fn: Record<string, (...args: never[]) => unknown>
  isDeepEqual(a: unknown, b: unknown): boolean
  parseSignature(signature: string): { validate(args: unknown[], context: unknown): unknown[] }
}

export interface SyncExpression {
  evaluate(input: unknown, bindings?: Record<string, unknown>): unknown
  ast(): unknown
}

export interface SyncJsonata {
  (source: string, options?: { timeout?: number; stack?: number; sequence?: number; RegexEngine?: unknown }): SyncExpression
  internals: JsonataInternals
}

function load(): SyncJsonata {
  const path = createRequire(import.meta.url).resolve('jsonata')
  let text = readFileSync(path, 'utf8')
  const hash = createHash('sha256').update(text).digest('hex')
  if (hash !== JSONATA_SHA256) {
    throw new Error(`${path} is not the jsonata 2.2.2 that the expression engine was written for (sha256 ${hash}): reinstall with npm ci`)
  }
  for (const [pattern, replacement, expected] of REWRITES) {
    const found = text.match(pattern)?.length ?? 0
    if (found !== expected) throw new Error(`the synchronous jsonata cannot be made: ${pattern} matches ${found} times, not ${expected}`)
    text = text.replace(pattern, replacement)
  }
  const module = { exports: {} as unknown }
  // The bundle is self-contained (browserify): it needs no `require` of ours.
  new Function('module', 'exports', 'require', '__engine', text)(
    module,
    module.exports,
    () => {
      throw new Error('the jsonata bundle asked for a module')
    },
    { fastSignature },
  )
  return module.exports as SyncJsonata
}

export const syncJsonata: SyncJsonata = load()
export const internals: JsonataInternals = syncJsonata.internals
