import { dirname, extname, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Ajv, type ErrorObject, type SchemaObject, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'
import jsonc from 'jsonc-parser'
import { isMap, isScalar, isSeq, isPair, type Node } from 'yaml'
import { hasErrors, type Diagnostic } from './diagnostics.js'
import { pointerToPath, without } from './json-paths.js'
import type { InputSchema } from './steps-file.generated.js'
import { linearRegExp, patternProblem } from '../engine/regex.js'
import { didYouMean } from './suggest.js'
import { describePath, diagnosticAt, diagnosticAtOffset, locate, parseYamlSource, toValue, unreadable, type NodePath, type YamlSource } from './yaml-source.js'

// ajv-formats is CommonJS with a default export that NodeNext sees as the module.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default

export type ReadFile = (absolutePath: string) => Promise<string>

/** Where a schema sits: in which file, and under which path of that file. */
interface SchemaSite {
  readonly source: YamlSource
  readonly path: NodePath
}

export interface InputSchemas {
  /** Compiles a step's `input` (inline, or a file path relative to the steps file). */
  compile(input: InputSchema, at: NodePath): Promise<{ validate?: ValidateFunction; diagnostics: Diagnostic[] }>
  /** Absolute paths of every schema file read so far, for watching. */
  readonly files: ReadonlySet<string>
}

/**
 * One Ajv instance per loaded config: ajv caches every compiled schema on its
 * instance, so sharing one across reloads would grow without end.
 */
export function createInputSchemas(steps: YamlSource, stepsPath: string, readFile: ReadFile): InputSchemas {
  const stepsDir = dirname(resolve(stepsPath))
  const warnings: string[] = []
  const ajv = new Ajv({
    // ajv's strict mode as it ships: unknown keywords and formats are errors;
    // type and tuple hints are advice, and become lint warnings. 'log' rather
    // than true, so that every unknown keyword is reported, not the first alone:
    // strictProblems() makes errors of them.
    strictSchema: 'log',
    strictNumbers: true,
    strictTypes: 'log',
    strictTuples: 'log',
    strictRequired: false,
    allErrors: true,
    // Checked against the meta-schema by the one process-wide validator below:
    // compiling the meta-schema again for every loaded config is the slowest
    // part of a reload, and it never changes.
    validateSchema: false,
    // `pattern` and `patternProperties` on a linear-time engine: an input
    // cannot make validation backtrack (see src/engine/regex.ts).
    code: { regExp: linearRegExp as never },
    logger: { log: () => {}, warn: (...args: unknown[]) => warnings.push(args.map(String).join(' ')), error: () => {} },
  })
  addFormats(ajv)

  const files = new Set<string>()
  const byFile = new Map<string, Promise<{ validate?: ValidateFunction; diagnostics: Diagnostic[] }>>()
  const sites = new Map<string, SchemaSite>() // schema $id → where its text is, for positions

  const display = (abs: string) => join(dirname(steps.file), relative(stepsDir, abs))

  async function loadFile(abs: string, referencedFrom: () => Diagnostic): Promise<{ schema: unknown; site: SchemaSite } | { diagnostics: Diagnostic[] }> {
    files.add(abs)
    const file = display(abs)
    let text: string
    try {
      text = await readFile(abs)
    } catch (err) {
      return { diagnostics: [{ ...referencedFrom(), message: `schema file '${file}' ${unreadable(err)}` }] }
    }
    const ext = extname(abs).toLowerCase()
    const { source, diagnostics } = parseYamlSource(file, text)
    if (ext === '.json') {
      try {
        return { schema: JSON.parse(text), site: { source, path: [] } }
      } catch {
        return { diagnostics: [jsonSyntaxError(source)] }
      }
    }
    if (ext === '.yaml' || ext === '.yml') {
      if (diagnostics.length > 0) return { diagnostics: diagnostics.map((d) => ({ ...d, message: `schema file is not valid YAML: ${d.message}` })) }
      const read = toValue(source)
      return read.ok ? { schema: read.value, site: { source, path: [] } } : { diagnostics: [{ ...read.diagnostic, rule: 'schema-file' }] }
    }
    return { diagnostics: [{ ...referencedFrom(), message: `schema file '${file}' must end in .json, .yaml or .yml`, rule: 'schema-file' }] }
  }

  /** Sub-schemas added to ajv (from $ref'd files), by $id: a $ref that does not resolve is taken out of them. */
  const added = new Map<string, SchemaObject>()
  /** Every problem reported so far in this config, so that a file shared by several schemas is reported once. */
  const reported = new Set<string>()

  /**
   * Compiles a schema, reporting every independent problem in one run: the
   * meta-schema's complaints (those parts are left out of the compile), each
   * unknown keyword, and each $ref that does not resolve (taken out, and
   * compiled again, until the rest compiles).
   */
  async function compileAt(schema: unknown, id: string, site: SchemaSite): Promise<{ validate?: ValidateFunction; diagnostics: Diagnostic[] }> {
    if (typeof schema === 'boolean') return { validate: ajv.compile(schema), diagnostics: [] }
    if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
      return { diagnostics: [diagnosticAt(site.source, site.path, 'value', 'an input schema must be a mapping (a JSON Schema object) or true/false', 'schema-invalid')] }
    }
    if ('$async' in schema) {
      // An async schema compiles to a validator that returns a promise, which
      // would read as "valid" in the synchronous path.
      return { diagnostics: [diagnosticAt(site.source, [...site.path, '$async'], 'key', "'$async' schemas are not supported for step input", 'schema-invalid')] }
    }
    const withId = ('$id' in schema ? schema : { ...schema, $id: id }) as SchemaObject
    const schemaId = String((withId as { $id: unknown }).$id)
    sites.set(schemaId, site)
    const diagnostics: Diagnostic[] = []
    const report = (found: readonly Diagnostic[]) => {
      for (const d of found) {
        const key = `${d.file}:${d.line}:${d.col}:${d.message}`
        if (!reported.has(key)) diagnostics.push(d)
        reported.add(key)
      }
    }
    // A schema that had to be changed to compile has no validator, even when its problems were reported by an earlier schema.
    let changed = false
    const done = (validate?: ValidateFunction) => (validate !== undefined && !changed && !hasErrors(diagnostics) ? { validate, diagnostics } : { diagnostics })
    // ajv's type advice about a schema with parts left out would be about the
    // parts left out (`type: objekt` taken out: "missing type object"): none then.
    let advice = true
    const checkedMeta = (schema: SchemaObject, at: SchemaSite) => {
      const result = checked(schema, at, report)
      if (result !== schema) {
        advice = false
        changed = true
      }
      return result
    }
    let root = checkedMeta(withId, site)
    const asked = new Set<string>()
    for (let attempt = 0; attempt < MAX_COMPILE_ATTEMPTS; attempt++) {
      warnings.length = 0
      try {
        const validate = ajv.compile(root)
        report(strictProblems(warnings, site, advice))
        return done(validate)
      } catch (err) {
        ajv.removeSchema(schemaId)
        report(strictProblems(warnings, site, advice))
        const e = err as Error & { missingSchema?: string; missingRef?: string }
        const missing = e.missingSchema
        if (missing === undefined) {
          report([strictError(e.message, site)])
          // An unknown format is taken out, so that the rest is checked too.
          const format = /^unknown format "(.*)" ignored in schema/.exec(e.message)?.[1]
          const patched = format === undefined ? undefined : patch(root, (key, value) => key === 'format' && value === format)
          if (patched === undefined) return done()
          root = patched
          changed = true
          continue
        }
        const written = /can't resolve reference (.*) from id /.exec(e.message)?.[1] ?? e.missingRef ?? ''
        // The schema whose $ref it is: this one, or a schema file it reaches.
        const baseId = (/ from id (.*)$/.exec(e.message)?.[1] ?? schemaId).replace(/#$/, '')
        const refSites = () => findRefs(written, sites.get(baseId) ?? sites.get(`${baseId}#`) ?? site)
        if (missing !== '' && !asked.has(missing) && !sites.has(missing) && missing.startsWith('file:')) {
          asked.add(missing)
          const loaded = await loadFile(fileURLToPath(missing), () => refSites()[0]!)
          if (!('diagnostics' in loaded)) {
            const sub = loaded.schema
            if (typeof sub === 'object' && sub !== null && !Array.isArray(sub)) {
              const subWithId = ('$id' in sub ? sub : { ...sub, $id: missing }) as SchemaObject
              const subId = String((subWithId as { $id: unknown }).$id)
              sites.set(subId, loaded.site)
              const subChecked = checkedMeta(subWithId, loaded.site)
              added.set(subId.replace(/#$/, ''), subChecked)
              ajv.addSchema(subChecked)
              continue
            }
            report(refSites().map((d) => ({ ...d, message: `$ref '${written}' points at a file that is not a schema object` })))
          } else {
            report(loaded.diagnostics)
          }
        } else if (missing.startsWith('file:') || missing === '') {
          report(refSites().map((d) => ({ ...d, message: `cannot resolve $ref '${written}'` })))
        } else {
          report(refSites().map((d) => ({ ...d, message: `$ref '${written}' must point at a local schema file (.json or .yaml)` })))
        }
        // Take the $ref out where it is written, and compile again for the next problem.
        const isRef = (key: string, value: unknown) => key === '$ref' && value === written
        const owner = added.get(baseId)
        if (owner !== undefined && baseId !== schemaId.replace(/#$/, '')) {
          const patched = patch(owner, isRef)
          if (patched === undefined) return done()
          ajv.removeSchema(baseId)
          added.set(baseId, patched)
          ajv.addSchema(patched)
        } else {
          const patched = patch(root, isRef)
          if (patched === undefined) return done()
          root = patched
        }
        changed = true
      }
    }
    return done()
  }

  /** The schema without the parts its meta-schema rejects, each reported. */
  function checked(schema: SchemaObject, site: SchemaSite, report: (found: readonly Diagnostic[]) => void): SchemaObject {
    const declared = (schema as { $schema?: unknown }).$schema
    if (declared !== undefined && (typeof declared !== 'string' || metaAjv.getSchema(declared) === undefined)) {
      // ajv would throw on a meta-schema it does not know; say which one it knows, and check the rest.
      report([diagnosticAt(site.source, [...site.path, '$schema'], 'value', `unsupported $schema ${JSON.stringify(declared)}: input schemas are JSON Schema draft-07 (${DRAFT_07})`, 'schema-invalid')])
      return checked(without(schema, [['$schema']]) as SchemaObject, site, report)
    }
    const problems = checkMeta(schema)
    if (problems !== undefined) {
      report(metaErrors(problems, site))
      schema = without(schema, problems.map((e) => pointerToPath(e.instancePath))) as SchemaObject
    }
    // Patterns run on a linear-time engine: one it cannot run is reported
    // where it is written, and left out so that the rest is checked too.
    const patterns = unsupportedPatterns(schema, [])
    if (patterns.length === 0) return schema
    report(
      patterns.map((p) =>
        diagnosticAt(site.source, [...site.path, ...p.path], p.isKey ? 'key' : 'value', `pattern ${JSON.stringify(p.pattern)} cannot be used: ${p.problem}`, 'schema-invalid'),
      ),
    )
    return without(schema, patterns.map((p) => p.path)) as SchemaObject
  }

  /** ajv's strict-mode complaints: unknown keywords are errors, each where it is written; type and tuple hints are warnings. */
  function strictProblems(messages: readonly string[], site: SchemaSite, advice: boolean): Diagnostic[] {
    return messages.flatMap((message) => {
      if (/\(strictTypes\)$/.test(message) || /is \d+-tuple, but /.test(message)) return advice ? [strictWarning(message, site)] : []
      const keyword = /unknown keyword: "([^"]+)"/.exec(message)?.[1]
      if (keyword === undefined) return [strictError(message, site)]
      const hint = didYouMean(keyword, KNOWN_KEYWORDS)
      const at = schemaSites(site).flatMap((s) => findSchemaKeys(s, keyword).map((offset) => ({ s, offset })))
      return at.map(({ s, offset }) => diagnosticAtOffset(s.source, offset, `unknown JSON Schema keyword '${keyword}'${hint} (ajv strict mode)`, 'schema-invalid'))
    })
  }

  /** A strict-mode error that names no keyword: at the place it names (`at path "#/properties/x"`), else at the schema. */
  function strictError(message: string, site: SchemaSite): Diagnostic {
    const pointer = /at path "#([^"]*)"/.exec(message)?.[1]
    const text = message.replace(/^strict mode: /, '').replace(/ (ignored )?in schema at path "[^"]*"$/, '')
    const path = pointer === undefined ? [] : [...pointerToPath(pointer), ...(/^unknown format /.test(text) ? ['format'] : [])]
    // The path is within the schema it is from: this one, or a schema file it reaches.
    const where = schemaSites(site).find((s) => locate(s.source, [...s.path, ...path]).found) ?? site
    return diagnosticAt(where.source, [...where.path, ...path], 'value', `invalid input schema: ${text}`, 'schema-invalid')
  }

  function strictWarning(message: string, site: SchemaSite): Diagnostic {
    const pointer = /at (?:path )?"[^"#]*#([^"]*)"/.exec(message)?.[1] ?? ''
    const path = pointer === '' ? [] : pointer.slice(1).split('/')
    // The place is in the diagnostic: the schema's internal id in the message is noise.
    const text = message.replace(/^strict mode: /, '').replace(/ at "[^"]*"/, '')
    return diagnosticAt(site.source, [...site.path, ...path], 'value', text, 'schema-invalid', 'warning')
  }

  /** The schema being compiled and the schema files: where a keyword that ajv complains about may be written. */
  function schemaSites(site: SchemaSite): SchemaSite[] {
    return [site, ...[...sites.values()].filter((s) => s !== site && s.source !== steps)]
  }

  /** Every `$ref: written`, in the first place that has one, starting with the schema it is from (a diagnostic always points somewhere). */
  function findRefs(written: string, site: SchemaSite): Diagnostic[] {
    for (const s of [site, ...schemaSites(site)]) {
      const found = findSchemaKeys(s, '$ref', written)
      if (found.length > 0) return found.map((offset) => diagnosticAtOffset(s.source, offset, '', 'schema-invalid'))
    }
    return [diagnosticAt(site.source, site.path, 'value', '', 'schema-invalid')]
  }

  return {
    files,
    compile(input, at) {
      const stepsSite = { source: steps, path: at }
      if (typeof input !== 'string') {
        // A suffix on the last path segment keeps each inline schema's id unique
        // while relative $refs still resolve against the steps file's folder.
        const id = `${pathToFileURL(resolve(stepsPath)).href}--${encodeURIComponent(describePath(at))}`
        return compileAt(input, id, stepsSite)
      }
      const abs = resolve(stepsDir, input)
      let compiled = byFile.get(abs)
      if (compiled === undefined) {
        compiled = loadFile(abs, () => diagnosticAt(steps, at, 'value', '', 'schema-file')).then((loaded) =>
          'diagnostics' in loaded ? loaded : compileAt(loaded.schema, pathToFileURL(abs).href, loaded.site),
        )
        byFile.set(abs, compiled)
      }
      return compiled
    },
  }
}

