import type { ServerResponse } from 'node:http'
import { Server as NetServer, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { InFlight } from './in-flight.js'

/** After the signal, a connection is closed once it has received and answered nothing for this long. */
export const IDLE_GRACE_MS = 500
/** Past the deadline, how long the cancelled requests get to answer before every connection is closed. */
export const CANCELLED_ANSWER_MS = 500
const TICK_MS = 50

export interface StopOptions {
  readonly app: FastifyInstance
  /** Every open connection of the app's server. */
  readonly connections: ReadonlySet<Socket>
  readonly inFlight: InFlight
  /** SHUTDOWN_TIMEOUT_MS */
  readonly timeoutMs: number
  /** Cancels the outbound calls still running: their steps answer upstream_failed, reason cancelled. */
  readonly cancel: () => void
  readonly log: FastifyBaseLogger
}

/**
 * Stops serving without losing a request, and resolves once every
 * connection is closed:
 * - stop listening, but leave the open connections alone: closing an idle
 *   keep-alive connection races with a request its client has already sent
 *   on it, which then meets a reset;
 * - a request arriving on an open connection is answered 503 with
 *   `connection: close` (fastify's return503OnClosing), and Node closes that
 *   connection once the answer is out;
 * - requests in flight finish;
 * - a connection is closed once it has stayed idle for IDLE_GRACE_MS after
 *   the signal (a client under load sends its next request long before);
 * - at the deadline the outbound calls still running are cancelled, their
 *   answers get CANCELLED_ANSWER_MS, and every connection left is closed.
 */
export async function stopServing(options: StopOptions): Promise<void> {
  const { app, connections, inFlight } = options
  const server = app.server
  // Node's http close() first closes every idle connection at once; net's
  // close() only stops listening (and calls back once all connections are closed).
  server.close = (callback?: (err?: Error) => void) => NetServer.prototype.close.call(server, callback) as typeof server
  let closed = false
  const allClosed = app.close().then(() => void (closed = true))

  const deadline = Date.now() + options.timeoutMs
  const lastActive = new WeakMap<Socket, { at: number; bytesRead: number }>()
  for (let now = Date.now(); !closed && now < deadline; now = Date.now()) {
    for (const socket of connections) {
      const seen = lastActive.get(socket)
      if (seen === undefined || answering(socket) || socket.bytesRead !== seen.bytesRead) lastActive.set(socket, { at: now, bytesRead: socket.bytesRead })
      else if (now - seen.at >= IDLE_GRACE_MS) socket.destroy()
    }
    await Promise.race([allClosed, sleep(Math.min(TICK_MS, deadline - now))])
  }
  if (closed) return

  options.log.warn({ in_flight: inFlight.count() }, 'shutdown timeout: cancelling the requests still running')
  options.cancel()
  await Promise.race([inFlight.drained(), sleep(CANCELLED_ANSWER_MS)])
  for (const socket of connections) socket.destroy()
  await allClosed
}

/**
 * Whether a response is under way on the connection: the check Node's own
 * closeIdleConnections() makes, on the response it keeps on the socket.
 */
function answering(socket: Socket): boolean {
  const response = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage
  return response != null && !response.writableEnded
}
