import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
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
  return recording.serve(createServer(recording.listener), 'http')
}

/** Answers JSON. */
export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers }).end(text)
}
