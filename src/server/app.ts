import type { Duplex } from 'node:stream'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { hookRoute, type HookRouteOptions } from './hook-route.js'
import { acceptJsonBodies, answerClientError } from './json-body.js'
import type { ClusterLink } from '../cluster/worker-link.js'
import type { RunStore } from './dev-runs.js'
import type { Metrics } from './metrics.js'
import type { Reloader } from './reloader.js'
import type { Settings } from './settings.js'

export interface AppOptions extends HookRouteOptions {
  /** The config being served: the registry for a request arriving now, and how the last reload went. */
  readonly config: Pick<Reloader, 'current' | 'lastReload'>
  readonly logger: FastifyServerOptions['logger']
  readonly limits: Pick<Settings, 'bodyLimit' | 'requestTimeoutMs' | 'keepAliveTimeoutMs' | 'connectionTimeoutMs' | 'maxJsonDepth' | 'maxAnswerBytes'>
  /** False while starting and once shutting down: /readyz answers 503 then. */
  readonly ready: () => boolean
  /** Whether an admin port serves /metrics and the detailed /healthz: the main port then keeps neither. */
  readonly admin: boolean
  /** With WORKERS > 1: every worker's config in /healthz, and /metrics summed over the workers. */
  readonly cluster?: ClusterLink | undefined
}

/** The HTTP shell around the core: the webhook, health, readiness and, without an admin port, metrics. */
export function buildApp(options: AppOptions): FastifyInstance {
  const { limits } = options
  const app = Fastify({
    logger: options.logger ?? false,
    // One line per webhook request is logged by the hook route, with the step's fields.
    logController: new LogController({ disableRequestLogging: true }),
    // No child logger per request: the line carries the orchestrator's
    // request_id, and a child per request costs more than the line itself.
    childLoggerFactory: (logger) => logger,
    bodyLimit: limits.bodyLimit,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionTimeout: limits.connectionTimeoutMs,
    http: {
      // REQUEST_TIMEOUT_MS bounds the whole request, headers and body, from
      // its first byte: Node's check, on a timer, costs no request anything.
      // Both are given here because Node fixes headersTimeout when the server
      // is created (at 60 s by default) and, where it is the longer of the
      // two, swaps them: fastify's requestTimeout alone then bounds only the
      // headers, and the body gets 60 s.
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: limits.requestTimeoutMs,
      // Node checks every 30 s by default: too coarse for the timeout to mean much.
      connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(limits.requestTimeoutMs / 2))),
    },
    return503OnClosing: true,
    clientErrorHandler: answerBrokenRequest(limits.requestTimeoutMs),
  })
  acceptJsonBodies(app, limits.maxJsonDepth, options.verify)

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if ((error.statusCode ?? 500) < 500) return answerClientError(error, request, reply, limits.bodyLimit)
    request.log.error({ err: error }, 'request failed')
    return reply.code(500).send({ error: 'internal error' })
  })

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: `no route for ${request.method} ${request.url.split('?')[0]}; the webhook is POST /hook` }),
  )

  void app.register(hookRoute(options))

  // With an admin port, an unsigned caller of the main port learns that the
  // server is up and nothing else: no step names, no file paths, no errors.
  if (options.admin) app.get('/healthz', async () => ({ status: 'ok' }))
  else healthRoutes(app, options)
  app.get('/readyz', readiness(options.ready))
  // npm run dev only: these routes do not exist otherwise (404).
  if (options.runs !== undefined) devRunRoutes(app, options.runs)
  return app
}

/** The traces of the last runs: newest first (`?step=` filters), and one by its request id. */
function devRunRoutes(app: FastifyInstance, runs: RunStore): void {
  app.get('/dev/runs', async (request) => {
    const step = (request.query as { step?: unknown }).step
    return runs.list(typeof step === 'string' && step !== '' ? step : undefined)
  })
  app.get('/dev/runs/:request_id', async (request, reply) => {
    const id = (request.params as { request_id: string }).request_id
    const trace = runs.get(id)
    if (trace === undefined) return reply.code(404).send({ error: `no run with request_id ${id} among the last ones kept` })
    return trace
  })
}

/** The admin port (ADMIN_PORT): /metrics and the detailed /healthz, and /readyz too. */
export function buildAdminApp(options: Pick<AppOptions, 'config' | 'metrics' | 'ready' | 'cluster'>, logger: FastifyBaseLogger): FastifyInstance {
  const app = Fastify({ loggerInstance: logger, logController: new LogController({ disableRequestLogging: true }), childLoggerFactory: (l) => l, return503OnClosing: true })
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: `no route for ${request.method} ${request.url.split('?')[0]} on the admin port` }))
  healthRoutes(app, options)
  app.get('/readyz', readiness(options.ready))
  return app
}

/** The detailed /healthz (the config served, the last reload and its errors) and /metrics. */
function healthRoutes(app: FastifyInstance, options: { readonly config: AppOptions['config']; readonly metrics: Metrics; readonly cluster?: ClusterLink | undefined }): void {
  app.get('/healthz', async () => {
    const registry = options.config.current()
    const last = options.config.lastReload()
    return {
      status: 'ok',
      config: {
        hash: registry.hash,
        steps: registry.steps.size,
        loaded_at: registry.loadedAt.toISOString(),
        last_reload: { ok: last.ok, at: last.at.toISOString(), errors: last.errors },
      },
      // Every worker and the config it serves: a mixed state (a reload that
      // failed in one worker) is visible from whichever worker answers.
      ...(options.cluster !== undefined ? { workers: options.cluster.workers() } : {}),
    }
  })
  if (options.metrics.enabled) {
    app.get('/metrics', async (_request, reply) => {
      const { contentType, body } = await (options.cluster?.metrics() ?? options.metrics.render()!)
      return reply.type(contentType).send(body)
    })
  }
}

/**
 * Requests that Node's parser refuses before fastify sees them: a request not
 * received in full within REQUEST_TIMEOUT_MS (408), headers too large (431),
 * anything else malformed (400). Answered in the same `{"error": ...}` shape
 * as every other refusal, then the connection is closed. Node attaches the
 * raw bytes received to these errors; they are never logged.
 */
function answerBrokenRequest(requestTimeoutMs: number) {
  return function (this: FastifyInstance, err: NodeJS.ErrnoException, socket: Duplex): void {
    if (err.code === 'ECONNRESET' || socket.destroyed) return
    const [status, reason, message] =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', `the request was not received in full within REQUEST_TIMEOUT_MS (${requestTimeoutMs} ms)`]
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'Request Header Fields Too Large', 'the request headers are too large']
          : [400, 'Bad Request', 'the request is not valid HTTP/1.1']
    this.log.debug({ status, error: err.code }, 'client error')
    const body = JSON.stringify({ error: message })
    if (socket.writable) socket.write(`HTTP/1.1 ${status} ${reason}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`)
    socket.destroy()
  }
}

function readiness(ready: () => boolean) {
  return async (_request: unknown, reply: { code(status: number): { send(body: unknown): unknown } }) =>
    ready() ? { status: 'ready' } : reply.code(503).send({ status: 'not ready' })
}
