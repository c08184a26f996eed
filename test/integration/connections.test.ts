import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Client } from 'undici'
import { describe, expect, it } from 'vitest'
import { callStep, freePort, payloadFor, ROOT, signedBody, startServer, type RunningServer } from '../helpers/server.js'
import { linesWritten } from '../helpers/logs.js'
import { json, startUpstream } from '../helpers/upstream.js'

const STEPS = join(ROOT, 'test/fixtures/operations/steps.yaml')
const FIXTURE_ENV = { UPSTREAM_TOKEN: 'x', UPSTREAM_API_KEY: 'y' }
const linux = process.platform === 'linux'

function logLines(server: RunningServer): Record<string, unknown>[] {
  return server
    .output()
    .stdout.split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
}

/** Resolves with the first log line whose message contains `text`, once it is written. */
async function logged(server: RunningServer, text: string): Promise<Record<string, unknown>> {
  for (;;) {
    const line = logLines(server).find((l) => String(l['msg']).includes(text))
    if (line !== undefined) return line
    if (server.process.exitCode !== null) throw new Error(`the server exited (${server.process.exitCode}) before logging '${text}'`)
    await sleep(20)
  }
}

function portOf(server: RunningServer): number {
  return Number(new URL(server.url).port)
}

interface RawAnswer {
  readonly status: number
  readonly body: unknown
}

/**
 * A request on its own connection whose body is held back: the headers and
 * the first bytes go out at once, the rest when `finish` is called.
 */
async function heldRequest(server: RunningServer, body: string): Promise<{ finish(): Promise<RawAnswer> }> {
  const socket = connect(portOf(server), '127.0.0.1')
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  let received = ''
  socket.setEncoding('utf8').on('data', (d: string) => (received += d))
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  socket.on('error', () => {})
  socket.write(`POST /hook HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body.slice(0, 10)}`)
  return {
    async finish() {
      socket.write(body.slice(10))
      await closed
      const [head = '', text = ''] = received.split('\r\n\r\n')
      return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), body: text === '' ? undefined : JSON.parse(text) }
    },
  }
}

/** Opens `count` connections that each send headers and then trickle a body, a byte at a time. */
async function flood(server: RunningServer, count: number): Promise<{ close(): void }> {
  const sockets: Socket[] = []
  const settled: Promise<void>[] = []
  for (let i = 0; i < count; i++) {
    const socket = connect(portOf(server), '127.0.0.1')
    socket.on('error', () => {})
    socket.on('data', () => {})
    settled.push(
      new Promise<void>((resolve) => {
        socket.once('connect', () => {
          socket.write('POST /hook HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n')
          resolve()
        })
        socket.once('close', () => resolve())
      }),
    )
    sockets.push(socket)
  }
  const trickle = setInterval(() => {
    for (const socket of sockets) if (socket.writable) socket.write(' ')
  }, 100)
  await Promise.all(settled)
  return {
    close() {
      clearInterval(trickle)
      for (const socket of sockets) socket.destroy()
    },
  }
}

/** Once the flood is gone, the server answers a fresh connection again (it may take it a moment to see the closes). */
async function answersAgain(server: RunningServer): Promise<number> {
  let last: unknown
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      return (await callStep(server, 'step_a')).status
    } catch (err) {
      last = err
      await sleep(20)
    }
  }
  throw last
}

