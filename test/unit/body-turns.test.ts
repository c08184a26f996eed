import { describe, expect, it } from 'vitest'
import { inTurn, TURN_CHARS, TURN_MS } from '../../src/server/body-turns.js'

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
    const reads = ['a', 'b', 'c'].map((name) => inTurn(slow(name), 1000))
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
      }, 100 * 1024 - 1),
    )
    setImmediate(() => order.push('other request'))
    await Promise.all(reads)
    await new Promise((resolve) => setImmediate(resolve))
    expect(order).toEqual(['a', 'b', 'c', 'other request'])
  })

  it('passes a read that throws on as a rejection, and goes on with the next', async () => {
    const failed = inTurn(() => {
      throw new Error('request body is not valid JSON: at 1:2')
    }, 1000)
    const next = inTurn(() => 'next', 1000)
    await expect(failed).rejects.toThrow('request body is not valid JSON: at 1:2')
    expect(await next).toBe('next')
  })

  it('ends a turn once TURN_CHARS of bodies were read, however quick: what each read starts runs before the next big body', async () => {
    const order: string[] = []
    const body = (name: string, chars: number) =>
      inTurn(() => {
        order.push(name)
        return name
      }, chars).then((n) => {
        // The request's own work, after its read: its parse and the start of its step.
        order.push(`${n} runs`)
      })
    const reads = [body('a', TURN_CHARS / 2), body('b', TURN_CHARS / 2), body('c', 1000)]
    setImmediate(() => order.push('other request'))
    await Promise.all(reads)
    expect(order).toEqual(['a', 'b', 'a runs', 'b runs', 'other request', 'c', 'c runs'])
  })
})
