import { StepErrorCode } from './errors.js'
import type { CoreLimits } from './limits.js'
import { failure, type StepResult } from './protocol.js'
import type { Scrubber } from './secrets.js'
import { JsonText } from '../engine/values.js'

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

/**
 * Serializes a step's answer, replaces secrets, and holds it to
 * MAX_ANSWER_BYTES. Data that an evaluation thread sent as JSON text is
 * spliced in as it is (see JsonText).
 */
export function finishAnswer(run: StepRun, limits: CoreLimits, secrets: Scrubber): Answer {
  const { exit_code, data } = run.result
  const text = data instanceof JsonText ? data : undefined
  let body: string
  try {
    // The same text as JSON.stringify of the result: exit_code, then data.
    body = secrets.json(text === undefined ? JSON.stringify(run.result) : `{"exit_code":${JSON.stringify(exit_code)},"data":${text.text}}`)
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
  return { result: text === undefined ? run.result : parsedWhenRead(exit_code, text), body }
}

/**
 * The answer as the log line, the metrics and /dev/runs see it, with spliced
 * data parsed only if one of them reads it (most read only exit_code).
 */
function parsedWhenRead(exitCode: string, data: JsonText): StepResult {
  let value: unknown
  let parsed = false
  return {
    exit_code: exitCode,
    get data() {
      if (!parsed) {
        value = data.toJSON()
        parsed = true
      }
      return value
    },
  }
}

function small(run: StepRun): Answer {
  return { result: run.result, body: JSON.stringify(run.result) }
}

export { JsonText, jsonProblem } from '../engine/values.js'