describe.skipIf(!linux)('running out of file descriptors (ulimit -n 256)', () => {
  it('by default caps connections below the limit: extra connections are refused at accept, open ones finish, and it serves again', async () => {
    const server = await startServer({ stepsFile: STEPS, fileLimit: 256, env: { UPSTREAM: 'http://127.0.0.1:1', ...FIXTURE_ENV } })
    try {
      const held = await heldRequest(server, signedBody(payloadFor('step_a')))
      const connections = await flood(server, 300)
      const refused = await logged(server, 'MAX_CONNECTIONS reached')
      expect(refused).toMatchObject({ level: 40, max_connections: 96 })
      expect(server.process.exitCode).toBeNull()

      expect(await held.finish()).toEqual({ status: 200, body: { exit_code: 'success' } })
      connections.close()
      expect(await answersAgain(server)).toBe(200)
      // Rate-limited: some 200 refusals, a line or two.
      expect(logLines(server).filter((l) => l['msg'] === refused['msg']).length).toBeLessThan(5)
      expect(server.output().stdout).not.toContain('out of file descriptors')
      // (256 - 64) / 2, as the README says.
      expect(await logged(server, 'serving')).toMatchObject({ max_connections: 96, fd_limit: 256 })
    } finally {
      expect(await server.stop()).toBe(0)
    }
  })

  it('with MAX_CONNECTIONS above the limit, survives EMFILE: logs it, open requests finish, outbound calls and reloads fail cleanly, and it serves again', async () => {
    const upstream = await startUpstream()
    upstream.on('/slow', (_req, res) => json(res, 200, { reached: true }))
    const server = await startServer({ stepsFile: STEPS, fileLimit: 256, env: { MAX_CONNECTIONS: '100000', UPSTREAM: upstream.url, ...FIXTURE_ENV } })
    try {
      const staticStep = await heldRequest(server, signedBody(payloadFor('step_a')))
      const httpStep = await heldRequest(server, signedBody(payloadFor('slow_call')))
      const connections = await flood(server, 300)
      expect(await logged(server, 'out of file descriptors')).toMatchObject({ level: 40, code: 'EMFILE' })

      server.process.kill('SIGHUP')
      const reload = await logged(server, 'config reload failed')
      expect(JSON.stringify(reload['errors'])).toContain('EMFILE')
      expect(await staticStep.finish()).toEqual({ status: 200, body: { exit_code: 'success' } })
      expect(await httpStep.finish()).toMatchObject({
        status: 200,
        body: { exit_code: 'failure', data: { error: { code: 'upstream_failed', message: expect.stringContaining('step-runner is out of file descriptors (EMFILE)'), details: { reason: 'connect' } } } },
      })
      expect(upstream.seen('/slow')).toHaveLength(0)
      expect(server.process.exitCode).toBeNull()

      connections.close()
      expect(await answersAgain(server)).toBe(200)
      expect(await callStep(server, 'slow_call')).toMatchObject({ status: 200, body: { exit_code: 'success', data: { reached: true } } })
      expect(await logged(server, 'MAX_CONNECTIONS allows more connections than the descriptor limit')).toMatchObject({ level: 40, max_connections: 100000, fd_limit: 256 })
    } finally {
      expect(await server.stop()).toBe(0)
      await upstream.close()
    }
  })
})

describe('REQUEST_TIMEOUT_MS', () => {
  it('bounds the whole request: a body still trickling in at the deadline gets 408 and the connection is closed', async () => {
    const server = await startServer({ stepsFile: STEPS, env: { REQUEST_TIMEOUT_MS: '500', UPSTREAM: 'http://127.0.0.1:1', ...FIXTURE_ENV } })
    try {
      const socket = connect(portOf(server), '127.0.0.1')
      socket.on('error', () => {})
      let received = ''
      socket.setEncoding('utf8').on('data', (d: string) => (received += d))
      socket.write('POST /hook HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n{')
      // A byte every 50 ms: never silent long enough for CONNECTION_TIMEOUT_MS, never done.
      const trickle = setInterval(() => socket.writable && socket.write(' '), 50)
      // Far past the deadline, the connection must be gone.
      const closed = await Promise.race([new Promise((resolve) => socket.once('close', () => resolve(true))), sleep(5_000, false)])
      clearInterval(trickle)
      socket.destroy()
      expect(closed).toBe(true)
      expect(received).toMatch(/^HTTP\/1\.1 408 /)
      expect(received).toContain('{"error":"the request was not received in full within REQUEST_TIMEOUT_MS (500 ms)"}')
      expect(await logged(server, 'request timed out')).toMatchObject({ status: 408 })
      // One line for it, not a second one claiming a refused body.
      await linesWritten()
      expect(server.output().stdout).not.toContain('"msg":"request refused"')
    } finally {
      await server.stop()
    }
  })

  it('does not bound the time a step takes once the request is in', async () => {
    const upstream = await startUpstream()
    const answers: (() => void)[] = []
    upstream.on('/slow', (_req, res) => answers.push(() => json(res, 200, { late: true })))
    const server = await startServer({ stepsFile: STEPS, env: { REQUEST_TIMEOUT_MS: '200', UPSTREAM: upstream.url, ...FIXTURE_ENV } })
    try {
      const call = callStep(server, 'slow_call')
      while (answers.length === 0) await sleep(10)
      await sleep(800)
      answers.shift()!()
      expect(await call).toMatchObject({ status: 200, body: { exit_code: 'success', data: { late: true } } })
    } finally {
      await server.stop()
      await upstream.close()
    }
  })
})

