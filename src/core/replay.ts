/**
 * The replay cache's port: a verified request whose payload (exactly as
 * signed) was answered within the TTL gets that answer again rather than a
 * second run, and duplicates that arrive while the first runs wait for it.
 * The shell implements it in memory (lru-cache) or on Redis.
 */

/** What is kept of an answer: its body, byte for byte, and what the log line and metrics need. */
export interface ReplayAnswer {
  readonly body: string
  readonly exitCode: string
}

export type ReplayClaim =
  /** Answered before (`waited: false`), or by a run this request waited for (`waited: true`). */
  | { readonly kind: 'answered'; readonly answer: ReplayAnswer; readonly waited: boolean }
  /** This request runs the step; it must say how the run ended. */
  | { readonly kind: 'run'; complete(answer: ReplayAnswer): void; abandon(): void }

export interface ReplayStore {
  /** Claims a payload's run, by a hash of the payload as signed. */
  claim(key: string): Promise<ReplayClaim>
  close(): Promise<void>
}
