import { readFile } from 'node:fs/promises'
import { Agent } from 'undici'
import { formatDiagnostic } from './config/diagnostics.js'
import { loadConfig } from './config/load.js'
import { createVerifier } from './core/signature.js'
import { buildApp } from './server/app.js'
import { DEV_KEY_FILE, developmentKey } from './server/dev-key.js'
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

  const loaded = await loadConfig(settings.stepsFile, { readFile: (p) => readFile(p, 'utf8'), env: process.env })
  if (!loaded.ok) {
    for (const d of loaded.diagnostics) process.stderr.write(formatDiagnostic(d) + '\n')
    const count = loaded.diagnostics.filter((d) => d.severity === 'error').length
    process.stderr.write(`step-runner: not started: ${count} error${count === 1 ? '' : 's'} in ${settings.stepsFile}\n`)
    return 1
  }
  for (const d of loaded.warnings) process.stderr.write(formatDiagnostic(d) + '\n')

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
  const app = buildApp({
    currentRegistry: () => registry,
    verify: createVerifier(keys),
    upstream: createUpstream({ dispatcher }),
    logger: { level: settings.logLevel },
    bodyLimit: BODY_LIMIT,
  })
  if (devKeyNote !== undefined) app.log.warn(devKeyNote)

  const close = async (signal: string) => {
    app.log.info({ signal }, 'shutting down')
    await app.close()
    await dispatcher.close()
    process.exit(0)
  }
  process.once('SIGTERM', () => void close('SIGTERM'))
  process.once('SIGINT', () => void close('SIGINT'))

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
