import { createHash } from 'node:crypto'
import { compileExpression, describeExpressionError, type Expression } from '../core/expression.js'
import type { CompiledStep, StepAction } from '../core/registry.js'
import { compileHttp, type HttpContext } from './compile-http.js'
import type { Diagnostic } from './diagnostics.js'
import type { InputSchemas } from './input-schemas.js'
import type { Step, StepsFile } from './steps-file.generated.js'
import { describePath, diagnosticInValue, type NodePath, type YamlSource } from './yaml-source.js'

export interface CompileContext {
  readonly source: YamlSource
  readonly schemas: InputSchemas
  readonly env: Readonly<Record<string, string | undefined>>
  readonly allowMissingEnv: boolean
  readonly defaults: StepsFile['defaults']
  readonly userAgent: string
}

/** Compiles every step of a format-valid steps file; collects every problem rather than stopping at the first. */
export async function compileSteps(definitions: StepsFile['steps'], ctx: CompileContext): Promise<{ steps: Map<string, CompiledStep>; diagnostics: Diagnostic[] }> {
  const steps = new Map<string, CompiledStep>()
  const diagnostics: Diagnostic[] = []
  const expression = (text: string, at: NodePath) => compileAt(text, at, ctx.source, diagnostics)
  const http: HttpContext = {
    source: ctx.source,
    env: ctx.env,
    allowMissingEnv: ctx.allowMissingEnv,
    defaults: ctx.defaults?.http ?? {},
    userAgent: ctx.userAgent,
    diagnostics,
    expression,
  }
  for (const [name, step] of Object.entries(definitions)) {
    const compiled = await compileStep(name, step, ['steps', name], ctx, http, diagnostics)
    if (compiled !== undefined) steps.set(name, compiled)
  }
  return { steps, diagnostics }
}

async function compileStep(name: string, step: Step, at: NodePath, ctx: CompileContext, http: HttpContext, diagnostics: Diagnostic[]): Promise<CompiledStep | undefined> {
  const before = diagnostics.length
  let validate: CompiledStep['validate']
  if (step.input !== undefined) {
    const result = await ctx.schemas.compile(step.input, [...at, 'input'])
    diagnostics.push(...result.diagnostics)
    validate = result.validate
  }
  const transform = step.transform === undefined ? undefined : http.expression(step.transform, [...at, 'transform'])

  let action: StepAction | undefined
  if (step.http !== undefined) {
    const call = compileHttp(step.http, step.transform !== undefined, [...at, 'http'], http)
    const output = step.output === undefined ? undefined : http.expression(step.output, [...at, 'output'])
    if (call !== undefined) action = { ...call, output }
  } else if (step.exit_code !== undefined) {
    action = { kind: 'static', exitCode: step.exit_code }
  }
  if (action === undefined || diagnostics.slice(before).some((d) => d.severity === 'error')) return undefined
  return { name, validate, transform, action }
}

/** Compiles a JSONata expression; a syntax error points at the bad token inside it. */
function compileAt(text: string, at: NodePath, source: YamlSource, diagnostics: Diagnostic[]): Expression | undefined {
  try {
    return compileExpression(text)
  } catch (err) {
    const info = describeExpressionError(err)
    // JSONata's position is just past the offending token.
    const token = info.token !== undefined && info.token !== '(end)' ? info.token : ''
    const index = Math.max(0, (info.position ?? 0) - token.length)
    diagnostics.push(diagnosticInValue(source, at, index, `${describePath(at)}: JSONata syntax error: ${info.message}`, 'jsonata-syntax'))
    return undefined
  }
}

/** A short content hash of every file a config was read from, to tell configs apart. */
export function hashConfig(texts: readonly string[]): string {
  const hash = createHash('sha256')
  for (const text of texts) hash.update(createHash('sha256').update(text).digest())
  return hash.digest('hex').slice(0, 16)
}
