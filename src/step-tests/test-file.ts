import { basename, dirname, extname, join, resolve } from 'node:path'
import type { Diagnostic } from '../config/diagnostics.js'
import type { ReadFile } from '../config/input-schemas.js'
import { didYouMean } from '../config/suggest.js'
import { compileFormat, formatDiagnostics } from '../config/validate-format.js'
import { diagnosticAt, parseYamlSource, toValue, unreadableFile } from '../config/yaml-source.js'
import { testsFileSchema } from '../package-files.js'
import type { StepTestsFile } from './test-file.generated.js'

const validateTestsFile = compileFormat<StepTestsFile>(testsFileSchema)

/** `path/to/steps.yaml` → `path/to/steps.test.yaml`: the tests live next to the steps. */
export function testFilePath(stepsPath: string): string {
  const ext = extname(stepsPath)
  const stem = basename(stepsPath, ext)
  return join(dirname(stepsPath), `${stem}.test${ext === '.yml' ? '.yml' : '.yaml'}`)
}

/** `path/to/steps.test.yaml` → `path/to/steps.yaml`; undefined for a name that is not a step-tests file's. */
export function testedStepsPath(path: string): string | undefined {
  const match = /^(.*)\.test(\.ya?ml)$/.exec(basename(path))
  return match === null ? undefined : join(dirname(path), `${match[1]}${match[2]}`)
}

export type TestFileResult =
  | { readonly kind: 'absent' }
  | { readonly kind: 'invalid'; readonly diagnostics: Diagnostic[] }
  | { readonly kind: 'ok'; readonly file: StepTestsFile; readonly diagnostics: Diagnostic[] }

/**
 * Reads and checks the step tests next to a steps file: their format, and
 * that every test names a step that the steps file defines.
 */
export async function loadTestFile(path: string, readFile: ReadFile, stepNames: readonly string[] | undefined): Promise<TestFileResult> {
  let text: string
  try {
    text = await readFile(resolve(path))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' }
    return { kind: 'invalid', diagnostics: [unreadableFile(path, 'step tests file', err)] }
  }
  const { source, diagnostics } = parseYamlSource(path, text)
  if (diagnostics.length > 0) return { kind: 'invalid', diagnostics }
  const read = toValue(source)
  if (!read.ok) return { kind: 'invalid', diagnostics: [read.diagnostic] }
  const value = read.value
  if (!validateTestsFile(value)) return { kind: 'invalid', diagnostics: formatDiagnostics(validateTestsFile.errors ?? [], source) }

  if (stepNames === undefined) return { kind: 'ok', file: value, diagnostics: [] }
  const known = new Set(stepNames)
  const unknown = value.tests.flatMap((test, i) =>
    known.has(test.step) ? [] : [diagnosticAt(source, ['tests', i, 'step'], 'value', `test '${test.name}' names step '${test.step}', which the steps file does not define${didYouMean(test.step, known)}`, 'test-unknown-step')],
  )
  if (unknown.length > 0) return { kind: 'invalid', diagnostics: unknown }
  return { kind: 'ok', file: value, diagnostics: [] }
}
