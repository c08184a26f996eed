/**
 * Paths (`a.b[c > 1].d`), predicates and groupings (`{...}` after a step),
 * compiled: what jsonata's evaluatePath, evaluateStep, evaluateFilter and
 * evaluateGroupExpression do, with a direct walk for the common path of
 * names.
 */
import { Frame } from './frame.js'
import { append, child, isFunctionObject, lookupField, normalize, tick, toBoolean, type Ev, type Node } from './nodes.js'
import { compileVariable } from './compile.js'
import { isArrayOfNumbers, isNumeric, type Sequence } from './runtime.js'
import type { JFrame } from './sync-jsonata.js'

export function compilePath(node: Node): Ev | undefined {
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
      if (Array.isArray(item)) res = normalize(lookupField.call(base, item, key))
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
export function filter(predicate: Node, ev: Ev, input: unknown, env: JFrame): unknown {
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

export function compileGroup(group: { lhs: [Node, Node][]; position?: number }): (input: unknown, env: JFrame) => unknown {
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

