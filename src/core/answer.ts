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

export { jsonProblem } from '../engine/values.js'
