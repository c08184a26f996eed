import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sign } from '../../src/core/signature.js'
import { callStep, post, ROOT, runServerToExit, startServer, TEST_KEY, type RunningServer } from '../helpers/server.js'
import { json, startUpstream, type TestUpstream } from '../helpers/upstream.js'
import { logged, logLines, metricsText, sample } from '../helpers/logs.js'

const STEPS = join(ROOT, 'test/fixtures/hostile/steps.yaml')
const MAX_ANSWER_BYTES = 4096

const bytesOf = (answer: unknown) => Buffer.byteLength(JSON.stringify(answer))

/** `depth` levels of arrays around a value. */
const nested = (depth: number, inner: unknown = 1): unknown => {
  let value = inner
  for (let i = 0; i < depth; i++) value = [value]
  return value
}

describe('every answer is plain JSON, what the log says, and never a 5xx', () => {
  let upstream: TestUpstream
  let server: RunningServer
  const bodies = new Map<string, () => { type: string; text: string }>()

  beforeAll(async () => {
    upstream = await startUpstream()
    upstream.on('/body/never', (_req, res) => json(res, 200, { never: true }))
    for (const name of ['deep', 'poisoned', 'big', 'small']) {
      upstream.on(`/body/${name}`, (_req, res) => {
        const { type, text } = bodies.get(name)!()
        res.writeHead(200, { 'content-type': type, 'content-length': Buffer.byteLength(text) }).end(text)
      })
    }
    bodies.set('deep', () => ({ type: 'application/json', text: '['.repeat(5000) + ']'.repeat(5000) }))
    bodies.set('poisoned', () => ({ type: 'application/json', text: '{"__proto__": {"x": 1}, "id": 7, "nested": {"constructor": {"prototype": {"y": 2}}, "keep": true}}' }))
    bodies.set('big', () => ({ type: 'application/json', text: JSON.stringify({ text: 'x'.repeat(MAX_ANSWER_BYTES) }) }))
    bodies.set('small', () => ({ type: 'application/json', text: '{"ok":true}' }))
    server = await startServer({ stepsFile: STEPS, env: { UPSTREAM: upstream.url, MAX_ANSWER_BYTES: String(MAX_ANSWER_BYTES) } })
  })
  afterAll(async () => {
    await server.stop()
    await upstream.close()
  })

  /** The answer, and the log line written for it: they must agree. */
  async function run(step: string, data?: unknown) {
    const requestId = `mqr_${step}_${Math.random().toString(16).slice(2)}`
    const answer = await callStep(server, step, { ...(data === undefined ? {} : { data }), context: { request_id: requestId } })
    expect(answer.status).toBe(200)
    let line: Record<string, unknown> | undefined
    while ((line = logLines(server).find((l) => l['request_id'] === requestId)) === undefined) await new Promise((r) => setTimeout(r, 10))
    expect(line).toMatchObject({ status: 200, exit_code: (answer.body as { exit_code: string }).exit_code, msg: 'step answered' })
    return answer.body as { exit_code: string; data?: { error?: { code: string; message: string } } }
  }

  it.each([
    ['lambda', 'transform returned a function'],
    ['partial', 'transform returned a function'],
    ['chain', 'transform returned a function'],
    ['builtin', 'transform returned a function'],
    ['regex', 'transform returned a regular expression'],
    ['nested_function', 'transform returned a function (at list[1].f)'],
  ])('a transform that returns a function or a regex (%s) fails with transform_failed, logged as it is answered', async (step, message) => {
    expect(await run(step)).toEqual({ exit_code: 'failure', data: { error: { code: 'transform_failed', message } } })
  })

  it('a transform that returns a number JSON cannot carry fails rather than answering null', async () => {
    expect(await run('infinite', { n: '1' })).toEqual({ exit_code: 'failure', data: { error: { code: 'transform_failed', message: 'transform returned a number that JSON cannot carry (Infinity) (at n)' } } })
  })

  it('counts the answer sent in step_runs_total, not what the step meant to answer', async () => {
    const before = sample(await metricsText(server), 'step_runs_total{step="lambda",exit_code="failure"}')
    await run('lambda')
    expect(sample(await metricsText(server), 'step_runs_total{step="lambda",exit_code="failure"}')).toBe(before + 1)
    expect(sample(await metricsText(server), 'step_runs_total{step="lambda",exit_code="success"}')).toBe(0)
  })

  it('a transform result for an HTTP body that is not JSON data is never sent', async () => {
    expect(await run('http_body_function')).toEqual({ exit_code: 'failure', data: { error: { code: 'transform_failed', message: 'transform returned a function (at f)' } } })
    expect(upstream.seen('/body/never')).toHaveLength(0)
  })

  it('data as deep as MAX_JSON_DEPTH answers; deeper, through a transform that wraps it, fails with transform_failed', async () => {
    // The request body nests data 2 levels down: 998 levels of data is the deepest body accepted.
    expect(await run('echo', nested(998))).toEqual({ exit_code: 'success', data: nested(998) })
    expect(await run('wrap', nested(998))).toEqual({ exit_code: 'failure', data: { error: { code: 'transform_failed', message: 'transform returned a value nested deeper than 1000 levels' } } })
  })

  it('no request at any nesting depth gets a 5xx: deeper than MAX_JSON_DEPTH is a 400', async () => {
    for (const depth of [1, 10, 500, 996, 997, 998, 999, 1000, 1001, 4100, 4112, 5000, 100_000]) {
      for (const step of ['echo', 'wrap']) {
        // Written out by hand: JSON.stringify itself cannot go this deep.
        const payload = `{"data":${'['.repeat(depth)}1${']'.repeat(depth)},"context":{"step_name":"${step}"}}`
        const answer = await post(server, `{"payload":${payload},"signature":"${sign(payload, TEST_KEY)}"}`)
        expect(answer.status, `${step} at depth ${depth}`).toBe(depth <= 998 ? 200 : 400)
        if (depth > 998) expect(answer.body).toEqual({ error: expect.stringMatching(/^request body is nested deeper than 1000 levels at line 1, column \d+ \(MAX_JSON_DEPTH\)$/) })
      }
    }
  })

  it('an answer over MAX_ANSWER_BYTES fails with its stage, says how big it was, and is not sent', async () => {
    const padded = bytesOf({ exit_code: 'success', data: { text: ' '.repeat(MAX_ANSWER_BYTES) } })
    expect(await run('padded', { width: MAX_ANSWER_BYTES })).toEqual({
      exit_code: 'failure',
      data: { error: { code: 'transform_failed', message: `answer is ${padded} bytes, over MAX_ANSWER_BYTES`, details: { bytes: padded, max_answer_bytes: MAX_ANSWER_BYTES } } },
    })
    // Counted in UTF-8 bytes, not characters.
    const wide = 'é'.repeat(MAX_ANSWER_BYTES / 2 - 10)
    expect((await run('echo', wide)).data?.error).toMatchObject({ code: 'transform_failed', message: `answer is ${bytesOf({ exit_code: 'success', data: wide })} bytes, over MAX_ANSWER_BYTES` })
    expect(await run('padded', { width: MAX_ANSWER_BYTES - 100 })).toMatchObject({ exit_code: 'success' })
  })

  it('an upstream body past MAX_ANSWER_BYTES fails with upstream_failed; mapped by output, with output_failed', async () => {
    const body = { text: 'x'.repeat(MAX_ANSWER_BYTES) }
    expect((await run('upstream_body', { name: 'big' })).data?.error).toMatchObject({ code: 'upstream_failed', message: `answer is ${bytesOf({ exit_code: 'success', data: body })} bytes, over MAX_ANSWER_BYTES` })
    expect((await run('upstream_mapped', { name: 'big' })).data?.error).toMatchObject({
      code: 'output_failed',
      message: `answer is ${bytesOf({ exit_code: 'success', data: { body } })} bytes, over MAX_ANSWER_BYTES`,
    })
  })

  it('an upstream body nested deeper than MAX_JSON_DEPTH fails with upstream_failed, with or without output', async () => {
    const failed = { exit_code: 'failure', data: { error: { code: 'upstream_failed', message: 'upstream body is nested deeper than 1000 levels', details: { status: 200 } } } }
    expect(await run('upstream_body', { name: 'deep' })).toEqual(failed)
    expect(await run('upstream_mapped', { name: 'deep' })).toEqual(failed)
  })

  it('an output that returns a function as data fails with output_failed', async () => {
    expect(await run('output_function', { name: 'small' })).toEqual({ exit_code: 'failure', data: { error: { code: 'output_failed', message: 'output returned a function as data', details: { status: 200 } } } })
  })
})

