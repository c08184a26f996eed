import { dirname, resolve } from 'node:path'
import type { Registry } from '../core/registry.js'
import { createScrubber } from '../core/secrets.js'
import { compileSteps, hashConfig } from './compile-steps.js'
import { hasErrors, sortDiagnostics, type Diagnostic } from './diagnostics.js'
import { createInputSchemas, type ReadFile } from './input-schemas.js'
import { checkFormat } from './validate-format.js'
import { fileReferences, secretFileError, secretFileText, type SecretFile } from './interpolate.js'
import type { StepsFile } from './steps-file.generated.js'
import { parseYamlSource, toValue, unreadableFile } from './yaml-source.js'
import { packageVersion } from '../package-files.js'

export type LoadResult =
  | { readonly ok: true; readonly registry: Registry; readonly warnings: readonly Diagnostic[] }
  | {
      readonly ok: false
      /** The steps file itself could not be read (lint-steps exits 2 for this). */
      readonly unreadable: boolean
      readonly diagnostics: readonly Diagnostic[]
      /** Every file this attempt read or tried to read, so a watcher can wait for a fix. */
      readonly files: readonly string[]
      /**
       * The step names the file defines, or undefined when the file does not
       * parse or has no mapping of steps: then nothing can be said about them
       * (so step tests are not checked against them).
       */
      readonly stepNames: readonly string[] | undefined
    }

/** What an answer carries in place of a secret of the config. */
export const REDACTED = '[redacted]'

export interface LoadOptions {
  readonly readFile: ReadFile
  /** Where ${VAR} references are read from, once, at load. */
  readonly env: Readonly<Record<string, string | undefined>>
  /** Report unset variables as warnings (linting in CI, where secrets are absent). */
  readonly allowMissingEnv?: boolean
  readonly now?: () => Date
}

/**
 * The whole load: read, parse, check the format, compile every schema and
 * expression. Either a complete registry or every problem found, never half.
 * `stepsPath` is shown in diagnostics as given.
 */
export async function loadConfig(stepsPath: string, options: LoadOptions): Promise<LoadResult> {
  const stepsAbs = resolve(stepsPath)
  const texts = new Map<string, string>()
  const readFile: ReadFile = async (abs) => {
    const text = await options.readFile(abs)
    texts.set(abs, text)
    return text
  }

  let text: string
  try {
    text = await readFile(stepsAbs)
  } catch (err) {
    return fail(true, [unreadableFile(stepsPath, 'steps file', err)], [stepsAbs], undefined)
  }

  // A file that does not parse reports its parse errors alone: anything read
  // from a half-parsed document would be noise derived from them.
  const { source, diagnostics: syntax } = parseYamlSource(stepsPath, text)
  if (syntax.length > 0) return fail(false, syntax, [stepsAbs], undefined)

  const read = toValue(source)
  if (!read.ok) return fail(false, [read.diagnostic], [stepsAbs], undefined)
  const value = read.value
  const written = (value as { steps?: unknown } | null)?.steps
  const stepNames = typeof written === 'object' && written !== null && !Array.isArray(written) ? Object.keys(written) : undefined
  const format = checkFormat(value, source)
  const schemas = createInputSchemas(source, stepsPath, readFile)
  // ${file:PATH} secrets, read on every load (a rotated secret is picked up
  // by a reload), relative paths from the steps file's folder.
  const secretFiles = new Map<string, SecretFile>()
  for (const path of fileReferences(value)) {
    try {
      secretFiles.set(path, { ok: true, text: secretFileText(await options.readFile(resolve(dirname(stepsAbs), path))) })
    } catch (err) {
      secretFiles.set(path, { ok: false, message: secretFileError(err) })
    }
  }
  const writtenUpstreams = (value as { upstreams?: unknown } | null)?.upstreams
  const upstreamNames = typeof writtenUpstreams === 'object' && writtenUpstreams !== null && !Array.isArray(writtenUpstreams) ? Object.keys(writtenUpstreams) : []
  // What passed the format check is compiled even when other parts did not
  // (other steps, other keys of the same step), so one run shows every problem.
  const file = format.ok ? format.file : format.valid
  const { steps, upstreams, diagnostics } = await compileSteps(file.steps ?? {}, {
    source,
    schemas,
    env: options.env,
    files: secretFiles,
    upstreams: file.upstreams ?? {},
    upstreamNames,
    externalSteps: file.external_steps ?? [],
    allowMissingEnv: options.allowMissingEnv ?? false,
    defaults: file.defaults,
    userAgent: `step-runner/${packageVersion}`,
    stepNames: new Set(stepNames),
    hasFormatErrorAt: format.ok ? () => false : format.hasErrorAt,
  })
  const files = [stepsAbs, ...[...schemas.files].sort()]
  if (!format.ok) return fail(false, [...format.diagnostics, ...diagnostics], files, stepNames)
  if (hasErrors(diagnostics)) return fail(false, diagnostics, files, stepNames)

  const schemaTexts = files.slice(1).map((f) => texts.get(f) ?? '')
  const compiledUpstreams = [...upstreams.values()].filter((u) => u !== undefined)
  const secretValues = [...new Set([...[...steps.values()].flatMap((step) => (step.action.kind === 'http' ? step.action.secrets : [])), ...compiledUpstreams.flatMap((u) => u.secrets)])]
  const registry: Registry = Object.freeze({
    // Secret files count too, so that a reload after a rotation shows a new hash.
    hash: hashConfig([...files.map((f) => texts.get(f) ?? ''), ...[...secretFiles.values()].map((f) => (f.ok ? f.text : ''))]),
    loadedAt: (options.now ?? (() => new Date()))(),
    steps,
    fingerprints: fingerprintSteps(format.file.steps, schemaTexts),
    files,
    connections: compiledUpstreams.map((u) => u.connection),
    secretValues,
    secrets: createScrubber(secretValues, REDACTED),
  })
  return { ok: true, registry, warnings: sortDiagnostics(diagnostics) }
}

/**
 * What makes each step what it is, to tell a reload which steps changed: its
 * definition, and the schema files when it reads any (a step cannot tell
 * which of them its $refs reach, so it changes with any of them).
 */
function fingerprintSteps(steps: StepsFile['steps'], schemaTexts: readonly string[]): ReadonlyMap<string, string> {
  const fingerprints = new Map<string, string>()
  for (const [name, step] of Object.entries(steps)) {
    const readsFile = (schema: unknown) => schema !== undefined && (typeof schema === 'string' || JSON.stringify(schema).includes('"$ref"'))
    const readsFiles = readsFile(step.input) || readsFile(step.data_schema)
    fingerprints.set(name, hashConfig([JSON.stringify(step), ...(readsFiles ? schemaTexts : [])]))
  }
  return fingerprints
}

function fail(unreadable: boolean, diagnostics: readonly Diagnostic[], files: readonly string[], stepNames: readonly string[] | undefined): LoadResult {
  return { ok: false, unreadable, diagnostics: sortDiagnostics(diagnostics), files, stepNames }
}
