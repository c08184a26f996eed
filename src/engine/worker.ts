/**
 * An evaluation thread of the pool (pool.ts): compiles each expression it is
 * given once, and evaluates it with its limits and the deadline of the
 * evaluation it finishes. A result that cannot cross back (a function) is
 * described instead.
 */
import { setPriority } from 'node:os'
import { parentPort } from 'node:worker_threads'
import { compile, type Expression } from './index.js'
import { EVALUATION_HEAP_BYTES, type JobMessage, type Reply } from './pool.js'
import { jsonProblem, nesting } from './values.js'

// Below the main thread, which answers every other request: on Linux a
// thread has a priority of its own (elsewhere this would lower the process).
if (process.platform === 'linux') {
  try {
    setPriority(19)
  } catch {
    // Not permitted: the thread runs at the process's priority.
  }
}

const compiled = new Map<string, Expression>()
const MAX_COMPILED = 1000

const reply = (message: Reply) => parentPort!.postMessage(message)

parentPort!.on('message', (job: JobMessage) => {
  const key = `${JSON.stringify(job.limits)}\u0000${job.source}`
  let expression = compiled.get(key)
  if (expression === undefined) {
    if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value!)
    // Well under the thread's heap: the evaluation fails by name before V8 runs out (and thrashes first).
    expression = compile(job.source, { ...job.limits, maxMemoryBytes: EVALUATION_HEAP_BYTES })
    compiled.set(key, expression)
  }
  try {
    const { input, bindings } = JSON.parse(job.json) as { input?: unknown; bindings?: Readonly<Record<string, unknown>> }
    const value = expression.evaluate(input, bindings, { timestamp: job.timestamp, deadline: job.deadline })
    const problem = jsonProblem(value, Infinity)
    // Data, and it crosses as the JSON it is answered as (a sequence, which
    // carries its own push, as the array it is).
    if (problem !== undefined) reply({ id: job.id, ok: false, notData: problem })
    else if (value === undefined) reply({ id: job.id, ok: true })
    else reply({ id: job.id, ok: true, json: JSON.stringify(value), depth: nesting(value) })
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown; position?: unknown; token?: unknown; value?: unknown }
    reply({
      id: job.id,
      ok: false,
      error: { code: e.code, message: e.message, position: e.position, token: e.token, ...(typeof e.value === 'string' || typeof e.value === 'number' ? { value: e.value } : {}) },
    })
  }
})

