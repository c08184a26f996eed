import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib'
import { connect } from 'node:net'
import { Readable } from 'node:stream'
import { join } from 'node:path'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { payloadFor, post, postWith, ROOT, signedBody, startServer, type Answer, type RunningServer } from '../helpers/server.js'

const BODY_LIMIT = 64 * 1024

/** POSTs bytes as JSON, with more headers. */
function send(server: { url: string }, body: Buffer | string, headers: Record<string, string>): Promise<Answer> {
  return postWith(server, body, { 'content-type': 'application/json', ...headers })
}

/** No answer quotes what it was sent: every message is printable ASCII or common text. */
function expectNoRawBytes(answer: Answer): void {
  expect(answer.text).toMatch(/^[\x20-\x7e]*$/)
}

describe('request bodies a sane client may send', () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startServer({ stepsFile: join(ROOT, 'test/fixtures/protocol/steps.yaml'), env: { BODY_LIMIT: String(BODY_LIMIT) } })
  })
  afterAll(async () => {
    await server.stop()
  })

  const body = () => signedBody(payloadFor('with_data', { data: { amount: 5 } }))

  it.each([
    ['gzip', gzipSync],
    ['x-gzip', gzipSync],
    ['deflate', deflateSync],
    ['br', brotliCompressSync],
    ['GZIP', gzipSync],
  ])('decodes a %s body', async (encoding, compress) => {
    const answer = await send(server, compress(Buffer.from(body())), { 'content-encoding': encoding })
    expect(answer).toMatchObject({ status: 200, body: { exit_code: 'success', data: { amount: 5 } } })
  })

  it('reads a body that arrives in many pieces, a character split between two, plain and gzip-encoded', async () => {
    const text = signedBody(payloadFor('with_data', { data: { amount: 5 }, context: { flow_name: 'caf\u00e9 \u20ac \u{1F600}' } }))
    async function* pieces(bytes: Buffer) {
      // 5-byte pieces, sent apart so that the server reads them apart: the multi-byte characters fall across them.
      for (let at = 0; at < bytes.length; at += 5) {
        yield bytes.subarray(at, at + 5)
        await new Promise((resolve) => setTimeout(resolve, 1))
      }
    }
    for (const [encoding, bytes] of [['identity', Buffer.from(text)], ['gzip', gzipSync(Buffer.from(text))]] as const) {
      const response = await request(`${server.url}/hook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-encoding': encoding, 'content-length': String(bytes.length) },
        body: Readable.from(pieces(bytes)),
      })
      expect(response.statusCode, encoding).toBe(200)
      expect(await response.body.json(), encoding).toMatchObject({ exit_code: 'success', data: { amount: 5, flow: 'caf\u00e9 \u20ac \u{1F600}' } })
    }
  })

  it('answers 400 when an encoded body is shorter than its content-length, and goes on serving', async () => {
    const bytes = gzipSync(Buffer.from(body()))
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const url = new URL(`${server.url}/hook`)
      const socket = connect(Number(url.port), url.hostname, () => {
        socket.write(`POST /hook HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: ${bytes.length + 10}\r\n\r\n`)
        socket.end(bytes)
      })
      let out = ''
      socket.setEncoding('latin1').on('data', (d) => (out += d)).on('close', () => resolve({ status: Number(out.split(' ')[1]), text: out })).on('error', reject)
    })
    // The caller said more than it sent and hung up: Node's parser refuses the request, nothing is read as a body.
    expect(answer.status).toBe(400)
    expect(answer.text).toContain('{"error":"the request is not valid HTTP/1.1"}')
    expect(await post(server, body())).toMatchObject({ status: 200 })
  })

  it('takes identity as no encoding', async () => {
    expect(await send(server, body(), { 'content-encoding': 'identity' })).toMatchObject({ status: 200 })
  })

  it('holds BODY_LIMIT to the decoded size: a decompression bomb is a 413', async () => {
    const bomb = gzipSync(Buffer.from(`{"payload": {"data": "${'a'.repeat(50 * BODY_LIMIT)}"}}`))
    expect(bomb.length).toBeLessThan(BODY_LIMIT)
    const answer = await send(server, bomb, { 'content-encoding': 'gzip' })
    expect(answer).toMatchObject({ status: 413, body: { error: `request body is larger than the limit of ${BODY_LIMIT} bytes (BODY_LIMIT, counted after decoding)` } })
    // And it still serves.
    expect(await post(server, body())).toMatchObject({ status: 200 })
  })

  it('answers 415 naming any other encoding', async () => {
    const answer = await send(server, body(), { 'content-encoding': 'zstd' })
    expect(answer).toMatchObject({ status: 415, body: { error: "content-encoding 'zstd' is not supported: send the body as gzip, deflate, br or without an encoding" } })
    expect((await send(server, body(), { 'content-encoding': 'gzip, br' })).status).toBe(415)
  })

  it('answers 400 when an encoded body does not decode, without quoting it', async () => {
    const answer = await send(server, Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe, 0x00, 0x01, 0x02]), { 'content-encoding': 'br' })
    expect(answer.status).toBe(400)
    expect((answer.body as { error: string }).error).toMatch(/^request body could not be decoded as br: /)
    expectNoRawBytes(answer)
  })

  it('answers 400 for a gzip body sent without its content-encoding, naming the byte rather than quoting it', async () => {
    const answer = await send(server, gzipSync(Buffer.from(body())), {})
    expect(answer).toMatchObject({ status: 400, body: { error: 'request body is not valid JSON: unexpected character U+001F at line 1, column 1' } })
    expectNoRawBytes(answer)
  })

  it('answers 415 naming a charset other than UTF-8, and accepts utf-8 in any spelling', async () => {
    const answer = await send(server, body(), { 'content-type': 'application/json; charset=iso-8859-1' })
    expect(answer).toMatchObject({ status: 415, body: { error: "charset 'iso-8859-1' is not supported: send the body as UTF-8" } })
    for (const charset of ['utf-8', 'UTF-8', 'utf8', '"utf-8"']) {
      expect((await send(server, body(), { 'content-type': `application/json; charset=${charset}` })).status).toBe(200)
    }
  })

  it.each([
    ['a control character', '{"payload": {"a": "x\u0001y"}}', 'request body is not valid JSON: character U+0001 inside a string (it must be escaped) at line 1, column 21'],
    ['Latin-1 bytes', Buffer.from([0x7b, 0x22, 0xe9, 0xff, 0x22, 0x3a, 0x7d]), "request body is not valid JSON: unexpected '}' at line 1, column 7"],
    ['a truncated body', '{"payload": {"data": [1, 2', 'request body is not valid JSON: unexpected end of JSON at line 1, column 27'],
  ])('answers 400 for %s with a position and no quoted bytes', async (_name, text, error) => {
    const answer = await send(server, text, {})
    expect(answer).toMatchObject({ status: 400, body: { error } })
    expectNoRawBytes(answer)
  })
})
