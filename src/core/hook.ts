import { createHash } from 'node:crypto'
import { finishAnswer } from './answer.js'
import { canonicalJsonBytes } from './canonical-json.js'
import { RequestError, SIGNATURE_ERROR } from './errors.js'
import type { StepRuntime } from './http-step.js'
import { scanJson, type JsonKind, type Span } from './json-scan.js'
import { isPlainObject, type Payload, type StepResult } from './protocol.js'
import type { CompiledStep, Registry } from './registry.js'
import type { ReplayStore } from './replay.js'
import { runStep } from './run-step.js'
import { isSignatureFormat, type Verifier } from './signature.js'

/** Why a request was turned away before any step ran. */
export type Rejection = 'malformed' | 'signature' | 'unknown_step'

export type HookOutcome =
  | { readonly kind: 'rejected'; readonly status: 400 | 404; readonly reason: Rejection; readonly error: string; readonly payload?: Payload }
  | {
      readonly kind: 'ran'
      readonly status: 200
      readonly payload: Payload
      readonly keyIndex: number
      /** The answer sent: what the log line and the metrics report. */
      readonly result: StepResult
      /** `result`, serialized: the body sent. */
      readonly body: string
    }
  | {
      /** The answer of an earlier run of the same payload (`waited`: of a run in progress when it arrived). */
      readonly kind: 'replayed'
      readonly status: 200
      readonly payload: Payload
      readonly keyIndex: number
      readonly exitCode: string
      readonly body: string
      readonly waited: boolean
    }

function reject(status: 400 | 404, reason: Rejection, error: string, payload?: Payload): HookOutcome {
  return payload === undefined ? { kind: 'rejected', status, reason, error } : { kind: 'rejected', status, reason, error, payload }
}

/**
 * A webhook body, read but not parsed: where its payload and signature are in
 * the text. The payload is parsed only once the signature is known to be
 * right, so an unsigned body costs one linear scan and one hash.
 */
export interface HookBody {
  readonly text: string
  readonly top: JsonKind
  readonly payload: { readonly span: Span; readonly kind: JsonKind } | undefined
  readonly signature: { readonly span: Span; readonly kind: JsonKind } | undefined
  /** Whether the text is as JSON.stringify writes it (see scanJson). */
  readonly asStringified: boolean
}

export type ReadBody = { readonly ok: true; readonly body: HookBody } | { readonly ok: false; readonly error: string }

const MEMBERS = ['payload', 'signature'] as const

/** Checks a request body's syntax, nesting and keys in one linear pass, without parsing it. */
export function readHookBody(text: string, maxDepth: number): ReadBody {
  const scan = scanJson(text, { maxDepth, members: MEMBERS })
  if (!scan.ok) {
    return { ok: false, error: scan.reason === 'depth' ? `request body is ${scan.message} (MAX_JSON_DEPTH)` : `request body is not valid JSON: ${scan.message}` }
  }
  // Refused rather than stripped: stripping would change what the signature covers.
  if (scan.forbiddenAt >= 0) return { ok: false, error: RequestError.forbiddenKey }
  return {
    ok: true,
    body: { text, top: scan.top, payload: scan.members.get('payload'), signature: scan.members.get('signature'), asStringified: scan.asStringified },
  }
}

/** A parsed body (for tests and tools): as the server reads one that was sent as JSON. */
export function hookBodyOf(value: unknown, maxDepth = 1000): HookBody {
  const read = readHookBody(JSON.stringify(value) ?? 'null', maxDepth)
  if (!read.ok) throw new Error(read.error)
  return read.body
}

/**
 * A webhook body in, the answer out. The signature is checked before
 * anything that depends on the config, so an unsigned caller learns nothing
 * about which steps exist.
 */
export async function handleHook(body: HookBody, registry: Registry, verify: Verifier, runtime: StepRuntime, replay?: ReplayStore): Promise<HookOutcome> {
  if (body.top !== 'object') return reject(400, 'malformed', RequestError.bodyNotObject)
  if (body.payload?.kind !== 'object') return reject(400, 'malformed', RequestError.payloadNotObject)
  const signature = body.signature?.kind === 'string' ? (JSON.parse(slice(body.text, body.signature.span)) as string) : undefined
  if (!isSignatureFormat(signature)) return reject(400, 'signature', SIGNATURE_ERROR)

  // The orchestrator signs JSON.stringify(payload) and sends those very
  // characters: check the signature over the payload as sent. A payload that
  // its sender reformatted (spaces, other escapes) is checked as
  // JSON.stringify would write it, as the seed server does, but without
  // parsing it: nothing is parsed before the signature is known to be right.
  const raw = slice(body.text, body.payload.span)
  let signed: string | Buffer = raw
  let keyIndex = verify(raw, signature)
  if (keyIndex < 0 && !body.asStringified) keyIndex = verify((signed = canonicalJsonBytes(raw) ?? JSON.stringify(JSON.parse(raw))), signature)
  if (keyIndex < 0) return reject(400, 'signature', SIGNATURE_ERROR)
  const payload = JSON.parse(raw) as Record<string, unknown>

  const context = payload['context']
  if (!isPlainObject(context)) return reject(400, 'malformed', RequestError.contextNotObject)
  const stepName = context['step_name']
  if (typeof stepName !== 'string' || stepName === '') return reject(400, 'malformed', RequestError.stepNameNotString)

  const verified = payload as unknown as Payload
  const step = registry.steps.get(stepName)
  if (step === undefined) return reject(404, 'unknown_step', RequestError.unknownStep(stepName), verified)

  if (replay === undefined) return ranOutcome(await runOnce(step, verified, runtime, registry), verified, keyIndex)

  // The same payload, as signed, is the same request, whichever key signed it.
  const claim = await replay.claim(createHash('sha256').update(signed).digest('hex'))
  if (claim.kind === 'answered') {
    return { kind: 'replayed', status: 200, payload: verified, keyIndex, exitCode: claim.answer.exitCode, body: claim.answer.body, waited: claim.waited }
  }
  let answer: ReturnType<typeof finishAnswer> | undefined
  try {
    answer = await runOnce(step, verified, runtime, registry)
  } finally {
    // A cancelled run (the caller went away, a shutdown past its grace) has no answer to give again.
    if (answer === undefined || runtime.cancelled?.() === true) claim.abandon()
    else claim.complete({ body: answer.body, exitCode: answer.result.exit_code })
  }
  return ranOutcome(answer, verified, keyIndex)
}

async function runOnce(step: CompiledStep, payload: Payload, runtime: StepRuntime, registry: Registry): Promise<ReturnType<typeof finishAnswer>> {
  return finishAnswer(await runStep(step, payload, runtime, registry.secrets), runtime.limits, registry.secrets)
}

function ranOutcome(answer: ReturnType<typeof finishAnswer>, payload: Payload, keyIndex: number): HookOutcome {
  return { kind: 'ran', status: 200, payload, keyIndex, result: answer.result, body: answer.body }
}

function slice(text: string, span: Span): string {
  return text.slice(span.start, span.end)
}
