import { dirname, extname, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Ajv, type ErrorObject, type SchemaObject, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'
import jsonc from 'jsonc-parser'
import { isMap, isScalar, isSeq, isPair, type Node } from 'yaml'
import type { Diagnostic } from './diagnostics.js'
import type { InputSchema } from './steps-file.generated.js'
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
    // type and tuple hints are advice, and become lint warnings.
    strictSchema: true,
    strictNumbers: true,
    strictTypes: 'log',
    strictTuples: 'log',
    strictRequired: false,
    allErrors: true,
    // Checked against the meta-schema by the one process-wide validator below:
    // compiling the meta-schema again for every loaded config is the slowest
    // part of a reload, and it never changes.
    validateSchema: false,
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
    const metaProblems = checkMeta(withId)
    if (metaProblems !== undefined) return { diagnostics: metaErrors(metaProblems, site) }
    const asked = new Set<string>()
    for (;;) {
      warnings.length = 0
      try {
        const validate = ajv.compile(withId)
        diagnostics.push(...warnings.map((w) => strictWarning(w, site)))
        return { validate, diagnostics }
      } catch (err) {
        ajv.removeSchema(schemaId)
        const e = err as Error & { missingSchema?: string; missingRef?: string }
        const missing = e.missingSchema
        const written = /can't resolve reference (.*) from id /.exec(e.message)?.[1] ?? e.missingRef ?? ''
        if (missing === undefined) return { diagnostics: [strictError(e.message, site)] }
        const refSite = () => findRef(written, site)
        if (missing === '' || asked.has(missing) || sites.has(missing)) {
          return { diagnostics: [{ ...refSite(), message: `cannot resolve $ref '${written}'`, rule: 'schema-invalid' }] }
        }
        asked.add(missing)
        if (!missing.startsWith('file:')) {
          return { diagnostics: [{ ...refSite(), message: `$ref '${written}' must point at a local schema file (.json or .yaml)`, rule: 'schema-invalid' }] }
        }
        const loaded = await loadFile(fileURLToPath(missing), refSite)
        if ('diagnostics' in loaded) return loaded
        const sub = loaded.schema
        if (typeof sub !== 'object' || sub === null) {
          return { diagnostics: [{ ...refSite(), message: `$ref '${written}' points at a file that is not a schema object`, rule: 'schema-invalid' }] }
        }
        const subWithId = ('$id' in sub ? sub : { ...sub, $id: missing }) as SchemaObject
        sites.set((subWithId as { $id: string }).$id, loaded.site)
        const subProblems = checkMeta(subWithId)
        if (subProblems !== undefined) return { diagnostics: metaErrors(subProblems, loaded.site) }
        ajv.addSchema(subWithId)
      }
    }
  }

  /** Strict-mode compile errors name a keyword but no place: find the place. */
  function strictError(message: string, site: SchemaSite): Diagnostic {
    const keyword = /unknown keyword: "([^"]+)"/.exec(message)?.[1]
    if (keyword !== undefined) {
      for (const s of [site, ...sites.values()]) {
        const found = findKey(s, keyword)
        if (found !== undefined) {
          const hint = didYouMean(keyword, KNOWN_KEYWORDS)
          return diagnosticAtOffset(s.source, found, `unknown JSON Schema keyword '${keyword}'${hint} (ajv strict mode)`, 'schema-invalid')
        }
      }
    }
    return diagnosticAt(site.source, site.path, 'value', `invalid input schema: ${message}`, 'schema-invalid')
  }

  function strictWarning(message: string, site: SchemaSite): Diagnostic {
    const pointer = /at "#([^"]*)"/.exec(message)?.[1] ?? ''
    const path = pointer === '' ? [] : pointer.slice(1).split('/')
    return diagnosticAt(site.source, [...site.path, ...path], 'value', message.replace(/^strict mode: /, ''), 'schema-invalid', 'warning')
  }

  function findRef(written: string, site: SchemaSite): Diagnostic {
    for (const s of [site, ...sites.values()]) {
      const found = findKey(s, '$ref', written)
      if (found !== undefined) return diagnosticAtOffset(s.source, found, '', 'schema-invalid')
    }
    return diagnosticAt(site.source, site.path, 'value', '', 'schema-invalid')
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

/** The schema's problems against its meta-schema (draft-07), or undefined. */
function checkMeta(schema: SchemaObject): readonly ErrorObject[] | undefined {
  return (metaAjv.validateSchema(schema) as boolean) ? undefined : (metaAjv.errors ?? [])
}

function metaErrors(errors: readonly ErrorObject[], site: SchemaSite): Diagnostic[] {
  // Report the first complaint per place: the meta-schema's anyOf branches repeat themselves.
  const byPlace = new Map<string, ErrorObject>()
  for (const e of errors) if (!byPlace.has(e.instancePath)) byPlace.set(e.instancePath, e)
  return [...byPlace.values()].map((e) => {
    const path = e.instancePath === '' ? [] : e.instancePath.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    const where = path.length === 0 ? 'the schema' : `'${path.join('/')}'`
    return diagnosticAt(site.source, [...site.path, ...path], 'value', `invalid input schema: ${where} ${e.message ?? 'is invalid'}`, 'schema-invalid')
  })
}

/** Offset of the first map key named `key` under a site (optionally with a given scalar value). */
function findKey(site: SchemaSite, key: string, value?: string): number | undefined {
  const root = locate(site.source, site.path).node
  const stack: unknown[] = root === undefined ? [] : [root]
  while (stack.length > 0) {
    const node = stack.shift()
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair)) continue
        const k = pair.key as Node | null
        if (isScalar(k) && k.value === key && (value === undefined || (isScalar(pair.value) && pair.value.value === value))) {
          return (value === undefined ? k.range : (pair.value as Node).range)?.[0]
        }
        stack.push(pair.value)
      }
    } else if (isSeq(node)) {
      stack.push(...node.items)
    }
  }
  return undefined
}

const KNOWN_KEYWORDS = [
  'type', 'properties', 'required', 'additionalProperties', 'items', 'enum', 'const', 'format', 'pattern',
  'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minLength', 'maxLength', 'minItems', 'maxItems',
  'uniqueItems', 'minProperties', 'maxProperties', 'patternProperties', 'propertyNames', 'dependencies',
  'allOf', 'anyOf', 'oneOf', 'not', 'if', 'then', 'else', 'definitions', '$ref', '$id', '$schema', 'description',
  'title', 'default', 'examples', 'multipleOf', 'contains', 'additionalItems', '$comment', 'readOnly', 'writeOnly',
]
