import type { CallPolicy, HttpMethod, UpstreamConnection } from './registry.js'

/** One outbound request, fully built: nothing left to evaluate. */
export interface OutboundRequest {
  readonly method: HttpMethod
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string | undefined
  /** The named upstream the request goes through: its pool, proxy, concurrency and token. */
  readonly upstream?: UpstreamConnection | undefined
}

export interface UpstreamResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  /** The body as read, decompressed, never over the policy's limit. */
  readonly body: Buffer
}

/**
 * Why a call produced no usable response (of the last attempt, when retries
 * ran out): `status` means a retryable status every time.
 */
export type UpstreamFailure = 'timeout' | 'connect' | 'reset' | 'too_large' | 'cancelled' | 'status' | 'auth' | 'error'

export type UpstreamOutcome =
  | { readonly ok: true; readonly response: UpstreamResponse; readonly attempts: number }
  | {
      readonly ok: false
      readonly reason: UpstreamFailure
      readonly message: string
      readonly attempts: number
      /** The last response, when retries gave up on a retryable status. */
      readonly response?: UpstreamResponse
      /** `auth`: the token endpoint's status, when it answered. */
      readonly status?: number
    }

/**
 * The port through which the core calls the network. The shell implements it
 * with one shared undici dispatcher; step tests implement it with MockAgent.
 */
/** One attempt as a trace shows it. */
export interface AttemptObservation {
  /** 1 for the first attempt. */
  readonly n: number
  readonly durationMs: number
  /** The response's status, or else why there was none. */
  readonly status?: number
  readonly reason?: UpstreamFailure
  /** The wait before the next attempt, when there is one. */
  readonly backoffMs?: number
}

export interface Upstream {
  /** `observe` is told of each attempt as it ends (for traces). */
  send(step: string, request: OutboundRequest, policy: CallPolicy, signal: AbortSignal | undefined, observe?: (attempt: AttemptObservation) => void): Promise<UpstreamOutcome>
}
