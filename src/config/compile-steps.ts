import { createHash } from 'node:crypto'
import { compileExpression, DEFAULT_EXPRESSION_LIMITS, describeExpressionError, type Expression } from '../core/expression.js'
import type { EngineLimits } from '../engine/index.js'
import type { CompiledStep, StepAction } from '../core/registry.js'
import { compileHttp, type HttpContext } from './compile-http.js'
import { compileUpstreams, type CompiledUpstream } from './compile-upstreams.js'
import type { SecretFiles } from './interpolate.js'
import { checkShapes, type ExpressionToCheck, type ShapeContext } from './shape-lint.js'
import type { Diagnostic } from './diagnostics.js'
import type { InputSchemas } from './input-schemas.js'
import { findHyphenatedNames } from './hyphenated-names.js'
import type { Limits, StepsFile } from './steps-file.generated.js'
import type { PartialStep } from './validate-format.js'
import { describePath, diagnosticAt, diagnosticInValue, type NodePath, type YamlSource } from './yaml-source.js'

export interface CompileContext {
  readonly source: YamlSource
  readonly schemas: InputSchemas
  readonly env: Readonly<Record<string, string | undefined>>
  /** `${file:PATH}` contents, read before compiling. */
  readonly files: SecretFiles
  readonly allowMissingEnv: boolean
  readonly defaults: StepsFile['defaults']
  /** The `upstreams` that passed the format check, and every upstream name written (valid or not). */
  readonly upstreams: Readonly<Record<string, Partial<NonNullable<StepsFile['upstreams']>[string]>>>
  readonly upstreamNames: readonly string[]
  /** `external_steps`: steps served elsewhere that expressions may read from dependencies_context. */
  readonly externalSteps: readonly string[]
  readonly userAgent: string
  /** Every step name the file defines, valid or not: what a hyphenated name in an expression may mean. */
  readonly stepNames: ReadonlySet<string>
  /** Whether the format check found a problem at a path (that part is not in the definitions). */
  readonly hasFormatErrorAt: (path: NodePath) => boolean
}

/**
 * Compiles every step, and what is valid of the steps that failed the format
 * check; collects every problem rather than stopping at the first. Only steps
 * without errors are in the result.
 */
export async function compileSteps(
  definitions: Readonly<Record<string, PartialStep>>,
  ctx: CompileContext,
): Promise<{ steps: Map<string, CompiledStep>; upstreams: ReadonlyMap<string, CompiledUpstream | undefined>; diagnostics: Diagnostic[] }> {
  const steps = new Map<string, CompiledStep>()
  const diagnostics: Diagnostic[] = []
  const upstreams = compileUpstreams(ctx.upstreams, { source: ctx.source, env: ctx.env, files: ctx.files, allowMissingEnv: ctx.allowMissingEnv, diagnostics, hasFormatErrorAt: ctx.hasFormatErrorAt })
  // A name whose entry the format check took out is still a name: no "unknown upstream" for it.
  for (const name of ctx.upstreamNames) if (!upstreams.has(name)) upstreams.set(name, undefined)
  const usedUpstreams = new Set<string>()
  const defaultLimits = expressionLimits(ctx.defaults?.limits, DEFAULT_EXPRESSION_LIMITS)
  const expression = (text: string, at: NodePath) => compileAt(text, at, ctx, diagnostics, defaultLimits)
  const http: HttpContext = {
    hasFormatErrorAt: ctx.hasFormatErrorAt,
    source: ctx.source,
    env: ctx.env,
    files: ctx.files,
    allowMissingEnv: ctx.allowMissingEnv,
    defaults: ctx.defaults?.http ?? {},
    upstreams,
    usedUpstreams,
    userAgent: ctx.userAgent,
    diagnostics,
    expression,
  }
  const toCheck: (ExpressionToCheck & { readonly step: string })[] = []
  const dataSchemas = new Map<string, unknown>()
  for (const [name, step] of Object.entries(definitions)) {
    const compiled = await compileStep(name, step, ['steps', name], ctx, http, diagnostics, toCheck, dataSchemas)
    if (compiled !== undefined) steps.set(name, compiled)
  }
  // The shapes, once every step's data_schema is known: a step reads the ones before and after it alike.
  const shapes: ShapeContext = {
    source: ctx.source,
    stepNames: ctx.stepNames,
    external: new Set(ctx.externalSteps),
    dataSchema: (step) => dataSchemas.get(step) as boolean | Record<string, unknown> | undefined,
  }
  for (const expression of toCheck) diagnostics.push(...checkShapes(expression, shapes))
  for (const name of ctx.upstreamNames) {
    if (!usedUpstreams.has(name)) {
      diagnostics.push(diagnosticAt(ctx.source, ['upstreams', name], 'key', `upstream '${name}' is not used by any step (http.upstream: ${name})`, 'upstream-unused', 'warning'))
    }
  }
  return { steps, upstreams, diagnostics }
}

