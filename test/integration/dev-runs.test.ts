import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { callStep, ROOT, startServer, TEST_KEY, type RunningServer } from '../helpers/server.js'
import { json, startUpstream, type TestUpstream } from '../helpers/upstream.js'

const run = promisify(execFile)
const TOKEN = 'tok_trace_secret_4242'

interface Trace {
  request_id: string
  step: string
  started_at: string
  duration_ms: number
  stages: { name: string; duration_ms: number; [k: string]: unknown }[]
  answer: unknown
  request: { context: unknown; data: unknown }
}

describe('run traces in npm run dev: GET /dev/runs', () => {
  let upstream: TestUpstream
  let server: RunningServer

  beforeAll(async () => {
    upstream = await startUpstream()
    upstream.on('/charge', (_req, res, n) => (n === 1 ? json(res, 503, { busy: true }) : json(res, 201, { id: `ch_${n}` })))
    server = await startServer({ stepsFile: join(ROOT, 'test/fixtures/dev-runs/steps.yaml'), args: ['--dev'], env: { UPSTREAM: upstream.url, TOKEN } })
  })
  afterAll(async () => {
    await server.stop()
    await upstream.close()
  })

  const runs = async (query = ''): Promise<Trace[]> => (await (await fetch(`${server.url}/dev/runs${query}`)).json()) as Trace[]

  it('traces an HTTP step stage by stage: transform, request, one attempt per attempt with its backoff, response, output, and the answer', async () => {
    const answer = await callStep(server, 'charge', { data: { amount: 5 }, context: { request_id: 'mqr_trace_http' } })
    expect(answer.body).toEqual({ exit_code: 'success', data: { id: 'ch_2' } })
    const trace = (await (await fetch(`${server.url}/dev/runs/mqr_trace_http`)).json()) as Trace
    expect(trace).toMatchObject({ request_id: 'mqr_trace_http', step: 'charge', answer: { exit_code: 'success', data: { id: 'ch_2' } } })
    expect(Date.parse(trace.started_at)).not.toBeNaN()
    expect(trace.duration_ms).toBeGreaterThanOrEqual(0)
    expect(trace.stages.map((s) => s.name)).toEqual(['transform', 'request', 'attempt', 'attempt', 'response', 'output'])
    for (const stage of trace.stages) expect(typeof stage.duration_ms).toBe('number')
    const [transform, request, first, second, response, output] = trace.stages
    expect(transform).toMatchObject({ result: { amount: 5 } })
    // The origin came from ${UPSTREAM}: a secret of the config, redacted like any other.
    expect(request).toMatchObject({ method: 'PUT', url: '[redacted]/charge', body: '{"amount":5}', headers: { authorization: '[redacted]' } })
    expect(first).toMatchObject({ attempt: 1, status: 503, backoff_ms: expect.any(Number) })
    expect(second).toMatchObject({ attempt: 2, status: 201 })
    expect(second).not.toHaveProperty('backoff_ms')
    expect(response).toMatchObject({ status: 201, body: { id: 'ch_2' } })
    expect(output).toMatchObject({ result: { exit_code: 'success', data: { id: 'ch_2' } } })
    expect(JSON.stringify(trace)).not.toContain(TOKEN)
  })

  it('traces input validation that fails, and lists runs newest first, filtered by ?step=', async () => {
    await callStep(server, 'greet', { data: { name: 'Ada' }, context: { request_id: 'mqr_trace_ok' } })
    await callStep(server, 'greet', { data: { nom: 'Ada' }, context: { request_id: 'mqr_trace_bad' } })
    const greets = await runs('?step=greet')
    expect(greets.map((t) => t.request_id)).toEqual(['mqr_trace_bad', 'mqr_trace_ok'])
    expect(greets[0]!.stages).toEqual([{ name: 'input', duration_ms: expect.any(Number), valid: false, errors: [expect.objectContaining({ keyword: 'required' })] }])
    expect(greets[0]!.request).toMatchObject({ data: { nom: 'Ada' } })
    expect(greets[1]!.stages.map((s) => s.name)).toEqual(['input', 'transform'])
    expect((await runs()).map((t) => t.request_id).slice(0, 3)).toEqual(['mqr_trace_bad', 'mqr_trace_ok', 'mqr_trace_http'])
    expect((await fetch(`${server.url}/dev/runs/mqr_nope`)).status).toBe(404)
  })

  it("a runtime error's file:line:col is in the answer, the log line and the trace", async () => {
    const answer = await callStep(server, 'broken', { data: { n: 1 }, context: { request_id: 'mqr_trace_broken' } })
    const at = 'test/fixtures/dev-runs/steps.yaml:17:34'
    expect(answer.body).toMatchObject({ exit_code: 'failure', data: { error: { code: 'transform_failed', details: { code: 'T2002', at: expect.stringMatching(new RegExp(`${at}$`)) } } } })
    const trace = (await (await fetch(`${server.url}/dev/runs/mqr_trace_broken`)).json()) as Trace
    expect(trace.stages).toEqual([{ name: 'transform', duration_ms: expect.any(Number), error: expect.objectContaining({ code: 'T2002', at: expect.stringMatching(new RegExp(`${at}$`)) }) }])
    // npm run dev's pretty log line carries the same position.
    await expect.poll(() => server.output().stdout).toMatch(new RegExp(`at: ".*${at.replaceAll('.', '\\.')}"`))
    expect(server.output().stdout).toContain('error: "transform_failed"')
  })

  it('npm run send -- STEP --trace prints the answer, then the trace, without colour when stdout is not a terminal', async () => {
    const { stdout } = await run(process.execPath, [join(ROOT, 'dist/cli/send.js'), 'greet', '--data', '{"name":"Grace"}', '--url', `${server.url}/hook`, '--trace'], {
      env: { PATH: process.env['PATH'], SIGNATURE_KEY: TEST_KEY },
    })
    expect(stdout).toMatch(/^HTTP 200\n/)
    expect(stdout).toMatch(/\ntrace of greet request_id mqr_[0-9a-f]{32}, .*ms\n {2}input +[\d.]+ ms\n {6}valid: true\n {2}transform +[\d.]+ ms\n {6}result: \{"greeting":"hello Grace"\}\n {2}answer +\{"exit_code":"success","data":\{"greeting":"hello Grace"\}\}\n$/)
    expect(stdout).not.toContain('\u001b[')
  })
})

describe('outside npm run dev', () => {
  it('has no /dev/runs (404), and send --trace says why', async () => {
    const server = await startServer({ stepsFile: join(ROOT, 'test/fixtures/dev-runs/steps.yaml'), env: { UPSTREAM: 'http://127.0.0.1:9', TOKEN } })
    try {
      expect((await fetch(`${server.url}/dev/runs`)).status).toBe(404)
      const sent = await run(process.execPath, [join(ROOT, 'dist/cli/send.js'), 'greet', '--data', '{"name":"Grace"}', '--url', `${server.url}/hook`, '--trace'], {
        env: { PATH: process.env['PATH'], SIGNATURE_KEY: TEST_KEY },
      }).catch((err: { code: number; stdout: string; stderr: string }) => err)
      expect(sent).toMatchObject({ code: 1, stderr: 'send: no trace: the server keeps traces only with npm run dev\n' })
    } finally {
      await server.stop()
    }
  })
})
