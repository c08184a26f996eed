import { resolve } from 'node:path'
import type { FastifyBaseLogger } from 'fastify'
import type { CheckResult } from '../config/check.js'
import { formatDiagnostic } from '../config/diagnostics.js'
import { diffRegistries, unavailableRegistry, type Registry } from '../core/registry.js'
import { createScrubber } from '../core/secrets.js'

export interface ReloadStatus {
  readonly ok: boolean
  readonly at: Date
  /** The `file:line:col: error: ...` lines of a failed reload. */
  readonly errors: readonly string[]
}

export interface Reloader {
  /** The registry for a request arriving now; a reload replaces it in one step. */
  current(): Registry
  lastReload(): ReloadStatus
  /** Loads and checks the files again. Reloads asked for while one runs are folded into one more. */
  reload(reason: string): Promise<void>
  /** Every file the config was read from (or tried to be), with the step tests: what to watch. */
  files(): readonly string[]
}

/**
 * Holds the config being served and replaces it on reload, whole or not at
 * all: a failed reload keeps the old config serving and says why.
 */
export function createReloader(
  initial: CheckResult,
  check: () => Promise<CheckResult>,
  log: FastifyBaseLogger,
  onReload: (ok: boolean) => void = () => {},
): Reloader {
  // A failed first load (npm run dev only: npm start refuses to start) serves
  // nothing until a reload succeeds.
  const loaded = initial.ok && initial.load.ok
  let current = initial.ok && initial.load.ok ? initial.load.registry : unavailableRegistry(initial.load.ok ? initial.load.registry.files : initial.load.files, createScrubber([], ''), new Date())
  let status: ReloadStatus = loaded ? { ok: true, at: current.loadedAt, errors: [] } : { ok: false, at: current.loadedAt, errors: errorLines(initial) }
  let attempted = watchable(initial)
  let queue: Promise<void> = Promise.resolve()
  let queued = false

  async function run(reason: string): Promise<void> {
    const started = performance.now()
    const result = await check()
    const ms = Math.round(performance.now() - started)
    attempted = watchable(result)
    if (result.ok && result.load.ok) {
      const next = result.load.registry
      const { added, removed, changed } = diffRegistries(current, next)
      current = next
      status = { ok: true, at: new Date(), errors: [] }
      onReload(true)
      const what = [added.length > 0 && `added ${added.join(', ')}`, removed.length > 0 && `removed ${removed.join(', ')}`, changed.length > 0 && `changed ${changed.join(', ')}`]
        .filter(Boolean)
        .join('; ')
      log.info(
        { reload: 'ok', reason, config: next.hash, steps: next.steps.size, added, removed, changed, duration_ms: ms, warnings: result.diagnostics.map(formatDiagnostic) },
        `config reloaded (${reason}): ${next.steps.size} steps, ${what || 'no step changed'}, in ${ms} ms`,
      )
    } else {
      const errors = errorLines(result)
      status = { ok: false, at: new Date(), errors }
      onReload(false)
      log.error(
        { reload: 'failed', reason, config: current.hash, steps: current.steps.size, duration_ms: ms, errors },
        `config reload failed (${reason}): ${errors[0] ?? 'unknown error'}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''}; ${current.unavailable ? 'no config is served yet: /hook answers 503' : `still serving the previous config (${current.steps.size} steps)`}`,
      )
    }
  }

  return {
    current: () => current,
    lastReload: () => status,
    // The files of the config being served too: while a broken steps file
    // cannot say which schema files it uses, those still matter.
    files: () => [...new Set([...current.files, ...attempted])],
    reload(reason) {
      if (queued) return queue
      queued = true
      queue = queue.then(() => {
        queued = false
        return run(reason)
      })
      return queue
    },
  }
}

function errorLines(result: CheckResult): string[] {
  return result.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic)
}

function watchable(result: CheckResult): string[] {
  const read = result.load.ok ? result.load.registry.files : result.load.files
  return [...read, resolve(result.testsPath)]
}
