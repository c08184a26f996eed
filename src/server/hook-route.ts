import type { ServerResponse } from 'node:http'
import underPressure from '@fastify/under-pressure'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { handleHook, type HookOutcome } from '../core/hook.js'
import type { StepRuntime } from '../core/http-step.js'
import type { Verifier } from '../core/signature.js'
import type { Upstream } from '../core/upstream.js'
import type { Metrics } from './metrics.js'
import type { Reloader } from './reloader.js'
import type { Settings } from './settings.js'

export interface HookRouteOptions {
  readonly config: Pick<Reloader, 'current'>
  readonly verify: Verifier
  readonly upstream: Upstream
  /** Aborted when a shutdown stops waiting: cancels the outbound calls still running. */
  readonly shutdownSignal: AbortSignal
  readonly metrics: Metrics
  readonly overload: Settings['overload']
}

const outcomes = new WeakMap<FastifyRequest, HookOutcome>()

/**
 * POST /hook, in a scope of its own so that overload protection answers 503
 * here and never on the health endpoints.
 */
export function hookRoute(options: HookRouteOptions) {
  return async (scope: FastifyInstance): Promise<void> => {
    const { overload } = options
    await scope.register(underPressure, {
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

    scope.post('/hook', async (request, reply) => {
      const outcome = await handleHook(request.body, options.config.current(), options.verify, runtimeFor(reply.raw))
      outcomes.set(request, outcome)
      if (outcome.kind === 'rejected') return reply.code(outcome.status).send({ error: outcome.error })
      return reply.code(200).send(outcome.result)
    })

    // One log line and the metrics per request, once the answer is out.
    scope.addHook('onResponse', async (request, reply) => report(request, reply, options.metrics))
    scope.addHook('onRequestAbort', async (request) => {
      request.log.info('the caller went away before the answer')
    })
  }

  // The abort signal is made only when an HTTP step asks for it: static steps,
  // the hot path, pay nothing for it.
  function runtimeFor(response: ServerResponse): StepRuntime {
    let controller: AbortController | undefined
    return {
      upstream: options.upstream,
      get signal() {
        if (controller === undefined) {
          controller = new AbortController()
          const abort = controller.abort.bind(controller)
          response.once('close', () => {
            if (!response.writableFinished) abort(new Error('the caller went away'))
          })
        }
        return AbortSignal.any([controller.signal, options.shutdownSignal])
      },
    }
  }
}

function report(request: FastifyRequest, reply: FastifyReply, metrics: Metrics): void {
  const outcome = outcomes.get(request)
  const duration_ms = Math.round(reply.elapsedTime * 1000) / 1000
  if (outcome === undefined) {
    // Refused before the handler: bad JSON, wrong content type, too large, overloaded.
    request.log.info({ status: reply.statusCode, duration_ms }, 'request refused')
    return
  }
  const context = outcome.payload?.context
  const fields = {
    request_id: context?.request_id,
    flow_id: context?.flow_id,
    step_name: context?.step_name,
    status: reply.statusCode,
    duration_ms,
  }
  if (outcome.kind === 'ran') {
    metrics.stepRan(outcome.payload.context.step_name, outcome.result.exit_code, reply.elapsedTime / 1000)
    request.log.info({ ...fields, exit_code: outcome.result.exit_code, key_index: outcome.keyIndex }, 'step answered')
  } else {
    metrics.rejected(outcome.reason)
    request.log.info({ ...fields, reason: outcome.reason, error: outcome.error }, 'request rejected')
  }
}
