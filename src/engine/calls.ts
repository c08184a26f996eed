/**
 * Function calls, compiled: `$f(...)`, as jsonata's evaluateFunction, apply
 * and applyInner make them, with a direct call of a built-in function that
 * the expression does not rebind.
 */
import { NOT_BOUND } from './frame.js'
import { boundByEvaluation, child, freeName, getFunctionArity, isFunction, type Ev, type Node } from './nodes.js'
import { internals, type JFrame } from './sync-jsonata.js'

export function compileFunction(node: Node): Ev {
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
  const base = env.base as unknown as { enterCall(proc: unknown, args: readonly unknown[]): void; built(result: unknown): unknown; calls: number; options: unknown; createSequence: unknown }
  base.enterCall(proc, args)
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
  const base = env.base as unknown as { enterCall?(proc: unknown, args: readonly unknown[]): void; leaveCall(result: unknown, proc: unknown): unknown; calls: number }
  if (base.enterCall === undefined) return callBuiltin(proc, args, input, env)
  base.enterCall(proc, args)
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

