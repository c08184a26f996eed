import type { Diagnostic } from './diagnostics.js'
import { didYouMean } from './suggest.js'
import { describePath, diagnosticInValue, type NodePath, type YamlSource } from './yaml-source.js'

/**
 * A lint that knows the data's shape: the paths an expression reads from
 * `$data` are checked against the step's `input` schema, and the paths it
 * reads from `dependencies_context` (`fetch_customer.data.name`) against the
 * steps that exist and their `data_schema`. A typo (`$data.amout`) otherwise
 * yields nothing, silently.
 *
 * Only what is certain is reported: a path is followed while its steps are
 * plain names over schemas that say which properties exist; anything else (a
 * wildcard, a function, a `$ref` to another file, a schema without
 * `properties`) ends the check of that path without a finding.
 */

/** The parts of a JSONata parse-tree node that this check reads. */
interface AstNode {
  readonly type?: string
  readonly value?: unknown
  /** Index just past the node's token in the expression text. */
  readonly position?: number
  readonly steps?: readonly AstNode[]
  readonly stages?: readonly unknown[]
  readonly group?: unknown
  readonly body?: unknown
  readonly lhs?: unknown
  readonly rhs?: unknown
}

type Schema = Record<string, unknown> | boolean

export interface ShapeContext {
  readonly source: YamlSource
  /** Every step the file defines. */
  readonly stepNames: ReadonlySet<string>
  /** `external_steps`: served elsewhere, known by name only. */
  readonly external: ReadonlySet<string>
  /** A step's `data_schema`, resolved, when it has one. */
  readonly dataSchema: (step: string) => Schema | undefined
}

export interface ExpressionToCheck {
  readonly text: string
  readonly ast: unknown
  /** Where the expression is written. */
  readonly at: NodePath
  /** The step's `input` schema, resolved, when it has one. */
  readonly inputSchema: Schema | undefined
  /** Whether the expression's root is dependencies_context (not for `output`, whose root is the response). */
  readonly rootIsDependencies: boolean
}

export function checkShapes(expression: ExpressionToCheck, ctx: ShapeContext): Diagnostic[] {
  const found: Diagnostic[] = []
  const report = (node: AstNode, message: string, severity: Diagnostic['severity']) =>
    found.push(diagnosticInValue(ctx.source, expression.at, tokenStart(node, expression.text), `${describePath(expression.at)}: ${message}`, 'shape', severity))

  forEachPath(expression.ast, (path, atRoot) => {
    const steps = path.steps ?? []
    const first = steps[0]
    if (first === undefined) return
    if (first.type === 'variable' && first.value === 'data') {
      if (expression.inputSchema !== undefined) followSchema(expression.inputSchema, steps.slice(1), '$data', "the step's input schema", report)
      return
    }
    if (!atRoot || !expression.rootIsDependencies || first.type !== 'name' || typeof first.value !== 'string') return
    const step = first.value
    if (!ctx.stepNames.has(step)) {
      if (ctx.external.has(step)) return
      // `fetch-customer.data` read as `fetch - customer.data`: the hyphenated-name check says it better.
      if (hyphenParts(ctx).has(step)) return
      const hint = didYouMean(step, ctx.stepNames)
      report(first, `'${step}' is not a step of this file, so dependencies_context has nothing under it${hint}; list steps served elsewhere in external_steps`, 'warning')
      return
    }
    const second = steps[1]
    if (second === undefined || second.type !== 'name') return
    if (second.value === 'exit_code') return
    if (second.value !== 'data') {
      report(second, `a step's answer in dependencies_context has data and exit_code, not '${String(second.value)}'${didYouMean(String(second.value), ['data', 'exit_code'])}`, 'warning')
      return
    }
    const schema = ctx.dataSchema(step)
    if (schema !== undefined) followSchema(schema, steps.slice(2), `${step}.data`, `${step}'s data_schema`, report)
  })
  return found
}

const partsOf = new WeakMap<ShapeContext, Set<string>>()

/** The pieces of the hyphenated step names (`fetch`, `customer` of `fetch-customer`), once per config. */
function hyphenParts(ctx: ShapeContext): Set<string> {
  let parts = partsOf.get(ctx)
  if (parts === undefined) {
    parts = new Set([...ctx.stepNames, ...ctx.external].filter((name) => name.includes('-')).flatMap((name) => name.split('-')))
    partsOf.set(ctx, parts)
  }
  return parts
}

/** Walks a path's name steps down a schema; reports the first name the schema does not define. */
function followSchema(
  root: Schema,
  steps: readonly AstNode[],
  prefix: string,
  what: string,
  report: (node: AstNode, message: string, severity: Diagnostic['severity']) => void,
): void {
  let schema: Schema | undefined = root
  let written = prefix
  for (const step of steps) {
    if (step.type !== 'name' || typeof step.value !== 'string' || schema === undefined) return
    const name = step.value
    // JSONata maps a path over arrays: a name after an array means its items'.
    schema = itemsOf(schema, root)
    if (schema === undefined) return
    const known = properties(schema, root)
    if (known === undefined) return
    if (!known.names.has(name)) {
      const hint = didYouMean(name, known.names)
      if (known.closed) report(step, `${written}.${name} is not allowed by ${what} (additionalProperties: false), so it is always empty${hint}`, 'error')
      else report(step, `${what} does not define ${written}.${name}${hint}`, 'warning')
      return
    }
    schema = known.schemaOf(name)
    written += `.${name}`
  }
}

