import type { ValidateFunction } from 'ajv'
import type { Expression } from './expression.js'

/** A step that answers a fixed exit code, with its transform's result as data. */
export interface StaticAction {
  readonly kind: 'static'
  readonly exitCode: string
}

export type StepAction = StaticAction

/** A step ready to run: every schema and expression compiled at load. */
export interface CompiledStep {
  readonly name: string
  readonly validate: ValidateFunction | undefined
  readonly transform: Expression | undefined
  readonly action: StepAction
}

/**
 * One loaded config, immutable once built. A request takes the registry that
 * is current when it arrives and uses it from start to end.
 */
export interface Registry {
  /** Short sha256 of every file the config was read from. */
  readonly hash: string
  readonly loadedAt: Date
  readonly steps: ReadonlyMap<string, CompiledStep>
  /** Every file read to build this config: the steps file first, then schema files. */
  readonly files: readonly string[]
}