/** Where and what the first JSON syntax error is: JSON.parse's messages do not always say where. */
function jsonSyntaxError(source: YamlSource): Diagnostic {
  const errors: jsonc.ParseError[] = []
  jsonc.parse(source.text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false })
  const first = errors[0]
  const what = first === undefined ? 'invalid JSON' : jsonc.printParseErrorCode(first.error).replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase()
  return diagnosticAtOffset(source, first?.offset ?? 0, `schema file is not valid JSON: ${what}`, 'schema-file')
}

const metaAjv = new Ajv({ allErrors: true, strict: false })
const DRAFT_07 = 'http://json-schema.org/draft-07/schema#'

/** The schema's problems against its meta-schema (draft-07), or undefined. */
function checkMeta(schema: SchemaObject): readonly ErrorObject[] | undefined {
  return (metaAjv.validateSchema(schema) as boolean) ? undefined : (metaAjv.errors ?? [])
}

function metaErrors(errors: readonly ErrorObject[], site: SchemaSite): Diagnostic[] {
  // Report the first complaint per place: the meta-schema's anyOf branches repeat themselves.
  const byPlace = new Map<string, ErrorObject>()
  for (const e of errors) if (!byPlace.has(e.instancePath)) byPlace.set(e.instancePath, e)
  return [...byPlace.values()].map((e) => {
    const path = pointerToPath(e.instancePath)
    const where = path.length === 0 ? 'the schema' : `'${path.join('/')}'`
    return diagnosticAt(site.source, [...site.path, ...path], 'value', `invalid input schema: ${where} ${e.message ?? 'is invalid'}`, 'schema-invalid')
  })
}

