import type { FastifyInstance } from 'fastify'

/** Counts requests being handled, so a shutdown can wait for them and no longer. */
export interface InFlight {
  count(): number
  /** Resolves once no request is in flight (at once if none is). */
  drained(): Promise<void>
}

export function trackInFlight(app: FastifyInstance): InFlight {
  let count = 0
  let waiters: (() => void)[] = []
  app.addHook('onRequest', (_request, reply, done) => {
    count++
    // 'close' fires whether the answer was sent or the caller went away.
    reply.raw.once('close', () => {
      count--
      if (count === 0) {
        const ready = waiters
        waiters = []
        for (const resolve of ready) resolve()
      }
    })
    done()
  })
  return {
    count: () => count,
    drained: () => (count === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve))),
  }
}
