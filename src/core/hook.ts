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
export interface ScannedBody {
  readonly kind: 'scanned'
  readonly text: string
  readonly top: JsonKind
  readonly payload: { readonly span: Span; readonly kind: JsonKind } | undefined
  readonly signature: { readonly span: Span; readonly kind: JsonKind } | undefined
  /** Whether the text is as JSON.stringify writes it (see scanJson). */
  readonly asStringified: boolean
}

/**
 * A body whose signature is known to be right: its payload, parsed, and the
 * key that signed it. What a body in the orchestrator's own shape is read as
 * (see readSignedBody), and what handleHook makes of a scanned one.
 */
export interface SignedBody {
  readonly kind: 'signed'
  /** What the signature covers (the payload as sent, or as JSON.stringify writes it): what the replay cache keys on. */
  readonly signed: string | Buffer
  readonly payload: Record<string, unknown>
  readonly keyIndex: number
}

export type HookBody = ScannedBody | SignedBody

export type ReadBody = { readonly ok: true; readonly body: HookBody } | { readonly ok: false; readonly error: string }

const MEMBERS = ['payload', 'signature'] as const

/**
 * Checks a request body's syntax, nesting and keys in one linear pass, without
 * parsing it. With the verifier, a body in the orchestrator's own shape is
 * first tried the short way (readSignedBody).
 */
export function readHookBody(text: string, maxDepth: number, verify?: Verifier): ReadBody {
  if (verify !== undefined) {
    const signed = readSignedBody(text, maxDepth, verify)
    if (signed !== undefined) return { ok: true, body: signed }
  }
  const scan = scanJson(text, { maxDepth, members: MEMBERS })
  if (!scan.ok) {
    return { ok: false, error: scan.reason === 'depth' ? `request body is ${scan.message} (MAX_JSON_DEPTH)` : `request body is not valid JSON: ${scan.message}` }
  }
  // Refused rather than stripped: stripping would change what the signature covers.
  if (scan.forbiddenAt >= 0) return { ok: false, error: RequestError.forbiddenKey }
  return {
    ok: true,
    body: { kind: 'scanned', text, top: scan.top, payload: scan.members.get('payload'), signature: scan.members.get('signature'), asStringified: scan.asStringified },
  }
}

/** Bodies up to this long are tried the short way; a longer one is scanned first, as a hostile one should be. */
export const SIGNED_FIRST_MAX_CHARS = 16 * 1024

const PAYLOAD_OPEN = '{"payload":'
const SIGNATURE_OPEN = ',"signature":"'
/** SIGNATURE_OPEN, 64 hex characters and `"}`. */
const SIGNATURE_TAIL = SIGNATURE_OPEN.length + 64 + 2

/**
 * The short way for what the orchestrator sends, nearly every request:
 * `{"payload":{…},"signature":"<64 hex>"}` exactly as JSON.stringify writes
 * it. The signature is checked over the payload's text first, and only a
 * signed payload is parsed — by JSON.parse, which then checks its syntax —
 * instead of scanning the whole body and then parsing the payload. It gives
 * what the scan would, or undefined, and the body takes the scan:
 *
 * - the shape is checked at both ends: the payload is the single value
 *   between them, since JSON.parse accepts it as one (and it ends with `}`,
 *   so its span is the scan's);
 * - nesting: at most maxDepth - 1 `{` and `[` in the whole payload, strings
 *   included, so no deeper than MAX_JSON_DEPTH with the body's own `{`;
 * - forbidden keys: no `__proto__` or `prototype` anywhere in the text, and
 *   no `\u` escape that could spell one;
 * - the signature: one the verifier accepts over the payload's text, as the
 *   scanned path checks first too.
 *
 * A body that fails any of these costs one hash of at most 16 KiB more than
 * before; longer bodies never come here, so refusing a big hostile body
 * costs what it did.
 */
function readSignedBody(text: string, maxDepth: number, verify: Verifier): SignedBody | undefined {
  const n = text.length
  // The payload: from its `{` after PAYLOAD_OPEN to its `}` before the signature.
  const start = PAYLOAD_OPEN.length
  const end = n - SIGNATURE_TAIL
  if (n > SIGNED_FIRST_MAX_CHARS || end <= start + 1 || !text.startsWith(PAYLOAD_OPEN) || text.charCodeAt(start) !== 123 /* { */ || text.charCodeAt(end - 1) !== 125 /* } */) return undefined
  if (!text.startsWith(SIGNATURE_OPEN, end) || text.charCodeAt(n - 2) !== 34 /* " */ || text.charCodeAt(n - 1) !== 125 /* } */) return undefined
  const raw = text.slice(start, end)
  if (raw.includes('__proto__') || raw.includes('prototype') || raw.includes('\\u') || !shallowerThan(raw, maxDepth - 1)) return undefined
  // The verifier checks the signature's form (64 lowercase hex) before anything else.
  const keyIndex = verify(raw, text.slice(end + SIGNATURE_OPEN.length, n - 2))
  if (keyIndex < 0) return undefined
  let payload: unknown
  try {
    payload = JSON.parse(raw)
  } catch {
    return undefined
  }
  return { kind: 'signed', signed: raw, payload: payload as Record<string, unknown>, keyIndex }
}

/** Whether the text opens at most maxDepth objects and arrays in all (in strings too), so nests no deeper. */
function shallowerThan(text: string, maxDepth: number): boolean {
  let opened = 0
  for (let k = text.indexOf('{'); k !== -1; k = text.indexOf('{', k + 1)) if (++opened > maxDepth) return false
  for (let k = text.indexOf('['); k !== -1; k = text.indexOf('[', k + 1)) if (++opened > maxDepth) return false
  return true
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
  const checked = body.kind === 'signed' ? body : checkScanned(body, verify)
  if (checked.kind !== 'signed') return checked
  const { payload, keyIndex, signed } = checked

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

/** A scanned body's payload, parsed once its signature is known to be right; or why not. */
function checkScanned(body: ScannedBody, verify: Verifier): SignedBody | HookOutcome {
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
  return { kind: 'signed', signed, payload: JSON.parse(raw) as Record<string, unknown>, keyIndex }
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
