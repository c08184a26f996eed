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
import { Frame, NOT_BOUND, stringTooLong } from './frame.js'
import { internals, type JFrame } from './sync-jsonata.js'

type Ev = (input: unknown, env: JFrame) => unknown

interface Node {
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

const { fn } = internals
const lookupField = fn['lookup'] as unknown as (this: unknown, input: unknown, key: string) => unknown
const append = fn['append'] as unknown as (this: unknown, a: unknown, b: unknown) => unknown
const toBoolean = fn['boolean'] as unknown as (value: unknown) => boolean | undefined
const toString = fn['string'] as unknown as (value: unknown) => string

/**
 * Whether compiled nodes count their depth, as jsonata's evaluate does for
 * its `stack` option (D1011). Only the conformance suite sets that option
 * (maxEvaluationDepth); steps bound calls instead (max_depth), so their nodes
 * skip the count. Set for the duration of one compileTree.
 */
let countDepth = false

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

/** Compiles every node of a parse tree that the compiler takes. */
export function compileTree(ast: unknown, options: CompileOptions = { countDepth: false }): void {
  countDepth = options.countDepth
  resolveFree = options.resolve
  bound = boundNames(ast as Node)
  try {
    visit(ast as Node)
  } finally {
    countDepth = false
    resolveFree = undefined
    bound = undefined
  }
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
function freeName(name: string): { readonly value: unknown } | undefined {
  if (resolveFree === undefined || bound === undefined || name === '' || name === '$' || bound.has(name)) return undefined
  return { value: resolveFree(name) }
}

/** What the evaluation itself binds to a name (EvaluationFrame.own), or NOT_BOUND. */
function boundByEvaluation(env: JFrame, name: string): unknown {
  return (env.base as unknown as Frame).own(name)
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
 * A child's evaluation: its closure when compiled (children are compiled
 * before their parent), else jsonata's.
 */
function child(node: Node): Ev {
  return node.__compiled ?? ((input, env) => internals.evaluate(node, input, env))
}

/**
 * Nodes whose value is never a sequence (a literal, an operator other than
 * `..`, a constructor): with no predicate, grouping or `[]` of their own,
 * their closure is the whole of their evaluation.
 */
function neverSequence(node: Node): boolean {
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
function normalize(result: unknown): unknown {
  if (result === undefined || result === null || (result as Sequence).sequence !== true || !Array.isArray(result) || (result as Sequence).tupleStream) return result
  const sequence = result as Sequence
  if (sequence.length === 0) return undefined
  if (sequence.length === 1) return sequence.keepSingleton ? sequence : sequence[0]
  return sequence
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

/** One more step of a loop: the evaluation's clock, every so many steps (EvaluationFrame.tick). */
function tick(env: JFrame): void {
  ;(env.base as unknown as { tick?(): void }).tick?.()
}

interface Sequence extends Array<unknown> {
  sequence?: boolean
  keepSingleton?: boolean
  outerWrapper?: boolean
  tupleStream?: boolean
  cons?: boolean
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
      return (input, env) => lookupField.call({ createSequence: env.base.createSequence }, input, key)
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

function compileVariable(node: Node): Ev {
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

function compilePath(node: Node): Ev | undefined {
  const steps = node.steps!
  // Tuple streams (@, #, %) and order-by steps stay with jsonata.
  if (node.tuple === true || steps.some((s) => s.tuple === true || s.type === 'sort' || s.focus !== undefined || s.index !== undefined || s.ancestor !== undefined)) return undefined
  if (steps.some((s) => (s.stages ?? []).some((st) => st.type !== 'filter'))) return undefined
  const firstIsVariable = steps[0]!.type === 'variable'
  const compiled = steps.map((step, i) => ({
    ev: child(step),
    consarray: i === 0 && step.consarray === true,
    stages: (step.stages ?? []).map((st) => ({ ast: st.expr!, ev: child(st.expr!) })),
    last: i === steps.length - 1,
  }))
  const keepSingletonArray = node.keepSingletonArray === true
  const group = node.group !== undefined ? compileGroup(node.group) : undefined
  const general: Ev = (input, env) => {
    let inputSequence: Sequence = Array.isArray(input) && !firstIsVariable ? (input as Sequence) : (env.base.createSequence(input) as Sequence)
    let resultSequence: unknown
    for (const step of compiled) {
      if (step.consarray) resultSequence = step.ev(inputSequence, env)
      else resultSequence = evaluateStep(step, inputSequence, env)
      if (resultSequence === undefined || (resultSequence as Sequence).length === 0) break
      inputSequence = resultSequence as Sequence
    }
    if (keepSingletonArray) {
      let sequence = resultSequence as Sequence
      if (Array.isArray(sequence) && sequence.cons && !sequence.sequence) sequence = env.base.createSequence(sequence) as Sequence
      sequence.keepSingleton = true
      resultSequence = sequence
    }
    if (group !== undefined) resultSequence = group(resultSequence, env)
    return resultSequence
  }
  // The common path, names over objects (`customer.address.city`, `$data.id`):
  // walked directly while every value on the way is a single object. Any
  // array on the way (which a path maps over) takes the general evaluation.
  const simple = !keepSingletonArray && group === undefined && steps.every((s, i) => (s.type === 'name' || (i === 0 && s.type === 'variable' && s.value !== '')) && isPlain(s))
  if (!simple) return general
  const names = steps.slice(firstIsVariable ? 1 : 0).map((s) => s.value as string)
  const variable = firstIsVariable ? (steps[0]!.value as string) : undefined
  const lookups = names.map(fieldLookup)
  const variableValue = variable === undefined ? undefined : compileVariable(steps[0]!)
  return (input, env) => {
    let value = variableValue === undefined ? input : variableValue(input, env)
    if (Array.isArray(value) && (variable === undefined || !isPlainArray(value))) return general(input, env)
    for (let i = 0; i < names.length; i++) {
      if (Array.isArray(value)) {
        // A list on the way: the rest of the path maps over its items.
        return isPlainArray(value) ? mapNames(value, names, i, env) : general(input, env)
      }
      value = lookups[i]!(value)
      if (value === undefined) return undefined
    }
    // The last value: itself, a list included (a path ending on a list gives the list).
    return Array.isArray(value) && !isPlainArray(value) ? general(input, env) : value
  }
}

/**
 * The own properties a JSONata function value (a lambda, a built-in, a
 * partial application) can have: a name among these, or one that objects
 * inherit, is looked up with all of jsonata's checks; any other is simply
 * read, since neither a function value nor a prototype can answer it.
 */
const CHECKED_NAMES: ReadonlySet<string> = new Set([
  '_jsonata_lambda',
  '_jsonata_function',
  '_jsonata_partial',
  'input',
  'environment',
  'arguments',
  'signature',
  'body',
  'thunk',
  'apply',
  'implementation',
  'token',
  'position',
  'arity',
  'procedure',
  ...Object.getOwnPropertyNames(Object.prototype),
])

/**
 * jsonata's lookup of a name in one value that is not a list: an object's
 * own property, unless the object is a function value; nothing otherwise.
 */
function fieldLookup(name: string): (value: unknown) => unknown {
  if (CHECKED_NAMES.has(name)) {
    return (value) => (value !== null && typeof value === 'object' && Object.prototype.hasOwnProperty.call(value, name) && !isFunctionObject(value) ? (value as Record<string, unknown>)[name] : undefined)
  }
  return (value) => (value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[name] : undefined)
}

/** A list as JSON data makes it: none of the flags JSONata's sequences and constructors set. */
function isPlainArray(value: unknown[]): boolean {
  const v = value as Sequence
  return v.sequence !== true && v.cons !== true && v.keepSingleton !== true && v.tupleStream !== true && v.outerWrapper !== true
}

/**
 * The steps `names[from..]` of a path of names, over the items of `list`:
 * what jsonata's evaluateStep does for each name step (look the name up in
 * each item, drop what is missing, flatten one level; a path whose last step
 * gives exactly one list gives that list), with plain arrays for the steps
 * in between and one sequence at the end.
 */
function mapNames(list: unknown[], names: readonly string[], from: number, env: JFrame): unknown {
  const base = env.base
  const maxItems = base.options?.sequence
  // A hole of a sparse list is skipped as jsonata's forEach skips it: it reads as undefined, which has no names.
  let items = list
  for (let step = from; step < names.length; step++) {
    const key = names[step]!
    const checked = CHECKED_NAMES.has(key)
    const last = step === names.length - 1
    // The values found, flattened one level as they are found; the first one
    // and how many, for the rule that a last step finding one list gives it.
    const flattened: unknown[] = []
    let found = 0
    let first: unknown
    for (let i = 0; i < items.length; i++) {
      tick(env)
      const item = items[i]
      if (item === null || typeof item !== 'object') continue
      let res: unknown
      if (Array.isArray(item)) res = normalize(lookupField.call({ createSequence: base.createSequence }, item, key))
      else if (!checked || (Object.prototype.hasOwnProperty.call(item, key) && !isFunctionObject(item))) res = normalize((item as Record<string, unknown>)[key])
      if (res === undefined) continue
      if (found++ === 0) first = res
      if (!Array.isArray(res) || (res as Sequence).cons) flattened.push(res)
      else res.forEach((value) => flattened.push(value))
    }
    if (last && found === 1 && Array.isArray(first) && !(first as Sequence).sequence) return first
    // What the sequences' own push would have refused (runtime.ts, sequenceFactory).
    if (maxItems !== undefined && (found > maxItems || flattened.length > maxItems)) throw { code: 'D2015', value: maxItems }
    if (flattened.length === 0) return undefined
    items = flattened
  }
  return adopt(base, items)
}

/** Makes a list the evaluation's sequence: marked, with the push that holds it to max_items. */
function adopt(base: JFrame['base'], items: unknown[]): Sequence {
  return (base.createSequence as unknown as { adopt(items: unknown[]): Sequence }).adopt(items)
}

/** A step with nothing but itself: no predicate, stage, grouping or array flag. */
function isPlain(step: Node): boolean {
  return step.predicate === undefined && (step.stages === undefined || step.stages.length === 0) && step.group === undefined && step.keepArray !== true && step.consarray !== true
}

function isFunctionObject(value: object): boolean {
  const v = value as { _jsonata_function?: unknown; _jsonata_lambda?: unknown }
  return v._jsonata_function === true || v._jsonata_lambda === true
}

function evaluateStep(step: { ev: Ev; stages: { ast: Node; ev: Ev }[]; last: boolean }, input: Sequence, env: JFrame): Sequence {
  const result = env.base.createSequence() as Sequence
  for (let i = 0; i < input.length; i++) {
    tick(env)
    let res = step.ev(input[i], env)
    for (const stage of step.stages) res = filter(stage.ast, stage.ev, res, env)
    if (res !== undefined) result.push(res)
  }
  if (step.last && result.length === 1 && Array.isArray(result[0]) && !(result[0] as Sequence).sequence) return result[0] as Sequence
  const flattened = env.base.createSequence() as Sequence
  for (let i = 0; i < result.length; i++) {
    const res = result[i]
    if (!Array.isArray(res) || (res as Sequence).cons) flattened.push(res)
    // forEach, as jsonata: it passes over the holes of a sparse array.
    else res.forEach((value) => flattened.push(value))
  }
  return flattened
}

/** A predicate `[...]` over a value: an index, indexes, or a condition. */
function filter(predicate: Node, ev: Ev, input: unknown, env: JFrame): unknown {
  let results = env.base.createSequence() as Sequence
  if (input !== null && input !== undefined && (input as Sequence).tupleStream) results.tupleStream = true
  const items: Sequence = Array.isArray(input) ? (input as Sequence) : (env.base.createSequence(input) as Sequence)
  if (predicate.type === 'number') {
    let index = Math.floor(predicate.value as number)
    if (index < 0) index = items.length + index
    const item = items[index]
    if (item !== undefined) {
      if (Array.isArray(item)) results = item as Sequence
      else results.push(item)
    }
    return results
  }
  for (let index = 0; index < items.length; index++) {
    tick(env)
    const item = items[index]
    let context = item
    let scope = env
    if (items.tupleStream) {
      context = (item as Record<string, unknown>)['@']
      scope = frameFromTuple(env, item as Record<string, unknown>)
    }
    let res = ev(context, scope)
    if (isNumeric(res)) res = [res]
    if (isArrayOfNumbers(res)) {
      for (const ires of res) {
        let ii = Math.floor(ires)
        if (ii < 0) ii = items.length + ii
        if (ii === index) results.push(item)
      }
    } else if (toBoolean(res)) {
      results.push(item)
    }
  }
  return results
}

function frameFromTuple(env: JFrame, tuple: Record<string, unknown>): JFrame {
  const frame = new Frame(env)
  for (const key of Object.keys(tuple)) frame.bind(key, tuple[key])
  return frame
}

function compileGroup(group: { lhs: [Node, Node][]; position?: number }): (input: unknown, env: JFrame) => unknown {
  const pairs = group.lhs.map(([k, v]) => ({ key: child(k), value: child(v) }))
  const position = group.position
  // `{"a": ..., "b": ...}` over one input: each key is a distinct literal, so
  // there is nothing to group; the values are evaluated in order.
  const literalKeys = group.lhs.map(([k]) => (k.type === 'string' && isPlain(k) ? (k.value as string) : undefined))
  const simple =
    literalKeys.every((k) => k !== undefined && k !== '_jsonata_lambda' && k !== '_jsonata_function') && new Set(literalKeys).size === literalKeys.length
  const general = (input: unknown, env: JFrame): unknown => {
    const result = Object.create(null) as Record<string, unknown>
    const groups = Object.create(null) as Record<string, { data: unknown; exprIndex: number }>
    const reduce = input !== null && input !== undefined && (input as Sequence).tupleStream === true
    const focus = { createSequence: env.base.createSequence }
    const items: Sequence = Array.isArray(input) ? (input as Sequence) : (env.base.createSequence(input) as Sequence)
    if (items.length === 0 && !reduce) items.push(undefined)
    for (const item of items) {
      tick(env)
      const scope = reduce ? frameFromTuple(env, item as Record<string, unknown>) : env
      for (let pairIndex = 0; pairIndex < pairs.length; pairIndex++) {
        const key = pairs[pairIndex]!.key(reduce ? (item as Record<string, unknown>)['@'] : item, scope)
        if (typeof key !== 'string' && key !== undefined) throw { code: 'T1003', stack: new Error().stack, position, value: key }
        if (key === undefined) continue
        if (key === '_jsonata_lambda' || key === '_jsonata_function') throw { code: 'D1013', stack: new Error().stack, position, value: key }
        if (Object.prototype.hasOwnProperty.call(groups, key)) {
          if (groups[key]!.exprIndex !== pairIndex) throw { code: 'D1009', stack: new Error().stack, position, value: key }
          groups[key]!.data = append.call(focus, groups[key]!.data, item)
        } else {
          groups[key] = { data: item, exprIndex: pairIndex }
        }
      }
    }
    for (const key of Object.keys(groups)) {
      const entry = groups[key]!
      let context = entry.data
      let scope = env
      if (reduce) {
        const tuple = reduceTupleStream(entry.data, env)
        context = tuple['@']
        delete tuple['@']
        scope = frameFromTuple(env, tuple)
      }
      const value = pairs[entry.exprIndex]!.value(context, scope)
      if (value !== undefined) result[key] = value
    }
    return result
  }
  if (!simple) return general
  const keys = literalKeys as string[]
  const values = pairs.map((p) => p.value)
  // A plain object, as JSON.parse makes them (jsonata's objects have no
  // prototype, so that a key "__proto__" is a key): faster to build and to
  // write out, and no different to any function, with that key excepted.
  const plain = !keys.includes('__proto__')
  return (input, env) => {
    if (Array.isArray(input)) return general(input, env)
    const result = (plain ? {} : Object.create(null)) as Record<string, unknown>
    for (let i = 0; i < keys.length; i++) {
      const value = values[i]!(input, env)
      if (value !== undefined) result[keys[i]!] = value
    }
    return result
  }
}

function reduceTupleStream(tupleStream: unknown, env: JFrame): Record<string, unknown> {
  if (!Array.isArray(tupleStream)) return tupleStream as Record<string, unknown>
  const result = Object.create(null) as Record<string, unknown>
  const focus = { createSequence: env.base.createSequence }
  Object.assign(result, tupleStream[0])
  for (let i = 1; i < tupleStream.length; i++) {
    for (const prop of Object.keys(tupleStream[i] as object)) result[prop] = append.call(focus, result[prop], (tupleStream[i] as Record<string, unknown>)[prop])
  }
  return result
}

function compileBinary(node: Node): Ev {
  const lhs = child(node.lhs as Node)
  const rhs = child(node.rhs!)
  const op = node.value as string
  const position = node.position
  const located = (err: unknown): never => {
    const e = err as { position?: number; token?: string }
    e.position = position!
    e.token = op
    throw err
  }
  if (op === 'and' || op === 'or') {
    return (input, env) => {
      const left = lhs(input, env)
      try {
        const lBool = boolize(left)
        if (op === 'and') return lBool && boolize(rhs(input, env))
        return lBool || boolize(rhs(input, env))
      } catch (err) {
        return located(err)
      }
    }
  }
  const operate = binaryOperator(op)
  return (input, env) => {
    const left = lhs(input, env)
    const right = rhs(input, env)
    try {
      return operate(left, right, env)
    } catch (err) {
      return located(err)
    }
  }
}

function boolize(value: unknown): boolean {
  const b = toBoolean(value)
  return b === undefined ? false : b
}

function binaryOperator(op: string): (lhs: unknown, rhs: unknown, env: JFrame) => unknown {
  switch (op) {
    case '+':
    case '-':
    case '*':
    case '/':
    case '%':
      return (lhs, rhs) => {
        if (lhs !== undefined && !isNumeric(lhs)) throw { code: 'T2001', stack: new Error().stack, value: lhs }
        if (rhs !== undefined && !isNumeric(rhs)) throw { code: 'T2002', stack: new Error().stack, value: rhs }
        if (lhs === undefined || rhs === undefined) return undefined
        const l = lhs as number
        const r = rhs as number
        return op === '+' ? l + r : op === '-' ? l - r : op === '*' ? l * r : op === '/' ? l / r : l % r
      }
    case '=':
      return (lhs, rhs) => (lhs === undefined || rhs === undefined ? false : internals.isDeepEqual(lhs, rhs))
    case '!=':
      return (lhs, rhs) => (lhs === undefined || rhs === undefined ? false : !internals.isDeepEqual(lhs, rhs))
    case '<':
    case '<=':
    case '>':
    case '>=':
      return (lhs, rhs) => {
        const ltype = typeof lhs
        const rtype = typeof rhs
        const lcomparable = ltype === 'undefined' || ltype === 'string' || ltype === 'number'
        const rcomparable = rtype === 'undefined' || rtype === 'string' || rtype === 'number'
        if (!lcomparable || !rcomparable) throw { code: 'T2010', stack: new Error().stack, value: !(ltype === 'string' || ltype === 'number') ? lhs : rhs }
        if (ltype === 'undefined' || rtype === 'undefined') return undefined
        if (ltype !== rtype) throw { code: 'T2009', stack: new Error().stack, value: lhs, value2: rhs }
        const l = lhs as number | string
        const r = rhs as number | string
        return op === '<' ? l < r : op === '<=' ? l <= r : op === '>' ? l > r : l >= r
      }
    case '&':
      return (lhs, rhs, env) => {
        const l = lhs === undefined ? '' : toString(lhs)
        const r = rhs === undefined ? '' : toString(rhs)
        // Checked before it is built: doubling a string a few dozen times would exhaust the heap.
        const max = (env.base.options as { maxStringLength?: number } | undefined)?.maxStringLength
        if (max !== undefined && l.length + r.length > max) throw stringTooLong(l.length + r.length, max)
        return l.concat(r)
      }
    case '..':
      return range
    case 'in':
      return (lhs, rhs) => {
        if (lhs === undefined || rhs === undefined) return false
        const list = Array.isArray(rhs) ? rhs : [rhs]
        for (const item of list) if (item === lhs) return true
        return false
      }
    default:
      throw new Error(`the compiler does not know the operator ${op}`)
  }
}

function range(lhs: unknown, rhs: unknown, env: JFrame): unknown {
  if (lhs !== undefined && !Number.isInteger(lhs)) throw { code: 'T2003', stack: new Error().stack, value: lhs }
  if (rhs !== undefined && !Number.isInteger(rhs)) throw { code: 'T2004', stack: new Error().stack, value: rhs }
  if (lhs === undefined || rhs === undefined) return undefined
  const from = lhs as number
  const to = rhs as number
  if (from > to) return undefined
  const size = to - from + 1
  if (size > 1e7) throw { code: 'D2014', stack: new Error().stack, value: size }
  const limit = env.base.options?.sequence
  if (limit !== undefined && size > limit) throw { code: 'D2015', stack: new Error().stack, value: size }
  const result = new Array(size) as Sequence
  for (let item = from, index = 0; item <= to; item++, index++) result[index] = item
  result.sequence = true
  return result
}

function compileUnary(node: Node): Ev | undefined {
  switch (node.value) {
    case '-': {
      const expression = child(node.expression!)
      const position = node.position
      return (input, env) => {
        const result = expression(input, env)
        if (result === undefined) return undefined
        if (isNumeric(result)) return -result
        throw { code: 'D1002', stack: new Error().stack, position, token: '-', value: result }
      }
    }
    case '[': {
      const items = node.expressions!.map((item) => ({ ev: child(item), isArray: item.value === '[' }))
      const consarray = node.consarray === true
      return (input, env) => {
        const focus = { createSequence: env.base.createSequence }
        // In order: jsonata-js evaluates the items concurrently, which only
        // matters when two of them fail (the engine reports the first in order).
        const values = items.map((item) => item.ev(input, env))
        let result: Sequence = []
        for (let i = 0; i < items.length; i++) {
          const value = values[i]
          if (value === undefined) continue
          if (items[i]!.isArray) result.push(value)
          else result = append.call(focus, result, value) as Sequence
        }
        if (consarray) Object.defineProperty(result, 'cons', { enumerable: false, configurable: false, value: true })
        return result
      }
    }
    case '{':
      return compileGroup({ lhs: node.lhs as [Node, Node][], ...(node.position === undefined ? {} : { position: node.position }) })
    default:
      return undefined
  }
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

function compileFunction(node: Node): Ev {
  const procedureAst = node.procedure!
  const procedure = child(procedureAst)
  const args = node.arguments!.map(child)
  const position = node.position
  const procName = (procedureAst.type === 'path' ? procedureAst.steps![0]!.value : procedureAst.value) as string
  const helpName = procedureAst.type === 'path' ? (procedureAst.steps![0]!.value as string) : undefined
  const general: Ev = (input, env) => {
    const proc = procedure(input, env)
    if (proc === undefined && helpName !== undefined && env.lookup(helpName)) {
      // The user probably forgot the $ before a function's name.
      throw { code: 'T1005', stack: new Error().stack, position, token: helpName }
    }
    const evaluated: unknown[] = []
    for (const arg of args) {
      const value = arg(input, env)
      if (isFunction(value)) {
        const closure = (...params: unknown[]) => internals.apply(value, params, null, env)
        ;(closure as { arity?: number }).arity = getFunctionArity(value as never)
        evaluated.push(closure)
      } else {
        evaluated.push(value)
      }
    }
    try {
      // As jsonata: on null this throws a TypeError, which is what jsonata raises then.
      if (typeof proc === 'object') {
        ;(proc as { token?: string }).token = procName
        ;(proc as { position?: number }).position = position!
      }
      if (proc !== undefined && proc !== null && (proc as { _jsonata_function?: boolean })._jsonata_function === true) return applyBuiltin(proc as Builtin, evaluated, input, env)
      return internals.apply(proc, evaluated, input, env)
    } catch (err) {
      const e = err as { position?: number; token?: string }
      if (!e.position) e.position = position!
      if (!e.token) e.token = procName
      throw err
    }
  }
  // `$name(...)` where $name is a built-in function that the expression does
  // not rebind: called directly, unless the evaluation binds the name.
  const free = procedureAst.type === 'variable' ? freeName(procName) : undefined
  const builtin = free?.value as Builtin | undefined
  if (builtin === undefined || builtin === null || typeof builtin !== 'object' || builtin._jsonata_function !== true) return general
  return (input, env) => {
    if (boundByEvaluation(env, procName) !== NOT_BOUND) return general(input, env)
    const evaluated: unknown[] = []
    for (let i = 0; i < args.length; i++) {
      const value = args[i]!(input, env)
      evaluated.push(isFunction(value) ? asClosure(value, env) : value)
    }
    return callDirect(builtin, evaluated, input, env, procName, position)
  }
}

/** A function value passed to a built-in: callable as a JavaScript function, as jsonata passes it. */
function asClosure(value: unknown, env: JFrame): unknown {
  const closure = (...params: unknown[]) => internals.apply(value, params, null, env)
  ;(closure as { arity?: number }).arity = getFunctionArity(value as never)
  return closure
}

/**
 * What applyBuiltin and callBuiltin do, in one frame, for a call site that
 * knows its function: jsonata writes the call's name and position on the
 * function object before each call, for its errors; here they go on the
 * error only, as that combination would have left them.
 */
function callDirect(proc: Builtin, args: unknown[], input: unknown, env: JFrame, procName: string, position: number | undefined): unknown {
  const base = env.base as unknown as { enterCall(): void; built(result: unknown): unknown; calls: number; options: unknown; createSequence: unknown }
  base.enterCall()
  try {
    const validated = proc.signature === undefined ? args : proc.signature.validate(args, input)
    let result = proc.implementation.apply({ environment: env, input, options: base.options, createSequence: base.createSequence }, validated)
    if (result !== null && typeof result === 'object') {
      if (isIterable(result)) result = (result as { next(): { value: unknown } }).next().value
      // A tail call handed back (jsonata's trampoline): applying it runs it.
      if (result !== undefined && result !== null && (result as { _jsonata_lambda?: boolean })._jsonata_lambda === true && (result as { thunk?: boolean }).thunk === true) {
        result = internals.apply(result, [], input, env)
      }
    }
    return base.built(result)
  } catch (err) {
    const e = err as { token?: string; position?: number }
    if (!e.token) e.token = procName
    if (position) e.position = position
    throw err
  } finally {
    base.calls--
  }
}

interface Builtin {
  _jsonata_function: true
  signature?: { validate(args: unknown[], context: unknown): unknown[] }
  implementation: (...args: unknown[]) => unknown
  token?: string
  position?: number
}

/**
 * A built-in function's call, as jsonata's apply and applyInner make it:
 * validate the arguments against the signature, call the implementation
 * with the evaluation's focus, and on an error name the function. (apply's
 * loop over tail calls concerns lambdas only.)
 */
function applyBuiltin(proc: Builtin, args: unknown[], input: unknown, env: JFrame): unknown {
  // Counted and checked as jsonata's applyInner is (see sync-jsonata.ts).
  const base = env.base as unknown as { enterCall?(): void; leaveCall(result: unknown, proc: unknown): unknown; calls: number }
  if (base.enterCall === undefined) return callBuiltin(proc, args, input, env)
  base.enterCall()
  try {
    return base.leaveCall(callBuiltin(proc, args, input, env), proc)
  } finally {
    base.calls--
  }
}

function callBuiltin(proc: Builtin, args: unknown[], input: unknown, env: JFrame): unknown {
  try {
    const validated = proc.signature === undefined ? args : proc.signature.validate(args, input)
    const focus = { environment: env, input, options: env.base.options, createSequence: env.base.createSequence }
    let result = proc.implementation.apply(focus, validated)
    if (isIterable(result)) result = (result as { next(): { value: unknown } }).next().value
    // A tail call handed back (jsonata's trampoline): applying it runs it.
    if (result !== undefined && result !== null && (result as { _jsonata_lambda?: boolean })._jsonata_lambda === true && (result as { thunk?: boolean }).thunk === true) {
      return internals.apply(result, [], input, env)
    }
    return result
  } catch (err) {
    const e = err as { token?: string; position?: number }
    if (e.token === undefined && proc.token !== undefined) e.token = proc.token
    e.position = proc.position || e.position!
    throw err
  }
}

function isIterable(arg: unknown): boolean {
  return typeof arg === 'object' && arg !== null && Symbol.iterator in arg && 'next' in arg && typeof (arg as { next?: unknown }).next === 'function'
}

function isNumeric(n: unknown): n is number {
  if (typeof n !== 'number') return false
  if (Number.isNaN(n)) return false
  if (!Number.isFinite(n)) throw { code: 'D1001', value: n, stack: new Error().stack }
  return true
}

function isArrayOfNumbers(arg: unknown): arg is number[] {
  return Array.isArray(arg) && arg.filter((item) => !isNumeric(item)).length === 0
}

function isFunction(arg: unknown): boolean {
  const a = arg as { _jsonata_function?: unknown; _jsonata_lambda?: unknown } | null | undefined
  return (a !== null && a !== undefined && (a._jsonata_function === true || a._jsonata_lambda === true)) || typeof arg === 'function'
}

function getFunctionArity(func: { arity?: unknown; implementation?: unknown; length?: unknown; arguments?: unknown[] }): number {
  if (typeof func.arity === 'number') return func.arity
  if (typeof func.implementation === 'function') return (func.implementation as (...a: unknown[]) => unknown).length
  if (typeof func.length === 'number') return func.length
  return (func.arguments as unknown[]).length
}