/** How many times a schema is compiled again after taking a bad $ref or format out, at most. */
const MAX_COMPILE_ATTEMPTS = 100

/**
 * Where subschemas are, by keyword: a schema, a mapping of names to schemas,
 * or a list of schemas. Only these are walked, so that a property named like
 * a keyword, or a keyword inside `enum` or `default`, is never taken for one.
 */
const SUBSCHEMAS: Readonly<Record<string, 'schema' | 'map' | 'list'>> = {
  additionalProperties: 'schema', additionalItems: 'schema', items: 'list', contains: 'schema', not: 'schema',
  if: 'schema', then: 'schema', else: 'schema', propertyNames: 'schema',
  properties: 'map', patternProperties: 'map', definitions: 'map', $defs: 'map', dependencies: 'map',
  allOf: 'list', anyOf: 'list', oneOf: 'list',
}

/** Every `pattern` and `patternProperties` pattern of a schema that the linear-time engine cannot run. */
function unsupportedPatterns(node: unknown, path: NodePath): { path: NodePath; pattern: string; problem: string; isKey: boolean }[] {
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return []
  const found: { path: NodePath; pattern: string; problem: string; isKey: boolean }[] = []
  for (const [key, value] of Object.entries(node)) {
    if (key === 'pattern' && typeof value === 'string') {
      const problem = patternProblem(value, 'u')
      if (problem !== undefined) found.push({ path: [...path, key], pattern: value, problem, isKey: false })
    }
    if (key === 'patternProperties' && typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const pattern of Object.keys(value)) {
        const problem = patternProblem(pattern, 'u')
        if (problem !== undefined) found.push({ path: [...path, key, pattern], pattern, problem, isKey: true })
      }
    }
    const kind = SUBSCHEMAS[key]
    if (kind === 'schema') found.push(...unsupportedPatterns(value, [...path, key]))
    else if (kind === 'list') {
      if (Array.isArray(value)) value.forEach((item, i) => found.push(...unsupportedPatterns(item, [...path, key, i])))
      else found.push(...unsupportedPatterns(value, [...path, key]))
    } else if (kind === 'map' && typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const [name, sub] of Object.entries(value)) found.push(...unsupportedPatterns(sub, [...path, key, name]))
    }
  }
  return found
}

