import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { Rejection } from '../core/hook.js'

/** What the server counts. Every label value comes from the config, never from a caller. */
export interface Metrics {
  readonly enabled: boolean
  /** prom-client's registry (for the cluster's aggregation), when metrics are on. */
  readonly registry: Registry | undefined
  stepRan(step: string, exitCode: string, seconds: number): void
  rejected(reason: Rejection): void
  upstreamAttempt(step: string, upstream: string, outcome: number | string, seconds: number): void
  /** A request got an earlier run's answer: from the cache, or by waiting for a run in progress. */
  replayed(step: string, waited: boolean): void
  /** The replay store (Redis) failed or was slow: the step ran without it. */
  replayStoreError(): void
  /** A token request of an upstream's OAuth2 ended. */
  tokenRequest(upstream: string, ok: boolean): void
  /** The calls waiting under an upstream's max_concurrency. */
  upstreamQueue(upstream: string, waiting: number): void
  reloaded(ok: boolean): void
  /** A log line was dropped: stdout was not read fast enough and the buffer was full. */
  logLineDropped(): void
  /** The Prometheus text exposition, or undefined when metrics are off. */
  render(): Promise<{ contentType: string; body: string }> | undefined
}

/** The one label under which requests for steps the config does not define are counted. */
export const UNKNOWN_STEP = '(unknown)'

/** step_duration_seconds' buckets: prom-client's defaults, in seconds. */
export const DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** One step's answer times, bucket by bucket (not cumulative: prom-client adds them up as it writes them). */
interface DurationSeries {
  readonly buckets: Float64Array
  sum: number
  count: number
}

// Exit codes may come from an HTTP step's `output`, that is from upstream
// data: past this many distinct values, new ones count as "(other)".
const MAX_EXIT_CODES = 50

const NO_METRICS: Metrics = {
  enabled: false,
  registry: undefined,
  stepRan: () => {},
  rejected: () => {},
  upstreamAttempt: () => {},
  tokenRequest: () => {},
  upstreamQueue: () => {},
  replayed: () => {},
  replayStoreError: () => {},
  reloaded: () => {},
  logLineDropped: () => {},
  render: () => undefined,
}

