import type { ServerResponse } from 'node:http'
import underPressure from '@fastify/under-pressure'
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { handleHook, type HookBody, type HookOutcome } from '../core/hook.js'
import type { StepRuntime } from '../core/http-step.js'
import type { CoreLimits } from '../core/limits.js'
import type { Verifier } from '../core/signature.js'
import type { ReplayStore } from '../core/replay.js'
import type { Registry } from '../core/registry.js'
import { createTraceRecorder, type TraceRecorder, type TraceRecording } from '../core/trace.js'
import type { RunStore, RunTrace } from './dev-runs.js'
import { describeSchemaErrors } from '../step-tests/run-tests.js'
import type { Upstream } from '../core/upstream.js'
import type { HookSpanAttributes, Tracing } from '../tracing/index.js'
import type { InFlight } from './in-flight.js'
import type { Metrics } from './metrics.js'
import { decodeRequestBodies } from './request-encoding.js'
import { writeAnswerLine } from './answer-line.js'
import { afterTurnReads } from './read-batches.js'
import type { Reloader } from './reloader.js'
import type { Settings } from './settings.js'

export interface HookRouteOptions {
  readonly config: Pick<Reloader, 'current' | 'lastReload'>
  readonly verify: Verifier
  readonly upstream: Upstream
  /** Aborted when a shutdown stops waiting: cancels the outbound calls still running. */
  readonly shutdownSignal: AbortSignal
  readonly metrics: Metrics
  readonly overload: Settings['overload']
  readonly inFlight: InFlight
  readonly limits: CoreLimits
  /** The replay cache (REPLAY_TTL_S > 0), or undefined when it is off. */
  readonly replay?: ReplayStore | undefined
  /** OpenTelemetry, when configured: each request in a span of its own. */
  readonly tracing?: Tracing | undefined
  /** npm run dev: warn when a success answer's data does not match its step's data_schema. */
  readonly checkAnswers?: boolean | undefined
  /** npm run dev: the traces of the last runs, for /dev/runs. */
  readonly runs?: RunStore | undefined
}

/**
 * POST /hook, in a scope of its own so that overload protection answers 503
 * here and never on the health endpoints.
 */
