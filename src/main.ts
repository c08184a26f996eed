import { readFile } from 'node:fs/promises'
import closeWithGrace from 'close-with-grace'
import type { FastifyBaseLogger } from 'fastify'
import pino from 'pino'
import { checkSteps } from './config/check.js'
import { formatDiagnostic } from './config/diagnostics.js'
import { createVerifier } from './core/signature.js'
import { closeEvaluatorPool } from './engine/index.js'
import { buildAdminApp, buildApp } from './server/app.js'
import { DEV_KEY_FILE, developmentKey } from './server/dev-key.js'
import { listen, type Listening } from './server/connections.js'
import { memoryUsageSurvivesEmfile } from './server/descriptors.js'
import { createInFlight } from './server/in-flight.js'
import { createLogOutput } from './server/log-output.js'
import { createMetrics } from './server/metrics.js'
import { createRedactor } from './server/redact.js'
import { createReloader, type Reloader } from './server/reloader.js'
import { readSettings } from './server/settings.js'
import { stopServing } from './server/shutdown.js'
import { watchFiles, type FileWatch } from './server/watch-files.js'
import { runStepTestsOf } from './step-tests/run-file.js'
import { packageVersion } from './package-files.js'
import { createDefaultDispatcher, createPools } from './upstream/pools.js'
import { createUpstream } from './upstream/undici-upstream.js'
import { createMemoryReplayStore } from './replay/memory.js'
import cluster from 'node:cluster'
import { runPrimary } from './cluster/primary.js'
import { joinCluster } from './cluster/worker-link.js'
import { startTracing } from './tracing/index.js'
import { createRunStore } from './server/dev-runs.js'
import { createDevEvents, devConsoleRoutes, statusOf } from './server/dev-console.js'

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
    const problems = `${count} error${count === 1 ? '' : 's'} in ${settings.stepsFile}`
    // npm start refuses a broken config; npm run dev keeps running, so that
    // the edit loop goes on: /hook answers 503 until a save fixes it.
    if (!dev) {
      process.stderr.write(`step-runner: not started: ${problems}\n`)
      return 1
    }
    process.stderr.write(`step-runner: serving no steps until ${settings.stepsFile} is fixed (${problems}): /hook answers 503 meanwhile\n`)
  }
  const initial = checked

  let keys = settings.signatureKeys
  if (keys === undefined) {
    const devKey = await developmentKey()
    keys = [devKey.key]
    // Shown once, here: the logs redact every signature key, this one too.
    process.stderr.write(
      `step-runner: no SIGNATURE_KEY set: using the development key ${devKey.key} (${devKey.created ? 'new, ' : ''}saved in ${DEV_KEY_FILE}, where npm run send finds it). Set SIGNATURE_KEY to the orchestrator's key for real use.\n`,
    )
  }
  // WORKERS > 1: this process is the primary, and the workers (forked from
  // this same script) serve. The config was checked first, so that a broken
  // file stops the start here, once, rather than in every worker. --dev keeps
  // one process: its watcher and its step-test reports are one developer's.
  if (cluster.isPrimary && settings.workers > 1) {
    if (dev) process.stderr.write(`step-runner: WORKERS=${settings.workers} is ignored with --dev: one process serves\n`)
    else {
      // A development key is made once, here, and handed to the workers;
      // SIGNATURE_KEY or SIGNATURE_KEY_FILE they read as this process did.
      if (settings.signatureKeys === undefined) process.env['SIGNATURE_KEY'] = keys.join(',')
      return runPrimary({ workers: settings.workers, watchdogMs: settings.watchdogMs, shutdownTimeoutMs: settings.shutdownTimeoutMs, logLevel: settings.logLevel })
    }
  }
  // OpenTelemetry only when the environment asks for it: otherwise not even loaded.
  const tracing = await startTracing(process.env, packageVersion)
  const redactor = createRedactor(keys)
  redactor.setConfigSecrets(initial.load.ok ? initial.load.registry.secretValues : [])
  const metrics = createMetrics(settings.metrics)
  const link = joinCluster(metrics.registry)
  let ready = false

  // Outside --dev, log lines go to stdout through a bounded buffer, written
  // asynchronously (see log-output.ts); --dev keeps pino-pretty's transport.
  const logs = dev
    ? undefined
    : createLogOutput({
        bufferBytes: settings.logBufferBytes,
        onDrop: () => metrics.logLineDropped(),
        onCaughtUp: (dropped) => app.log.warn({ dropped }, 'log lines dropped: stdout was not read fast enough (LOG_BUFFER_BYTES full)'),
      })

  // npm run dev: the runs' traces, and the events the console follows live.
  const devEvents = dev ? createDevEvents() : undefined
  const runs = devEvents === undefined
    ? undefined
    : createRunStore(200, 32 * 1024 * 1024, (trace) =>
        devEvents.emit('run', {
          request_id: trace.request_id,
          step: trace.step,
          exit_code: (trace.answer as { exit_code?: string }).exit_code,
          duration_ms: trace.duration_ms,
          started_at: trace.started_at,
          ...(trace.data_schema_errors !== undefined ? { data_schema_errors: trace.data_schema_errors } : {}),
        }),
      )

  // One dispatcher for the life of the process, across reloads: keep-alive
  // connections are shared by every step without a named upstream. It
  // follows no redirects, and honours HTTPS_PROXY / HTTP_PROXY / NO_PROXY.
  const dispatcher = createDefaultDispatcher()
  // Each named upstream has a pool of its own (TLS, proxy, max_concurrency)
  // and, with OAuth2, a token shared by every call; both outlive reloads that
  // leave them unchanged.
  const pools = createPools({
    userAgent: `step-runner/${packageVersion}`,
    onTokenRequest: (upstream, ok) => metrics.tokenRequest(upstream, ok),
    onQueue: (upstream, waiting) => metrics.upstreamQueue(upstream, waiting),
  })
  // The replay cache: the same payload, as signed, answers once within REPLAY_TTL_S.
  // In memory by default (per process); on Redis, shared by every worker and
  // replica, failing open when Redis is down or slow.
  const replay =
    settings.replayTtlMs === 0
      ? undefined
      : settings.redisUrl !== undefined
        ? // The Redis client is loaded only when used: it takes about 0.2 s to import.
          (await import('./replay/redis.js')).createRedisReplayStore({
            url: settings.redisUrl,
            ttlMs: settings.replayTtlMs,
            timeoutMs: settings.redisTimeoutMs,
            onError: (message) => {
              metrics.replayStoreError()
              app.log.warn(message)
            },
          })
        : createMemoryReplayStore({ ttlMs: settings.replayTtlMs, maxBytes: settings.replayCacheMaxBytes })
  const shutdown = new AbortController()
  // The app reads the config through the reloader, and the reloader logs
  // through the app: the app is built first and looks the reloader up late.
  let reloader: Reloader | undefined
  const inFlight = createInFlight()
  // Ready once listening, until the stop begins; and never while no config is
  // served (npm run dev on a broken file).
  const isReady = () => ready && reloader?.current().unavailable !== true
  const app = buildApp({
    inFlight,
    config: { current: () => reloader!.current(), lastReload: () => reloader!.lastReload() },
    verify: createVerifier(keys),
    upstream: createUpstream({ dispatcher, runtimeFor: pools.runtimeFor, onAttempt: (step, { outcome, seconds, upstream }) => metrics.upstreamAttempt(step, upstream, outcome, seconds) }),
    shutdownSignal: shutdown.signal,
    metrics,
    replay,
    tracing,
    checkAnswers: dev,
    runs,
    overload: settings.overload,
    limits: settings,
    ready: isReady,
    admin: settings.admin !== undefined,
    cluster: link,
    logger: {
      level: settings.logLevel,
      // Node attaches the raw bytes of a malformed request to its error
      // (rawPacket): body, signature and headers, as a byte array that no
      // text redactor would recognise. Never logged.
      serializers: { err: errorWithoutPacket },
      // With tracing, each line logged inside a request's span names it.
      ...(tracing !== undefined ? { mixin: () => tracing.logFields() } : {}),
      // Secrets never reach a log line: matched by value and by shape in the
      // finished line, wherever they turn up (a field, a message, an error).
      hooks: { streamWrite: (line: string) => redactor.apply(line) },
      // Pretty lines keep the pid (`INFO (4242):`): it is where `kill -HUP` goes.
      ...(logs === undefined ? { transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l', ignore: 'hostname' } } } : { stream: logs.stream }),
    },
  })

  let watch: FileWatch | undefined
  reloader = createReloader(initial, check, app.log, (ok) => {
    metrics.reloaded(ok)
    redactor.setConfigSecrets(reloader!.current().secretValues)
    pools.retain(reloader!.current().connections)
    link?.configLoaded(reloader!.current().hash, reloader!.current().loadedAt)
    watch?.update(reloader!.files())
    if (dev) void reportStepTests(settings.stepsFile, app.log)
    devEvents?.emit('status', statusOf(reloader!))
  })
  // WATCH (on by default with --dev) reloads when the content of a config
  // file really changes; outside --dev it also polls, for what no event says.
  const watching = settings.watch ?? dev
  if (watching) watch = watchFiles(reloader.files(), () => void reloader!.reload('file change'), { pollMs: settings.watchPollMs ?? (dev ? 0 : 5000) })
  // SIGHUP reloads in every mode; close-with-grace is told to leave it alone.
  process.on('SIGHUP', () => void reloader!.reload('SIGHUP'))

  // SIGTERM/SIGINT: stop accepting, answer 503 to requests arriving on open
  // connections, let in-flight requests finish (their outbound calls
  // included) for up to SHUTDOWN_TIMEOUT_MS, then cancel what is left, close
  // the dispatcher and exit 0. A second signal exits at once.
  let listening: Listening | undefined
  closeWithGrace(
    // The last resort, should anything hang: SHUTDOWN_TIMEOUT_MS + 1 s is the promise.
    // A cluster worker leaves SIGINT (a terminal's Ctrl-C reaches the whole
    // process group) to the primary, which stops every worker with SIGTERM:
    // two signals would cut the drain short.
    { delay: settings.shutdownTimeoutMs + 1_000, skip: link === undefined ? ['SIGHUP'] : ['SIGHUP', 'SIGINT'], logger: { error: (m: unknown) => app.log.error(m) } },
    async ({ signal, err }) => {
      if (err !== undefined) app.log.error({ err }, 'unexpected error: shutting down')
      ready = false
      app.log.info({ signal, in_flight: inFlight.count() }, 'shutting down')
      watch?.close()
      if (listening === undefined) await app.close()
      else {
        await stopServing({
          app,
          connections: listening.connections,
          inFlight,
          timeoutMs: settings.shutdownTimeoutMs,
          cancel: () => shutdown.abort(new Error('the server is shutting down')),
          log: app.log,
        })
      }
      await admin?.close()
      await Promise.all([dispatcher.close(), pools.close(), replay?.close()])
      await tracing?.shutdown()
      await closeEvaluatorPool()
      app.log.info('stopped')
      // Every line is out before close-with-grace exits.
      await logs?.flush()
    },
  )

  if (devEvents !== undefined && runs !== undefined) devConsoleRoutes(app, { config: reloader, runs, events: devEvents, stepsFile: settings.stepsFile, key: keys[0]! })
  const admin = settings.admin === undefined ? undefined : buildAdminApp({ config: { current: () => reloader!.current(), lastReload: () => reloader!.lastReload() }, metrics, ready: isReady, cluster: link }, app.log)
  const adminUrl = admin === undefined ? undefined : await admin.listen({ port: settings.admin!.port, host: settings.admin!.host })
  // npm run dev serves a console that runs steps signed with the development
  // key: it listens on loopback only, unless HOST says otherwise.
  listening = await listen(app, dev && (process.env['HOST'] ?? '').trim() === '' ? { ...settings, host: '127.0.0.1' } : settings)
  memoryUsageSurvivesEmfile(listening.outOfDescriptors)
  ready = true
  if (link !== undefined) {
    process.on('SIGINT', () => {})
    link.configLoaded(reloader.current().hash, reloader.current().loadedAt)
  }
  const registry = reloader.current()
  app.log.info(
    {
      url: listening.url,
      ...(adminUrl === undefined ? {} : { admin_url: adminUrl }),
      steps: registry.steps.size,
      config: registry.hash,
      file: settings.stepsFile,
      watching: dev,
      max_connections: listening.maxConnections,
      fd_limit: listening.descriptorLimit,
    },
    `serving ${registry.steps.size} steps from ${settings.stepsFile}${watching ? ', reloading on save' : ''}`,
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
