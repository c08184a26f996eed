import { describe, expect, it } from 'vitest'
import { inTurn, TURN_MS } from '../../src/server/body-turns.js'

describe('big bodies take turns', () => {
  it('reads them in order, in turns of TURN_MS, and what was queued meanwhile runs between two turns', async () => {
    const order: string[] = []
    // Each read takes longer than a turn (as a body of a megabyte does): one per turn.
    const slow = (name: string) => () => {
      const until = performance.now() + TURN_MS + 1
      while (performance.now() < until);
      order.push(name)
      return name
    }
    const reads = ['a', 'b', 'c'].map((name) => inTurn(slow(name)))
    // Queued after the three: it runs after the first turn, not after the last.
    setImmediate(() => order.push('other request'))
    expect(await Promise.all(reads)).toEqual(['a', 'b', 'c'])
    expect(order).toEqual(['a', 'other request', 'b', 'c'])
  })

  it('reads several quick ones in one turn', async () => {
    const order: string[] = []
    const reads = ['a', 'b', 'c'].map((name) =>
      inTurn(() => {
        order.push(name)
        return name
      }),
    )
    setImmediate(() => order.push('other request'))
    await Promise.all(reads)
    await new Promise((resolve) => setImmediate(resolve))
    expect(order).toEqual(['a', 'b', 'c', 'other request'])
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