describe('MAX_JSON_DEPTH at its highest', () => {
  it('answers data as deep as 2000 levels, fails one level deeper with transform_failed, and never a 5xx', async () => {
    const server = await startServer({ stepsFile: STEPS, env: { UPSTREAM: 'http://127.0.0.1:1', MAX_JSON_DEPTH: '2000' } })
    try {
      const call = (step: string, depth: number) => {
        const payload = `{"data":${'['.repeat(depth)}1${']'.repeat(depth)},"context":{"step_name":"${step}"}}`
        return post(server, `{"payload":${payload},"signature":"${sign(payload, TEST_KEY)}"}`)
      }
      expect(await call('echo', 1998)).toMatchObject({ status: 200, body: { exit_code: 'success' } })
      expect(await call('wrap', 1998)).toMatchObject({ status: 200, body: { data: { error: { code: 'transform_failed', message: 'transform returned a value nested deeper than 2000 levels' } } } })
      expect(await call('echo', 1999)).toMatchObject({ status: 400 })
    } finally {
      await server.stop()
    }
    expect((await runServerToExit({ env: { MAX_JSON_DEPTH: '5000' } })).stderr).toContain("MAX_JSON_DEPTH must be a whole number from 1 to 2000; got '5000'")
  })
})

describe('an upstream cannot poison the next step', () => {
  let upstream: TestUpstream
  let server: RunningServer
  beforeAll(async () => {
    upstream = await startUpstream()
    upstream.on('/body/poisoned', (_req, res) => {
      const text = '{"__proto__": {"x": 1}, "id": 7, "nested": {"constructor": {"prototype": {"y": 2}}, "keep": true}}'
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text)
    })
    server = await startServer({ stepsFile: STEPS, env: { UPSTREAM: upstream.url } })
  })
  afterAll(async () => {
    await server.stop()
    await upstream.close()
  })

  it('removes forbidden keys from an upstream body, warns with the step name, and the answer is accepted as the next step\'s dependency', async () => {
    const answer = await callStep(server, 'upstream_body', { data: { name: 'poisoned' }, context: { request_id: 'mqr_poisoned_1' } })
    expect(answer).toMatchObject({ status: 200, body: { exit_code: 'success', data: { id: 7, nested: { keep: true } } } })
    expect(answer.text).not.toMatch(/__proto__|constructor|prototype/)
    expect(await logged(server, (l) => l['level'] === 40 && l['step_name'] === 'upstream_body')).toMatchObject({
      msg: 'the upstream body had a forbidden key (__proto__ or constructor.prototype): removed it',
    })
    // The orchestrator hands the answer to the next step in dependencies_context.
    const next = await callStep(server, 'echo', { data: 1, deps: { upstream_body: answer.body as Record<string, unknown> } })
    expect(next).toMatchObject({ status: 200, body: { exit_code: 'success', data: 1 } })
  })
})
