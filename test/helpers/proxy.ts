import { createServer } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { createProxy } from 'proxy'

/**
 * A real HTTP proxy on loopback (the `proxy` package, as Squid would behave):
 * CONNECT tunnels, and forwarding of absolute-URI requests to http targets.
 * It records where each request wanted to go.
 */
export interface TestProxy {
  /** http://127.0.0.1:port, the value for `proxy:` or HTTP_PROXY. */
  readonly url: string
  /** The `host:port` of each CONNECT, in order. */
  readonly connects: string[]
  /** The absolute URL of each forwarded (non-CONNECT) request, in order. */
  readonly forwarded: string[]
  /**
   * How many requests went through the proxy to `host:port`, tunnelled or
   * forwarded: undici's ProxyAgent tunnels http targets too by default
   * (`proxyTunnel: true`), so a test should not care which way it went.
   */
  count(hostPort: string): number
  /**
   * Stops listening and destroys every client connection, tunnels included.
   * The proxy's own connections to targets end when those targets close
   * (the test servers destroy their sockets on close).
   */
  close(): Promise<void>
}

export async function startProxy(): Promise<TestProxy> {
  const connects: string[] = []
  const forwarded: string[] = []
  const sockets = new Set<Socket>()
  const server = createServer()
  // Listeners added before createProxy's run first: recorded even if the proxying fails.
  server.on('connect', (req) => connects.push(req.url ?? ''))
  server.on('request', (req) => forwarded.push(req.url ?? ''))
  createProxy(server)
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const hostPortOf = (url: string) => {
    try {
      return new URL(url).host
    } catch {
      return ''
    }
  }
  return {
    url: `http://127.0.0.1:${port}`,
    connects,
    forwarded,
    count: (hostPort) => connects.filter((c) => c === hostPort).length + forwarded.filter((f) => hostPortOf(f) === hostPort).length,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}
