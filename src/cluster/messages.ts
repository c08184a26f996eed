/**
 * What the primary and its workers say to each other over the cluster's IPC
 * channel. Every type is prefixed, so prom-client's own messages (which
 * share the channel) are never taken for ours.
 */
export interface WorkerStatus {
  readonly pid: number
  /** The config the worker serves; absent while it starts. */
  readonly config?: { readonly hash: string; readonly loaded_at: string }
}

export type ToPrimary =
  | { readonly type: 'step-runner:pong' }
  | { readonly type: 'step-runner:config'; readonly hash: string; readonly loaded_at: string }
  | { readonly type: 'step-runner:metrics?'; readonly id: number }

export type ToWorker =
  | { readonly type: 'step-runner:ping' }
  | { readonly type: 'step-runner:workers'; readonly workers: readonly WorkerStatus[] }
  | { readonly type: 'step-runner:metrics'; readonly id: number; readonly ok: boolean; readonly contentType: string; readonly body: string }

export function isMessage<T extends { type: string }>(value: unknown): value is T {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string' && (value as { type: string }).type.startsWith('step-runner:')
}
