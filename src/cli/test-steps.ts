/**
 * Runs the step tests in the steps.test.yaml beside a steps file, offline.
 *
 *   npm run test-steps [-- path/to/steps.yaml]
 *
 * Prints a line per test, then `N passed, N failed`; exits 1 when a test
 * failed or the files have errors.
 */
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { runCli } from './run-cli.js'
import { checkSteps } from '../config/check.js'
import { formatDiagnostic } from '../config/diagnostics.js'
import { runStepTests } from '../step-tests/run-tests.js'
import { loadTestFile, testFilePath } from '../step-tests/test-file.js'

async function main(): Promise<number> {
  const { positionals } = parseArgs({ allowPositionals: true, options: {} })
  if (positionals.length > 1) {
    process.stderr.write('usage: npm run test-steps -- [steps.yaml]\n')
    return 2
  }
  const stepsPath = positionals[0] ?? 'steps.yaml'
  const read = (p: string) => readFile(p, 'utf8')

  // Step tests are hermetic: ${VAR}s come from the test file's env, never
  // from the machine's environment, so they run the same everywhere.
  const testsPath = testFilePath(stepsPath)
  const first = await loadTestFile(testsPath, read, undefined)
  if (first.kind === 'absent') {
    process.stdout.write(`no step tests: ${testsPath} does not exist\n0 passed, 0 failed\n`)
    return 0
  }
  const env = first.kind === 'ok' ? (first.file.env ?? {}) : {}
  const checked = await checkSteps(stepsPath, { readFile: read, env })
  for (const d of checked.diagnostics) process.stderr.write(formatDiagnostic(d) + '\n')
  if (!checked.ok || !checked.load.ok || checked.tests.kind !== 'ok') {
    process.stderr.write('test-steps: fix the errors above first (npm run lint-steps shows them too)\n')
    return 1
  }

  const reports = await runStepTests(checked.load.registry, checked.tests.file.tests)
  for (const r of reports) {
    process.stdout.write(`${r.passed ? '✓' : '✗'} ${r.name} (${r.step})\n`)
    for (const problem of r.problems) process.stdout.write(problem.replace(/^/gm, '    ') + '\n')
  }
  const failed = reports.filter((r) => !r.passed).length
  process.stdout.write(`${reports.length - failed} passed, ${failed} failed\n`)
  return failed === 0 ? 0 : 1
}

runCli('test-steps', main)
