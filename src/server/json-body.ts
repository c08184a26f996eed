import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { readHookBody } from '../core/hook.js'
import type { Verifier } from '../core/signature.js'
import { BIG_BODY_CHARS, inTurn } from './body-turns.js'
import { clientError, printable } from './request-encoding.js'

/**
 * Request bodies: JSON in UTF-8 only, read by one linear scan (syntax,
 * nesting, forbidden keys) rather than parsed: the core parses the payload
 * once its signature is known to be right. A small body in the orchestrator's
 * own shape has its signature checked first instead (readHookBody). Errors say
 * what is wrong and where, and never quote the body.
 */
export function acceptJsonBodies(app: FastifyInstance, maxJsonDepth: number, verify: Verifier): void {
  // Only JSON is the protocol: drop fastify's text/plain parser so anything
  // else is a 415.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const type = request.headers['content-type']!
    if (type.includes(';')) {
      const charset = /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(type)?.[1]
      if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
        return done(clientError(415, 'STEP_RUNNER_CHARSET', `charset '${printable(charset)}' is not supported: send the body as UTF-8`), undefined)
      }
    }
    if (body === '') return done(badBody('request body is empty; expected a JSON object with "payload" and "signature"'), undefined)
    const text = body as string
    if (text.length > BIG_BODY_CHARS) {
      // fastify takes the promise's value as the body (and its rejection as the error).
      return inTurn(() => {
        const read = readHookBody(text, maxJsonDepth, verify)
        if (!read.ok) throw badBody(read.error)
        return read.body
      }, text.length)
    }
    const read = readHookBody(text, maxJsonDepth, verify)
    if (read.ok) done(null, read.body)
    else done(badBody(read.error), undefined)
  })
}

/**
 * Answers a 4xx that fastify raised. A body declared too large is read and
 * dropped before the 413 goes out: answering while the caller is still
 * sending makes its next write fail (EPIPE), and it would never see the 413.
 * Past DRAIN_LIMIT, it just hangs up.
 */
export function answerClientError(error: FastifyError, request: FastifyRequest, reply: FastifyReply, bodyLimit: number): void {
  // The connection is gone (a request timeout closed it, or the caller left):
  // there is no one to answer, and the timeout has its own log line.
  if (request.raw.socket?.destroyed === true) return
  const status = error.statusCode ?? 400
  request.log.info({ status, error: error.code }, 'request refused')
  const answer = () => void reply.code(status).send({ error: clientMessage(error, request, bodyLimit) })
  const declared = Number(request.headers['content-length'])
  if (error.code !== 'FST_ERR_CTP_BODY_TOO_LARGE' || !(declared > bodyLimit) || request.raw.readableEnded) return answer()
  reply.header('connection', 'close')
  if (declared > DRAIN_LIMIT) return answer()
  request.raw.once('end', answer)
  request.raw.resume()
}

/** The message a caller gets for a 4xx that fastify raised. */
function clientMessage(error: FastifyError, request: FastifyRequest, bodyLimit: number): string {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'content-type must be application/json'
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return `request body is larger than the limit of ${bodyLimit} bytes${request.headers['content-encoding'] === undefined ? '' : ' (BODY_LIMIT, counted after decoding)'}`
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return 'content-length does not match the body'
    case 'STEP_RUNNER_BAD_BODY':
    case 'STEP_RUNNER_ENCODING':
    case 'STEP_RUNNER_CHARSET':
      return error.message
  }
  // fastify's own messages can quote what was sent (a header, a media type).
  return `the request was refused (${error.code ?? status(error)})`
}

function status(error: FastifyError): string {
  return String(error.statusCode ?? 400)
}

const DRAIN_LIMIT = 16 * 1024 * 1024

function badBody(message: string): FastifyError {
  return clientError(400, 'STEP_RUNNER_BAD_BODY', message)
}
