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
 *
 * A turn also ends once TURN_CHARS of bodies have been read in it: each read
 * resolves its request, whose own work (the payload's parse, the start of
 * its step, up to the evaluation's INLINE_MS) runs in the microtasks right
 * after the turn, and costs about as much again as the read. Ten bodies of
 * 600 KB arriving together (the bench's `$distinct` of 20,000 objects) held
 * the main thread for 50 ms at a time when two were read in one turn; one
 * such body a turn keeps it near 25.
 */
import { turnQueue } from './turn-queue.js'

export const BIG_BODY_CHARS = 64 * 1024
/** How long one turn may go on reading big bodies: several of 100 KB, one of a megabyte. */
export const TURN_MS = 5
/** How many characters of bodies one turn may read, whatever the time: five of 100 KB, one past 512 KB. */
export const TURN_CHARS = 512 * 1024

interface Waiting {
  readonly read: () => void
  readonly chars: number
}

// Each turn reads big bodies in the order they arrived, until TURN_CHARS or TURN_MS.
const join = turnQueue<Waiting>((waiting) => {
  const start = performance.now()
  let chars = 0
  do {
    const body = waiting.shift()!
    body.read()
    chars += body.chars
  } while (waiting.length > 0 && chars < TURN_CHARS && performance.now() - start < TURN_MS)
})

/** Runs `read` (of a body of `chars` characters) in a turn, after the big bodies before it; resolves or rejects as it does. */
export function inTurn<T>(read: () => T, chars: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    join({
      read: () => {
        try {
          resolve(read())
        } catch (err) {
          reject(err)
        }
      },
      chars,
    })
  })
}
