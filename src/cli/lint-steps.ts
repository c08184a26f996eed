/**
 * Checks a steps file, its schema files and its step tests, and prints each
 * problem as `path:line:col: severity: message`.
 *
 *   npm run lint-steps [-- path/to/steps.yaml] [--format json] [--allow-missing-env]
 *
 * Problems and the closing summary go to stdout; usage errors to stderr.
 * Exit 0 when there is no error, 1 when there is one, 2 on a usage error or
 * when the steps file cannot be read.
 */
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { runCli } from './run-cli.js'
import { stepTestsFileGiven } from './steps-argument.js'
import { checkSteps } from '../config/check.js'
import { formatDiagnostic } from '../config/diagnostics.js'

const USAGE = `usage: npm run lint-steps -- [steps.yaml] [--format text|json] [--allow-missing-env]

  steps.yaml            the steps file (default ./steps.yaml); its steps.test.yaml is checked too
  --format json         print a JSON array of {file, line, col, severity, message, rule}
  --allow-missing-env   report unset \${VAR}s and unreadable \${file:PATH}s as warnings, for CI where secrets are absent

Problems and the summary go to stdout. Exit status: 0 without errors (warnings allowed),
1 with errors, 2 when the steps file cannot be read or on a usage error.`

async function main(): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: { format: { type: 'string', default: 'text' }, 'allow-missing-env': { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
    })
  } catch (err) {
    process.stderr.write(`lint-steps: ${(err as Error).message}\n${USAGE}\n`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help) {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  if (positionals.length > 1 || (values.format !== 'text' && values.format !== 'json')) {
    process.stderr.write(USAGE + '\n')
    return 2
  }
  const stepsPath = positionals[0] ?? 'steps.yaml'
  const testsFile = stepTestsFileGiven(stepsPath)
  if (testsFile !== undefined) {
    process.stderr.write(`lint-steps: ${stepsPath}: ${testsFile}\n`)
    return 2
  }
  const result = await checkSteps(stepsPath, { readFile: (p) => readFile(p, 'utf8'), env: process.env, allowMissingEnv: values['allow-missing-env'] })

  if (values.format === 'json') {
    process.stdout.write(JSON.stringify(result.diagnostics, null, 2) + '\n')
  } else {
    for (const d of result.diagnostics) process.stdout.write(formatDiagnostic(d) + '\n')
    const errors = result.diagnostics.filter((d) => d.severity === 'error').length
    const warnings = result.diagnostics.length - errors
    const steps = result.load.ok ? result.load.registry.steps.size : (result.load.stepNames ?? []).length
    const tests = result.tests.kind === 'ok' ? `, ${result.tests.file.tests.length} step tests` : ''
    // On stdout with the problems, so that a pipe keeps them together.
    process.stdout.write(
      errors + warnings === 0
        ? `${stepsPath}: ${steps} steps${tests}, no problems\n`
        : `${stepsPath}: ${plural(errors, 'error')}, ${plural(warnings, 'warning')}\n`,
    )
  }
  if (!result.load.ok && result.load.unreadable) return 2
  return result.ok ? 0 : 1
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

runCli('lint-steps', main)
