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
import { formatDiagnostic } from '../config/diagnostics.js'
import { runStepTestsOf } from '../step-tests/run-file.js'

async function main(): Promise<number> {
  const { positionals } = parseArgs({ allowPositionals: true, options: {} })
  if (positionals.length > 1) {
    process.stderr.write('usage: npm run test-steps -- [steps.yaml]\n')
    return 2
  }
  const run = await runStepTestsOf(positionals[0] ?? 'steps.yaml', (p) => readFile(p, 'utf8'))
  switch (run.kind) {
    case 'absent':
      process.stdout.write(`no step tests: ${run.testsPath} does not exist\n0 passed, 0 failed\n`)
      return 0
    case 'invalid':
      for (const d of run.diagnostics) process.stderr.write(formatDiagnostic(d) + '\n')
      process.stderr.write('test-steps: fix the errors above first (npm run lint-steps shows them too)\n')
      return 1
    case 'ran': {
      for (const r of run.reports) {
        process.stdout.write(`${r.passed ? '✓' : '✗'} ${r.name} (${r.step})\n`)
        for (const problem of r.problems) process.stdout.write(problem.replace(/^/gm, '    ') + '\n')
      }
      const failed = run.reports.filter((r) => !r.passed).length
      process.stdout.write(`${run.reports.length - failed} passed, ${failed} failed\n`)
      return failed === 0 ? 0 : 1
    }
  }
}

runCli('test-steps', main)
