/**
 * At most `limit` calls in flight to one upstream: the rest wait in order,
 * each for as long as its own attempt's deadline allows (its signal).
 */
export interface Gate {
  /** Resolves with a release function once a place is free; rejects with the signal's reason if it aborts first. */
  enter(signal: AbortSignal): Promise<() => void>
  /** Calls waiting for a place now. */
  readonly waiting: number
}

export function createGate(limit: number, onWaitingChange: (waiting: number) => void = () => {}): Gate {
  let inFlight = 0
  const queue: { resolve: (release: () => void) => void; signal: AbortSignal; onAbort: () => void }[] = []

  const release = () => {
    let released = false
    return () => {
      if (released) return
      released = true
      inFlight--
      // Hand the place straight to the next caller still waiting.
      const next = queue.shift()
      if (next === undefined) return
      onWaitingChange(queue.length)
      next.signal.removeEventListener('abort', next.onAbort)
      inFlight++
      next.resolve(release())
    }
  }

  return {
    get waiting() {
      return queue.length
    },
    enter(signal) {
      if (signal.aborted) return Promise.reject(signal.reason)
      if (inFlight < limit) {
        inFlight++
        return Promise.resolve(release())
      }
      return new Promise((resolve, reject) => {
        const entry = {
          resolve,
          signal,
          onAbort: () => {
            const index = queue.indexOf(entry)
            if (index >= 0) queue.splice(index, 1)
            onWaitingChange(queue.length)
            reject(signal.reason)
          },
        }
        signal.addEventListener('abort', entry.onAbort, { once: true })
        queue.push(entry)
        onWaitingChange(queue.length)
      })
    },
  }
}
