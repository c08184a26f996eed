import { jsonProblem, stageFailure, type StepRun } from './answer.js'
import { describeExpressionError, evaluateOverPayload } from './expression.js'
import { runHttpStep, type StepRuntime } from './http-step.js'
import type { Payload } from './protocol.js'
import type { CompiledStep } from './registry.js'
import type { Scrubber } from './secrets.js'
import { since, traceBody } from './trace.js'

// ajv reports every error (allErrors): an answer carries the first ones only.
const MAX_INPUT_ERRORS = 100

/** Runs one step on a verified payload. Never throws: a failing step is a result. */
export async function runStep(step: CompiledStep, payload: Payload, runtime: StepRuntime, secrets: Scrubber): Promise<StepRun> {
  const { trace } = runtime
  if (step.validate !== undefined) {
    const started = performance.now()
    // Absent data is checked as null, so a schema can require data to be sent.
    const data = payload.data === undefined ? null : payload.data
    let valid: boolean
    try {
      valid = step.validate(data) as boolean
    } catch {
      // A recursive schema walks as deep as the data does.
      trace?.stage('input', since(started), { valid: false, error: 'nested too deeply' })
      return stageFailure('input', 'input is nested too deeply to be checked against the step schema')
    }
    if (!valid) {
      const errors = step.validate.errors ?? []
      trace?.stage('input', since(started), { valid: false, errors: errors.slice(0, MAX_INPUT_ERRORS) })
      return stageFailure('input', describeInputErrors(errors), errors.slice(0, MAX_INPUT_ERRORS))
    }
    trace?.stage('input', since(started), { valid: true })
  }

  let output: unknown
  if (step.transform !== undefined) {
    const started = performance.now()
    try {
      // Where the result is only serialized (a static step's data, an HTTP
      // step's JSON body), a result made on an evaluation thread stays the
      // JSON text it came back as (see JsonText).
      output = await evaluateOverPayload(step.transform, payload, step.action.kind === 'static' || step.action.body === 'json')
    } catch (err) {
      const info = describeExpressionError(err, step.transform)
      trace?.stage('transform', since(started), { error: info })
      return stageFailure('transform', `transform failed: ${info.message}`, info)
    }
    // Checked here, where it was made: as a static step's data or as an HTTP step's request body.
    const problem = jsonProblem(output, runtime.limits.maxJsonDepth)
    trace?.stage('transform', since(started), problem === undefined ? { result: traceBody(output) } : { error: `transform returned ${problem}` })
    if (problem !== undefined) return stageFailure('transform', `transform returned ${problem}`)
  }

  switch (step.action.kind) {
    case 'static':
      return { result: output === undefined ? { exit_code: step.action.exitCode } : { exit_code: step.action.exitCode, data: output }, stage: 'transform' }
    case 'http':
      return runHttpStep(step.name, step.action, payload, output, runtime, secrets)
  }
}

function describeInputErrors(errors: readonly { instancePath: string; message?: string }[]): string {
  const first = errors[0]
  if (first === undefined) return 'input does not match the step schema'
  const where = first.instancePath === '' ? 'data' : `data${first.instancePath}`
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''
  return `input does not match the step schema: ${where} ${first.message ?? 'is invalid'}${more}`
}
