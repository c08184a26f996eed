/**
 * A queue served at the end of a turn of the event loop: what joins it
 * during a turn is handed to `serve` once that turn's I/O callbacks have run
 * (one `setImmediate`, however many join). What `serve` leaves in the queue
 * waits for the next turn, after the event loop has polled for I/O again. An
 * immediate queued while immediates run waits for the next turn: so does
 * whatever joins while `serve` runs or in the microtasks it starts.
 *
 * Used by the requests read in one turn (read-batches.ts) and by big bodies
 * (body-turns.ts), which `serve` a bounded share of per turn.
 */
export function turnQueue<T>(serve: (waiting: T[]) => void): (item: T) => void {
  const waiting: T[] = []
  let scheduled = false
  const run = (): void => {
    serve(waiting)
    if (waiting.length > 0) setImmediate(run)
    else scheduled = false
  }
  return (item) => {
    waiting.push(item)
    if (!scheduled) {
      scheduled = true
      setImmediate(run)
    }
  }
}
