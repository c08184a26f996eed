import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { callStep, freePort, startServer, type RunningServer } from '../helpers/server.js'
import { eventually as poll } from '../helpers/wait.js'

import { metricSample } from '../helpers/logs.js'

/** Polls, trying a failed probe again: a connection handed to a worker that is then killed is reset. */
const eventually = <T,>(probe: () => Promise<T>, ok: (value: T) => boolean) => poll(probe, ok, { retryErrors: true })

interface Health {
  config: { hash: string; loaded_at: string }
  workers?: { pid: number; config?: { hash: string; loaded_at: string } }[]
}

const health = async (server: RunningServer): Promise<Health> => (await (await fetch(`${server.url}/healthz`)).json()) as Health

/** The workers' pids once all `count` serve a config. */
const serving = (server: RunningServer, count: number) =>
  eventually(() => health(server), (h) => h.workers?.length === count && h.workers.every((w) => w.config !== undefined))

describe('WORKERS=2: a primary and two workers on one port', () => {
  let server: RunningServer

  beforeAll(async () => {
    // The port is given: every worker listens on it (a port 0 would be each worker's own).
    server = await startServer({ port: await freePort(), env: { WORKERS: '2', WATCHDOG_MS: '600', LOG_LEVEL: 'info' } })
  })
  afterAll(async () => {
    await server?.stop()
  })

  it('serves from both workers; /healthz lists each with the config it serves', async () => {
    const h = await serving(server, 2)
    expect(new Set(h.workers!.map((w) => w.pid)).size).toBe(2)
    for (const worker of h.workers!) expect(worker.config!.hash).toBe(h.config.hash)
    expect(h.workers!.map((w) => w.pid)).not.toContain(server.process.pid)
    // Both answer: each logs the requests it served.
    await eventually(
      async () => {
        await Promise.all(Array.from({ length: 20 }, () => callStep(server, 'step_a')))
        return new Set([...server.output().stdout.matchAll(/"pid":(\d+)[^\n]*"step answered"/g)].map((m) => Number(m[1])))
      },
      (pids) => pids.size === 2,
    )
  })

  it('/metrics sums every worker: no per-worker labels', async () => {
    const before = await metricSample(server, 'step_runs_total{step="step_c",exit_code="success"}')
    await Promise.all(Array.from({ length: 10 }, () => callStep(server, 'step_c')))
    expect(await metricSample(server, 'step_runs_total{step="step_c",exit_code="success"}')).toBe(before + 10)
    expect(await (await fetch(`${server.url}/metrics`)).text()).not.toMatch(/worker|pid="/)
  })

  it('SIGHUP to the primary reloads every worker', async () => {
    const before = await serving(server, 2)
    server.process.kill('SIGHUP')
    const after = await eventually(
      () => health(server),
      (h) => h.workers?.length === 2 && h.workers.every((w) => w.config !== undefined && w.config.loaded_at > before.workers!.find((b) => b.pid === w.pid)!.config!.loaded_at),
    )
    expect(after.workers!.map((w) => w.pid).sort()).toEqual(before.workers!.map((w) => w.pid).sort())
  })

  it('replaces a worker that dies', async () => {
    const before = await serving(server, 2)
    const victim = before.workers![0]!.pid
    process.kill(victim, 'SIGKILL')
    const after = await eventually(() => serving(server, 2), (h) => !h.workers!.some((w) => w.pid === victim))
    expect(after.workers!.map((w) => w.pid)).toContain(before.workers![1]!.pid)
    expect((await callStep(server, 'step_a')).status).toBe(200)
  })

  it('kills and replaces a worker whose event loop stops answering for WATCHDOG_MS', async () => {
    const before = await serving(server, 2)
    const frozen = before.workers![0]!.pid
    // Stopped, it can answer neither requests nor the heartbeat: as frozen as a worker gets.
    process.kill(frozen, 'SIGSTOP')
    const after = await eventually(() => serving(server, 2), (h) => !h.workers!.some((w) => w.pid === frozen))
    expect(after.workers).toHaveLength(2)
    await eventually(async () => server.output().stdout, (out) => out.includes('(WATCHDOG_MS): killing it'))
  })

  it('on SIGTERM, every worker drains and the primary exits 0', async () => {
    const { workers } = await serving(server, 2)
    const stopped = await server.stop('SIGTERM')
    expect(stopped).toBe(0)
    const out = server.output().stdout
    for (const worker of workers!) expect(out).toMatch(new RegExp(`"pid":${worker.pid},[^\\n]*"msg":"stopped"`))
    expect(out).toMatch(new RegExp(`"pid":${server.process.pid},"role":"primary","status":0,"msg":"stopped"`))
  })
})

describe('WORKERS: a crash loop', () => {
  it('stops the primary with status 1 when workers keep dying', async () => {
    const server = await startServer({ port: await freePort(), env: { WORKERS: '2', LOG_LEVEL: 'info' } })
    const killed = new Set<number>()
    try {
      // Kill every worker as soon as it serves, until the primary gives up.
      for (;;) {
        if (server.process.exitCode !== null) break
        const h = await health(server).catch(() => undefined)
        for (const worker of h?.workers ?? []) {
          if (killed.has(worker.pid)) continue
          killed.add(worker.pid)
          try {
            process.kill(worker.pid, 'SIGKILL')
          } catch {
            // already gone
          }
        }
        await new Promise((r) => setTimeout(r, 20))
      }
      expect(await server.stop()).toBe(1)
      expect(server.output().stdout, server.output().stderr).toContain('workers keep dying')
      expect(killed.size).toBeGreaterThan(5)
    } finally {
      await server.stop('SIGKILL')
    }
  })
})
