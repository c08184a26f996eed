import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { callStep, freePort, MAIN, ROOT, startServer, TEST_KEY } from '../helpers/server.js'
import { sample } from '../helpers/logs.js'
import { tempDir } from '../helpers/temp.js'

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)

/** Sends `total` step requests, `concurrency` at a time; resolves with their statuses. */
async function flood(server: { url: string }, total: number, concurrency: number, requestId: (i: number) => string): Promise<number[]> {
  const statuses: number[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++
        statuses.push((await callStep(server, 'step_a', { context: { request_id: requestId(i) } })).status)
      }
    }),
  )
  return statuses
}

describe('logs are written asynchronously, through a bounded buffer', () => {
  it('writes every line on a normal stop, the last one "stopped", each line whole', async () => {
    const server = await startServer({ env: { LOG_LEVEL: 'info' } })
    const total = 400
    const statuses = await flood(server, total, 20, (i) => `mqr_stop_${i}`)
    expect(statuses.every((s) => s === 200)).toBe(true)
    // The signal comes right after the last answer: its line may still be in the buffer.
    expect(await server.stop('SIGTERM')).toBe(0)
    const lines = jsonLines(server.output().stdout)
    const ids = lines.filter((l) => l['msg'] === 'step answered').map((l) => l['request_id'])
    expect(new Set(ids).size).toBe(total)
    expect(ids).toHaveLength(total)
    expect(lines.at(-1)).toMatchObject({ msg: 'stopped' })
  })

  it('when stdout is not read, drops lines past LOG_BUFFER_BYTES, counts them, says so once it is read again, and answers every request meanwhile', async () => {
    const { child, server, exited } = await serverWithStdoutUnread()
    let stdout = ''
    try {
      // Lines of about 2 KB (a caller-chosen request id): 1,500 of them are far
      // more than the pipe and the 64 KiB buffer hold.
      const total = 1500
      const long = 'x'.repeat(2000)
      const statuses = await flood(server, total, 20, (i) => `mqr_flood_${i}_${long}`)
      expect(statuses.filter((s) => s !== 200)).toEqual([])

      const droppedSoFar = sample(await (await fetch(`${server.url}/metrics`)).text(), 'log_lines_dropped_total')
      expect(droppedSoFar).toBeGreaterThan(0)

      // The shipper reads again: what was kept comes out, then one line says how many were dropped.
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
      child.stdout.resume()
      const droppedLines = () => jsonLines(stdout).filter((l) => l['msg'] === 'log lines dropped: stdout was not read fast enough (LOG_BUFFER_BYTES full)')
      await expect.poll(() => droppedLines().length, { timeout: 10_000 }).toBeGreaterThan(0)
      const dropped = sample(await (await fetch(`${server.url}/metrics`)).text(), 'log_lines_dropped_total')
      await expect.poll(() => droppedLines().reduce((sum, l) => sum + (l['dropped'] as number), 0), { timeout: 10_000 }).toBe(dropped)
      expect(droppedLines()[0]).toMatchObject({ level: 40 })

      // Every request's line was either written, whole, or counted as dropped.
      const written = jsonLines(stdout).filter((l) => l['msg'] === 'step answered' && String(l['request_id']).startsWith('mqr_flood_'))
      expect(written.length + dropped).toBe(total)
      expect(written.length).toBeGreaterThan(0)

      child.kill('SIGTERM')
      expect(await exited).toBe(0)
      expect(jsonLines(stdout).at(-1)).toMatchObject({ msg: 'stopped' })
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
    }
  })

  it('when whatever read stdout goes away (EPIPE), goes on answering and stops cleanly', async () => {
    const { child, server, exited } = await serverWithStdoutUnread()
    try {
      child.stdout.destroy()
      const statuses = await flood(server, 200, 10, (i) => `mqr_epipe_${i}`)
      expect(statuses.filter((s) => s !== 200)).toEqual([])
      child.kill('SIGTERM')
      expect(await exited).toBe(0)
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
    }
  })
})

/**
 * The server with a stdout that nothing reads until the test says so (a log
 * shipper that stopped reading: the pipe fills up), and a 64 KiB log buffer.
 */
async function serverWithStdoutUnread() {
  const port = await freePort()
  const child = spawn(process.execPath, [MAIN], {
    cwd: tempDir('step-runner-logs-'),
    env: {
      PATH: process.env['PATH'],
      PORT: String(port),
      HOST: '127.0.0.1',
      STEPS_FILE: join(ROOT, 'steps.yaml'),
      SIGNATURE_KEY: TEST_KEY,
      LOG_LEVEL: 'info',
      LOG_BUFFER_BYTES: String(64 * 1024),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout.pause()
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
  const server = { url: `http://127.0.0.1:${port}` }
  for (;;) {
    try {
      if ((await fetch(`${server.url}/healthz`)).ok) break
    } catch {
      // not up yet
    }
    if (child.exitCode !== null) {
      child.kill('SIGKILL')
      throw new Error(`server exited: ${stderr}`)
    }
    await new Promise((r) => setTimeout(r, 20))
  }
  return { child, server, exited }
}
