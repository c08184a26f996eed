import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import { stepsFileSchema } from '../package-files.js'
import type { Diagnostic, Rule } from './diagnostics.js'
import type { StepsFile } from './steps-file.generated.js'
import { didYouMean } from './suggest.js'
import { describePath, diagnosticAt, type NodePath, type YamlSource } from './yaml-source.js'

/** Compiles a file format's schema, once per process: formats never change while it runs. */
export function compileFormat<T>(schema: Record<string, unknown>): ValidateFunction<T> {
  return new Ajv({ allErrors: true, verbose: true, strict: true, strictRequired: false }).compile<T>(schema)
}

const validateFormat = compileFormat<StepsFile>(stepsFileSchema)

export type FormatCheck =
  | { readonly ok: true; readonly file: StepsFile }
  | {
      readonly ok: false
      readonly diagnostics: Diagnostic[]
      /** The steps that are valid on their own, so that they can still be compiled and checked. */
      readonly validSteps: StepsFile['steps']
    }

/** Checks a parsed steps file against schemas/steps.schema.json; every error points at its YAML node. */
export function checkFormat(value: unknown, source: YamlSource): FormatCheck {
  if (validateFormat(value)) return { ok: true, file: value }
  const errors = validateFormat.errors ?? []
  const steps = (value as { steps?: unknown } | null)?.steps
  const validSteps: StepsFile['steps'] = {}
  if (typeof steps === 'object' && steps !== null && !Array.isArray(steps)) {
    for (const [name, step] of Object.entries(steps)) {
      const prefix = `/steps/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`
      if (!errors.some((e) => e.instancePath === prefix || e.instancePath.startsWith(prefix + '/') || (e.instancePath === '/steps' && e.params && (e.params as { propertyName?: string }).propertyName === name))) {
        validSteps[name] = step as StepsFile['steps'][string]
      }
    }
  }
  return { ok: false, diagnostics: formatDiagnostics(errors, source), validSteps }
}

/** ajv's errors against a file format, as diagnostics at their YAML nodes: one per problem. */
export function formatDiagnostics(errors: readonly ErrorObject[], source: YamlSource): Diagnostic[] {
  // A failed oneOf reports every branch's errors as well; keep the one summary.
  const oneOfs = errors.filter((e) => e.keyword === 'oneOf').map((e) => `${e.instancePath}|${e.schemaPath}/`)
  // A typo of a required key is one problem, not two: "unknown key 'exit_cod'
  // (did you mean 'exit_code'?)" says it all, so drop the "missing" error.
  const misspelt = new Set(
    errors
      .filter((e) => e.keyword === 'additionalProperties')
      .map((e) => `${e.instancePath}|${/'([^']+)'/.exec(didYouMean(String(e.params['additionalProperty']), knownKeys(e)))?.[1] ?? ''}`),
  )
  const kept = errors.filter((e) => {
    if (oneOfs.some((prefix) => `${e.instancePath}|${e.schemaPath}`.startsWith(prefix))) return false
    if (e.keyword === 'required') return !misspelt.has(`${e.instancePath}|${String(e.params['missingProperty'])}`)
    if (e.parentSchema === STEP_SCHEMA && e.keyword === 'oneOf' && e.params['passingSchemas'] === null) {
      return !misspelt.has(`${e.instancePath}|exit_code`) && !misspelt.has(`${e.instancePath}|http`)
    }
    return true
  })
  const seen = new Set<string>()
  const out: Diagnostic[] = []
  for (const error of kept) {
    const d = toDiagnostic(error, source)
    const id = `${d.line}:${d.col}:${d.message}`
    if (!seen.has(id)) {
      seen.add(id)
      out.push(d)
    }
  }
  return out
}

// With verbose errors ajv hands back the schema objects themselves: match on them,
// since schema paths restart at each $ref.
const definitions = stepsFileSchema['definitions'] as Record<string, unknown>
const STEP_SCHEMA = definitions['step']
const INPUT_SCHEMA = definitions['input']

function knownKeys(error: ErrorObject): string[] {
  return Object.keys((error.parentSchema as { properties?: object } | undefined)?.properties ?? {})
}

function toDiagnostic(error: ErrorObject, source: YamlSource): Diagnostic {
  const path = pointerToPath(error.instancePath)
  const where = describePath(path)
  const at = (p: NodePath, on: 'key' | 'value', message: string, rule: Rule) => diagnosticAt(source, p, on, message, rule)
  const params = error.params as Record<string, unknown>
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(params['additionalProperty'])
      const known = knownKeys(error)
      const hint = didYouMean(key, known) || (known.length > 0 ? ` (known keys: ${known.join(', ')})` : '')
      return at([...path, key], 'key', `unknown key '${key}' in ${where}${hint}`, 'unknown-key')
    }
    case 'required':
      return at(path, 'key', `${where} is missing the required key '${String(params['missingProperty'])}'`, 'missing-key')
    case 'type':
      return at(path, 'value', `${where} must be ${article(String(params['type']))}, not ${typeName(error.data)}`, 'wrong-type')
    case 'const':
      return at(path, 'value', `${where} must be ${JSON.stringify(params['allowedValue'])}`, 'invalid-value')
    case 'enum':
      return at(path, 'value', `${where} must be one of ${(params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`, 'invalid-value')
    case 'oneOf':
      if (error.parentSchema === STEP_SCHEMA) {
        return params['passingSchemas'] === null
          ? at(path, 'key', `${where} needs exit_code (a static step) or http (an HTTP call)`, 'step-kind')
          : at(path, 'key', `${where} has both exit_code and http: a step is either static (exit_code) or an HTTP call (http)`, 'step-kind')
      }
      if (error.parentSchema === INPUT_SCHEMA) {
        return at(path, 'value', `${where} must be a schema file path (a string), an inline schema (a mapping), or true/false`, 'wrong-type')
      }
      return at(path, 'value', `${where} ${error.message ?? 'is invalid'}`, 'wrong-type')
    case 'dependencies':
      return at([...path, String(params['property'])], 'key', `${where}.${String(params['property'])} needs ${String(params['missingProperty'])}: output maps the response of an HTTP step`, 'step-kind')
    case 'propertyNames':
      return at([...path, String(params['propertyName'])], 'key', `invalid name '${String(params['propertyName'])}' in ${where}`, 'invalid-value')
    default:
      return at(path, 'value', `${where} ${error.message ?? 'is invalid'}`, 'invalid-value')
  }
}

function pointerToPath(pointer: string): NodePath {
  if (pointer === '') return []
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
}

function article(type: string): string {
  if (type === 'object') return 'a mapping'
  if (type === 'array') return 'a list'
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`
}

function typeName(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  return article(typeof value)
}
