import { connect } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { callStep, freePort, ROOT, startServer, TEST_KEY, type RunningServer } from '../helpers/server.js'
import { json, startUpstream, type TestUpstream } from '../helpers/upstream.js'
import { logged } from '../helpers/logs.js'

const STEPS = join(ROOT, 'test/fixtures/secrets/steps.yaml')
const TOKEN = 'tok_9f8e7d6c5b4a'
const API_KEY = 'key_0a1b2c3d4e5f'
const TENANT = 'tenant-7b1e42'

describe('secrets stay secret', () => {
  let upstream: TestUpstream
  let server: RunningServer
  let closedBase: string
  let tenantBase: string

  beforeAll(async () => {
    upstream = await startUpstream()
    // Like many debug APIs: it echoes what it was sent, headers and URL.
    upstream.on(`/${TENANT}/echo`, (req, res) =>
      json(res, 200, { url: `${upstream.url}${req.url}`, headers: req.headers }, { 'x-echo-authorization': String(req.headers['authorization']) }),
    )
    tenantBase = `${upstream.url}/${TENANT}`
    closedBase = `http://127.0.0.1:${await freePort()}/closed-c0ffee`
    server = await startServer({
      stepsFile: STEPS,
      env: { LOG_LEVEL: 'trace', TENANT_BASE: tenantBase, CLOSED_BASE: closedBase, TOKEN, API_KEY },
    })
  })
  afterAll(async () => {
    await server.stop()
    await upstream.close()
  })

  const everything = () => {
    const { stdout, stderr } = server.output()
    return stdout + stderr
  }

  it('redacts every value from the environment by value, alone or inside a longer value, at every log level', async () => {
    // A caller can make the server repeat anything as a step name or a request id.
    for (const [i, value] of [TOKEN, `xx${API_KEY}yy`, tenantBase, closedBase].entries()) {
      await callStep(server, `step ${value}`, { context: { request_id: `mqr_${i}_${value}` } })
    }
    await callStep(server, 'refused_call', { context: { request_id: 'mqr_refused' } })
    await logged(server, (l) => l['request_id'] === 'mqr_refused')
    const all = everything()
    expect(all).toContain('[REDACTED]')
    for (const secret of [TOKEN, API_KEY, tenantBase, closedBase]) expect(all).not.toContain(secret)
  })

  it('redacts anything shaped like a signature: 64 hex characters in any case, also inside a longer token', async () => {
    const hex = 'c0ffee'.repeat(11).slice(0, 64)
    const forms = [hex.toUpperCase(), `${hex}a`, `sig=${hex}!`]
    for (const [i, form] of forms.entries()) await callStep(server, 'plain', { context: { request_id: `mqr_shape_${i}_${form}` } })
    await logged(server, (l) => String(l['request_id']).startsWith('mqr_shape_2_'))
    expect(everything().toLowerCase()).not.toContain(hex)
  })

  it('never logs the raw bytes of a malformed request, even at LOG_LEVEL=trace', async () => {
    const url = new URL(server.url)
    const body = JSON.stringify({ payload: { context: { step_name: TOKEN } }, signature: 'f'.repeat(64) })
    await new Promise<void>((resolve) => {
      const socket = connect(Number(url.port), url.hostname, () => {
        // A header line that HTTP does not allow: node's parser refuses the request.
        socket.end(`POST /hook HTTP/1.1\r\nHost: x\r\nX-Key: ${TEST_KEY}\r\nBad Header\r\ncontent-length: ${body.length}\r\n\r\n${body}`)
      })
      socket.on('data', () => {})
      socket.on('close', () => resolve())
    })
    await logged(server, (l) => typeof l['msg'] === 'string' && (l['msg'] as string).startsWith('client '))
    const all = everything()
    expect(all).not.toContain('rawPacket')
    expect(all).not.toContain(TEST_KEY)
  })

  it('answers [redacted] where an upstream echoes a secret, in its body or its headers', async () => {
    const answer = await callStep(server, 'echo_call')
    expect(answer.status).toBe(200)
    expect(answer.text).not.toContain(TOKEN)
    expect(answer.text).not.toContain(API_KEY)
    expect(answer.text).not.toContain(TENANT)
    expect(answer.body).toMatchObject({ exit_code: 'success', data: { url: '[redacted]/echo', headers: { authorization: '[redacted]', 'x-api-key': '[redacted]' } } })
    // The upstream did get them: only the answer is scrubbed.
    expect(upstream.seen(`/${TENANT}/echo`).at(-1)?.headers).toMatchObject({ authorization: `Bearer ${TOKEN}`, 'x-api-key': API_KEY })
  })

  it("keeps an environment value out of the answer's own messages", async () => {
    const answer = await callStep(server, 'refused_call')
    expect(answer.body).toMatchObject({ exit_code: 'failure', data: { error: { code: 'upstream_failed', message: 'connection refused by [redacted]' } } })
  })

  it('without ADMIN_PORT, serves /metrics and the detailed /healthz on the main port, as before', async () => {
    expect((await fetch(`${server.url}/metrics`)).status).toBe(200)
    expect(await (await fetch(`${server.url}/healthz`)).json()).toMatchObject({ status: 'ok', config: { steps: 3 } })
  })
})

describe('ADMIN_PORT', () => {
  let server: RunningServer
  let admin: string
  beforeAll(async () => {
    const port = await freePort()
    admin = `http://127.0.0.1:${port}`
    server = await startServer({ stepsFile: STEPS, env: { ADMIN_PORT: String(port), ADMIN_HOST: '127.0.0.1', TENANT_BASE: 'http://127.0.0.1:1', CLOSED_BASE: 'http://127.0.0.1:1', TOKEN, API_KEY } })
  })
  afterAll(async () => {
    await server.stop()
  })

  it('serves /metrics and the detailed /healthz on the admin port only; the main port keeps /hook, /readyz and a bare /healthz', async () => {
    expect(await (await fetch(`${server.url}/healthz`)).text()).toBe('{"status":"ok"}')
    expect((await fetch(`${server.url}/metrics`)).status).toBe(404)
    expect(await (await fetch(`${server.url}/readyz`)).json()).toEqual({ status: 'ready' })
    expect((await callStep(server, 'plain')).body).toEqual({ exit_code: 'success' })

    const health = (await (await fetch(`${admin}/healthz`)).json()) as { config: { steps: number } }
    expect(health).toMatchObject({ status: 'ok', config: { steps: 3, last_reload: { ok: true } } })
    const metrics = await fetch(`${admin}/metrics`)
    expect(metrics.status).toBe(200)
    expect(await metrics.text()).toMatch(/^step_runs_total\{step="plain",exit_code="success"\} 1$/m)
    expect((await fetch(`${admin}/hook`, { method: 'POST' })).status).toBe(404)
  })

  it('refuses ADMIN_HOST without ADMIN_PORT, and ADMIN_PORT equal to PORT', async () => {
    const { runServerToExit } = await import('../helpers/server.js')
    expect((await runServerToExit({ env: { ADMIN_HOST: '127.0.0.1' } })).stderr).toContain('ADMIN_HOST is set but ADMIN_PORT is not')
    expect((await runServerToExit({ env: { PORT: '4100', ADMIN_PORT: '4100' } })).stderr).toContain('ADMIN_PORT must differ from PORT (both are 4100)')
  })
})
