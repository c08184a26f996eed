import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** A span as the OTLP/HTTP JSON encoding carries it, flattened with its attributes. */
export interface ReceivedSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string
  readonly name: string
  /** 1 internal, 2 server, 3 client, ... */
  readonly kind: number
  readonly attributes: Record<string, unknown>
  readonly service: string | undefined
}

export interface OtlpReceiver {
  readonly url: string
  readonly spans: ReceivedSpan[]
  close(): Promise<void>
}

const value = (v: Record<string, unknown>): unknown => v['stringValue'] ?? (v['intValue'] !== undefined ? Number(v['intValue']) : undefined) ?? v['boolValue'] ?? v['doubleValue']

/**
 * A real OTLP/HTTP receiver on loopback, for exporters set to
 * OTEL_EXPORTER_OTLP_PROTOCOL=http/json: POST /v1/traces with an
 * ExportTraceServiceRequest, answered 200 with an empty partial success.
 */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = []
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (req.url !== '/v1/traces') {
        res.writeHead(404).end()
        return
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { resourceSpans?: { resource?: { attributes?: { key: string; value: Record<string, unknown> }[] }; scopeSpans?: { spans?: Record<string, unknown>[] }[] }[] }
      for (const rs of body.resourceSpans ?? []) {
        const service = rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value['stringValue'] as string | undefined
        for (const ss of rs.scopeSpans ?? []) {
          for (const span of ss.spans ?? []) {
            const attributes = Object.fromEntries(((span['attributes'] as { key: string; value: Record<string, unknown> }[]) ?? []).map((a) => [a.key, value(a.value)]))
            spans.push({
              traceId: String(span['traceId']),
              spanId: String(span['spanId']),
              parentSpanId: String(span['parentSpanId'] ?? ''),
              name: String(span['name']),
              kind: Number(span['kind']),
              attributes,
              service,
            })
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}
