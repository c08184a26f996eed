import { describe, expect, it } from 'vitest'
import { createMemoryReplayStore } from '../../src/replay/memory.js'

const answer = (body: string) => ({ body, exitCode: 'success' })

describe('the in-memory replay store', () => {
  it('gives a completed answer again, and to a duplicate that waited for it', async () => {
    const store = createMemoryReplayStore({ ttlMs: 60_000, maxBytes: 1 << 20 })
    const first = await store.claim('k')
    expect(first.kind).toBe('run')
    const waiting = store.claim('k')
    if (first.kind === 'run') first.complete(answer('{"exit_code":"success"}'))
    expect(await waiting).toEqual({ kind: 'answered', answer: answer('{"exit_code":"success"}'), waited: true })
    expect(await store.claim('k')).toEqual({ kind: 'answered', answer: answer('{"exit_code":"success"}'), waited: false })
  })

  it('hands an abandoned run to one of the duplicates waiting for it; the other waits for that one', async () => {
    const store = createMemoryReplayStore({ ttlMs: 60_000, maxBytes: 1 << 20 })
    const first = await store.claim('k')
    const settled: Awaited<ReturnType<typeof store.claim>>[] = []
    const both = Promise.all([store.claim('k'), store.claim('k')].map((p) => p.then((c) => (settled.push(c), c))))
    if (first.kind === 'run') first.abandon()
    while (settled.length === 0) await new Promise((r) => setTimeout(r, 1))
    const runner = settled[0]!
    expect(runner.kind).toBe('run')
    if (runner.kind === 'run') runner.complete(answer('z'))
    const claims = await both
    expect(claims.filter((c) => c.kind === 'run')).toHaveLength(1)
    expect(claims.find((c) => c.kind === 'answered')).toEqual({ kind: 'answered', answer: answer('z'), waited: true })
  })

  it('forgets an answer after the TTL, and keeps no answer bigger than the cache', async () => {
    const store = createMemoryReplayStore({ ttlMs: 30, maxBytes: 4096 })
    const run = await store.claim('k')
    if (run.kind === 'run') run.complete(answer('x'))
    expect((await store.claim('k')).kind).toBe('answered')
    await new Promise((r) => setTimeout(r, 60))
    expect((await store.claim('k')).kind).toBe('run')

    const big = await store.claim('big')
    if (big.kind === 'run') big.complete(answer('y'.repeat(10_000)))
    expect((await store.claim('big')).kind).toBe('run')
  })
})
