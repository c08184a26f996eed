/**
 * Operators, compiled: arithmetic, comparison, `and`/`or`, `&`, `..`, `in`,
 * negation, and the array and object constructors; with jsonata's error
 * codes, and the operator's position and token on every error.
 */
import { stringTooLong } from './frame.js'
import { append, child, toBoolean, toString, type Ev, type Node } from './nodes.js'
import { compileGroup } from './paths.js'
import { isNumeric, type Sequence } from './runtime.js'
import { internals, type JFrame } from './sync-jsonata.js'

export function compileBinary(node: Node): Ev {
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

export function compileUnary(node: Node): Ev | undefined {
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
        // jsonata checks no limit here: `[$list, $list, ...]` would build past max_items.
        ;(env.base as unknown as { built(value: unknown): unknown }).built(result)
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

