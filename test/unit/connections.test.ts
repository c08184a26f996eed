import { Writable } from 'node:stream'
import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { listen } from '../../src/server/connections.js'
import { defaultMaxConnections, parseOpenFilesLimit } from '../../src/server/descriptors.js'

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
`

describe('the descriptor limit', () => {
  it('is the soft "Max open files" of /proc/self/limits', () => {
    expect(parseOpenFilesLimit(LIMITS)).toBe(1024)
    expect(parseOpenFilesLimit(LIMITS.replace('1024 ', 'unlimited'))).toBe(1_048_576)
    expect(parseOpenFilesLimit('Max cpu time unlimited unlimited seconds\n')).toBeUndefined()
  })

  it('leaves 64 descriptors to the process and half of the rest to connections', () => {
    expect(defaultMaxConnections(1024)).toBe(480)
    expect(defaultMaxConnections(256)).toBe(96)
    expect(defaultMaxConnections(65_536)).toBe(32_736)
    expect(defaultMaxConnections(10)).toBe(1)
  })
})

describe('listen', () => {
  // libuv reports a failed accept only once its own spare descriptor is gone,
  // which no test can arrange: the server's 'error' event is emitted here.
  it('logs failed accepts at warn, at most once per interval, and goes on serving; other server errors still throw', async () => {
    const lines: Record<string, unknown>[] = []
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>)
        done()
      },
    })
    const app = Fastify({ logger: { level: 'info', stream } })
    app.get('/', async () => 'ok')
    const listening = await listen(app, { port: 0, host: '127.0.0.1', maxConnections: 10, listenBacklog: 16 })
    try {
      expect(app.server.maxConnections).toBe(10)
      for (let i = 0; i < 50; i++) app.server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' }))
      const warned = lines.filter((l) => String(l['msg']).startsWith('out of file descriptors'))
      expect(warned).toEqual([expect.objectContaining({ level: 40, code: 'EMFILE', count: 1, max_connections: 10 })])
      expect(() => app.server.emit('error', Object.assign(new Error('not an accept error'), { code: 'EINVAL', syscall: 'bind' }))).toThrow('not an accept error')
      expect((await fetch(listening.url)).status).toBe(200)
    } finally {
      await app.close()
    }
  })
})