describe.skipIf(!linux)('LISTEN_BACKLOG', () => {
  /** The accept queue's length of the listening socket: `ss` shows it as Send-Q. */
  function backlogOf(server: RunningServer): number {
    const line = execFileSync('ss', ['-ltnH', `sport = :${portOf(server)}`], { encoding: 'utf8' }).trim()
    return Number(line.split(/\s+/)[2])
  }
  const somaxconn = () => Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'))

  it.each([
    [undefined, 2048],
    ['300', 300],
  ])('LISTEN_BACKLOG=%s listens with a backlog of %i (or the kernel cap, when lower)', async (value, expected) => {
    const server = await startServer({ stepsFile: STEPS, env: { LISTEN_BACKLOG: value, UPSTREAM: 'http://127.0.0.1:1', ...FIXTURE_ENV } })
    try {
      expect(backlogOf(server)).toBe(Math.min(expected, somaxconn()))
    } finally {
      await server.stop()
    }
  })
})

describe('stopping under steady keep-alive load', () => {
  it('answers every request 200 or 503 with connection: close, resets none, and exits 0 within SHUTDOWN_TIMEOUT_MS + 1 s', async () => {
    const shutdownTimeoutMs = 2000
    const server = await startServer({ stepsFile: STEPS, env: { SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs), LOG_LEVEL: 'warn', UPSTREAM: 'http://127.0.0.1:1', ...FIXTURE_ENV }, port: await freePort() })
    // Each client holds one keep-alive connection and sends requests on it back to back.
    const clients = Array.from({ length: 16 }, () => new Client(server.url, { pipelining: 1 }))
    const body = signedBody(payloadFor('step_a'))
    const seen = { ok: 0, unavailable: 0, refused: 0, wrong: [] as string[] }
    const load = clients.map(async (client) => {
      for (;;) {
        try {
          const res = await client.request({ path: '/hook', method: 'POST', headers: { 'content-type': 'application/json' }, body })
          const text = await res.body.text()
          if (res.statusCode === 200) seen.ok++
          else if (res.statusCode === 503 && res.headers['connection'] === 'close') seen.unavailable++
          else seen.wrong.push(`${res.statusCode} connection: ${String(res.headers['connection'])} ${text}`)
        } catch (err) {
          // A new connection once the server stopped listening: refused, as it should be.
          const code = (err as NodeJS.ErrnoException).code
          if (code === 'ECONNREFUSED') seen.refused++
          else seen.wrong.push(`${code}: ${(err as Error).message}`)
          return
        }
      }
    })
    try {
      while (seen.ok < 2000 && seen.wrong.length === 0) await sleep(5)
      const exited = server.stop('SIGTERM')
      let timer: NodeJS.Timeout | undefined
      const bound = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still running'), shutdownTimeoutMs + 1000)))
      expect(await Promise.race([exited, bound])).toBe(0)
      clearTimeout(timer)
      await Promise.all(load)
      expect(seen.wrong).toEqual([])
      expect(seen.unavailable).toBeGreaterThan(0)
      expect(seen.refused).toBe(clients.length)
    } finally {
      await server.stop()
      await Promise.all(clients.map((c) => c.destroy()))
    }
  })
})
