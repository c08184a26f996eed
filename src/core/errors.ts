/**
 * Every error a caller or a step can see, in one place, so that the wording
 * of the protocol stays the same wherever it is produced.
 */

/** The seed's exact text: the orchestrator and its users know this message. */
export const SIGNATURE_ERROR = 'Invalid input request, please verify the signature'

/** Answers to requests that never reach a step (the HTTP status says which kind). */
export const RequestError = {
  bodyNotObject: 'request body must be a JSON object with "payload" and "signature"',
  payloadNotObject: 'request body must have "payload" as a JSON object',
  forbiddenKey: 'request body contains a forbidden key (__proto__ or constructor.prototype)',
  contextNotObject: 'payload.context must be a JSON object',
  stepNameNotString: 'payload.context.step_name must be a non-empty string',
  unknownStep: (name: string) => `unknown step '${name}'`,
} as const

/**
 * Codes of a step that failed on its own terms. The request still answers 200
 * with exit_code "failure" and data.error.code set to one of these, so the
 * orchestrator and downstream steps see why.
 */
export const StepErrorCode = {
  inputInvalid: 'input_invalid',
  transformFailed: 'transform_failed',
  upstreamStatus: 'upstream_status',
  upstreamFailed: 'upstream_failed',
  outputFailed: 'output_failed',
} as const
export type StepErrorCode = (typeof StepErrorCode)[keyof typeof StepErrorCode]