/** An array schema's items (repeatedly), the schema itself otherwise; undefined when it cannot be known. */
function itemsOf(schema: Schema, root: Schema): Schema | undefined {
  let current: Schema | undefined = resolve(schema, root)
  for (let depth = 0; depth < 10 && current !== undefined && typeof current === 'object'; depth++) {
    const type = current['type']
    const isArray = type === 'array' || (Array.isArray(type) && type.length === 1 && type[0] === 'array')
    if (!isArray) return current
    const items = current['items']
    if (items === undefined || Array.isArray(items)) return undefined
    current = resolve(items as Schema, root)
  }
  return current
}

/** The properties a schema defines (with its allOf/anyOf/oneOf branches), or undefined when they cannot be known. */
function properties(schema: Schema, root: Schema): { names: Set<string>; closed: boolean; schemaOf: (name: string) => Schema | undefined } | undefined {
  if (typeof schema === 'boolean') return undefined
  const branches: Record<string, unknown>[] = []
  const collect = (s: Schema | undefined, depth: number): boolean => {
    const r = s === undefined ? undefined : resolve(s, root)
    if (r === undefined || typeof r === 'boolean' || depth > 10) return false
    branches.push(r)
    for (const key of ['allOf', 'anyOf', 'oneOf']) {
      const list = r[key]
      if (Array.isArray(list)) for (const b of list) if (!collect(b as Schema, depth + 1)) return false
    }
    return true
  }
  if (!collect(schema, 0)) return undefined
  // Any branch open to other names, or naming them by pattern, makes every name possible.
  if (branches.some((b) => b['patternProperties'] !== undefined || (b['additionalProperties'] !== undefined && b['additionalProperties'] !== false))) return undefined
  const defining = branches.filter((b) => typeof b['properties'] === 'object' && b['properties'] !== null)
  if (defining.length === 0) return undefined
  const names = new Set(defining.flatMap((b) => Object.keys(b['properties'] as object)))
  const closed = branches.some((b) => b['additionalProperties'] === false) && branches.every((b) => b['additionalProperties'] === false || b['properties'] === undefined)
  return {
    names,
    closed,
    schemaOf: (name) => {
      const all = defining.map((b) => (b['properties'] as Record<string, Schema>)[name]).filter((s) => s !== undefined)
      // Defined in more than one branch: each may say something else; stop there.
      return all.length === 1 ? all[0] : undefined
    },
  }
}

/** A schema with a local `$ref` (`#/definitions/...`, `#/$defs/...`) followed; undefined for other refs. */
function resolve(schema: Schema, root: Schema): Schema | undefined {
  let current: Schema = schema
  for (let depth = 0; depth < 10; depth++) {
    if (typeof current === 'boolean') return current
    const ref = current['$ref']
    if (typeof ref !== 'string') return current
    if (!ref.startsWith('#/') || typeof root === 'boolean') return undefined
    let target: unknown = root
    for (const part of ref.slice(2).split('/')) {
      const key = part.replaceAll('~1', '/').replaceAll('~0', '~')
      target = typeof target === 'object' && target !== null ? (target as Record<string, unknown>)[key] : undefined
    }
    if (typeof target !== 'object' && typeof target !== 'boolean') return undefined
    current = target as Schema
  }
  return undefined
}

/**
 * Calls `visit` for every path of the tree, saying whether it is evaluated
 * against the expression's root: not inside another path's later steps, its
 * predicates or its group-by, nor inside a function's body.
 */
function forEachPath(ast: unknown, visit: (path: AstNode, atRoot: boolean) => void): void {
  const walk = (node: unknown, atRoot: boolean): void => {
    if (typeof node !== 'object' || node === null) return
    if (Array.isArray(node)) {
      for (const item of node) walk(item, atRoot)
      return
    }
    const n = node as AstNode
    if (n.type === 'path' && Array.isArray(n.steps)) {
      visit(n, atRoot)
      n.steps.forEach((step, i) => {
        // The first step is evaluated where the path is; the rest against what it yields.
        walkChildren(step, atRoot && i === 0 ? atRoot : false)
      })
      if (n.group !== undefined) walk(n.group, false)
      return
    }
    if (n.type === 'lambda') {
      walk(n.body, false)
      return
    }
    walkChildren(n, atRoot)
  }
  const walkChildren = (node: unknown, atRoot: boolean): void => {
    if (typeof node !== 'object' || node === null) return
    const n = node as AstNode
    for (const [key, value] of Object.entries(n)) {
      if (key === 'position' || key === 'value' || key === 'type') continue
      // Predicates and other stages read the step's own items.
      walk(value, key === 'stages' || key === 'predicate' || key === 'group' ? false : atRoot)
    }
  }
  walk(ast, true)
}

/** Where a name's token starts in the expression text (inside backticks for a quoted name). */
function tokenStart(node: AstNode, text: string): number {
  const end = node.position ?? 0
  const value = typeof node.value === 'string' ? node.value : ''
  if (text.slice(end - value.length, end) === value) return Math.max(0, end - value.length)
  // `name` in backticks: the position is past the closing backtick.
  return Math.max(0, end - value.length - 1)
}
