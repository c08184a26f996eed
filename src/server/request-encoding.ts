import type { Readable } from 'node:stream'
import type { Transform } from 'node:stream'
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib'
import type { FastifyError, FastifyInstance } from 'fastify'

const DECODERS: Readonly<Record<string, () => Transform>> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
}

/**
 * Request bodies sent with `content-encoding: gzip`, `deflate` or `br` are
 * decoded before they are parsed. BODY_LIMIT holds for the decoded size too
 * (fastify counts what the decoder puts out), so a decompression bomb is a
 * 413; the encoded size is told to fastify (`receivedEncodedLength`) so that
 * `content-length` is checked against what was sent. Any other encoding is a
 * 415 that names it.
 */
export function decodeRequestBodies(scope: FastifyInstance): void {
  scope.addHook('preParsing', (request, _reply, payload, done) => {
    const header = request.headers['content-encoding']
    if (header === undefined) return done(null, payload)
    const encoding = header.trim().toLowerCase()
    if (encoding === '' || encoding === 'identity') return done(null, payload)
    const make = DECODERS[encoding]
    if (make === undefined) {
      return done(clientError(415, 'STEP_RUNNER_ENCODING', `content-encoding '${printable(header)}' is not supported: send the body as gzip, deflate, br or without an encoding`))
    }
    const decoder = make() as Transform & { receivedEncodedLength: number }
    decoder.receivedEncodedLength = 0
    payload.on('data', (chunk: Buffer) => {
      decoder.receivedEncodedLength += chunk.length
    })
    // zlib's own words ("incorrect header check"), never the bytes.
    decoder.once('error', (err: Error & { statusCode?: number; code?: string }) => {
      err.message = `request body could not be decoded as ${encoding}: ${err.message}`
      err.statusCode = 400
      err.code = 'STEP_RUNNER_ENCODING'
    })
    payload.once('error', (err) => decoder.destroy(err))
    ;(payload as Readable).pipe(decoder)
    done(null, decoder)
  })
}

export function clientError(statusCode: number, code: string, message: string): FastifyError {
  return Object.assign(new Error(message), { statusCode, code, name: 'ClientError' })
}

/** A header value as it can be quoted in an answer: printable ASCII, at most 40 characters. */
export function printable(value: string): string {
  const clean = value.replace(/[^\x20-\x7e]/g, '?')
  return clean.length > 40 ? `${clean.slice(0, 37)}...` : clean
}