export function hookRoute(options: HookRouteOptions) {
  // Outbound calls still running when a shutdown stops waiting are cancelled
  // through this set, rather than by tying each request's signal to the
  // long-lived shutdown signal with AbortSignal.any: Node keeps a weak
  // reference per dependent signal, and under load that costs more than the
  // call itself.
  const running = new Set<AbortController>()
  options.shutdownSignal.addEventListener('abort', () => {
    for (const controller of running) controller.abort(options.shutdownSignal.reason)
  })

  return async (scope: FastifyInstance): Promise<void> => {
    const { overload } = options
    const guarded = overload.maxEventLoopDelayMs > 0 || overload.maxEventLoopUtilization > 0 || overload.maxHeapUsedBytes > 0 || overload.maxRssBytes > 0
    if (guarded) await scope.register(underPressure, {
      maxEventLoopDelay: overload.maxEventLoopDelayMs,
      maxEventLoopUtilization: overload.maxEventLoopUtilization,
      maxHeapUsedBytes: overload.maxHeapUsedBytes,
      maxRssBytes: overload.maxRssBytes,
      retryAfter: overload.retryAfterSeconds,
      pressureHandler: (request, reply, type, value) => {
        request.log.warn({ pressure: type, value }, 'overloaded: answering 503')
        void reply
          .code(503)
          .header('retry-after', String(overload.retryAfterSeconds))
          .send({ error: `the server is overloaded (${type}); retry in ${overload.retryAfterSeconds} s` })
      },
    })

    decodeRequestBodies(scope)

    const handle = async (request: FastifyRequest, reply: FastifyReply, endSpan?: (attributes: HookSpanAttributes) => void) => {
      options.inFlight.begin()
      try {
        // With the other requests read in this turn (see read-batches.ts).
        await afterTurnReads()
        const registry = options.config.current()
        // npm run dev started on a broken file: nothing to serve until a save loads one.
        if (registry.unavailable) {
          return reply
            .code(503)
            .send({ error: 'no valid config is loaded yet: fix the steps file and save it (npm run dev reloads it)', errors: options.config.lastReload().errors })
        }
        const recorder = options.runs === undefined ? undefined : createTraceRecorder()
        const outcome = await handleHook(request.body as HookBody, registry, options.verify, runtimeFor(reply.raw, request.log, recorder), options.replay)
        // npm run dev: an answer that does not match its data_schema is logged, and flagged in its trace.
        const mismatch = options.checkAnswers === true && outcome.kind === 'ran' ? checkAnswer(registry, outcome, request.log) : undefined
        if (recorder !== undefined && outcome.kind === 'ran') options.runs!.add(runTrace(outcome, recorder, registry, mismatch))
        // One log line and the metrics per request, here rather than in an
        // onResponse hook: hooks cost every request more than this does.
        report(request, reply, outcome, options.metrics)
        if (endSpan !== undefined) endSpan(spanAttributes(outcome))
        if (outcome.kind === 'rejected') return reply.code(outcome.status).send({ error: outcome.error })
        // Not this request's own run: the first run's answer, byte for byte, and a header that says so.
        if (outcome.kind === 'replayed') reply.header('x-step-runner-replay', 'true')
        // Serialized by the core, checked and measured before it was logged.
        return reply.code(200).type('application/json; charset=utf-8').send(outcome.body)
      } finally {
        options.inFlight.end()
      }
    }
    const { tracing } = options
    // Without tracing, the handler as it is: nothing of OpenTelemetry on the way.
    if (tracing === undefined) scope.post('/hook', (request, reply) => handle(request, reply))
    else scope.post('/hook', (request, reply) => tracing.hook(request.headers, (end) => handle(request, reply, end)))
  }

  function runtimeFor(response: ServerResponse, log: FastifyBaseLogger, trace: TraceRecorder | undefined): StepRuntime {
    return new HookRuntime(options.upstream, options.limits, response, running, options.shutdownSignal, log, trace)
  }
}

/**
 * What a step may use from the request around it. The abort signal is made
 * only when an HTTP step asks for it: static steps, the hot path, pay nothing
 * for it (a class, so the getter costs nothing to set up either).
 */
class HookRuntime implements StepRuntime {
  #controller: AbortController | undefined
  constructor(
    readonly upstream: Upstream,
    readonly limits: CoreLimits,
    private readonly response: ServerResponse,
    private readonly running: Set<AbortController>,
    private readonly shutdown: AbortSignal,
    private readonly log: FastifyBaseLogger,
    readonly trace: TraceRecorder | undefined,
  ) {}

  warn(step: string, message: string): void {
    this.log.warn({ step_name: step }, message)
  }

  cancelled(): boolean {
    return this.#controller?.signal.aborted === true
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      const controller = (this.#controller = new AbortController())
      if (this.shutdown.aborted) controller.abort(this.shutdown.reason)
      const { response, running } = this
      running.add(controller)
      response.once('close', () => {
        running.delete(controller)
        if (!response.writableFinished) controller.abort(new Error('the caller went away'))
      })
    }
    return this.#controller.signal
  }
}

/** A run as /dev/runs shows it: the request with the config's secrets redacted, its stages, its answer. */
function runTrace(outcome: HookOutcome & { kind: 'ran' }, recording: TraceRecording, registry: Registry, dataSchemaErrors: string | undefined): RunTrace {
  const { context, data } = outcome.payload
  const redacted = registry.secrets.value(structuredClone({ context, data })) as { context: unknown; data: unknown }
  return {
    request_id: typeof context.request_id === 'string' ? context.request_id : '',
    step: context.step_name,
    started_at: recording.startedAt.toISOString(),
    duration_ms: recording.elapsed(),
    stages: recording.stages,
    answer: outcome.result,
    request: redacted,
    ...(dataSchemaErrors !== undefined ? { data_schema_errors: dataSchemaErrors } : {}),
  }
}

