import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { recorder } from './recording.js'

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
  const recording = recorder()
  const server: Server = createServer(recording.listener)
  server.on('connection', (socket) => recording.track(socket))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests: recording.requests,
    seen: recording.seen,
    on: recording.on,
    closedBy: recording.closedBy,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of recording.sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}

/** Answers JSON. */
export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers }).end(text)
}
