/**
 * What the compiler's parts share: the parse tree's nodes, the closures they
 * compile to, the state of one compile (which names are free), and the
 * helpers every compiled node uses to do what jsonata's evaluate does around
 * a node (normalize a sequence, tick the clock, evaluate an uncompiled child).
 */
import { Frame } from './frame.js'
import type { Sequence } from './runtime.js'
import { internals, type JFrame } from './sync-jsonata.js'

export type Ev = (input: unknown, env: JFrame) => unknown

export interface Node {
  type: string
  value?: unknown
  position?: number
  predicate?: { type: string; expr: Node }[]
  group?: { lhs: [Node, Node][]; position?: number }
  keepArray?: boolean
  // path
  steps?: Node[]
  keepSingletonArray?: boolean
  tuple?: boolean
  // step flags
  stages?: { type: string; expr?: Node; value?: string }[]
  focus?: string
  index?: string
  ancestor?: unknown
  consarray?: boolean
  // operators
  lhs?: Node | [Node, Node][]
  rhs?: Node
  expression?: Node
  expressions?: Node[]
  // condition
  condition?: Node
  then?: Node
  else?: Node
  // function call
  procedure?: Node
  arguments?: Node[]
  __compiled?: Ev
}

const { fn } = internals
export const lookupField = fn['lookup'] as unknown as (this: unknown, input: unknown, key: string) => unknown
export const append = fn['append'] as unknown as (this: unknown, a: unknown, b: unknown) => unknown
export const toBoolean = fn['boolean'] as unknown as (value: unknown) => boolean | undefined
export const toString = fn['string'] as unknown as (value: unknown) => string

/**
 * Whether compiled nodes count their depth, as jsonata's evaluate does for
 * its `stack` option (D1011). Only the conformance suite sets that option
 * (maxEvaluationDepth); steps bound calls instead (max_depth), so their nodes
 * skip the count. Set for the duration of one compileTree.
 */
export let countDepth = false

/**
 * The names the expression binds somewhere (`:=`, a lambda's parameters,
 * `@$x`, `#$i`; a tuple stream binds them in frames of its own), or undefined when it may bind any (it mentions `$eval`,
 * which evaluates text in the caller's scope). Every other name is free: it
 * can only be the evaluation's binding ($data, $context) or the expression's
 * environment ($now, the built-in functions), so it is looked up there
 * directly, not up the chain of scopes. Set for the duration of one compileTree.
 */
let bound: ReadonlySet<string> | undefined

/** What a free name is when the evaluation does not bind it: the expression's environment. */
let resolveFree: ((name: string) => unknown) | undefined

export interface CompileOptions {
  readonly countDepth: boolean
  /** Looks a name up in the expression's environment ($now, $millis, the built-in functions). */
  readonly resolve?: (name: string) => unknown
}

/** Starts the compile of one parse tree (see compileTree). */
export function beginCompile(ast: Node, options: CompileOptions): void {
  countDepth = options.countDepth
  resolveFree = options.resolve
  bound = boundNames(ast)
}

export function endCompile(): void {
  countDepth = false
  resolveFree = undefined
  bound = undefined
}

function boundNames(ast: Node): ReadonlySet<string> | undefined {
  const names = new Set<string>()
  let dynamic = false
  const walk = (node: unknown): void => {
    if (node === null || typeof node !== 'object') return
    if (Array.isArray(node)) {
      for (const item of node) walk(item)
      return
    }
    const n = node as Node & { arguments?: Node[] }
    if (n.type === 'variable' && n.value === 'eval') dynamic = true
    if (n.type === 'bind' && (n.lhs as Node | undefined)?.type === 'variable') names.add((n.lhs as Node).value as string)
    if (n.type === 'lambda') for (const arg of n.arguments ?? []) names.add(arg.value as string)
    if (typeof n.focus === 'string') names.add(n.focus)
    if (typeof n.index === 'string') names.add(n.index)
    // `#$i` after a predicate: a stage of its own.
    if (n.type === 'index' && typeof n.value === 'string') names.add(n.value)
    for (const value of Object.values(n)) walk(value)
  }
  walk(ast)
  return dynamic ? undefined : names
}

/** A free name's value outside the evaluation's bindings, or undefined when the name is not free. */
export function freeName(name: string): { readonly value: unknown } | undefined {
  if (resolveFree === undefined || bound === undefined || name === '' || name === '$' || bound.has(name)) return undefined
  return { value: resolveFree(name) }
}

/** What the evaluation itself binds to a name (EvaluationFrame.own), or NOT_BOUND. */
export function boundByEvaluation(env: JFrame, name: string): unknown {
  return (env.base as unknown as Frame).own(name)
}

/**
 * A child's evaluation: its closure when compiled (children are compiled
 * before their parent), else jsonata's.
 */
export function child(node: Node): Ev {
  return node.__compiled ?? ((input, env) => internals.evaluate(node, input, env))
}

/**
 * Nodes whose value is never a sequence (a literal, an operator other than
 * `..`, a constructor): with no predicate, grouping or `[]` of their own,
 * their closure is the whole of their evaluation.
 */
export function neverSequence(node: Node): boolean {
  switch (node.type) {
    case 'string':
    case 'number':
    case 'value':
    case 'unary':
      return true
    case 'binary':
      return node.value !== '..'
    default:
      return false
  }
}

/** jsonata's normalization of a sequence result: empty → nothing, one item → the item, unless kept as an array. */
export function normalize(result: unknown): unknown {
  if (result === undefined || result === null || (result as Sequence).sequence !== true || !Array.isArray(result) || (result as Sequence).tupleStream) return result
  const sequence = result as Sequence
  if (sequence.length === 0) return undefined
  if (sequence.length === 1) return sequence.keepSingleton ? sequence : sequence[0]
  return sequence
}

/** One more step of a loop: the evaluation's clock, every so many steps (EvaluationFrame.tick). */
export function tick(env: JFrame): void {
  ;(env.base as unknown as { tick?(): void }).tick?.()
}

export function isFunctionObject(value: object): boolean {
  const v = value as { _jsonata_function?: unknown; _jsonata_lambda?: unknown }
  return v._jsonata_function === true || v._jsonata_lambda === true
}

export function isFunction(arg: unknown): boolean {
  const a = arg as { _jsonata_function?: unknown; _jsonata_lambda?: unknown } | null | undefined
  return (a !== null && a !== undefined && (a._jsonata_function === true || a._jsonata_lambda === true)) || typeof arg === 'function'
}

export function getFunctionArity(func: { arity?: unknown; implementation?: unknown; length?: unknown; arguments?: unknown[] }): number {
  if (typeof func.arity === 'number') return func.arity
  if (typeof func.implementation === 'function') return (func.implementation as (...a: unknown[]) => unknown).length
  if (typeof func.length === 'number') return func.length
  return (func.arguments as unknown[]).length
}
