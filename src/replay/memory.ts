import { LRUCache } from 'lru-cache'
import type { ReplayAnswer, ReplayClaim, ReplayStore } from '../core/replay.js'

export interface MemoryReplayOptions {
  readonly ttlMs: number
  /** REPLAY_CACHE_MAX_BYTES: the answers kept, by their size; the least recently used go first. */
  readonly maxBytes: number
}

/**
 * The replay cache of one process: answers in an lru-cache bounded by their
 * size and aged by the TTL; runs in progress in a map, which duplicates wait
 * on. A run that ends without an answer (cancelled) hands the claim to one of
 * the duplicates waiting for it.
 */
export function createMemoryReplayStore(options: MemoryReplayOptions): ReplayStore {
  const answers = new LRUCache<string, ReplayAnswer>({
    ttl: options.ttlMs,
    maxSize: options.maxBytes,
    // UTF-16 text plus the entry's own keep; an answer bigger than the whole cache is not kept.
    sizeCalculation: (answer) => answer.body.length * 2 + 128,
    maxEntrySize: options.maxBytes,
  })
  const running = new Map<string, Promise<ReplayAnswer | undefined>>()

  async function claim(key: string, waited: boolean): Promise<ReplayClaim> {
    const answer = answers.get(key)
    if (answer !== undefined) return { kind: 'answered', answer, waited }
    const pending = running.get(key)
    if (pending !== undefined) {
      const shared = await pending
      if (shared !== undefined) return { kind: 'answered', answer: shared, waited: true }
      // The run was abandoned: claim again (one waiter will run it).
      return claim(key, waited)
    }
    let settle!: (answer: ReplayAnswer | undefined) => void
    running.set(key, new Promise((resolve) => (settle = resolve)))
    let ended = false
    const end = (answer: ReplayAnswer | undefined) => {
      if (ended) return
      ended = true
      running.delete(key)
      if (answer !== undefined) answers.set(key, answer)
      settle(answer)
    }
    return { kind: 'run', complete: (a) => end(a), abandon: () => end(undefined) }
  }

  return {
    claim: (key) => claim(key, false),
    close: async () => {
      answers.clear()
    },
  }
}
