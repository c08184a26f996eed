import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export interface ReceivedRequest {
  readonly method: string
  /** The path and query exactly as sent on the wire. */
  readonly path: string
  readonly headers: IncomingMessage['headers']
  readonly body: string
  /** The caller's port: the same port means the same (kept-alive) connection. */
  readonly remotePort: number | undefined
}

/** Answers the nth request (1-based) to a path. */
export type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void

/**
 * A real HTTP server on loopback for HTTP steps to call, programmable per
 * path, recording every request it saw.
 */
export interface TestUpstream {
  readonly url: string
  readonly requests: ReceivedRequest[]
  /** Requests seen on a path (without the query). */
  seen(path: string): ReceivedRequest[]
  on(path: string, handler: Handler): void
  /** Resolves when a request to the path has been closed by the client. */
  closedBy(path: string): Promise<void>
  close(): Promise<void>
}

export async function startUpstream(): Promise<TestUpstream> {
  const handlers = new Map<string, Handler>()
  const requests: ReceivedRequest[] = []
  const closeWaiters = new Map<string, (() => void)[]>()
  const sockets = new Set<Socket>()
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), remotePort: req.socket.remotePort })
      const n = requests.filter((r) => r.path.split('?')[0] === path).length
      res.on('close', () => {
        if (!res.writableFinished) for (const resolve of closeWaiters.get(path)?.splice(0) ?? []) resolve()
      })
      const handler = handlers.get(path)
      if (handler === undefined) {
        res.writeHead(599, { 'content-type': 'text/plain' }).end(`no handler for ${path}`)
        return
      }
      handler(req, res, n)
    })
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    seen: (path) => requests.filter((r) => r.path.split('?')[0] === path),
    on: (path, handler) => void handlers.set(path, handler),
    closedBy: (path) =>
      new Promise<void>((resolve) => {
        const list = closeWaiters.get(path) ?? []
        list.push(resolve)
        closeWaiters.set(path, list)
      }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}

/** Answers JSON. */
export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers }).end(text)
}
