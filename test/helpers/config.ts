import { resolve } from 'node:path'
import { formatDiagnostic } from '../../src/config/diagnostics.js'
import { loadConfig, type LoadResult } from '../../src/config/load.js'
import type { StepRuntime } from '../../src/core/http-step.js'
import type { Registry } from '../../src/core/registry.js'
import { finishAnswer } from '../../src/core/answer.js'
import { DEFAULT_LIMITS } from '../../src/core/limits.js'
import type { Payload, StepResult } from '../../src/core/protocol.js'
import { runStep } from '../../src/core/run-step.js'

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
  limits: DEFAULT_LIMITS,
}

/** Runs a step of a registry as the server does, up to the answer it would send. */
export async function answerOf(registry: Registry, step: string, payload: Payload, runtime: StepRuntime = NO_UPSTREAM): Promise<StepResult> {
  const run = await runStep(registry.steps.get(step)!, payload, runtime, registry.secrets)
  return finishAnswer(run, runtime.limits, registry.secrets).result
}
