import cluster, { type Worker } from 'node:cluster'
import pino from 'pino'
import { AggregatorRegistry } from 'prom-client'
import { isMessage, type ToPrimary, type ToWorker, type WorkerStatus } from './messages.js'

export interface PrimaryOptions {
  readonly workers: number
  readonly watchdogMs: number
  readonly shutdownTimeoutMs: number
  readonly logLevel: string
}

/** Sends to a worker unless it is gone; a failure (it died meanwhile) is ignored: its 'exit' follows. */
function send(worker: Worker, message: ToWorker): void {
  if (!worker.isConnected()) return
  worker.send(message, undefined, () => {})
}

/** A worker replaced this often within a minute is a crash loop: the primary gives up. */
const MAX_RESTARTS_PER_MINUTE = 5
/** Stragglers get this long past SHUTDOWN_TIMEOUT_MS before they are killed. */
const STRAGGLER_GRACE_MS = 5000

interface Tracked {
  readonly worker: Worker
  lastPong: number
  config: WorkerStatus['config']
}

/**
 * The primary of `WORKERS` > 1 (node's cluster): starts the workers, which
 * all listen on PORT and do the work; serves none itself. It passes SIGHUP
 * to every worker, drains them all on SIGTERM/SIGINT, replaces a worker that
 * dies (or whose event loop stops answering its heartbeat for WATCHDOG_MS),
 * gives up with status 1 on a crash loop, and sums the workers' metrics for
 * /metrics. Resolves with the process's exit status.
 */
export function runPrimary(options: PrimaryOptions): Promise<number> {
  const log = pino({ level: options.logLevel, base: { pid: process.pid, role: 'primary' } })
  const aggregator = new AggregatorRegistry()
  const tracked = new Map<number, Tracked>()
  const restarts: number[] = []
  let stopping: { status: number } | undefined
  let done!: (status: number) => void
  const finished = new Promise<number>((resolve) => (done = resolve))

  const statuses = (): WorkerStatus[] =>
    [...tracked.values()].map((t) => ({ pid: t.worker.process.pid!, ...(t.config !== undefined ? { config: t.config } : {}) }))
  const broadcast = () => {
    const message: ToWorker = { type: 'step-runner:workers', workers: statuses() }
    for (const t of tracked.values()) send(t.worker, message)
  }

  function fork(): void {
    const worker = cluster.fork()
    // A worker that dies can still look connected for a moment: a send then
    // fails (EPIPE), which must not take the primary down with it.
    worker.on('error', () => {})
    // The watchdog starts once the worker listens: loading a big config is not a stuck loop.
    tracked.set(worker.id, { worker, lastPong: Number.POSITIVE_INFINITY, config: undefined })
    worker.once('listening', () => {
      const t = tracked.get(worker.id)
      if (t !== undefined) t.lastPong = Date.now()
    })
    worker.on('message', (message: unknown) => {
      if (!isMessage<ToPrimary>(message)) return
      const t = tracked.get(worker.id)
      if (t === undefined) return
      if (message.type === 'step-runner:pong') t.lastPong = Date.now()
      else if (message.type === 'step-runner:config') {
        t.config = { hash: message.hash, loaded_at: message.loaded_at }
        broadcast()
      } else if (message.type === 'step-runner:metrics?') {
        aggregator.clusterMetrics().then(
          (body) => send(worker, { type: 'step-runner:metrics', id: message.id, ok: true, contentType: aggregator.contentType, body }),
          (err: Error) => send(worker, { type: 'step-runner:metrics', id: message.id, ok: false, contentType: '', body: err.message }),
        )
      }
    })
  }

  cluster.on('exit', (worker, code, signal) => {
    tracked.delete(worker.id)
    broadcast()
    if (stopping !== undefined) {
      if (tracked.size === 0) done(stopping.status)
      return
    }
    const now = Date.now()
    restarts.push(now)
    while (restarts.length > 0 && restarts[0]! < now - 60_000) restarts.shift()
    if (restarts.length > MAX_RESTARTS_PER_MINUTE) {
      log.fatal({ worker_pid: worker.process.pid, code, signal, restarts: restarts.length }, `workers keep dying (${restarts.length} in a minute): stopping, so that the container's orchestrator sees it`)
      stop(1)
      return
    }
    log.error({ worker_pid: worker.process.pid, code, signal }, 'a worker died: starting another')
    fork()
  })

  // The heartbeat: a worker whose event loop is stuck cannot answer it.
  const heartbeat = setInterval(() => {
    const now = Date.now()
    for (const t of tracked.values()) {
      if (!t.worker.isConnected()) continue
      // Not listening yet, or already killed.
      if (t.lastPong === Number.POSITIVE_INFINITY || t.lastPong === Number.NEGATIVE_INFINITY) continue
      if (now - t.lastPong > options.watchdogMs) {
        log.error({ worker_pid: t.worker.process.pid, watchdog_ms: options.watchdogMs }, `a worker did not answer for ${options.watchdogMs} ms (WATCHDOG_MS): killing it`)
        t.lastPong = Number.NEGATIVE_INFINITY
        t.worker.process.kill('SIGKILL')
        continue
      }
      send(t.worker, { type: 'step-runner:ping' })
    }
  }, Math.max(50, Math.floor(options.watchdogMs / 5)))

  function stop(status: number, signal: NodeJS.Signals = 'SIGTERM'): void {
    if (stopping !== undefined) return
    stopping = { status }
    clearInterval(heartbeat)
    if (tracked.size === 0) {
      done(status)
      return
    }
    for (const t of tracked.values()) t.worker.process.kill(signal)
    // Stragglers are killed; the exit status then says the stop was not clean.
    setTimeout(() => {
      if (tracked.size === 0) return
      log.error({ workers: statuses().map((s) => s.pid) }, `workers still running ${options.shutdownTimeoutMs + STRAGGLER_GRACE_MS} ms after the stop: killing them`)
      stopping = { status: 1 }
      for (const t of tracked.values()) t.worker.process.kill('SIGKILL')
    }, options.shutdownTimeoutMs + STRAGGLER_GRACE_MS).unref()
  }

  process.on('SIGHUP', () => {
    log.info({ workers: tracked.size }, 'SIGHUP: every worker reloads')
    for (const t of tracked.values()) t.worker.process.kill('SIGHUP')
  })
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping !== undefined) return
      log.info({ signal, workers: tracked.size }, 'shutting down: every worker drains')
      stop(0, signal)
    })
  }

  for (let i = 0; i < options.workers; i++) fork()
  log.info({ workers: options.workers, watchdog_ms: options.watchdogMs }, `started ${options.workers} workers`)
  return finished.then((status) => {
    log.info({ status }, 'stopped')
    return status
  })
}
