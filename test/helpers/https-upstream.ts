import { createServer, type Server } from 'node:https'
import type { TLSSocket } from 'node:tls'
import { recorder } from './recording.js'
import type { TestUpstream } from './upstream.js'

export interface HttpsUpstreamOptions {
  /** PEM text of the server certificate and its key (see makeCerts). */
  readonly cert: string
  readonly key: string
  /** PEM text of the CA that client certificates must be signed by. */
  readonly ca?: string
  /** Ask for a client certificate; with rejectUnauthorized (the default) one signed by `ca` is required. */
  readonly requestCert?: boolean
  readonly rejectUnauthorized?: boolean
}

/** One TLS connection that completed its handshake. */
export interface TlsConnection {
  /** The SNI the client sent; undefined when it sent none (as clients do for an IP address). */
  readonly servername: string | undefined
  /** The CN of the client certificate, if one was presented. */
  readonly clientCn: string | undefined
  /** Whether the client certificate verified against `ca`. */
  readonly authorized: boolean
}

/**
 * startUpstream over TLS: the same per-path handlers and recording, plus what
 * each connection's handshake said, to check SNI and client certificates.
 */
export interface TestHttpsUpstream extends TestUpstream {
  readonly port: number
  /** Handshakes that completed, in order. */
  readonly connections: TlsConnection[]
  /** Handshakes the server saw fail (an untrusted server cert aborted by the client, a missing client cert, ...). */
  readonly tlsErrors: Error[]
}

/** `url` is https://127.0.0.1:port; use https://localhost:port to verify by name. */
export async function startHttpsUpstream(options: HttpsUpstreamOptions): Promise<TestHttpsUpstream> {
  const rec = recorder()
  const connections: TlsConnection[] = []
  const tlsErrors: Error[] = []
  const server: Server = createServer(
    {
      cert: options.cert,
      key: options.key,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      requestCert: options.requestCert ?? false,
      rejectUnauthorized: options.rejectUnauthorized ?? true,
    },
    rec.listener,
  )
  server.on('secureConnection', (socket: TLSSocket) => {
    const peer = socket.getPeerCertificate()
    const servername = (socket as TLSSocket & { servername?: string | false }).servername
    connections.push({
      servername: typeof servername === 'string' ? servername : undefined,
      clientCn: [peer?.subject?.CN].flat()[0],
      authorized: socket.authorized,
    })
  })
  server.on('tlsClientError', (err) => tlsErrors.push(err))
  return { ...(await rec.serve(server, 'https')), connections, tlsErrors }
}
