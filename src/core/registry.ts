import type { ValidateFunction } from 'ajv'
import type { Expression } from './expression.js'
import type { Scrubber } from './secrets.js'

/** A step that answers a fixed exit code, with its transform's result as data. */
export interface StaticAction {
  readonly kind: 'static'
  readonly exitCode: string
}

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

/**
 * A URL whose origin is fixed at load; only what follows it has placeholders,
 * so no value can change where the request goes.
 */
export interface UrlTemplate {
  readonly origin: string
  /** After the origin: literal text at even indexes, placeholder names at odd ones. */
  readonly parts: readonly string[]
}

export interface RetryPolicy {
  /** Already 1 for POST and PATCH unless retrying them was asked for. */
  readonly maxAttempts: number
  readonly backoffMs: number
  readonly maxBackoffMs: number
}

/** The limits of one outbound call, per attempt and across attempts. */
export interface CallPolicy {
  readonly timeoutMs: number
  readonly maxResponseBytes: number
  readonly retry: RetryPolicy
}

/** A step that makes an outbound HTTP call and maps the response. */
export interface HttpAction {
  readonly kind: 'http'
  readonly method: HttpMethod
  readonly url: UrlTemplate
  readonly params: Expression | undefined
  readonly query: Expression | undefined
  /** Header values with ${VAR} already resolved. */
  readonly headers: Readonly<Record<string, string>>
  /**
   * Values read from the environment (in the URL or a header, each on its
   * own and as the whole header value), and credential header values
   * (authorization, ...): never logged, never answered.
   */
  readonly secrets: readonly string[]
  readonly policy: CallPolicy
  readonly output: Expression | undefined
}

export type StepAction = StaticAction | HttpAction

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
  /** A hash of each step's definition, to tell which steps a reload changed. */
  readonly fingerprints: ReadonlyMap<string, string>
  /** Every file read to build this config: the steps file first, then schema files. */
  readonly files: readonly string[]
  /** Every secret of the config (see HttpAction.secrets), for the log redactor. */
  readonly secretValues: readonly string[]
  /** Replaces those secrets by "[redacted]" in answers and in what upstreams send back. */
  readonly secrets: Scrubber
}

/** What a new config changes, step by step. */
export function diffRegistries(before: Registry, after: Registry): { added: string[]; removed: string[]; changed: string[] } {
  const added: string[] = []
  const changed: string[] = []
  for (const [name, fingerprint] of after.fingerprints) {
    const old = before.fingerprints.get(name)
    if (old === undefined) added.push(name)
    else if (old !== fingerprint) changed.push(name)
  }
  const removed = [...before.fingerprints.keys()].filter((name) => !after.fingerprints.has(name))
  return { added, removed, changed }
}
