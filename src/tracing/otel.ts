import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici'
import { NodeSDK } from '@opentelemetry/sdk-node'
import type { Tracing } from './index.js'

/**
 * The OpenTelemetry SDK for Node, configured by the standard variables
 * (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL,
 * OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER, ...). Traces only: metrics are
 * prom-client's (/metrics) and logs go to stdout, so the SDK's own metrics
 * and logs exporters stay off unless those variables say otherwise.
 */
export function startOpenTelemetry(version: string): Tracing {
  process.env['OTEL_METRICS_EXPORTER'] ??= 'none'
  process.env['OTEL_LOGS_EXPORTER'] ??= 'none'
  process.env['OTEL_SERVICE_NAME'] ??= 'step-runner'
  const sdk = new NodeSDK({
    // Outbound calls: a CLIENT span per attempt, and `traceparent` sent upstream.
    instrumentations: [new UndiciInstrumentation()],
  })
  sdk.start()
  const tracer = trace.getTracer('step-runner', version)

  return {
    hook(headers, run) {
      const parent = propagation.extract(context.active(), headers)
      return tracer.startActiveSpan('POST /hook', { kind: SpanKind.SERVER, attributes: { 'http.request.method': 'POST', 'http.route': '/hook' } }, parent, async (span) => {
        try {
          return await run((a) => {
            span.setAttributes({
              ...(a.stepName !== undefined ? { 'step_runner.step_name': a.stepName } : {}),
              ...(a.flowId !== undefined ? { 'step_runner.flow_id': a.flowId } : {}),
              ...(a.requestId !== undefined ? { 'step_runner.request_id': a.requestId } : {}),
              ...(a.exitCode !== undefined ? { 'step_runner.exit_code': a.exitCode } : {}),
              'http.response.status_code': a.status,
            })
            if (a.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR })
          })
        } catch (err) {
          span.recordException(err as Error)
          span.setStatus({ code: SpanStatusCode.ERROR })
          throw err
        } finally {
          span.end()
        }
      })
    },
    logFields() {
      const span = trace.getActiveSpan()
      if (span === undefined) return {}
      const { traceId, spanId } = span.spanContext()
      return { trace_id: traceId, span_id: spanId }
    },
    shutdown: () => sdk.shutdown().catch(() => {}),
  }
}
