/** Counts webhook requests being handled, so a shutdown can wait for them and no longer. */
export interface InFlight {
  count(): number
  /** Resolves once no request is in flight (at once if none is). */
  drained(): Promise<void>
  begin(): void
  end(): void
}

export function createInFlight(): InFlight {
  let count = 0
  let waiters: (() => void)[] = []
  return {
    count: () => count,
    drained: () => (count === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve))),
    begin: () => void count++,
    end() {
      count--
      if (count === 0 && waiters.length > 0) {
        const ready = waiters
        waiters = []
        for (const resolve of ready) resolve()
      }
    },
  }
}
