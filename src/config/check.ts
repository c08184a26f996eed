import { loadTestFile, testFilePath, type TestFileResult } from '../step-tests/test-file.js'
import { hasErrors, sortDiagnostics, type Diagnostic } from './diagnostics.js'
import { loadConfig, type LoadOptions, type LoadResult } from './load.js'

export interface CheckResult {
  readonly load: LoadResult
  readonly testsPath: string
  readonly tests: TestFileResult
  /** Every problem in the steps file, its schema files and its step tests, in file order. */
  readonly diagnostics: readonly Diagnostic[]
  readonly ok: boolean
}

/**
 * Every check of a steps file and of the step tests beside it: what
 * `lint-steps` reports and what the server refuses to start on.
 */
export async function checkSteps(stepsPath: string, options: LoadOptions): Promise<CheckResult> {
  const load = await loadConfig(stepsPath, options)
  const testsPath = testFilePath(stepsPath)
  // Unknown when the steps file does not parse: the tests' own format is still checked.
  const stepNames = load.ok ? [...load.registry.steps.keys()] : load.stepNames
  const tests: TestFileResult = load.ok || !load.unreadable ? await loadTestFile(testsPath, options.readFile, stepNames) : { kind: 'absent' }
  const diagnostics = sortDiagnostics([...(load.ok ? load.warnings : load.diagnostics), ...(tests.kind === 'absent' ? [] : tests.diagnostics)])
  return { load, testsPath, tests, diagnostics, ok: load.ok && !hasErrors(diagnostics) }
}
