import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { createClient } from 'redis'
import type { ReplayAnswer, ReplayClaim, ReplayStore } from '../core/replay.js'

export interface RedisReplayOptions {
  readonly url: string
  readonly ttlMs: number
  /** REDIS_TIMEOUT_MS: the longest a request waits for one Redis command; past it, the step runs without the store. */
  readonly timeoutMs: number
  /** Told when the store failed a request, which then runs without it (fail open). */
  readonly onError: (message: string) => void
}

/**
 * How long a claim holds while its run is in progress. A process that dies
 * mid-run leaves a claim that others wait out, then run themselves: long
 * enough for a slow HTTP step with retries, short enough not to stall a flow.
 */
const CLAIM_MS = 120_000
/** How often a duplicate looks for the answer of the run it waits for. */
const POLL_MS = 25

// Deletes the claim only if it is still this run's (it may have expired and been taken since).
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"

class StoreError extends Error {}

/**
 * The replay cache on Redis, shared by every worker and replica: an atomic
 * claim (`SET key NX PX`) decides which request runs; its answer is stored
 * with the TTL; duplicates poll for it. Every command is bounded by
 * REDIS_TIMEOUT_MS and any failure lets the request run without the store:
 * Redis being down costs the protection against replays, never an answer.
 */
export function createRedisReplayStore(options: RedisReplayOptions): ReplayStore {
  const client = createClient({
    url: options.url,
    // Fail at once while disconnected, rather than queue commands for later.
    disableOfflineQueue: true,
    socket: { connectTimeout: options.timeoutMs, reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 2000) },
  })
  // Without a listener, a connection error would end the process.
  let lastError = ''
  client.on('error', (err: Error) => (lastError = err.message))
  void client.connect().catch(() => {})

  /** One command, within REDIS_TIMEOUT_MS. */
  async function bounded<T>(command: () => Promise<T>): Promise<T> {
    if (!client.isReady) throw new StoreError(`not connected${lastError === '' ? '' : ` (${lastError})`}`)
    let timer: NodeJS.Timeout | undefined
    try {
      return await Promise.race([
        command(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new StoreError(`no answer within REDIS_TIMEOUT_MS (${options.timeoutMs} ms)`)), options.timeoutMs)
        }),
      ])
    } finally {
      clearTimeout(timer)
    }
  }

  const failOpen = (err: unknown): ReplayClaim => {
    options.onError(`replay store (Redis) unavailable: ${(err as Error).message}; the step runs without it`)
    return { kind: 'run', complete: () => {}, abandon: () => {} }
  }

  async function claim(key: string, waited: boolean, deadline: number): Promise<ReplayClaim> {
    const answerKey = `step-runner:replay:${key}:answer`
    const claimKey = `step-runner:replay:${key}:claim`
    const token = randomUUID()
    try {
      const stored = await bounded(() => client.get(answerKey))
      if (stored !== null) return { kind: 'answered', answer: JSON.parse(stored) as ReplayAnswer, waited }
      const won = await bounded(() => client.set(claimKey, token, { condition: 'NX', expiration: { type: 'PX', value: CLAIM_MS } }))
      if (won === 'OK') {
        const release = () => void client.eval(RELEASE, { keys: [claimKey], arguments: [token] }).catch(() => {})
        return {
          kind: 'run',
          complete(answer) {
            // The answer first, then the claim: a duplicate never finds neither.
            void client
              .set(answerKey, JSON.stringify(answer), { expiration: { type: 'PX', value: options.ttlMs } })
              .then(release, () => {
                options.onError('replay store (Redis) could not keep an answer: a duplicate may run again')
                release()
              })
          },
          abandon: release,
        }
      }
    } catch (err) {
      return failOpen(err)
    }
    // Another request runs this payload: wait for its answer, or for its claim to go.
    for (;;) {
      if (Date.now() > deadline) return claim(key, waited, Number.POSITIVE_INFINITY)
      await sleep(POLL_MS)
      try {
        const [stored, running] = await bounded(() => Promise.all([client.get(answerKey), client.exists(claimKey)]))
        if (stored !== null) return { kind: 'answered', answer: JSON.parse(stored) as ReplayAnswer, waited: true }
        // Abandoned (cancelled, or its process died and the claim expired): claim it again.
        if (running === 0) return claim(key, true, deadline)
      } catch (err) {
        return failOpen(err)
      }
    }
  }

  return {
    claim: (key) => claim(key, false, Date.now() + CLAIM_MS),
    async close() {
      await client.close().catch(() => {})
    },
  }
}
