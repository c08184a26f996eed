import { describe, expect, it } from 'vitest'
import { inTurn } from '../../src/server/body-turns.js'

describe('big bodies take turns', () => {
  it('reads one per event-loop turn, in order, and what was queued meanwhile runs between them', async () => {
    const order: string[] = []
    const reads = ['a', 'b', 'c'].map((name) =>
      inTurn(() => {
        order.push(name)
        return name
      }),
    )
    // Queued after the three: in a turn-per-body scheme it runs after the first, not after the last.
    setImmediate(() => order.push('other request'))
    expect(await Promise.all(reads)).toEqual(['a', 'b', 'c'])
    expect(order).toEqual(['a', 'other request', 'b', 'c'])
  })

  it('passes a read that throws on as a rejection, and goes on with the next', async () => {
    const failed = inTurn(() => {
      throw new Error('request body is not valid JSON: at 1:2')
    })
    const next = inTurn(() => 'next')
    await expect(failed).rejects.toThrow('request body is not valid JSON: at 1:2')
    expect(await next).toBe('next')
  })
})
