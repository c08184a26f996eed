import type { Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { defaultMaxConnections, descriptorLimit, isOutOfDescriptors, RESERVED_DESCRIPTORS } from './descriptors.js'
import type { Settings } from './settings.js'

/** Refused connections are logged at most once per this many ms, with how many there were. */
export const REFUSAL_LOG_INTERVAL_MS = 10_000

export interface Listening {
  readonly url: string
  /** The open connections, for a shutdown to close them one by one. */
  readonly connections: ReadonlySet<Socket>
  readonly maxConnections: number
  readonly descriptorLimit: number
  /** Reports running out of descriptors elsewhere in the process (logged with the accept errors). */
  readonly outOfDescriptors: (code: string) => void
}

/**
 * Listens with the connection limits and keeps running when connections
 * must be refused: past MAX_CONNECTIONS they are closed at accept, and when
 * the process is out of file descriptors libuv closes the waiting
 * connections until descriptors free up. Neither is fatal; both are logged at
 * warn, at most once per REFUSAL_LOG_INTERVAL_MS.
 */
export async function listen(
  app: FastifyInstance,
  settings: Pick<Settings, 'port' | 'host' | 'maxConnections' | 'listenBacklog'>,
): Promise<Listening> {
  const server = app.server
  const limit = descriptorLimit()
  const maxConnections = settings.maxConnections ?? defaultMaxConnections(limit)
  // 0 leaves Node's default: no cap.
  if (maxConnections > 0) server.maxConnections = maxConnections
  const context = { max_connections: maxConnections, fd_limit: limit }
  if (maxConnections === 0 || maxConnections > limit - RESERVED_DESCRIPTORS) {
    app.log.warn(context, 'MAX_CONNECTIONS allows more connections than the descriptor limit: past it, new connections are closed as they arrive')
  }

  const connections = new Set<Socket>()
  server.on('connection', (socket: Socket) => {
    connections.add(socket)
    socket.once('close', () => connections.delete(socket))
  })
  const dropped = everyInterval(REFUSAL_LOG_INTERVAL_MS, (count) =>
    app.log.warn({ ...context, refused: count }, 'MAX_CONNECTIONS reached: refusing new connections'),
  )
  server.on('drop', () => dropped())
  // Node answers 408 (through fastify's clientError handler) and closes the
  // connection; the request never reaches a route, so it is logged here.
  server.on('clientError', (err: NodeJS.ErrnoException) => {
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') app.log.info({ status: 408, error: err.code }, 'request timed out')
  })

  const url = await app.listen({ port: settings.port, host: settings.host, backlog: settings.listenBacklog })
  const outOfDescriptors = everyInterval(REFUSAL_LOG_INTERVAL_MS, (count, code) =>
    app.log.warn(
      { ...context, code, count },
      'out of file descriptors: new connections are closed as they arrive until some are freed (lower MAX_CONNECTIONS or raise ulimit -n)',
    ),
  )
  const cannotAccept = everyInterval(REFUSAL_LOG_INTERVAL_MS, (count, code) => app.log.error({ ...context, code, count }, 'cannot accept connections'))
  // The listening server emits 'error' when accepting fails, and with no
  // listener that ends the process; it goes on listening, so these are logged
  // and never thrown. Added after listening: until then fastify's own
  // listener reports a failure to listen.
  server.on('error', (err: NodeJS.ErrnoException) => {
    if (err.syscall !== 'accept') throw err
    if (isOutOfDescriptors(err)) outOfDescriptors(err.code)
    else cannotAccept(err.code)
  })
  return { url, connections, maxConnections, descriptorLimit: limit, outOfDescriptors }
}

/**
 * Calls `write` for the first event at once, then at most once per interval
 * with the count of events since the last call (and the latest code).
 */
function everyInterval(intervalMs: number, write: (count: number, code: string | undefined) => void) {
  let count = 0
  let code: string | undefined
  let timer: NodeJS.Timeout | undefined
  const flush = () => {
    timer = undefined
    if (count === 0) return
    write(count, code)
    count = 0
    timer = setTimeout(flush, intervalMs).unref()
  }
  return (latest?: string) => {
    count++
    code = latest
    if (timer === undefined) flush()
  }
}
