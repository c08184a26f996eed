import { readFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import closeWithGrace from 'close-with-grace'
import type { FastifyBaseLogger } from 'fastify'
import pino from 'pino'
import { Agent } from 'undici'
import { checkSteps } from './config/check.js'
import { formatDiagnostic } from './config/diagnostics.js'
import { createVerifier } from './core/signature.js'
import { buildAdminApp, buildApp } from './server/app.js'
import { DEV_KEY_FILE, developmentKey } from './server/dev-key.js'
import { createInFlight } from './server/in-flight.js'
import { createMetrics } from './server/metrics.js'
import { createRedactor } from './server/redact.js'
import { createReloader, type Reloader } from './server/reloader.js'
import { readSettings } from './server/settings.js'
import { watchFiles, type FileWatch } from './server/watch-files.js'
import { runStepTestsOf } from './step-tests/run-file.js'
import { createUpstream } from './upstream/undici-upstream.js'

const read = (path: string) => readFile(path, 'utf8')

async function main(): Promise<number> {
  // `--dev` (npm run dev): follow the files as they are saved, pretty logs.
  const dev = process.argv.includes('--dev')
  const parsed = readSettings(process.env)
  if (!parsed.ok) {
    for (const error of parsed.errors) process.stderr.write(`step-runner: ${error}\n`)
    return 1
  }
  const settings = parsed.settings

  // Exactly the checks of `npm run lint-steps`, printed the same way.
  const check = () => checkSteps(settings.stepsFile, { readFile: read, env: process.env })
  const checked = await check()
  for (const d of checked.diagnostics) process.stderr.write(formatDiagnostic(d) + '\n')
  if (!checked.ok || !checked.load.ok) {
    const count = checked.diagnostics.filter((d) => d.severity === 'error').length
    process.stderr.write(`step-runner: not started: ${count} error${count === 1 ? '' : 's'} in ${settings.stepsFile}\n`)
    return 1
  }
  const initial = { ...checked, load: checked.load }

  let keys = settings.signatureKeys
  if (keys === undefined) {
    const devKey = await developmentKey()
    keys = [devKey.key]
    // Shown once, here: the logs redact every signature key, this one too.
    process.stderr.write(
      `step-runner: no SIGNATURE_KEY set: using the development key ${devKey.key} (${devKey.created ? 'new, ' : ''}saved in ${DEV_KEY_FILE}, where npm run send finds it). Set SIGNATURE_KEY to the orchestrator's key for real use.\n`,
    )
  }
  const redactor = createRedactor(keys)
  redactor.setConfigSecrets(initial.load.registry.secretValues)
  const metrics = createMetrics(settings.metrics)
  let ready = false

  // One dispatcher for the life of the process, across reloads: keep-alive
  // connections are shared by every step. It follows no redirects.
  const dispatcher = new Agent({ keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000, connect: { timeout: 10_000 } })
  const shutdown = new AbortController()
  // The app reads the config through the reloader, and the reloader logs
  // through the app: the app is built first and looks the reloader up late.
  let reloader: Reloader | undefined
  const inFlight = createInFlight()
  const app = buildApp({
    inFlight,
    config: { current: () => reloader!.current(), lastReload: () => reloader!.lastReload() },
    verify: createVerifier(keys),
    upstream: createUpstream({ dispatcher, onAttempt: (step, { outcome, seconds }) => metrics.upstreamAttempt(step, outcome, seconds) }),
    shutdownSignal: shutdown.signal,
    metrics,
    overload: settings.overload,
    limits: settings,
    ready: () => ready,
    admin: settings.admin !== undefined,
    logger: {
      level: settings.logLevel,
      // Node attaches the raw bytes of a malformed request to its error
      // (rawPacket): body, signature and headers, as a byte array that no
      // text redactor would recognise. Never logged.
      serializers: { err: errorWithoutPacket },
      // Secrets never reach a log line: matched by value and by shape in the
      // finished line, wherever they turn up (a field, a message, an error).
      hooks: { streamWrite: (line: string) => redactor.apply(line) },
      // Pretty lines keep the pid (`INFO (4242):`): it is where `kill -HUP` goes.
      ...(dev ? { transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'hostname' } } } : {}),
    },
  })

  let watch: FileWatch | undefined
  reloader = createReloader(initial, check, app.log, (ok) => {
    metrics.reloaded(ok)
    redactor.setConfigSecrets(reloader!.current().secretValues)
    watch?.update(reloader!.files())
    if (dev) void reportStepTests(settings.stepsFile, app.log)
  })
  if (dev) watch = watchFiles(reloader.files(), () => void reloader!.reload('file change'))
  // SIGHUP reloads in every mode; close-with-grace is told to leave it alone.
  process.on('SIGHUP', () => void reloader!.reload('SIGHUP'))

  // SIGTERM/SIGINT: stop accepting, let in-flight requests finish (their
  // outbound calls included) for up to SHUTDOWN_TIMEOUT_MS, then cancel what
  // is left, close the dispatcher and exit 0. A second signal exits at once.
  closeWithGrace(
    { delay: settings.shutdownTimeoutMs + 5_000, skip: ['SIGHUP'], logger: { error: (m: unknown) => app.log.error(m) } },
    async ({ signal, err }) => {
      if (err !== undefined) app.log.error({ err }, 'unexpected error: shutting down')
      ready = false
      app.log.info({ signal, in_flight: inFlight.count() }, 'shutting down')
      watch?.close()
      // Stops listening; fastify answers 503 to requests still arriving on
      // open connections. Idle keep-alive connections are closed as they
      // appear, so only in-flight requests hold the shutdown. Once none has
      // been in flight for two looks in a row, what is left are connections
      // with no request at all (Node does not count those as idle): close them.
      let closedFully = false
      const closed = app.close().then(() => (closedFully = true))
      const deadline = Date.now() + settings.shutdownTimeoutMs
      let quiet = 0
      while (!closedFully && Date.now() < deadline) {
        quiet = inFlight.count() === 0 ? quiet + 1 : 0
        if (quiet >= 2) app.server.closeAllConnections()
        else app.server.closeIdleConnections()
        await Promise.race([closed, sleep(50)])
      }
      if (!closedFully) {
        app.log.warn({ in_flight: inFlight.count() }, 'shutdown timeout: cancelling the requests still running')
        shutdown.abort(new Error('the server is shutting down'))
        await Promise.race([inFlight.drained(), sleep(1_000)])
        app.server.closeAllConnections()
        await closed
      }
      await admin?.close()
      await dispatcher.close()
      app.log.info('stopped')
    },
  )

  const admin = settings.admin === undefined ? undefined : buildAdminApp({ config: { current: () => reloader!.current(), lastReload: () => reloader!.lastReload() }, metrics, ready: () => ready }, app.log)
  const adminUrl = admin === undefined ? undefined : await admin.listen({ port: settings.admin!.port, host: settings.admin!.host })
  const url = await app.listen({ port: settings.port, host: settings.host })
  ready = true
  const registry = reloader.current()
  app.log.info(
    { url, ...(adminUrl === undefined ? {} : { admin_url: adminUrl }), steps: registry.steps.size, config: registry.hash, file: settings.stepsFile, watching: dev },
    `serving ${registry.steps.size} steps from ${settings.stepsFile}${dev ? ', reloading on save' : ''}`,
  )
  if (dev) void reportStepTests(settings.stepsFile, app.log)
  return 0
}

function errorWithoutPacket(err: Error): pino.SerializedError {
  const serialized = pino.stdSerializers.err(err)
  delete serialized['rawPacket']
  return serialized
}

/** In development, the step tests run after each load, so a save shows what it broke. */
async function reportStepTests(stepsFile: string, log: FastifyBaseLogger): Promise<void> {
  const run = await runStepTestsOf(stepsFile, read)
  if (run.kind === 'absent') return
  if (run.kind === 'invalid') {
    log.warn({ errors: run.diagnostics.map(formatDiagnostic) }, 'step tests not run: the files have errors')
    return
  }
  const failed = run.reports.filter((r) => !r.passed)
  const summary = `step tests: ${run.reports.length - failed.length} passed, ${failed.length} failed`
  if (failed.length === 0) log.info(summary)
  else log.warn({ failed: failed.map((r) => ({ name: r.name, step: r.step, problems: r.problems })) }, summary)
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
