/**
 * The main thread's share of evaluation per turn of the event loop.
 *
 * One evaluation gives way to a thread after INLINE_MS, but many requests
 * read in the same turn each start their evaluation in that turn, one after
 * another: ten that each fail on their depth after 4 ms held the main thread
 * 40 ms, and every other request with it. Once the evaluations of a turn have
 * taken TURN_BUDGET_MS, the next ones wait for the next turn, after the
 * event loop has read what else arrived: other requests are served between
 * every TURN_BUDGET_MS (plus one evaluation) of evaluation.
 *
 * Evaluations shorter than COUNTED_MS are not counted: almost every
 * evaluation is a few microseconds, and counting them would cost each one a
 * timer per turn, for nothing.
 */

/** How long the evaluations of one turn may take before the next ones wait for the next turn. */
export const TURN_BUDGET_MS = 10

/** The shortest evaluation that counts against the budget. */
export const COUNTED_MS = 0.2

let spent = 0
let resetQueued = false

const reset = (): void => {
  spent = 0
  resetQueued = false
}

/** Counts an evaluation that took `ms` on the main thread against this turn's budget. */
export function charge(ms: number): void {
  if (ms < COUNTED_MS) return
  spent += ms
  if (!resetQueued) {
    // Runs after this turn's I/O callbacks and microtasks, before the next poll for I/O.
    resetQueued = true
    setImmediate(reset)
  }
}

/** Whether an evaluation starting now must wait for the next turn. */
export function overBudget(): boolean {
  return spent >= TURN_BUDGET_MS
}

/**
 * Resolves in the next turn that has budget left. A callback that setImmediate
 * queues while immediates run waits for the next turn of the loop, after its
 * poll for I/O: so each wait lets the requests that arrived meanwhile in.
 */
export async function nextTurn(): Promise<void> {
  do await new Promise<void>((resolve) => setImmediate(resolve))
  while (overBudget())
}
