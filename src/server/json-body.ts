import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import secureJson from 'secure-json-parse'

/**
 * Request bodies: JSON only, parsed with errors that say what is wrong.
 */
export function acceptJsonBodies(app: FastifyInstance): void {
  // Only JSON is the protocol: drop fastify's text/plain parser so anything
  // else is a 415.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    if (body === '') return done(badBody('request body is empty; expected a JSON object with "payload" and "signature"'), undefined)
    try {
      // Poisoning keys are refused rather than stripped: stripping would
      // change what the signature covers.
      done(null, secureJson.parse(body as string, undefined, PARSE_OPTIONS))
    } catch (err) {
      const message = (err as Error).message
      done(badBody(/prototype property/i.test(message) ? 'request body contains a forbidden key (__proto__ or constructor.prototype)' : `request body is not valid JSON: ${message}`), undefined)
    }
  })

}

/**
 * Answers a 4xx that fastify raised. A body declared too large is read and
 * dropped before the 413 goes out: answering while the caller is still
 * sending makes its next write fail (EPIPE), and it would never see the 413.
 * Past DRAIN_LIMIT, it just hangs up.
 */
export function answerClientError(error: FastifyError, request: FastifyRequest, reply: FastifyReply, bodyLimit: number): void {
  const status = error.statusCode ?? 400
  request.log.info({ status, error: error.code }, 'request refused')
  const answer = () => void reply.code(status).send({ error: clientMessage(error, bodyLimit) })
  const declared = Number(request.headers['content-length'])
  if (error.code !== 'FST_ERR_CTP_BODY_TOO_LARGE' || !(declared > bodyLimit) || request.raw.readableEnded) return answer()
  reply.header('connection', 'close')
  if (declared > DRAIN_LIMIT) return answer()
  request.raw.once('end', answer)
  request.raw.resume()
}

/** The message a caller gets for a 4xx that fastify raised. */
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
const PARSE_OPTIONS = { protoAction: 'error', constructorAction: 'error' } as const

function tooLarge(bodyLimit: number): string {
  return `request body is larger than the limit of ${bodyLimit} bytes`
}

function badBody(message: string): FastifyError {
  return Object.assign(new Error(message), { statusCode: 400, code: 'STEP_RUNNER_BAD_BODY', name: 'BadBody' })
}
