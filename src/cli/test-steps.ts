/**
 * Runs the step tests in the steps.test.yaml beside a steps file, offline.
 *
 *   npm run test-steps [-- path/to/steps.yaml]
 *
 * Prints a line per test, then `N passed, N failed`. Exit 0 when every test
 * passed, 1 when one failed or the files have errors, 2 on a usage error or a
 * file that is missing or cannot be read.
 */
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { formatTrace } from './format-trace.js'
import { runCli } from './run-cli.js'
import { stepTestsFileGiven } from './steps-argument.js'
import { formatDiagnostic } from '../config/diagnostics.js'
import { runStepTestsOf } from '../step-tests/run-file.js'

const USAGE = `usage: npm run test-steps -- [steps.yaml] [--step NAME] [--grep PATTERN] [--trace | --trace-all]

  steps.yaml       the steps file (default ./steps.yaml); its tests are the steps.test.yaml beside it
  --step NAME      only the tests of this step
  --grep PATTERN   only the tests whose name matches this regular expression
  --trace          print the trace of each failing test, stage by stage
  --trace-all      print the trace of every test

Exit status: 0 when every test passed, 1 when a test failed or the files have errors,
2 when a file is missing or cannot be read. Only the steps.test.yaml beside the
default ./steps.yaml may be absent (then there is nothing to run, and it exits 0).`

async function main(): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        step: { type: 'string' },
        grep: { type: 'string' },
        trace: { type: 'boolean', default: false },
        'trace-all': { type: 'boolean', default: false },
      },
    })
  } catch (err) {
    process.stderr.write(`test-steps: ${(err as Error).message}\n${USAGE}\n`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help) {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  if (positionals.length > 1) {
    process.stderr.write(USAGE + '\n')
    return 2
  }
  const given = positionals[0]
  const testsFile = given === undefined ? undefined : stepTestsFileGiven(given)
  if (testsFile !== undefined) {
    process.stderr.write(`test-steps: ${given}: ${testsFile}\n`)
    return 2
  }
  const stepsPath = given ?? 'steps.yaml'
  let grep: RegExp | undefined
  try {
    grep = values.grep === undefined ? undefined : new RegExp(values.grep)
  } catch (err) {
    process.stderr.write(`test-steps: --grep: ${(err as Error).message}\n`)
    return 2
  }
  const run = await runStepTestsOf(stepsPath, (p) => readFile(p, 'utf8'), { step: values.step, grep })
  switch (run.kind) {
    case 'absent':
      // Named explicitly, a steps file comes with its tests: a missing one is a mistake, not a pass.
      if (given !== undefined) {
        process.stderr.write(`test-steps: ${run.testsPath}: step tests file not found (the tests of ${stepsPath} live beside it)\n`)
        return 2
      }
      process.stdout.write(`no step tests: ${run.testsPath} does not exist\n0 passed, 0 failed\n`)
      return 0
    case 'invalid':
      if (run.unreadable) {
        for (const d of run.diagnostics) if (d.rule === 'file-unreadable') process.stderr.write(`test-steps: ${d.file}: ${d.message}\n`)
        return 2
      }
      for (const d of run.diagnostics) process.stderr.write(formatDiagnostic(d) + '\n')
      process.stderr.write('test-steps: fix the errors above first (npm run lint-steps shows them too)\n')
      return 1
    case 'ran': {
      for (const r of run.reports) {
        process.stdout.write(`${r.passed ? '✓' : '✗'} ${r.name} (${r.step})\n`)
        for (const problem of r.problems) process.stdout.write(problem.replace(/^/gm, '    ') + '\n')
        if (r.trace !== undefined && (values['trace-all'] || (values.trace && !r.passed))) {
          const trace = formatTrace({ request_id: 'mqr_test', step: r.step, ...r.trace }, process.stdout.isTTY === true)
          process.stdout.write(trace.trimEnd().replace(/^/gm, '    ') + '\n')
        }
      }
      const failed = run.reports.filter((r) => !r.passed).length
      process.stdout.write(`${run.reports.length - failed} passed, ${failed} failed\n`)
      return failed === 0 ? 0 : 1
    }
  }
}

runCli('test-steps', main)
