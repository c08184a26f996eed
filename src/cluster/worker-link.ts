import cluster from 'node:cluster'
import { AggregatorRegistry, type Registry } from 'prom-client'
import { isMessage, type ToPrimary, type ToWorker, type WorkerStatus } from './messages.js'

/** A worker's side of the cluster: its part in /healthz and /metrics, and the primary's heartbeat. */
export interface ClusterLink {
  /** Every worker and the config it serves, as the primary last said. */
  workers(): readonly WorkerStatus[]
  /** The metrics of every worker, summed by the primary (prom-client's AggregatorRegistry). */
  metrics(): Promise<{ contentType: string; body: string }>
  /** Tells the primary which config this worker now serves. */
  configLoaded(hash: string, loadedAt: Date): void
}

const METRICS_TIMEOUT_MS = 5000

/**
 * Joins the cluster when this process is one of its workers (undefined
 * otherwise). Answers the primary's heartbeat from the event loop, so a
 * worker that stops answering is one whose loop is stuck. When the primary
 * goes away, the worker stops as on SIGTERM.
 */
export function joinCluster(registry: Registry | undefined): ClusterLink | undefined {
  if (!cluster.isWorker) return undefined
  // prom-client answers the primary's requests for the metrics of these
  // registries; its listener is installed by the constructor.
  if (registry !== undefined) {
    new AggregatorRegistry()
    AggregatorRegistry.setRegistries([registry])
  }
  const send = (message: ToPrimary) => {
    // With a callback, a failed send (the primary just died) is not an 'error' event that ends the worker.
    if (process.connected) process.send!(message, undefined, {}, () => {})
  }
  let workers: readonly WorkerStatus[] = []
  let nextId = 0
  const pending = new Map<number, (reply: ToWorker & { type: 'step-runner:metrics' }) => void>()

  process.on('message', (message: unknown) => {
    if (!isMessage<ToWorker>(message)) return
    if (message.type === 'step-runner:ping') send({ type: 'step-runner:pong' })
    else if (message.type === 'step-runner:workers') workers = message.workers
    else if (message.type === 'step-runner:metrics') {
      pending.get(message.id)?.(message)
      pending.delete(message.id)
    }
  })
  // The primary is gone (killed): nothing will replace or stop this worker, so it stops itself, draining as usual.
  process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'))

  return {
    workers: () => workers,
    configLoaded: (hash, loadedAt) => send({ type: 'step-runner:config', hash, loaded_at: loadedAt.toISOString() }),
    metrics() {
      const id = nextId++
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(new Error('the primary did not send the metrics in time'))
        }, METRICS_TIMEOUT_MS)
        pending.set(id, (reply) => {
          clearTimeout(timer)
          if (reply.ok) resolve({ contentType: reply.contentType, body: reply.body })
          else reject(new Error(reply.body))
        })
        send({ type: 'step-runner:metrics?', id })
      })
    },
  }
}
