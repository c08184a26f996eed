import { readFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import closeWithGrace from 'close-with-grace'
import { Agent } from 'undici'
import { formatDiagnostic } from './config/diagnostics.js'
import { checkSteps } from './config/check.js'
import { createVerifier } from './core/signature.js'
import { buildApp } from './server/app.js'
import { DEV_KEY_FILE, developmentKey } from './server/dev-key.js'
import { trackInFlight } from './server/in-flight.js'
import { readSettings } from './server/settings.js'
import { createUpstream } from './upstream/undici-upstream.js'

const BODY_LIMIT = 1024 * 1024

async function main(): Promise<number> {
  const read = readSettings(process.env)
  if (!read.ok) {
    for (const error of read.errors) process.stderr.write(`step-runner: ${error}\n`)
    return 1
  }
  const settings = read.settings

  // Exactly the checks of `npm run lint-steps`, printed the same way.
  const checked = await checkSteps(settings.stepsFile, { readFile: (p) => readFile(p, 'utf8'), env: process.env })
  for (const d of checked.diagnostics) process.stderr.write(formatDiagnostic(d) + '\n')
  if (!checked.ok || !checked.load.ok) {
    const count = checked.diagnostics.filter((d) => d.severity === 'error').length
    process.stderr.write(`step-runner: not started: ${count} error${count === 1 ? '' : 's'} in ${settings.stepsFile}\n`)
    return 1
  }
  const loaded = checked.load

  let keys = settings.signatureKeys
  let devKeyNote: string | undefined
  if (keys === undefined) {
    const dev = await developmentKey()
    keys = [dev.key]
    devKeyNote = `no SIGNATURE_KEY set: using the development key ${dev.key} (${dev.created ? 'new, ' : ''}saved in ${DEV_KEY_FILE}, where npm run send finds it). Set SIGNATURE_KEY to the orchestrator's key for real use.`
  }

  const registry = loaded.registry
  // One dispatcher for the life of the process: keep-alive connections are
  // shared by every step. It follows no redirects (no redirect interceptor).
  const dispatcher = new Agent({ keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000, connect: { timeout: 10_000 } })
  const shutdown = new AbortController()
  const app = buildApp({
    currentRegistry: () => registry,
    verify: createVerifier(keys),
    upstream: createUpstream({ dispatcher }),
    shutdownSignal: shutdown.signal,
    logger: { level: settings.logLevel },
    bodyLimit: BODY_LIMIT,
  })
  const inFlight = trackInFlight(app)
  if (devKeyNote !== undefined) app.log.warn(devKeyNote)

  // SIGTERM/SIGINT: stop accepting, let in-flight requests finish (their
  // outbound calls included) for up to SHUTDOWN_TIMEOUT_MS, then cancel what
  // is left, close the dispatcher and exit 0. A second signal exits at once.
  closeWithGrace(
    { delay: settings.shutdownTimeoutMs + 5_000, skip: ['SIGHUP'], logger: { error: (m: unknown) => app.log.error(m) } },
    async ({ signal, err }) => {
      if (err !== undefined) app.log.error({ err }, 'unexpected error: shutting down')
      app.log.info({ signal, in_flight: inFlight.count() }, 'shutting down')
      const closed = app.close()
      const finished = await Promise.race([inFlight.drained().then(() => true), sleep(settings.shutdownTimeoutMs, false)])
      if (!finished) {
        app.log.warn({ in_flight: inFlight.count() }, 'shutdown timeout: cancelling the requests still running')
        shutdown.abort(new Error('the server is shutting down'))
        await Promise.race([inFlight.drained(), sleep(1_000)])
      }
      // What is left are idle keep-alive connections, or ones that never sent a request.
      app.server.closeAllConnections()
      await closed
      await dispatcher.close()
      app.log.info('stopped')
    },
  )

  const url = await app.listen({ port: settings.port, host: settings.host })
  app.log.info({ url, steps: registry.steps.size, config: registry.hash, file: settings.stepsFile }, 'serving %d steps', registry.steps.size)
  return 0
}

main().then(
  (code) => {
    if (code !== 0) process.exit(code)
  },
  (err: unknown) => {
    process.stderr.write(`step-runner: failed to start: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(1)
  },
)
