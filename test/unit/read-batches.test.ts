import { describe, expect, it } from 'vitest'
import { afterTurnReads } from '../../src/server/read-batches.js'

describe('requests read in one turn run their steps together', () => {
  it('resumes nothing before the turn has run its callbacks and microtasks', async () => {
    let resumed = false
    const waiting = afterTurnReads().then(() => (resumed = true))
    for (let i = 0; i < 10; i++) await Promise.resolve()
    expect(resumed).toBe(false)
    await waiting
    expect(resumed).toBe(true)
  })

  it('resumes the requests of a turn in one batch, in the order they came, and a later one in the next batch', async () => {
    const order: string[] = []
    const first = afterTurnReads().then(() => {
      order.push('first')
      // Asked while the batch runs: the next turn's batch.
      return afterTurnReads().then(() => order.push('asked during the batch'))
    })
    // Queued between the two: a batch per request would run this before the second.
    setImmediate(() => order.push('an immediate queued in between'))
    const second = afterTurnReads().then(() => order.push('second'))
    await Promise.all([first, second])
    expect(order).toEqual(['first', 'second', 'an immediate queued in between', 'asked during the batch'])
  })
})
