import { StepErrorCode } from './errors.js'
import { describeExpressionError, evaluateOverPayload } from './expression.js'
import { runHttpStep, type StepRuntime } from './http-step.js'
import { failure, type Payload, type StepResult } from './protocol.js'
import type { CompiledStep } from './registry.js'

/** Runs one step on a verified payload. Never throws: a failing step is a result. */
export async function runStep(step: CompiledStep, payload: Payload, runtime: StepRuntime): Promise<StepResult> {
  if (step.validate !== undefined) {
    // Absent data is checked as null, so a schema can require data to be sent.
    const data = payload.data === undefined ? null : payload.data
    let valid: boolean
    try {
      valid = step.validate(data) as boolean
    } catch {
      // A recursive schema walks as deep as the data does.
      return failure(StepErrorCode.inputInvalid, 'input is nested too deeply to be checked against the step schema')
    }
    if (!valid) {
      const errors = step.validate.errors ?? []
      return failure(StepErrorCode.inputInvalid, describeInputErrors(errors), errors)
    }
  }

  let output: unknown
  if (step.transform !== undefined) {
    try {
      output = await evaluateOverPayload(step.transform, payload)
    } catch (err) {
      const info = describeExpressionError(err)
      return failure(StepErrorCode.transformFailed, `transform failed: ${info.message}`, info)
    }
  }

  switch (step.action.kind) {
    case 'static':
      return output === undefined
        ? { exit_code: step.action.exitCode }
        : { exit_code: step.action.exitCode, data: output }
    case 'http':
      return runHttpStep(step.name, step.action, payload, output, runtime)
  }
}

function describeInputErrors(errors: readonly { instancePath: string; message?: string }[]): string {
  const first = errors[0]
  if (first === undefined) return 'input does not match the step schema'
  const where = first.instancePath === '' ? 'data' : `data${first.instancePath}`
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''
  return `input does not match the step schema: ${where} ${first.message ?? 'is invalid'}${more}`
}
