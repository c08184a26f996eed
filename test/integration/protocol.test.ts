import fc from 'fast-check'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sign } from '../../src/core/signature.js'
import { callStep, payloadFor, post, ROOT, signedBody, startServer, TEST_KEY, type RunningServer } from '../helpers/server.js'
import { linesWritten } from '../helpers/logs.js'

const SIGNATURE_ERROR = { error: 'Invalid input request, please verify the signature' }

describe('POST /hook on the real server', () => {
  let server: RunningServer
  beforeAll(async () => {
    server = await startServer({ stepsFile: join(ROOT, 'test/fixtures/protocol/steps.yaml') })
  })
  afterAll(async () => {
    await server.stop()
  })

  describe('answers 200 with the step result', () => {
    it('leaves data out for a step without a transform', async () => {
      const answer = await callStep(server, 'plain')
      expect(answer.status).toBe(200)
      expect(answer.headers['content-type']).toMatch(/^application\/json/)
      expect(answer.text).toBe('{"exit_code":"success"}')
    })

    it("answers the transform's result, built from dependencies_context, data and context", async () => {
      const answer = await callStep(server, 'with_data', { data: { amount: 5 }, deps: { fetch_user: { data: { email: 'a@b.c' }, exit_code: 'success' } } })
      expect(answer).toMatchObject({ status: 200, body: { exit_code: 'success', data: { email: 'a@b.c', amount: 5, flow: 'test_flow' } } })
    })

    it('answers big bodies sent together, each its own answer, and a big malformed one its 400 (big bodies are read in turns)', async () => {
      // Past 64 KiB a body waits for its turn (src/server/body-turns.ts): every one is still answered, and right.
      const big = (i: number) => signedBody(payloadFor('with_data', { data: { amount: i, padding: 'x'.repeat(100_000) }, deps: { fetch_user: { data: { email: `u${i}@b.c` }, exit_code: 'success' } } }))
      const broken = `{"payload": {"context": {"step_name": "plain"}, "data": "${'y'.repeat(100_000)}"}, "signature": oops}`
      const unsigned = JSON.stringify({ payload: payloadFor('plain', { data: 'z'.repeat(100_000) }), signature: 'a'.repeat(64) })
      const answers = await Promise.all([...Array.from({ length: 8 }, (_, i) => post(server, big(i))), post(server, broken), post(server, unsigned), callStep(server, 'plain')])
      for (let i = 0; i < 8; i++) expect(answers[i]).toMatchObject({ status: 200, body: { exit_code: 'success', data: { email: `u${i}@b.c`, amount: i } } })
      expect(answers[8]).toMatchObject({ status: 400, body: { error: "request body is not valid JSON: unexpected 'o' at line 1, column 100075" } })
      expect(answers[9]).toMatchObject({ status: 400, body: { error: 'Invalid input request, please verify the signature' } })
      expect(answers[10]).toMatchObject({ status: 200, body: { exit_code: 'success' } })
    })

    it('fails a step with input_invalid and ajv errors, still as 200', async () => {
      const answer = await callStep(server, 'checked', { data: { amount: 0 } })
      expect(answer.status).toBe(200)
      expect(answer.body).toMatchObject({
        exit_code: 'failure',
        data: { error: { code: 'input_invalid', message: expect.stringContaining('data/amount'), details: [{ instancePath: '/amount', keyword: 'minimum' }] } },
      })
    })

    it('checks absent data as null', async () => {
      const answer = await callStep(server, 'checked')
      expect(answer.body).toMatchObject({ exit_code: 'failure', data: { error: { code: 'input_invalid', details: [{ instancePath: '', keyword: 'type' }] } } })
    })

    it('fails a step with transform_failed and no stack trace, still as 200', async () => {
      const answer = await callStep(server, 'broken')
      expect(answer.status).toBe(200)
      expect(answer.body).toMatchObject({ exit_code: 'failure', data: { error: { code: 'transform_failed', message: expect.stringContaining('transform failed') } } })
      expect(answer.text).not.toMatch(/\.js:\d+|\bstack\b/)
    })
  })

  describe('answers 404 for an unknown step', () => {
    it('names the step when the request is signed', async () => {
      expect(await callStep(server, 'no_such_step')).toMatchObject({ status: 404, body: { error: "unknown step 'no_such_step'" } })
    })

    it('says nothing about the config when it is not', async () => {
      const body = JSON.stringify({ payload: payloadFor('no_such_step'), signature: 'f'.repeat(64) })
      expect(await post(server, body)).toMatchObject({ status: 400, body: SIGNATURE_ERROR })
    })
  })

  describe('answers 400 with the seed\'s message for a bad signature', () => {
    const payload = payloadFor('plain')
    const good = sign(JSON.stringify(payload), TEST_KEY)
    it.each([
      ['missing', undefined],
      ['not a string', 42],
      ['signed with another key', sign(JSON.stringify(payload), 'wsk_other')],
      ['uppercase', good.toUpperCase()],
      ['truncated', good.slice(0, 40)],
      ['a valid prefix followed by non-hex', good.slice(0, 62) + 'zz'],
    ])('%s', async (_name, signature) => {
      expect(await post(server, JSON.stringify({ payload, signature }))).toMatchObject({ status: 400, body: SIGNATURE_ERROR })
    })

    it('for a signed payload changed in transit (property)', async () => {
      await fc.assert(
        fc.asyncProperty(fc.string(), fc.jsonValue(), async (field, value) => {
          const original = payloadFor('plain', { data: { amount: 1 } })
          const changed = { ...original, data: { amount: 1, [field]: value } }
          fc.pre(JSON.stringify(changed) !== JSON.stringify(original))
          const answer = await post(server, JSON.stringify({ payload: changed, signature: sign(JSON.stringify(original), TEST_KEY) }))
          // Keys such as __proto__ are refused at parse time, also with a 400.
          return answer.status === 400
        }),
        { numRuns: 40 },
      )
    })
  })

  describe('answers a clear 4xx, never a 5xx, for a malformed request', () => {
    it.each([
      ['a body that is not JSON', '{"payload": ', 400, /not valid JSON/],
      ['an empty body', '', 400, /empty/],
      ['JSON that is not an object', '[1, 2, 3]', 400, /must be a JSON object/],
      ['JSON null', 'null', 400, /must be a JSON object/],
      ['payload missing', '{"signature": "x"}', 400, /"payload" as a JSON object/],
      ['payload not an object', '{"payload": "hi", "signature": "x"}', 400, /"payload" as a JSON object/],
      ['a __proto__ key', '{"payload": {"context": {"step_name": "plain"}, "__proto__": {"polluted": true}}, "signature": "x"}', 400, /forbidden key/],
      ['a constructor.prototype key', '{"payload": {"constructor": {"prototype": {"polluted": true}}}, "signature": "x"}', 400, /forbidden key/],
    ])('%s', async (_name, body, status, message) => {
      const answer = await post(server, body)
      expect(answer.status).toBe(status)
      expect((answer.body as { error: string }).error).toMatch(message)
    })

    it('a signed payload without context.step_name', async () => {
      const payload = { context: { flow_id: 'f' } }
      expect(await post(server, signedBody(payload))).toMatchObject({ status: 400, body: { error: 'payload.context.step_name must be a non-empty string' } })
    })

    it('nesting deeper than MAX_JSON_DEPTH, refused before the body is parsed', async () => {
      const depth = 100_000
      const body = `{"payload": {"context": {"step_name": "plain"}, "data": ${'['.repeat(depth)}${']'.repeat(depth)}}, "signature": "${'0'.repeat(64)}"}`
      expect(await post(server, body)).toMatchObject({ status: 400, body: { error: 'request body is nested deeper than 1000 levels at line 1, column 1055 (MAX_JSON_DEPTH)' } })
    })

    it('a content type other than JSON (415)', async () => {
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
        expect(await post(server, signedBody(payloadFor('plain')), type)).toMatchObject({ status: 415, body: { error: 'content-type must be application/json' } })
      }
    })

    it('accepts application/json with a charset', async () => {
      expect(await post(server, signedBody(payloadFor('plain')), 'application/json; charset=utf-8')).toMatchObject({ status: 200 })
    })

    it('a body over the limit (413)', async () => {
      const payload = payloadFor('plain', { data: 'x'.repeat(1024 * 1024) })
      expect(await post(server, signedBody(payload))).toMatchObject({ status: 413, body: { error: expect.stringContaining('larger than the limit') } })
    })

    it('and it is still serving afterwards', async () => {
      expect(await callStep(server, 'plain')).toMatchObject({ status: 200 })
      await linesWritten()
      expect(server.output().stdout).not.toMatch(/"level":50/)
    })
  })

  it('answers GET /healthz with 200 JSON while up', async () => {
    const res = await fetch(`${server.url}/healthz`)
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ status: 'ok', config: { steps: 4, hash: expect.stringMatching(/^[0-9a-f]{16}$/) } })
  })

  it('answers an unknown route with a JSON 404', async () => {
    const res = await fetch(`${server.url}/nope`)
    expect(res.status).toBe(404)
    expect(await res.json()).toEqual({ error: 'no route for GET /nope; the webhook is POST /hook' })
  })
})
