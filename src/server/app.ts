import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import secureJson from 'secure-json-parse'
import { handleHook } from '../core/hook.js'
import type { Verifier } from '../core/signature.js'
import type { StepRuntime } from '../core/http-step.js'
import type { Upstream } from '../core/upstream.js'
import type { Reloader } from './reloader.js'

export interface AppOptions {
  /** The config being served: the registry for a request arriving now, and how the last reload went. */
  readonly config: Pick<Reloader, 'current' | 'lastReload'>
  readonly verify: Verifier
  /** The outbound HTTP client that HTTP steps call through. */
  readonly upstream: Upstream
  /** Aborted when a shutdown stops waiting: cancels the outbound calls still running. */
  readonly shutdownSignal: AbortSignal
  readonly logger: FastifyServerOptions['logger']
  readonly bodyLimit: number
}

/** The HTTP shell around the core: parse, hand over to handleHook, answer. */
export function buildApp(options: AppOptions): FastifyInstance {
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit,
  })

  // Only JSON is the protocol: drop fastify's text/plain parser so anything
  // else is a 415, and parse JSON ourselves for errors that say what is wrong.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    if (body === '') return done(badBody('request body is empty; expected a JSON object with "payload" and "signature"'), undefined)
    try {
      // Poisoning keys are refused rather than stripped: stripping would
      // change what the signature covers.
      done(null, secureJson.parse(body as string, undefined, { protoAction: 'error', constructorAction: 'error' }))
    } catch (err) {
      const message = (err as Error).message
      done(badBody(/prototype property/i.test(message) ? 'request body contains a forbidden key (__proto__ or constructor.prototype)' : `request body is not valid JSON: ${message}`), undefined)
    }
  })

  // A body declared too large is read and dropped before the 413 goes out:
  // answering while the caller is still sending makes its next write fail
  // (EPIPE), and it would never see the 413. Past DRAIN_LIMIT, just hang up.
  app.addHook('onRequest', (request, reply, done) => {
    const declared = Number(request.headers['content-length'])
    if (!(declared > options.bodyLimit)) return done()
    const answer = () => void reply.code(413).header('connection', 'close').send({ error: tooLarge(options.bodyLimit) })
    if (declared > DRAIN_LIMIT) return answer()
    request.raw.once('end', answer)
    request.raw.resume()
  })

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode ?? 500
    if (status < 500) {
      request.log.info({ status, code: error.code }, 'request rejected: %s', error.message)
      return reply.code(status).send({ error: clientMessage(error, options.bodyLimit) })
    }
    request.log.error({ err: error }, 'request failed')
    return reply.code(500).send({ error: 'internal error' })
  })

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: `no route for ${request.method} ${request.url.split('?')[0]}; the webhook is POST /hook` }),
  )

  app.post('/hook', async (request, reply) => {
    const outcome = await handleHook(request.body, options.config.current(), options.verify, runtimeFor(reply.raw))
    if (outcome.kind === 'rejected') return reply.code(outcome.status).send({ error: outcome.error })
    return reply.code(200).send(outcome.result)
  })

  // The abort signal is made only when an HTTP step asks for it: static steps,
  // the hot path, pay nothing for it.
  const runtimeFor = (response: import('node:http').ServerResponse): StepRuntime => {
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
    }
  })

  return app
}

function clientMessage(error: FastifyError, bodyLimit: number): string {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'content-type must be application/json'
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return tooLarge(bodyLimit)
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return 'content-length does not match the body'
  }
  return error.message
}

const DRAIN_LIMIT = 16 * 1024 * 1024

function tooLarge(bodyLimit: number): string {
  return `request body is larger than the limit of ${bodyLimit} bytes`
}

function badBody(message: string): FastifyError {
  return Object.assign(new Error(message), { statusCode: 400, code: 'STEP_RUNNER_BAD_BODY', name: 'BadBody' })
}
