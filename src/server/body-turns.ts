/**
 * Big request bodies take turns. Reading one costs the main thread about
 * 15 ms a megabyte: the scan of the body, then, in the same tick, the
 * signature, the parse of the payload and the start of the step. Bodies that
 * arrive together would be read back to back, and a small request arriving
 * meanwhile would wait for all of them (ten 600 KB bodies: 150 ms). So a body
 * past BIG_BODY_CHARS waits for a turn of the event loop given to big
 * bodies: each turn reads them in the order they arrived until TURN_MS have
 * passed, and the requests that arrived meanwhile are served before the next
 * turn. A small request then waits for at most TURN_MS and one body. Small
 * bodies, nearly all, are read at once as before.
 */
export const BIG_BODY_CHARS = 64 * 1024
/** How long one turn may go on reading big bodies: several of 100 KB, one of a megabyte. */
export const TURN_MS = 5

const waiting: (() => void)[] = []
let scheduled = false

/** Runs `read` in a turn of its own, after the big bodies before it; resolves or rejects as it does. */
export function inTurn<T>(read: () => T): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    waiting.push(() => {
      try {
        resolve(read())
      } catch (err) {
        reject(err)
      }
    })
    if (!scheduled) {
      scheduled = true
      setImmediate(next)
    }
  })
}

// An immediate queued while the check phase runs waits for the next turn,
// after the poll phase has taken in other requests.
function next(): void {
  const start = performance.now()
  do waiting.shift()!()
  while (waiting.length > 0 && performance.now() - start < TURN_MS)
  if (waiting.length > 0) setImmediate(next)
  else scheduled = false
}
