import { createHash } from 'node:crypto'
import type { Diagnostic } from './diagnostics.js'
import { compileExpression, describeExpressionError, type Expression } from '../core/expression.js'
import type { CompiledStep, StepAction } from '../core/registry.js'
import type { InputSchemas } from './input-schemas.js'
import type { Step, StepsFile } from './steps-file.generated.js'
import { describePath, diagnosticAt, type NodePath, type YamlSource } from './yaml-source.js'

/** Compiles every step of a format-valid steps file; collects every problem rather than stopping at the first. */
export async function compileSteps(
  definitions: StepsFile['steps'],
  source: YamlSource,
  schemas: InputSchemas,
): Promise<{ steps: Map<string, CompiledStep>; diagnostics: Diagnostic[] }> {
  const steps = new Map<string, CompiledStep>()
  const diagnostics: Diagnostic[] = []
  for (const [name, step] of Object.entries(definitions)) {
    const at: NodePath = ['steps', name]
    const compiled = await compileStep(name, step, at, source, schemas, diagnostics)
    if (compiled !== undefined) steps.set(name, compiled)
  }
  return { steps, diagnostics }
}

async function compileStep(
  name: string,
  step: Step,
  at: NodePath,
  source: YamlSource,
  schemas: InputSchemas,
  diagnostics: Diagnostic[],
): Promise<CompiledStep | undefined> {
  const before = diagnostics.length
  let validate: CompiledStep['validate']
  if (step.input !== undefined) {
    const result = await schemas.compile(step.input, [...at, 'input'])
    diagnostics.push(...result.diagnostics)
    validate = result.validate
  }
  const transform = step.transform === undefined ? undefined : expression(step.transform, [...at, 'transform'], source, diagnostics)
  const action: StepAction = { kind: 'static', exitCode: step.exit_code }
  if (diagnostics.slice(before).some((d) => d.severity === 'error')) return undefined
  return { name, validate, transform, action }
}

function expression(text: string, at: NodePath, source: YamlSource, diagnostics: Diagnostic[]): Expression | undefined {
  try {
    return compileExpression(text)
  } catch (err) {
    const info = describeExpressionError(err)
    diagnostics.push(diagnosticAt(source, at, 'value', `${describePath(at)}: JSONata syntax error: ${info.message}`, 'jsonata-syntax'))
    return undefined
  }
}

/** A short content hash of every file a config was read from, to tell configs apart. */
export function hashConfig(texts: readonly string[]): string {
  const hash = createHash('sha256')
  for (const text of texts) hash.update(createHash('sha256').update(text).digest())
  return hash.digest('hex').slice(0, 16)
}
