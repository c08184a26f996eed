import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Counter, Histogram, Registry } from 'prom-client'
import { createMetrics, DURATION_BUCKETS } from '../../src/server/metrics.js'
import { createRedactor, hasHexRun } from '../../src/server/redact.js'
import { availableParallelism } from 'node:os'
import { ENVIRONMENT, readSettings } from '../../src/server/settings.js'
import { ROOT } from '../helpers/server.js'

describe('createRedactor', () => {
  it('replaces keys and config secrets wherever they are, also JSON-escaped', () => {
    const redactor = createRedactor(['wsk_key_1'])
    redactor.setConfigSecrets(['Bearer "quoted" tok', 'abc'])
    const line = JSON.stringify({ msg: 'unknown step wsk_key_1', header: 'Bearer "quoted" tok', short: 'abc' })
    expect(redactor.apply(line)).toBe('{"msg":"unknown step [REDACTED]","header":"[REDACTED]","short":"abc"}')
  })

  it('follows the config: secrets of a replaced config are no longer matched, keys always are', () => {
    const redactor = createRedactor(['wsk_key_1'])
    redactor.setConfigSecrets(['old_secret'])
    redactor.setConfigSecrets(['new_secret'])
    expect(redactor.apply('{"msg":"old_secret new_secret wsk_key_1"}')).toBe('{"msg":"old_secret [REDACTED] [REDACTED]"}')
  })

  it('replaces a run of 64 or more hex characters in any case, also inside a longer token', () => {
    const redactor = createRedactor(['wsk_key_1'])
    const hex = 'ab'.repeat(32)
    const line = JSON.stringify({ a: hex, b: hex.toUpperCase(), c: `sig=${hex}f;x`, d: `${hex}0`, short: hex.slice(1), request_id: 'mqr_4b81ae2d5613446e9e21d76ba2ce26fc' })
    expect(JSON.parse(redactor.apply(line))).toEqual({ a: '[REDACTED]', b: '[REDACTED]', c: 'sig=[REDACTED];x', d: '[REDACTED]', short: hex.slice(1), request_id: 'mqr_4b81ae2d5613446e9e21d76ba2ce26fc' })
  })

  it('finds a run of 64 hex characters exactly where a regular expression does, looking at one character in 64', () => {
    const hexRun = /[0-9a-fA-F]{64}/
    // Lines of hex runs of every length around 64, at every offset, among other characters.
    const piece = fc.oneof(
      fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: 0, maxLength: 130 }),
      fc.string({ unit: fc.constantFrom(...'gxyz_-"{}:, \u0010\u0019G/'), minLength: 1, maxLength: 5 }),
    )
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (pieces) => {
        const line = pieces.join('')
        expect(hasHexRun(line), line).toBe(hexRun.test(line))
      }),
      { numRuns: 3000, seed: 11 },
    )
    for (const n of [62, 63, 64, 65, 127, 128]) {
      for (let at = 0; at < 70; at++) {
        const line = 'x'.repeat(at) + 'a'.repeat(n) + 'y'
        expect(hasHexRun(line), `${n} at ${at}`).toBe(n >= 64)
      }
    }
  })

  it('replaces a secret made of digits inside strings only, so the line stays JSON', () => {
    const redactor = createRedactor(['wsk_key_1'])
    redactor.setConfigSecrets(['8080'])
    const line = JSON.stringify({ url: 'http://api:8080/x', duration_ms: 18080.5, port: 8080 })
    expect(JSON.parse(redactor.apply(line))).toEqual({ url: 'http://api:[REDACTED]/x', duration_ms: 18080.5, port: 8080 })
  })
})