async function compileStep(
  name: string,
  step: PartialStep,
  at: NodePath,
  ctx: CompileContext,
  shared: HttpContext,
  diagnostics: Diagnostic[],
  toCheck: (ExpressionToCheck & { readonly step: string })[],
  dataSchemas: Map<string, unknown>,
): Promise<CompiledStep | undefined> {
  const before = diagnostics.length
  // Every expression of the step runs within its limits: the file's defaults, overridden key by key.
  const limits = expressionLimits(step.limits, expressionLimits(ctx.defaults?.limits, DEFAULT_EXPRESSION_LIMITS))
  const http: HttpContext = { ...shared, expression: (text, path) => compileAt(text, path, ctx, diagnostics, limits) }
  let validate: CompiledStep['validate']
  if (step.input !== undefined) {
    const result = await ctx.schemas.compile(step.input, [...at, 'input'])
    diagnostics.push(...result.diagnostics)
    validate = result.validate
  }
  // A schema that did not compile has no validator: the step must not run without one.
  const inputFailed = step.input !== undefined && validate === undefined
  let dataSchema: CompiledStep['dataSchema']
  if (step.data_schema !== undefined) {
    const result = await ctx.schemas.compile(step.data_schema, [...at, 'data_schema'])
    diagnostics.push(...result.diagnostics)
    dataSchema = result.validate
    if (dataSchema !== undefined) dataSchemas.set(name, dataSchema.schema)
  }
  const dataSchemaFailed = step.data_schema !== undefined && dataSchema === undefined
  const transform = step.transform === undefined ? undefined : http.expression(step.transform, [...at, 'transform'])
  // Checked even without http (a format error then), since its syntax is a problem of its own.
  const output = step.output === undefined ? undefined : http.expression(step.output, [...at, 'output'])

  let action: StepAction | undefined
  if (step.http !== undefined) {
    const call = compileHttp(step.http, step.transform !== undefined, [...at, 'http'], http)
    if (call !== undefined) action = { ...call, output }
  } else if (step.exit_code !== undefined) {
    action = { kind: 'static', exitCode: step.exit_code }
  }

  // The expressions whose paths the shape lint checks, with the step's input schema.
  const inputSchema = validate?.schema as boolean | Record<string, unknown> | undefined
  const check = (text: string | undefined, expression: Expression | undefined, key: NodePath, rootIsDependencies: boolean) => {
    if (text !== undefined && expression !== undefined) toCheck.push({ step: name, text, ast: expression.ast(), at: [...at, ...key], inputSchema, rootIsDependencies })
  }
  check(step.transform, transform, ['transform'], true)
  check(step.output, output, ['output'], false)
  if (action?.kind === 'http') {
    check(step.http?.params, action.params, ['http', 'params'], true)
    check(step.http?.query, action.query, ['http', 'query'], true)
  }

  if (action === undefined || inputFailed || dataSchemaFailed || ctx.hasFormatErrorAt(at) || diagnostics.slice(before).some((d) => d.severity === 'error')) return undefined
  return { name, validate, dataSchema, transform, action }
}

/**
 * Compiles a JSONata expression; a syntax error points at the bad token
 * inside it, and so does a step name with a hyphen that JSONata reads as a
 * subtraction.
 */
function compileAt(text: string, at: NodePath, ctx: CompileContext, diagnostics: Diagnostic[], limits: EngineLimits): Expression | undefined {
  const { source } = ctx
  try {
    const start = diagnosticInValue(source, at, 0, '', 'jsonata-syntax')
    // Runtime errors point at their token in the file: the YAML source is kept for that (only an error asks).
    const locate = (position: number, token: string | undefined) => {
      // JSONata's position is just past the token, or past the `(` of a
      // function call whose token is the name: find the token's first character.
      let index = token === undefined || token === '' ? -1 : text.lastIndexOf(token, Math.max(0, position - 1))
      if (index < 0) index = Math.max(0, position - (token?.length ?? 0))
      if (index > 0 && text[index - 1] === '$' && token !== undefined && !token.startsWith('$')) index--
      const d = diagnosticInValue(source, at, index, '', 'jsonata-syntax')
      return `${d.file}:${d.line}:${d.col}`
    }
    const expression = compileExpression(text, limits, `${start.file}:${start.line}:${start.col}`, locate)
    for (const found of findHyphenatedNames(expression.ast(), text, ctx.stepNames)) {
      diagnostics.push(
        diagnosticInValue(
          source,
          at,
          found.index,
          `${describePath(at)}: '${found.name}' is read by JSONata as a subtraction (${found.name.split('-').join(' minus ')}), which yields nothing: write the step name in backticks, ${found.fix}`,
          'hyphenated-name',
        ),
      )
    }
    return expression
  } catch (err) {
    const info = describeExpressionError(err)
    // JSONata's position is just past the offending token.
    const token = info.token !== undefined && info.token !== '(end)' ? info.token : ''
    const index = Math.max(0, (info.position ?? 0) - token.length)
    if (info.code === 'S0303') diagnostics.push(diagnosticInValue(source, at, index, `${describePath(at)}: ${info.message}`, 'regex-unsupported'))
    else diagnostics.push(diagnosticInValue(source, at, index, `${describePath(at)}: JSONata syntax error: ${info.message}`, 'jsonata-syntax'))
    return undefined
  }
}

/** A `limits` block over the limits it overrides, key by key. */
function expressionLimits(written: Limits | undefined, base: EngineLimits): EngineLimits {
  if (written === undefined) return base
  return {
    timeoutMs: written.timeout_ms ?? base.timeoutMs,
    maxDepth: written.max_depth ?? base.maxDepth,
    maxItems: written.max_items ?? base.maxItems,
    maxStringLength: written.max_string_length ?? base.maxStringLength,
  }
}

/** A short content hash of every file a config was read from, to tell configs apart. */
export function hashConfig(texts: readonly string[]): string {
  const hash = createHash('sha256')
  for (const text of texts) hash.update(createHash('sha256').update(text).digest())
  return hash.digest('hex').slice(0, 16)
}
