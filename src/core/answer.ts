import { StepErrorCode } from './errors.js'
import type { CoreLimits } from './limits.js'
import { failure, type StepResult } from './protocol.js'
import type { Scrubber } from './secrets.js'

/**
 * The stage whose value a step's answer carries: what a bad or oversized
 * answer is blamed on. Each stage checks that what it made is JSON data where
 * it made it (see `jsonProblem`); the answer is then serialized, scrubbed of
 * secrets and measured here, once, before anything logs or counts it.
 */
export type Stage = 'input' | 'transform' | 'upstream' | 'output'

export interface StepRun {
  readonly result: StepResult
  readonly stage: Stage
}

const STAGE_CODE: Readonly<Record<Stage, StepErrorCode>> = {
  input: StepErrorCode.inputInvalid,
  transform: StepErrorCode.transformFailed,
  upstream: StepErrorCode.upstreamFailed,
  output: StepErrorCode.outputFailed,
}

/** A failed run, blamed on its stage's error code. */
export function stageFailure(stage: Stage, message: string, details?: unknown): StepRun {
  return { result: failure(STAGE_CODE[stage], message, details), stage }
}

export interface Answer {
  /** What the log line and the metrics report: the answer actually sent. */
  readonly result: StepResult
  /** The body sent, serialized. */
  readonly body: string
}

/** Serializes a step's answer, replaces secrets, and holds it to MAX_ANSWER_BYTES. */
export function finishAnswer(run: StepRun, limits: CoreLimits, secrets: Scrubber): Answer {
  let body: string
  try {
    body = secrets.json(JSON.stringify(run.result))
  } catch (err) {
    // Each stage checked its value; this is the last guard, never a 500.
    return small(stageFailure(run.stage, `answer could not be serialized: ${(err as Error).message}`))
  }
  // A UTF-8 byte is at least one UTF-16 unit and a unit at most three bytes:
  // count exactly only when the answer could be over.
  if (body.length * 3 > limits.maxAnswerBytes) {
    const bytes = Buffer.byteLength(body)
    if (bytes > limits.maxAnswerBytes) {
      return small(stageFailure(run.stage, `answer is ${bytes} bytes, over MAX_ANSWER_BYTES`, { bytes, max_answer_bytes: limits.maxAnswerBytes }))
    }
  }
  return { result: run.result, body }
}

function small(run: StepRun): Answer {
  return { result: run.result, body: JSON.stringify(run.result) }
}

/**
 * What makes a value something other than plain JSON data, in words, or
 * undefined when it is data: a function (a JSONata lambda, partial
 * application or built-in), a regular expression, a number that is not
 * finite, an object that is not plain, nesting deeper than `maxDepth`.
 * JSON.stringify would drop some of these silently, turn others into null,
 * and throw on the rest; none of them may reach an answer.
 */
export function jsonProblem(value: unknown, maxDepth: number): string | undefined {
  const found = walk(value, 0, maxDepth)
  if (found === undefined) return undefined
  // Too deep: the path would be as long as the nesting, and says nothing.
  if (found.path.length === 0 || found.deep) return found.what
  const path = found.path.reverse().join('').replace(/^\./, '')
  return `${found.what} (at ${path.length > 80 ? `${path.slice(0, 77)}...` : path})`
}

interface Found {
  readonly what: string
  /** Segments from the value found up to the root. */
  readonly path: string[]
  readonly deep?: boolean
}

function walk(value: unknown, depth: number, maxDepth: number): Found | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'undefined':
      return undefined
    case 'number':
      return Number.isFinite(value) ? undefined : { what: `a number that JSON cannot carry (${value})`, path: [] }
    case 'function':
      return { what: isJsonataRegex(value) ? 'a regular expression' : 'a function', path: [] }
    case 'object':
      break
    default:
      return { what: `a value that is not JSON data (${typeof value})`, path: [] }
  }
  if (value === null) return undefined
  if (depth >= maxDepth) return { what: `a value nested deeper than ${maxDepth} levels`, path: [], deep: true }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = walk(value[i], depth + 1, maxDepth)
      if (found !== undefined) return (found.path.push(`[${i}]`), found)
    }
    return undefined
  }
  const proto = Object.getPrototypeOf(value) as unknown
  if (proto !== Object.prototype && proto !== null) return { what: 'a value that is not JSON data', path: [] }
  const o = value as Record<string, unknown>
  // JSONata's functions are objects with a marker: lambdas, partial applications and built-ins.
  if (o['_jsonata_lambda'] === true || o['_jsonata_function'] === true || o['_jsonata_partial'] === true) return { what: 'a function', path: [] }
  for (const key in o) {
    const found = walk(o[key], depth + 1, maxDepth)
    if (found !== undefined) return (found.path.push(/^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`), found)
  }
  return undefined
}

/** JSONata evaluates a regex literal to a matcher closure of this shape. */
function isJsonataRegex(fn: Function): boolean {
  return /^function\s*\(str, fromIndex\)/.test(Function.prototype.toString.call(fn))
}