/** One metric's lines (HELP, TYPE and its samples) in a text exposition. */
function section(text: string, name: string): string {
  const lines = text.split('\n')
  const start = lines.indexOf(`# HELP ${name} ${lines.find((l) => l.startsWith(`# HELP ${name} `))!.slice(`# HELP ${name} `.length)}`)
  let end = start + 2
  while (end < lines.length && lines[end] !== '' && !lines[end]!.startsWith('# HELP')) end++
  return lines.slice(start, end).join('\n')
}

describe('createMetrics', () => {
  it('caps the exit_code label values, which output expressions may take from upstream data', async () => {
    const metrics = createMetrics(true)
    for (let i = 0; i < 60; i++) metrics.stepRan('s', `code_${i}`, 0.001)
    const text = (await metrics.render()!).body
    expect(text).toContain('step_runs_total{step="s",exit_code="code_49"} 1')
    expect(text).not.toContain('code_50')
    expect(text).toContain('step_runs_total{step="s",exit_code="(other)"} 10')
  })

  it("writes step_runs_total and step_duration_seconds exactly as prom-client's own inc() and observe() would, whatever the answers, over several reads", () => {
    const answer = fc.record({
      step: fc.constantFrom('step_a', 'step-b', 'q"uote'),
      exitCode: fc.constantFrom('success', 'failure', 'retry'),
      // On the bounds, between them, past the last, and zero.
      seconds: fc.oneof(fc.constantFrom(0, ...DURATION_BUCKETS, 10.5, 1e-9), fc.double({ min: 0, max: 20, noNaN: true })),
    })
    return fc.assert(
      fc.asyncProperty(fc.array(fc.array(answer, { maxLength: 30 }), { minLength: 1, maxLength: 3 }), async (reads) => {
        const metrics = createMetrics(true)
        const registry = new Registry()
        const runs = new Counter({ name: 'step_runs_total', help: 'Step executions answered, by step and exit code.', labelNames: ['step', 'exit_code'], registers: [registry] })
        const durations = new Histogram({ name: 'step_duration_seconds', help: 'Time to answer a step execution, by step.', labelNames: ['step'], registers: [registry] })
        for (const answers of reads) {
          for (const { step, exitCode, seconds } of answers) {
            metrics.stepRan(step, exitCode, seconds)
            runs.inc({ step, exit_code: exitCode })
            durations.observe({ step }, seconds)
          }
          const ours = (await metrics.render()!).body
          for (const name of ['step_runs_total', 'step_duration_seconds']) {
            expect(section(ours, name)).toBe(await registry.getSingleMetricAsString(name))
          }
        }
      }),
      { seed: 20261129, numRuns: 200 },
    )
  })

  it('is a no-op with METRICS=off', () => {
    const metrics = createMetrics(false)
    expect(metrics.enabled).toBe(false)
    expect(metrics.render()).toBeUndefined()
  })
})

describe('settings', () => {
  it('reads the defaults from an empty environment', () => {
    expect(readSettings({})).toMatchObject({ ok: true, settings: { port: 3000, host: '0.0.0.0', bodyLimit: 1048576, metrics: true, shutdownTimeoutMs: 10000, signatureKeys: undefined } })
  })

  it('leaves MAX_CONNECTIONS to be derived at start-up unless it is set; 0 is no cap', () => {
    expect(readSettings({})).toMatchObject({ ok: true, settings: { maxConnections: undefined, listenBacklog: 2048, requestTimeoutMs: 30000 } })
    expect(readSettings({ MAX_CONNECTIONS: '0' })).toMatchObject({ ok: true, settings: { maxConnections: 0 } })
    expect(readSettings({ MAX_CONNECTIONS: '5000', LISTEN_BACKLOG: '100' })).toMatchObject({ ok: true, settings: { maxConnections: 5000, listenBacklog: 100 } })
    expect(readSettings({ MAX_CONNECTIONS: 'many' })).toEqual({ ok: false, errors: ["MAX_CONNECTIONS must be a whole number from 0 to 10000000; got 'many'"] })
    expect(readSettings({ LISTEN_BACKLOG: '0' })).toEqual({ ok: false, errors: ["LISTEN_BACKLOG must be a whole number from 1 to 65535; got '0'"] })
  })

  it('bounds the log buffer: at least 64 KiB, so the longest line fits', () => {
    expect(readSettings({})).toMatchObject({ ok: true, settings: { logBufferBytes: 16 * 1024 * 1024 } })
    expect(readSettings({ LOG_BUFFER_BYTES: '65536' })).toMatchObject({ ok: true, settings: { logBufferBytes: 65536 } })
    expect(readSettings({ LOG_BUFFER_BYTES: '1000' })).toEqual({ ok: false, errors: ["LOG_BUFFER_BYTES must be a whole number from 65536 to 1073741824; got '1000'"] })
  })

  it('reads WORKERS as a count or auto, the replay cache, WATCH and their bounds', () => {
    expect(readSettings({})).toMatchObject({ ok: true, settings: { workers: 1, watchdogMs: 10000, replayTtlMs: 600_000, replayCacheMaxBytes: 64 * 1024 * 1024, redisUrl: undefined, redisTimeoutMs: 1000, watch: undefined, watchPollMs: undefined } })
    expect(readSettings({ WORKERS: '4', REPLAY_TTL_S: '0', WATCH: 'on', WATCH_POLL_MS: '0' })).toMatchObject({ ok: true, settings: { workers: 4, replayTtlMs: 0, watch: true, watchPollMs: 0 } })
    expect(readSettings({ WORKERS: 'auto' })).toMatchObject({ ok: true, settings: { workers: availableParallelism() } })
    expect(readSettings({ WORKERS: 'many' })).toEqual({ ok: false, errors: ["WORKERS must be auto or a whole number from 1 to 1024; got 'many'"] })
    expect(readSettings({ WORKERS: '0' })).toEqual({ ok: false, errors: ["WORKERS must be auto or a whole number from 1 to 1024; got '0'"] })
    expect(readSettings({ WATCH: 'yes' })).toEqual({ ok: false, errors: ["WATCH must be one of on, off; got 'yes'"] })
  })

  it('splits SIGNATURE_KEY on commas', () => {
    expect(readSettings({ SIGNATURE_KEY: ' k1 , k2 ' })).toMatchObject({ ok: true, settings: { signatureKeys: ['k1', 'k2'] } })
  })

  it('lists every variable it reads in the README, with its default', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    const table = readme.slice(readme.indexOf('### Environment'), readme.indexOf('### Endpoints'))
    const rows = table.split('\n').filter((l) => l.startsWith('| `'))
    expect(rows.map((r) => /^\| `([A-Z_]+)`/.exec(r)?.[1])).toEqual([...ENVIRONMENT])
    // Each row's default is what an empty environment gives.
    const settings = readSettings({})
    if (!settings.ok) throw new Error('defaults do not load')
    const defaults: Record<string, unknown> = {
      PORT: settings.settings.port,
      HOST: settings.settings.host,
      STEPS_FILE: settings.settings.stepsFile,
      BODY_LIMIT: settings.settings.bodyLimit,
      LOG_BUFFER_BYTES: settings.settings.logBufferBytes,
      SHUTDOWN_TIMEOUT_MS: settings.settings.shutdownTimeoutMs,
      REQUEST_TIMEOUT_MS: settings.settings.requestTimeoutMs,
      KEEP_ALIVE_TIMEOUT_MS: settings.settings.keepAliveTimeoutMs,
      CONNECTION_TIMEOUT_MS: settings.settings.connectionTimeoutMs,
      LISTEN_BACKLOG: settings.settings.listenBacklog,
      MAX_EVENT_LOOP_DELAY_MS: settings.settings.overload.maxEventLoopDelayMs,
      MAX_EVENT_LOOP_UTILIZATION: settings.settings.overload.maxEventLoopUtilization,
      MAX_HEAP_USED_BYTES: settings.settings.overload.maxHeapUsedBytes,
      MAX_RSS_BYTES: settings.settings.overload.maxRssBytes,
      OVERLOAD_RETRY_AFTER_S: settings.settings.overload.retryAfterSeconds,
    }
    for (const [name, value] of Object.entries(defaults)) {
      const row = rows.find((r) => r.startsWith(`| \`${name}\``))!
      expect(row.split('|')[2]!.trim(), name).toBe(`\`${String(value)}\``)
    }
  })
})
