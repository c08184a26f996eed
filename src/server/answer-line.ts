import pino from 'pino'
import type { FastifyBaseLogger } from 'fastify'
import type { LogStream } from './log-output.js'

/** The fields of the line logged for each answered step, in their order. */
export interface AnswerLine {
  readonly request_id: string
  readonly flow_id: string
  readonly step_name: string
  readonly exit_code: string
  readonly duration_ms: number
  readonly key_index: number
}

type Sym = 'asJsonSym' | 'chindingsSym' | 'hooksSym' | 'mixinSym' | 'needsMetadataGsym' | 'streamSym' | 'timeSym'
const { asJsonSym, chindingsSym, hooksSym, mixinSym, needsMetadataGsym, streamSym, timeSym } = pino.symbols as unknown as Readonly<Record<Sym, symbol>>

type Internals = Record<symbol, unknown>

/** How the lines of one logger are written: found once per logger, then one call per line. */
type Writer = (line: AnswerLine) => void

// The logger checked last and its writer (undefined: the template does not
// apply to it): a server has one logger, so this is one comparison per line.
let checkedLogger: object | undefined
let writer: Writer | undefined

/**
 * Writes the line of an answered step straight to the logger's destination:
 * the very bytes that `log.info({ request_id, flow_id, step_name, exit_code,
 * status: 200, duration_ms, key_index }, 'step answered')` writes, through
 * the same streamWrite hook (the redaction of secrets).
 *
 * pino's way to them is generic: a loop over the object's keys with a
 * serializer lookup for each, its own escaping of every string, a check of
 * every option. For the one line every request writes that cost a static
 * step about a tenth of its requests/s in the bench (`npm run bench`); this is
 * one template.
 *
 * Through step-runner's own output (log-output.ts) the line is rendered at
 * the end of the event loop's turn, with the other answer lines of the turn:
 * the request only hands over its fields and the time. One line at a time,
 * between requests, the same rendering cost several times as much (the
 * static step's requests/s: +12 % in the bench's A/B).
 *
 * Returns false, and writes nothing, where the template is not the line pino
 * would write: a logger with a mixin (tracing adds the trace's fields), a
 * destination that wants pino's metadata (a multistream), or a logger whose
 * lines the template does not reproduce — checked once per logger against
 * pino's own serializer. The caller then logs through pino.
 */
export function writeAnswerLine(logger: FastifyBaseLogger, line: AnswerLine): boolean {
  if (checkedLogger !== logger) {
    writer = writerFor(logger as unknown as Internals)
    checkedLogger = logger
  }
  if (writer === undefined) return false
  writer(line)
  return true
}

/** The logger's writer, with its destination, clock, bindings and redaction looked up once; or undefined. */
function writerFor(log: Internals): Writer | undefined {
  const stream = log[streamSym] as { write(text: string): unknown; later?: LogStream['later']; [needsMetadataGsym]?: boolean }
  if (log[mixinSym] !== undefined || stream[needsMetadataGsym] === true || !reproduces(log)) return undefined
  const time = log[timeSym] as () => string
  const bindings = log[chindingsSym] as string
  const hook = (log[hooksSym] as { streamWrite?: (s: string) => string } | undefined)?.streamWrite
  const render = ({ line, time }: Pending): string => {
    const text = template(line, time, bindings)
    return hook === undefined ? text : hook(text)
  }
  // step-runner's own output renders the line at the end of the turn, with the others of the turn.
  const later = stream.later
  if (later !== undefined) return (line) => later(render, { line, time: time() })
  return (line) => void stream.write(render({ line, time: time() }))
}

interface Pending {
  readonly line: AnswerLine
  /** pino's time field as it was when the line was logged. */
  readonly time: string
}

function template(line: AnswerLine, time: string, bindings: string): string {
  return `{"level":30${time}${bindings},"request_id":${JSON.stringify(line.request_id)},"flow_id":${JSON.stringify(line.flow_id)},"step_name":${JSON.stringify(
    line.step_name,
  )},"exit_code":${JSON.stringify(line.exit_code)},"status":200,"duration_ms":${line.duration_ms},"key_index":${line.key_index},"msg":"step answered"}\n`
}

/** Whether the template writes what pino itself writes for this logger (its level numbers, keys, formatters). */
function reproduces(log: Internals): boolean {
  const asJson = log[asJsonSym] as ((obj: object, msg: string, level: number, time: string) => string) | undefined
  if (typeof asJson !== 'function' || typeof log[chindingsSym] !== 'string' || typeof log[timeSym] !== 'function') return false
  const sample: AnswerLine = { request_id: 'mqr_1', flow_id: 'f "1"', step_name: 'step-a', exit_code: 'success', duration_ms: 0.125, key_index: 1 }
  const time = ',"time":1'
  const { request_id, flow_id, step_name, exit_code, duration_ms, key_index } = sample
  const theirs = asJson.call(log, { request_id, flow_id, step_name, exit_code, status: 200, duration_ms, key_index }, 'step answered', 30, time)
  return theirs === template(sample, time, log[chindingsSym] as string)
}
