import { RequestError, SIGNATURE_ERROR } from './errors.js'
import { isPlainObject, type Payload, type StepResult } from './protocol.js'
import type { Registry } from './registry.js'
import type { StepRuntime } from './http-step.js'
import { runStep } from './run-step.js'
import type { Verifier } from './signature.js'

/** Why a request was turned away before any step ran. */
export type Rejection = 'malformed' | 'signature' | 'unknown_step'

export type HookOutcome =
  | { readonly kind: 'rejected'; readonly status: 400 | 404; readonly reason: Rejection; readonly error: string; readonly payload?: Payload }
  | { readonly kind: 'ran'; readonly status: 200; readonly payload: Payload; readonly keyIndex: number; readonly result: StepResult }

function reject(status: 400 | 404, reason: Rejection, error: string, payload?: Payload): HookOutcome {
  return payload === undefined ? { kind: 'rejected', status, reason, error } : { kind: 'rejected', status, reason, error, payload }
}

/**
 * A parsed webhook body in, the answer out. The signature is checked before
 * anything that depends on the config, so an unsigned caller learns nothing
 * about which steps exist.
 */
export async function handleHook(body: unknown, registry: Registry, verify: Verifier, runtime: StepRuntime): Promise<HookOutcome> {
  if (!isPlainObject(body)) return reject(400, 'malformed', RequestError.bodyNotObject)
  const payload = body['payload']
  if (!isPlainObject(payload)) return reject(400, 'malformed', RequestError.payloadNotObject)

  let payloadJson: string
  try {
    payloadJson = JSON.stringify(payload)
  } catch {
    // JSON.parse accepts nesting that JSON.stringify's recursion cannot walk back.
    return reject(400, 'malformed', RequestError.payloadTooDeep)
  }
  const keyIndex = verify(payloadJson, body['signature'])
  if (keyIndex < 0) return reject(400, 'signature', SIGNATURE_ERROR)

  const context = payload['context']
  if (!isPlainObject(context)) return reject(400, 'malformed', RequestError.contextNotObject)
  const stepName = context['step_name']
  if (typeof stepName !== 'string' || stepName === '') return reject(400, 'malformed', RequestError.stepNameNotString)

  const verified = payload as unknown as Payload
  const step = registry.steps.get(stepName)
  if (step === undefined) return reject(404, 'unknown_step', RequestError.unknownStep(stepName), verified)

  const result = await runStep(step, verified, runtime)
  return { kind: 'ran', status: 200, payload: verified, keyIndex, result }
}
