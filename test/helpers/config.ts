import { resolve } from 'node:path'
import { formatDiagnostic } from '../../src/config/diagnostics.js'
import { loadConfig, type LoadResult } from '../../src/config/load.js'
import type { StepRuntime } from '../../src/core/http-step.js'
import type { Registry } from '../../src/core/registry.js'

/** Loads a config from in-memory files, keyed by path relative to the working directory. */
export function loadFromTexts(files: Record<string, string>, stepsPath = 'steps.yaml', env: Record<string, string> = {}): Promise<LoadResult> {
  const byAbs = new Map(Object.entries(files).map(([p, text]) => [resolve(p), text]))
  return loadConfig(stepsPath, {
    env,
    readFile: async (abs) => {
      const text = byAbs.get(abs)
      if (text === undefined) throw Object.assign(new Error(`ENOENT: ${abs}`), { code: 'ENOENT' })
      return text
    },
  })
}

export async function registryFrom(files: Record<string, string>, stepsPath = 'steps.yaml', env: Record<string, string> = {}): Promise<Registry> {
  const result = await loadFromTexts(files, stepsPath, env)
  if (!result.ok) throw new Error(`config did not load:\n${result.diagnostics.map(formatDiagnostic).join('\n')}`)
  return result.registry
}

/** The diagnostics of a config that must fail, as `file:line:col: severity: message` lines. */
export async function problemsOf(files: Record<string, string>, stepsPath = 'steps.yaml', env: Record<string, string> = {}): Promise<string[]> {
  const result = await loadFromTexts(files, stepsPath, env)
  if (result.ok) return result.warnings.map(formatDiagnostic)
  return result.diagnostics.map(formatDiagnostic)
}

/** For steps that must not call out: any outbound call fails the test. */
export const NO_UPSTREAM: StepRuntime = {
  upstream: {
    send: () => {
      throw new Error('unexpected outbound call')
    },
  },
}
