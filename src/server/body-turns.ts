/**
 * Big request bodies take turns. Reading one costs the main thread about
 * 15 ms a megabyte: the scan of the body, then, in the same tick, the
 * signature, the parse of the payload and the start of the step. Bodies that
 * arrive together would be read back to back, and a small request arriving
 * meanwhile would wait for all of them (ten 600 KB bodies: 150 ms). So a body
 * past BIG_BODY_CHARS is read in an event-loop turn of its own, one at a
 * time, in the order they arrived, and the requests that arrive meanwhile
 * are served between two of them. Small bodies, nearly all, are read at once
 * as before.
 */
export const BIG_BODY_CHARS = 64 * 1024

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

// One body per turn: an immediate queued while the check phase runs waits
// for the next turn, after the poll phase has taken in other requests.
function next(): void {
  waiting.shift()!()
  if (waiting.length > 0) setImmediate(next)
  else scheduled = false
}