/** The offsets of every key `key` in the schema at a site (of its value, when a value is given), in subschemas too. */
function findSchemaKeys(site: SchemaSite, key: string, value?: string): number[] {
  const found: number[] = []
  const visit = (node: unknown): void => {
    if (!isMap(node)) return
    for (const pair of node.items) {
      if (!isPair(pair) || !isScalar(pair.key)) continue
      const k = String(pair.key.value)
      if (k === key && (value === undefined || (isScalar(pair.value) && pair.value.value === value))) {
        const at = (value === undefined ? (pair.key as Node) : (pair.value as Node)).range?.[0]
        if (at !== undefined) found.push(at)
      }
      const kind = SUBSCHEMAS[k]
      if (kind === 'schema') visit(pair.value)
      else if (kind === 'list') (isSeq(pair.value) ? pair.value.items : [pair.value]).forEach(visit)
      else if (kind === 'map' && isMap(pair.value)) pair.value.items.forEach((p) => isPair(p) && visit(p.value))
    }
  }
  visit(locate(site.source, site.path).node)
  return found
}

/** A copy of a schema without the keys for which `drop` is true (in subschemas too), or undefined when there is none. */
function patch(schema: SchemaObject, drop: (key: string, value: unknown) => boolean): SchemaObject | undefined {
  let changed = false
  const copy = (node: unknown): unknown => {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return node
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(node)) {
      if (drop(k, v)) {
        changed = true
        continue
      }
      const kind = SUBSCHEMAS[k]
      if (kind === 'schema') out[k] = copy(v)
      else if (kind === 'list') out[k] = Array.isArray(v) ? v.map(copy) : copy(v)
      else if (kind === 'map' && typeof v === 'object' && v !== null && !Array.isArray(v)) out[k] = Object.fromEntries(Object.entries(v).map(([name, sub]) => [name, copy(sub)]))
      else out[k] = v
    }
    return out
  }
  const result = copy(schema) as SchemaObject
  return changed ? result : undefined
}

const KNOWN_KEYWORDS = [
  'type', 'properties', 'required', 'additionalProperties', 'items', 'enum', 'const', 'format', 'pattern',
  'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength', 'minItems', 'maxItems',
  'uniqueItems', 'minProperties', 'maxProperties', 'patternProperties', 'propertyNames', 'dependencies',
  'allOf', 'anyOf', 'oneOf', 'not', 'if', 'then', 'else', 'definitions', '$ref', '$id', '$schema', 'description',
  'title', 'default', 'examples', 'multipleOf', 'contains', 'additionalItems', '$comment', 'readOnly', 'writeOnly',
]