export function createMetrics(enabled: boolean): Metrics {
  if (!enabled) return NO_METRICS
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  // Every answer counts in these two, on the request's path: in plain
  // numbers here, handed to prom-client when the metrics are read (see below).
  const pendingRuns = new Map<string, { readonly labels: { step: string; exit_code: string }; count: number }>()
  const durationSeries = new Map<string, DurationSeries>()
  const stepRuns = new Counter({
    name: 'step_runs_total',
    help: 'Step executions answered, by step and exit code.',
    labelNames: ['step', 'exit_code'] as const,
    registers: [registry],
    collect() {
      for (const run of pendingRuns.values()) {
        if (run.count === 0) continue
        this.inc(run.labels, run.count)
        run.count = 0
      }
    },
  })
  new Histogram({
    name: 'step_duration_seconds',
    help: 'Time to answer a step execution, by step.',
    labelNames: ['step'] as const,
    buckets: [...DURATION_BUCKETS],
    registers: [registry],
    collect() {
      // prom-client keeps a histogram's series in `hashMap`, one entry per
      // label set, which it formats after collect(); this sets them from the
      // counts kept here (the test compares the text with prom-client's own
      // observe()).
      const series: Record<string, unknown> = {}
      for (const [step, s] of durationSeries) {
        const bucketValues: Record<number, number> = {}
        DURATION_BUCKETS.forEach((bound, i) => (bucketValues[bound] = s.buckets[i]!))
        series[step] = { labels: { step }, bucketValues, sum: s.sum, count: s.count }
      }
      ;(this as unknown as { hashMap: Record<string, unknown> }).hashMap = series
    },
  })
  const upstreamRequests = new Counter({
    name: 'upstream_requests_total',
    help: 'Outbound HTTP attempts, by step, upstream (its name, or - for an absolute URL) and status (or failure: timeout, connect, reset, too_large, cancelled, auth, error).',
    labelNames: ['step', 'upstream', 'status'] as const,
    registers: [registry],
  })
  const upstreamDuration = new Histogram({ name: 'upstream_duration_seconds', help: 'Time of one outbound HTTP attempt, by step and upstream.', labelNames: ['step', 'upstream'] as const, registers: [registry] })
  const queueWaiting = new Gauge({ name: 'upstream_queue_waiting', help: "Calls waiting for a place under an upstream's max_concurrency.", labelNames: ['upstream'] as const, registers: [registry] })
  const replays = new Counter({ name: 'replays_total', help: 'Requests answered from the replay cache (a payload answered within REPLAY_TTL_S), by step.', labelNames: ['step'] as const, registers: [registry] })
  const replayWaits = new Counter({ name: 'replay_waits_total', help: 'Duplicate requests that waited for the run of the same payload in progress, and got its answer, by step.', labelNames: ['step'] as const, registers: [registry] })
  const replayStoreErrors = new Counter({ name: 'replay_store_errors_total', help: 'Requests that ran without the replay store because it failed or was slow (REDIS_TIMEOUT_MS).', registers: [registry] })
  replayStoreErrors.inc(0)
  const tokenRequests = new Counter({ name: 'oauth_token_requests_total', help: 'OAuth2 token requests, by upstream and outcome (ok, failed).', labelNames: ['upstream', 'outcome'] as const, registers: [registry] })
  const signatureFailures = new Counter({ name: 'signature_failures_total', help: 'Requests refused for a missing or wrong signature.', registers: [registry] })
  const rejections = new Counter({ name: 'hook_rejections_total', help: 'Requests to /hook answered with a 4xx before any step ran, by reason (malformed, signature, unknown_step).', labelNames: ['reason'] as const, registers: [registry] })
  const reloads = new Counter({ name: 'config_reloads_total', help: 'Config reloads, by result (ok, failed).', labelNames: ['result'] as const, registers: [registry] })
  const logLinesDropped = new Counter({ name: 'log_lines_dropped_total', help: 'Log lines dropped because stdout was not read fast enough (LOG_BUFFER_BYTES full).', registers: [registry] })
  reloads.inc({ result: 'ok' }, 0)
  reloads.inc({ result: 'failed' }, 0)
  signatureFailures.inc(0)
  logLinesDropped.inc(0)

  const exitCodes = new Set<string>()
  const exitLabel = (code: string) => {
    if (exitCodes.has(code)) return code
    if (exitCodes.size >= MAX_EXIT_CODES) return '(other)'
    exitCodes.add(code)
    return code
  }

  return {
    enabled: true,
    registry,
    // prom-client builds and checks a key from the labels on every inc() and
    // observe(), children of labels() included: in the bench that cost about
    // a fifth of a static step's throughput. Here an answer adds to plain
    // numbers (their series bounded by the config's steps and MAX_EXIT_CODES).
    stepRan(step, exitCode, seconds) {
      const label = exitLabel(exitCode)
      const key = `${step}\u0000${label}`
      let run = pendingRuns.get(key)
      if (run === undefined) pendingRuns.set(key, (run = { labels: { step, exit_code: label }, count: 0 }))
      run.count++
      let series = durationSeries.get(step)
      if (series === undefined) durationSeries.set(step, (series = { buckets: new Float64Array(DURATION_BUCKETS.length), sum: 0, count: 0 }))
      // As prom-client counts: in the first bucket the value is not above; past the last, in the count only.
      for (let i = 0; i < DURATION_BUCKETS.length; i++) {
        if (seconds <= DURATION_BUCKETS[i]!) {
          series.buckets[i]!++
          break
        }
      }
      series.sum += seconds
      series.count++
    },
    rejected(reason) {
      rejections.inc({ reason })
      if (reason === 'signature') signatureFailures.inc()
      if (reason === 'unknown_step') stepRuns.inc({ step: UNKNOWN_STEP, exit_code: '(none)' })
    },
    upstreamAttempt(step, upstream, outcome, seconds) {
      upstreamRequests.inc({ step, upstream, status: String(outcome) })
      upstreamDuration.observe({ step, upstream }, seconds)
    },
    replayed(step, waited) {
      if (waited) replayWaits.inc({ step })
      else replays.inc({ step })
    },
    replayStoreError() {
      replayStoreErrors.inc()
    },
    tokenRequest(upstream, ok) {
      tokenRequests.inc({ upstream, outcome: ok ? 'ok' : 'failed' })
    },
    upstreamQueue(upstream, waiting) {
      queueWaiting.set({ upstream }, waiting)
    },
    reloaded(ok) {
      reloads.inc({ result: ok ? 'ok' : 'failed' })
    },
    logLineDropped() {
      logLinesDropped.inc()
    },
    render: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
  }
}
