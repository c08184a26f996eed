import { resolve } from 'node:path'
import { checkSteps } from '../config/check.js'
import type { Diagnostic } from '../config/diagnostics.js'
import type { ReadFile } from '../config/input-schemas.js'
import { unreadableFile } from '../config/yaml-source.js'
import { runStepTests, type TestReport } from './run-tests.js'
import { loadTestFile, testFilePath } from './test-file.js'

export type StepTestRun =
  | { readonly kind: 'absent'; readonly testsPath: string }
  /** `unreadable`: the steps file or the tests file could not be read at all. */
  | { readonly kind: 'invalid'; readonly diagnostics: readonly Diagnostic[]; readonly unreadable: boolean }
  | { readonly kind: 'ran'; readonly reports: readonly TestReport[] }

/**
 * Runs the step tests beside a steps file. They are hermetic: ${VAR}s come
 * from the test file's `env`, never from the machine's environment, so they
 * run the same everywhere. A steps file that cannot be read is `invalid`
 * even when there are no tests: no run may pass on a file that is not there.
 */
/** Which tests to run: those of one step, those whose name matches a pattern. */
export interface TestFilter {
  readonly step?: string | undefined
  readonly grep?: RegExp | undefined
}

export async function runStepTestsOf(stepsPath: string, readFile: ReadFile, filter: TestFilter = {}): Promise<StepTestRun> {
  const testsPath = testFilePath(stepsPath)
  const first = await loadTestFile(testsPath, readFile, undefined)
  if (first.kind === 'absent') {
    try {
      await readFile(resolve(stepsPath))
    } catch (err) {
      return { kind: 'invalid', diagnostics: [unreadableFile(stepsPath, 'steps file', err)], unreadable: true }
    }
    return { kind: 'absent', testsPath }
  }
  const env = first.kind === 'ok' ? (first.file.env ?? {}) : {}
  const checked = await checkSteps(stepsPath, { readFile, env })
  if (!checked.ok || !checked.load.ok || checked.tests.kind !== 'ok') {
    const unreadable = checked.diagnostics.some((d) => d.rule === 'file-unreadable' && (d.file === stepsPath || d.file === testsPath))
    return { kind: 'invalid', diagnostics: checked.diagnostics, unreadable }
  }
  const tests = checked.tests.file.tests.filter((t) => (filter.step === undefined || t.step === filter.step) && (filter.grep === undefined || filter.grep.test(t.name)))
  return { kind: 'ran', reports: await runStepTests(checked.load.registry, tests) }
}
