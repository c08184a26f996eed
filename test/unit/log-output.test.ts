import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLogOutput, type LogSink } from '../../src/server/log-output.js'

/** A real Writable that takes each chunk only when the test says so: a pipe whose reader is slow. */
function slowSink() {
  const chunks: string[] = []
  const waiting: Array<() => void> = []
  const stream = new Writable({
    decodeStrings: false,
    highWaterMark: 1024,
    write(chunk: string, _encoding, callback) {
      chunks.push(chunk)
      waiting.push(() => callback())
    },
  })
  return {
    sink: stream as unknown as LogSink,
    chunks,
    /** The reader takes everything written so far. */
    readAll: async () => {
      while (waiting.length > 0) {
        waiting.shift()!()
        await new Promise((r) => setImmediate(r))
      }
    },
    fail: (err: Error) => stream.destroy(err),
  }
}

const line = (i: number, size = 100) => `{"i":${i},"pad":"${'x'.repeat(size)}"}\n`

describe('log output: batched, bounded, flushed', () => {
  it('writes nothing until 4 KiB have gathered, then the lines in one write, in order', async () => {
    const { sink, chunks } = slowSink()
    const out = createLogOutput({ bufferBytes: 1 << 20, onDrop: () => {}, onCaughtUp: () => {}, sink })
    const lines = Array.from({ length: 50 }, (_, i) => line(i))
    let i = 0
    while (chunks.length === 0) out.stream.write(lines[i++]!)
    expect(chunks).toEqual([lines.slice(0, i).join('')])
    expect(chunks[0]!.length).toBeGreaterThanOrEqual(4096)
    expect(chunks[0]!.length - lines[i - 1]!.length).toBeLessThan(4096)
  })

  it('flush() writes what waits and resolves only once the sink has taken every line', async () => {
    const { sink, chunks, readAll } = slowSink()
    const out = createLogOutput({ bufferBytes: 1 << 20, onDrop: () => {}, onCaughtUp: () => {}, sink })
    for (let i = 0; i < 3; i++) out.stream.write(line(i))
    let flushed = false
    const flushing = out.flush().then(() => (flushed = true))
    expect(chunks).toEqual([line(0) + line(1) + line(2)])
    await new Promise((r) => setImmediate(r))
    expect(flushed).toBe(false)
    await readAll()
    await flushing
    expect(flushed).toBe(true)
  })

  it('drops lines past the bound (its own lines and the sink\'s queue together), counts them, and says so once written out', async () => {
    const { sink, chunks, readAll } = slowSink()
    const drops: number[] = []
    let dropCalls = 0
    const out = createLogOutput({ bufferBytes: 10_000, onDrop: () => dropCalls++, onCaughtUp: (n) => drops.push(n), sink })
    const lines = Array.from({ length: 200 }, (_, i) => line(i))
    for (const l of lines) out.stream.write(l)
    expect(dropCalls).toBeGreaterThan(0)
    const kept = chunks.join('')
    // What was kept is whole lines, the first ones, in order, within the bound.
    expect(kept.length).toBeLessThanOrEqual(10_000)
    expect(lines.join('').startsWith(kept)).toBe(true)
    expect(drops).toEqual([])
    await readAll()
    expect(drops).toEqual([dropCalls])
    // Room again: new lines are kept.
    const before = dropCalls
    out.stream.write(line(999))
    const flushing = out.flush()
    await readAll()
    await flushing
    expect(dropCalls).toBe(before)
    expect(chunks.at(-1)!.endsWith(line(999))).toBe(true)
  })

  it('after the sink fails (EPIPE), discards lines and flush() still resolves', async () => {
    const { sink, chunks, fail } = slowSink()
    const out = createLogOutput({ bufferBytes: 1 << 20, onDrop: () => {}, onCaughtUp: () => {}, sink })
    fail(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))
    await new Promise((r) => setImmediate(r))
    for (let i = 0; i < 100; i++) out.stream.write(line(i))
    await out.flush()
    expect(chunks).toEqual([])
  })
})
