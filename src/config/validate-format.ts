import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import { stepsFileSchema } from '../package-files.js'
import type { Diagnostic, Rule } from './diagnostics.js'
import type { HttpCall, Step, StepsFile } from './steps-file.generated.js'
import { pointerToPath, without } from './json-paths.js'
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
      /**
       * The file with every part that failed the check taken out, so that what
       * is left can still be compiled and checked: one run shows every problem.
       * Keys may be missing that the format requires (a step without url).
       */
      readonly valid: PartialStepsFile
      /** Whether the check found a problem at this path, or inside it. */
      readonly hasErrorAt: (path: NodePath) => boolean
    }

/** A steps file with its invalid parts taken out: each part left has the right type. */
export interface PartialStepsFile {
  readonly defaults?: StepsFile['defaults']
  readonly upstreams?: Readonly<Record<string, Partial<NonNullable<StepsFile['upstreams']>[string]>>>
  readonly external_steps?: StepsFile['external_steps']
  readonly steps?: Readonly<Record<string, PartialStep>>
}
export type PartialStep = Pick<Step, 'description' | 'input' | 'transform' | 'exit_code' | 'output' | 'limits' | 'data_schema'> & { readonly http?: PartialHttpCall }
export type PartialHttpCall = Omit<HttpCall, 'url'> & { readonly url?: string }

/** Checks a parsed steps file against schemas/steps.schema.json; every error points at its YAML node. */
export function checkFormat(value: unknown, source: YamlSource): FormatCheck {
  if (validateFormat(value)) return { ok: true, file: value }
  const errors = validateFormat.errors ?? []
  const broken = errors.map(brokenPart)
  const pruned = errors.flatMap((e, i) => (broken[i]!.prune ? [broken[i]!.path] : []))
  const hasErrorAt = (path: NodePath) => broken.some((b) => startsWith(b.path, path))
  // A file that is not a mapping at all has nothing left to check.
  const valid = (without(value, pruned) ?? {}) as PartialStepsFile
  return { ok: false, diagnostics: formatDiagnostics(errors, source), valid, hasErrorAt }
}

/**
 * Where an error is, and whether the value there is unusable. A value of the
 * wrong type or out of range is taken out; an object that lacks a key, or has
 * one it should not (taken out alone), keeps its other keys.
 */
function brokenPart(error: ErrorObject): { path: NodePath; prune: boolean } {
  const path = pointerToPath(error.instancePath)
  const params = error.params as Record<string, unknown>
  switch (error.keyword) {
    case 'additionalProperties':
      return { path: [...path, String(params['additionalProperty'])], prune: true }
    case 'propertyNames':
      return { path: [...path, String(params['propertyName'])], prune: true }
    case 'required':
    case 'dependencies':
    case 'minProperties':
    case 'maxProperties':
      return { path, prune: false }
    default:
      // A step's oneOf (exit_code or http) is about which keys it has; the
      // keywords under propertyNames are about a key, which propertyNames takes out.
      if ((error.keyword === 'oneOf' && error.parentSchema === STEP_SCHEMA) || error.schemaPath.includes('/propertyNames/')) return { path, prune: false }
      return { path, prune: true }
  }
}

function startsWith(path: NodePath, prefix: NodePath): boolean {
  return prefix.length <= path.length && prefix.every((s, i) => String(s) === String(path[i]))
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
    // A step that is not a mapping passes both branches of oneOf (`required` holds on a non-object): its type is the problem.
    if (e.parentSchema === STEP_SCHEMA && e.keyword === 'oneOf' && errors.some((t) => t.keyword === 'type' && t.instancePath === e.instancePath)) return false
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
const AUTH_SCHEMA = definitions['upstream_auth']
const TLS_SCHEMA = definitions['tls']

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
    case 'maxProperties':
      if (error.parentSchema === AUTH_SCHEMA) {
        const kinds = Object.keys(error.data as object)
        return at([...path, kinds[1]!], 'key', `${where} has ${kinds.join(' and ')}: an upstream authenticates one way, so keep one of them`, 'auth-invalid')
      }
      return at(path, 'value', `${where} ${error.message ?? 'is invalid'}`, 'invalid-value')
    case 'minProperties':
      if (error.parentSchema === AUTH_SCHEMA) return at(path, 'value', `${where} needs one of basic, bearer or oauth2`, 'auth-invalid')
      return at(path, 'value', `${where} ${error.message ?? 'is invalid'}`, 'invalid-value')
    case 'dependencies':
      if (error.parentSchema === TLS_SCHEMA) {
        const property = String(params['property'])
        const missing = String(params['missingProperty'])
        const why = property === 'passphrase' ? 'a passphrase unlocks the client key' : 'a client certificate is sent with its private key'
        return at([...path, property], 'key', `${where}.${property} needs ${missing}: ${why}`, 'tls-invalid')
      }
      return at([...path, String(params['property'])], 'key', `${where}.${String(params['property'])} needs ${String(params['missingProperty'])}: output maps the response of an HTTP step`, 'step-kind')
    case 'propertyNames':
      return at([...path, String(params['propertyName'])], 'key', `invalid name '${String(params['propertyName'])}' in ${where}`, 'invalid-value')
    default:
      return at(path, 'value', `${where} ${error.message ?? 'is invalid'}`, 'invalid-value')
  }
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
