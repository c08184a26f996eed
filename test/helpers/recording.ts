import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Handler, ReceivedRequest, TestUpstream } from './upstream.js'

/**
 * The request recording and per-path handlers of the test upstreams (plain
 * HTTP in upstream.ts, HTTPS in https-upstream.ts): hand `listener` to the
 * server and `track` its connections; `close` there destroys what `sockets` holds.
 */
export interface Recorder extends Pick<TestUpstream, 'requests' | 'seen' | 'on' | 'closedBy'> {
  readonly listener: (req: IncomingMessage, res: ServerResponse) => void
  readonly sockets: Set<Socket>
  track(socket: Socket): void
  /**
   * Listens on loopback with `server` (whose request listener is `listener`),
   * tracking its connections: the test upstream, with its port.
   */
  serve(server: Server, scheme: 'http' | 'https'): Promise<TestUpstream & { readonly port: number }>
}

export function recorder(): Recorder {
  const handlers = new Map<string, Handler>()
  const requests: ReceivedRequest[] = []
  const closeWaiters = new Map<string, (() => void)[]>()
  const sockets = new Set<Socket>()
  const pathOf = (url: string) => url.split('?')[0]!
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const path = pathOf(req.url ?? '/')
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), remotePort: req.socket.remotePort })
      const n = requests.filter((r) => pathOf(r.path) === path).length
      res.on('close', () => {
        if (!res.writableFinished) for (const resolve of closeWaiters.get(path)?.splice(0) ?? []) resolve()
      })
      const handler = handlers.get(path)
      if (handler === undefined) {
        // 599: no upstream answers it, so a test that forgot a handler fails visibly.
        res.writeHead(599, { 'content-type': 'text/plain' }).end(`no handler for ${path}`)
        return
      }
      handler(req, res, n)
    })
  }
  const self: Recorder = {
    listener,
    sockets,
    track(socket) {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
    },
    requests,
    seen: (path) => requests.filter((r) => pathOf(r.path) === path),
    on: (path, handler) => void handlers.set(path, handler),
    closedBy: (path) =>
      new Promise<void>((resolve) => {
        const list = closeWaiters.get(path) ?? []
        list.push(resolve)
        closeWaiters.set(path, list)
      }),
    async serve(server, scheme) {
      // Plain sockets too (for TLS, before the handshake): one that never finishes must not keep close() waiting.
      server.on('connection', (socket: Socket) => self.track(socket))
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      const { port } = server.address() as AddressInfo
      return {
        url: `${scheme}://127.0.0.1:${port}`,
        port,
        requests,
        seen: self.seen,
        on: self.on,
        closedBy: self.closedBy,
        close: () =>
          new Promise<void>((resolve) => {
            for (const socket of sockets) socket.destroy()
            server.close(() => resolve())
          }),
      }
    },
  }
  return self
}
