import { checkSteps } from '../config/check.js'
import type { Diagnostic } from '../config/diagnostics.js'
import type { ReadFile } from '../config/input-schemas.js'
import { runStepTests, type TestReport } from './run-tests.js'
import { loadTestFile, testFilePath } from './test-file.js'

export type StepTestRun =
  | { readonly kind: 'absent'; readonly testsPath: string }
  | { readonly kind: 'invalid'; readonly diagnostics: readonly Diagnostic[] }
  | { readonly kind: 'ran'; readonly reports: readonly TestReport[] }

/**
 * Runs the step tests beside a steps file. They are hermetic: ${VAR}s come
 * from the test file's `env`, never from the machine's environment, so they
 * run the same everywhere.
 */
export async function runStepTestsOf(stepsPath: string, readFile: ReadFile): Promise<StepTestRun> {
  const testsPath = testFilePath(stepsPath)
  const first = await loadTestFile(testsPath, readFile, undefined)
  if (first.kind === 'absent') return { kind: 'absent', testsPath }
  const env = first.kind === 'ok' ? (first.file.env ?? {}) : {}
  const checked = await checkSteps(stepsPath, { readFile, env })
  if (!checked.ok || !checked.load.ok || checked.tests.kind !== 'ok') return { kind: 'invalid', diagnostics: checked.diagnostics }
  return { kind: 'ran', reports: await runStepTests(checked.load.registry, checked.tests.file.tests) }
}
