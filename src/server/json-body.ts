import type { FastifyError, FastifyInstance } from 'fastify'
import secureJson from 'secure-json-parse'

/**
 * Request bodies: JSON only, parsed with errors that say what is wrong, and a
 * 413 that the caller actually receives.
 */
export function acceptJsonBodies(app: FastifyInstance, bodyLimit: number): void {
  // Only JSON is the protocol: drop fastify's text/plain parser so anything
  // else is a 415.
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
    if (!(declared > bodyLimit)) return done()
    const answer = () => void reply.code(413).header('connection', 'close').send({ error: tooLarge(bodyLimit) })
    if (declared > DRAIN_LIMIT) return answer()
    request.raw.once('end', answer)
    request.raw.resume()
  })
}

/** The message a caller gets for a 4xx that fastify raised. */
export function clientMessage(error: FastifyError, bodyLimit: number): string {
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
