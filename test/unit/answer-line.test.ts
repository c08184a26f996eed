import fc from 'fast-check'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { writeAnswerLine, type AnswerLine } from '../../src/server/answer-line.js'
import { createRedactor } from '../../src/server/redact.js'
import { createLogOutput, type LogSink } from '../../src/server/log-output.js'
import { Writable } from 'node:stream'

/** A logger configured as the server's (main.ts), writing into an array; its clock fixed, so two lines can be compared. */
function logger(options: pino.LoggerOptions = {}) {
  const lines: string[] = []
  const redactor = createRedactor(['wsk_key_1'])
  redactor.setConfigSecrets(['s3cr3t-value'])
  const log = pino(
    { level: 'info', timestamp: () => ',"time":1700000000000', hooks: { streamWrite: (line: string) => redactor.apply(line) }, ...options },
    { write: (line: string) => void lines.push(line) },
  )
  return { log, lines }
}

/** The line as hook-route.ts logs it through pino when the template does not apply. */
const viaPino = (log: pino.Logger, l: AnswerLine) =>
  log.info({ request_id: l.request_id, flow_id: l.flow_id, step_name: l.step_name, exit_code: l.exit_code, status: 200, duration_ms: l.duration_ms, key_index: l.key_index }, 'step answered')

describe('writeAnswerLine', () => {
  it('writes the bytes pino writes for the same line, redaction included, whatever the strings hold', () => {
    // Well-formed text (no lone surrogate), with what needs escaping: quotes, backslashes, control characters, long runs, secrets.
    const text = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 30 }),
      fc.string({ unit: fc.constantFrom('"', '\\', '\n', '\u0001', '\u007f', '\u2028', 'é', '😀', 'a', '/'), maxLength: 120 }),
      fc.constantFrom('mqr_4b81ae2d5613446e9e21d76ba2ce26fc', 's3cr3t-value', 'x wsk_key_1 y', 'ab'.repeat(40)),
    )
    const line = fc.record({
      request_id: text,
      flow_id: text,
      step_name: text,
      exit_code: text,
      duration_ms: fc.oneof(fc.double({ min: 0, max: 1e6, noNaN: true }), fc.constantFrom(0, 0.001, 12.5)),
      key_index: fc.nat(5),
    })
    fc.assert(
      fc.property(line, (l) => {
        const ours = logger()
        const theirs = logger()
        expect(writeAnswerLine(ours.log, l)).toBe(true)
        viaPino(theirs.log, l)
        expect(ours.lines).toEqual(theirs.lines)
      }),
      { seed: 20261129, numRuns: 1000 },
    )
  })

  it('writes valid JSON for a lone surrogate (escaped, where pino would write it raw)', () => {
    const { log, lines } = logger()
    expect(writeAnswerLine(log, { request_id: 'a\ud800b', flow_id: 'f', step_name: 's', exit_code: 'success', duration_ms: 1, key_index: 0 })).toBe(true)
    expect(JSON.parse(lines[0]!)).toMatchObject({ request_id: 'a\ud800b', msg: 'step answered' })
  })

  it('leaves the line to pino where the template would not reproduce it: a mixin, other formatters, another message key', () => {
    const line: AnswerLine = { request_id: 'r', flow_id: 'f', step_name: 's', exit_code: 'success', duration_ms: 1, key_index: 0 }
    for (const options of [{ mixin: () => ({ trace_id: 't' }) }, { formatters: { level: (label: string) => ({ level: label }) } }, { messageKey: 'message' }, { base: { service: 'x' } }] as pino.LoggerOptions[]) {
      const { log, lines } = logger(options)
      const written = writeAnswerLine(log, line)
      // A base (bindings) is reproduced, since it is pino's own text; the rest is not, and nothing is written.
      if (written) {
        const theirs = logger(options)
        viaPino(theirs.log, line)
        expect(lines, JSON.stringify(options)).toEqual(theirs.lines)
      } else {
        expect(lines, JSON.stringify(options)).toEqual([])
      }
    }
    expect(writeAnswerLine(logger({ mixin: () => ({}) }).log, line)).toBe(false)
    expect(writeAnswerLine(logger({ messageKey: 'message' }).log, line)).toBe(false)
  })

  it('through step-runner\'s output: rendered at the end of the turn, in the order logged, with the same bytes', async () => {
    const chunks: string[] = []
    const sink = new Writable({ decodeStrings: false, write: (chunk: string, _e, cb) => (chunks.push(chunk), cb()) }) as unknown as LogSink
    const output = createLogOutput({ bufferBytes: 1 << 20, onDrop: () => {}, onCaughtUp: () => {}, sink })
    const redactor = createRedactor(['wsk_key_1'])
    const options: pino.LoggerOptions = { level: 'info', timestamp: () => ',"time":1700000000000', hooks: { streamWrite: (line: string) => redactor.apply(line) } }
    const log = pino(options, output.stream)
    const theirs = logger()
    const first: AnswerLine = { request_id: 'mqr_1 wsk_key_1', flow_id: 'f', step_name: 's', exit_code: 'success', duration_ms: 1.5, key_index: 0 }
    const second: AnswerLine = { ...first, request_id: 'mqr_2' }

    expect(writeAnswerLine(log, first)).toBe(true)
    expect(chunks).toEqual([])
    await output.flush()
    expect(chunks.join('')).toContain('"request_id":"mqr_1 [REDACTED]"')
    // Not yet rendered when logged; the turn's lines before another line, and flush() renders what waits.
    expect(writeAnswerLine(log, second)).toBe(true)
    log.warn('in between')
    expect(writeAnswerLine(log, first)).toBe(true)
    await new Promise((r) => setImmediate(r))
    await output.flush()

    viaPino(theirs.log, first)
    viaPino(theirs.log, second)
    theirs.log.warn('in between')
    viaPino(theirs.log, first)
    expect(chunks.join('')).toBe(theirs.lines.join(''))
    expect(chunks.join('')).toContain('[REDACTED]')
  })
})
