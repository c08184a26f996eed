/**
 * The compiler: JSONata's parse tree → synchronous closures.
 *
 * Each node the compiler knows gets a closure (`__compiled`) that does what
 * jsonata's `evaluate` does for that node, with the node's type, operator,
 * steps and flags decided once, here, instead of at every evaluation. The
 * synchronous jsonata (sync-jsonata.ts) dispatches to that closure whenever
 * it meets the node, so compiled and interpreted nodes mix freely in both
 * directions: a node the compiler does not take (listed in UNCOMPILED) is
 * evaluated by jsonata's own code, and the compiled nodes below it still run
 * as closures. Results, errors and their codes are jsonata's, node by node;
 * the conformance suite and the differential test check it.
 *
 * What is left out of each compiled node, on purpose: the `__evaluate_entry`
 * and `__evaluate_exit` callbacks (debugging hooks of jsonata that nothing
 * here registers: looking them up walked the whole scope chain at every node).
 */
import { compileFunction } from './calls.js'
import { Frame, NOT_BOUND } from './frame.js'
import { beginCompile, child, countDepth, endCompile, freeName, boundByEvaluation, lookupField, neverSequence, normalize, toBoolean, type CompileOptions, type Ev, type Node } from './nodes.js'
import { compileBinary, compileUnary } from './operators.js'
import { compileGroup, compilePath, filter } from './paths.js'
import type { Sequence } from './runtime.js'

export type { CompileOptions } from './nodes.js'

/** Node types jsonata evaluates itself (for now): what is not here is compiled. */
export const UNCOMPILED: Readonly<Record<string, string>> = {
  lambda: 'function definitions (their bodies are compiled)',
  partial: 'partial application',
  apply: 'the ~> operator',
  regex: 'regular expression literals',
  wildcard: 'the * wildcard',
  descendant: 'the ** descendant operator',
  parent: 'the % parent operator',
  transform: 'the |...| transform operator',
  sort: 'order-by ^(...)',
  'tuple paths': 'paths that bind @ or # variables, or use %',
}

/** Compiles every node of a parse tree that the compiler takes. */
export function compileTree(ast: unknown, options: CompileOptions = { countDepth: false }): void {
  beginCompile(ast as Node, options)
  try {
    visit(ast as Node)
  } finally {
    endCompile()
  }
}

function visit(node: Node): void {
  if (node === null || typeof node !== 'object') return
  // Children first: a compiled node calls its children's closures directly.
  for (const value of Object.values(node)) {
    if (Array.isArray(value)) {
      for (const item of value) {
        if (Array.isArray(item)) for (const inner of item) visit(inner as Node)
        else visit(item as Node)
      }
    } else if (value !== null && typeof value === 'object' && typeof (value as Node).type === 'string') {
      visit(value as Node)
    }
  }
  // A grouping `{...}` after a step has no type of its own: its pairs are visited here.
  if (node.group !== undefined) for (const [k, v] of node.group.lhs) (visit(k), visit(v))
  const core = compileCore(node)
  if (core === undefined) return
  Object.defineProperty(node, '__compiled', { value: wrap(node, core), enumerable: false, configurable: true })
}

/**
 * What jsonata's `evaluate` does around every node: depth and guardrails,
 * the node's predicates and grouping, and the normalization of a sequence
 * result (empty → nothing, one item → the item, unless kept as an array).
 */
function wrap(node: Node, core: Ev): Ev {
  const predicates = (node.predicate ?? []).map((p) => ({ ev: child(p.expr), ast: p.expr }))
  const group = node.type !== 'path' && node.group !== undefined ? compileGroup(node.group) : undefined
  const keepArray = node.keepArray === true
  const countDepthHere = countDepth
  // Without the depth count, a node has no guard of its own: the loops of
  // paths, predicates and groupings, and every function call, tick the
  // evaluation's clock (EvaluationFrame.tick), and nothing else repeats.
  if (!countDepth && predicates.length === 0 && group === undefined && !keepArray) {
    if (neverSequence(node)) return core
    return (input, env) => normalize(core(input, env))
  }
  return (input, env) => {
    const base = env.base
    if (countDepthHere) {
      base.depth++
      base.guardrails()
    }
    let result = core(input, env)
    for (const predicate of predicates) result = filter(predicate.ast, predicate.ev, result, env)
    if (group !== undefined) result = group(result, env)
    if (result !== undefined && result !== null && (result as Sequence).sequence === true && Array.isArray(result) && !(result as Sequence).tupleStream) {
      const sequence = result as Sequence
      if (keepArray) sequence.keepSingleton = true
      if (sequence.length === 0) result = undefined
      else if (sequence.length === 1) result = sequence.keepSingleton ? sequence : sequence[0]
    }
    if (countDepthHere) base.depth--
    return result
  }
}

function compileCore(node: Node): Ev | undefined {
  switch (node.type) {
    case 'string':
    case 'number':
    case 'value': {
      const value = node.value
      return () => value
    }
    case 'variable':
      return compileVariable(node)
    case 'name': {
      const key = node.value as string
      // jsonata's lookup reads only `this.createSequence`, which the evaluation's frame has.
      return (input, env) => lookupField.call(env.base, input, key)
    }
    case 'path':
      return compilePath(node)
    case 'binary':
      return compileBinary(node)
    case 'unary':
      return compileUnary(node)
    case 'condition':
      return compileCondition(node)
    case 'block':
      return compileBlock(node)
    case 'bind':
      return compileBind(node)
    case 'function':
      return compileFunction(node)
    default:
      return undefined
  }
}

export function compileVariable(node: Node): Ev {
  const name = node.value as string
  if (name === '') return (input) => (input !== null && input !== undefined && (input as Sequence).outerWrapper ? (input as Sequence)[0] : input)
  const free = freeName(name)
  if (free !== undefined) {
    const value = free.value
    return (_input, env) => {
      const bound = boundByEvaluation(env, name)
      return bound === NOT_BOUND ? value : bound
    }
  }
  return (_input, env) => env.lookup(name)
}

function compileCondition(node: Node): Ev {
  const condition = child(node.condition!)
  const then = child(node.then!)
  const otherwise = node.else === undefined ? undefined : child(node.else)
  return (input, env) => {
    if (toBoolean(condition(input, env))) return then(input, env)
    return otherwise === undefined ? undefined : otherwise(input, env)
  }
}

function compileBlock(node: Node): Ev {
  const expressions = node.expressions!.map(child)
  return (input, env) => {
    const frame = new Frame(env)
    let result: unknown
    for (const expression of expressions) result = expression(input, frame)
    return result
  }
}

function compileBind(node: Node): Ev {
  const name = (node.lhs as Node).value as string
  const value = child(node.rhs!)
  return (input, env) => {
    const result = value(input, env)
    env.bind(name, result)
    return result
  }
}