/** In npm run dev: a success answer whose data does not match the step's data_schema is logged. */
function checkAnswer(registry: Registry, outcome: HookOutcome & { kind: 'ran' }, log: FastifyBaseLogger): string | undefined {
  const name = outcome.payload.context.step_name
  const schema = registry.steps.get(name)?.dataSchema
  if (schema === undefined || outcome.result.exit_code !== 'success' || schema(outcome.result.data ?? null)) return undefined
  const errors = describeSchemaErrors(schema.errors)
  log.warn({ step_name: name, request_id: outcome.payload.context.request_id, errors }, `the answer of ${name} does not match its data_schema`)
  return errors
}

/** The code (and `details.at`) of a failure step-runner made: `transform_failed`, `upstream_failed`, ... */
function failureOf(data: unknown): { code: string; at?: string } | undefined {
  const error = (data as { error?: { code?: unknown; details?: { at?: unknown } } } | undefined)?.error
  if (typeof error?.code !== 'string') return undefined
  const at = error.details?.at
  return typeof at === 'string' ? { code: error.code, at } : { code: error.code }
}

function spanAttributes(outcome: HookOutcome): HookSpanAttributes {
  const context = outcome.payload?.context as Record<string, unknown> | undefined
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined)
  return {
    stepName: text(context?.['step_name']),
    flowId: text(context?.['flow_id']),
    requestId: text(context?.['request_id']),
    exitCode: outcome.kind === 'ran' ? outcome.result.exit_code : outcome.kind === 'replayed' ? outcome.exitCode : undefined,
    status: outcome.status,
  }
}

function report(request: FastifyRequest, reply: FastifyReply, outcome: HookOutcome, metrics: Metrics): void {
  const seconds = reply.elapsedTime / 1000
  if (outcome.kind === 'ran') metrics.stepRan(outcome.payload.context.step_name, outcome.result.exit_code, seconds)
  else if (outcome.kind === 'replayed') metrics.replayed(outcome.payload.context.step_name, outcome.waited)
  else metrics.rejected(outcome.reason)
  if (!(request.log as unknown as { isLevelEnabled(level: string): boolean }).isLevelEnabled('info')) return
  const context = outcome.payload?.context
  const duration_ms = Math.round(reply.elapsedTime * 1000) / 1000
  // One flat literal per kind: pino serializes a stable shape fastest.
  if (outcome.kind === 'ran') {
    const error = outcome.result.exit_code === 'failure' ? failureOf(outcome.result.data) : undefined
    if (error === undefined) {
      // The line nearly every request writes: one template when its fields are what the orchestrator sends.
      const requestId = context?.request_id
      const flowId = context?.flow_id
      if (typeof requestId === 'string' && typeof flowId === 'string' && Number.isFinite(duration_ms)) {
        const line = { request_id: requestId, flow_id: flowId, step_name: context!.step_name, exit_code: outcome.result.exit_code, duration_ms, key_index: outcome.keyIndex }
        if (writeAnswerLine(request.log, line)) return
      }
      request.log.info(
        { request_id: context?.request_id, flow_id: context?.flow_id, step_name: context?.step_name, exit_code: outcome.result.exit_code, status: 200, duration_ms, key_index: outcome.keyIndex },
        'step answered',
      )
    } else {
      // A step's own failure says which, and where in the steps file when an expression failed.
      request.log.info(
        { request_id: context?.request_id, flow_id: context?.flow_id, step_name: context?.step_name, exit_code: outcome.result.exit_code, status: 200, duration_ms, key_index: outcome.keyIndex, error: error.code, ...(error.at !== undefined ? { at: error.at } : {}) },
        'step answered',
      )
    }
  } else if (outcome.kind === 'replayed') {
    request.log.info(
      { request_id: context?.request_id, flow_id: context?.flow_id, step_name: context?.step_name, exit_code: outcome.exitCode, status: 200, duration_ms, key_index: outcome.keyIndex, replay: outcome.waited ? 'waited' : 'cached' },
      'step answered again',
    )
  } else {
    request.log.info(
      { request_id: context?.request_id, flow_id: context?.flow_id, step_name: context?.step_name, status: outcome.status, duration_ms, reason: outcome.reason, error: outcome.error },
      'request rejected',
    )
  }
}
