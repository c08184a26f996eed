/**
 * The webhook requests read in one turn of the event loop run their steps
 * together, once that turn's reads are done.
 *
 * Under load the server reads several requests per turn (about 16 with 16
 * connections in the bench). Run one at a time as each is read, every
 * request's work (the step, its answer's serialization, fastify's reply, the
 * socket write) ran between the HTTP parsing and routing of the others, and
 * each piece of code found the CPU's caches holding someone else's: the
 * answer's JSON.stringify took 2.7 µs in the server against 0.9 µs in a
 * loop. Run together, each phase of the batch runs back to back with itself
 * (the requests' steps until their first await, then their answers): the
 * server's CPU time per request fell by a quarter to two fifths (see
 * BENCHMARKS.md). A request waits for the rest of its turn's reads (the
 * bench's latencies under load are the ceiling's); one alone waits for one
 * `setImmediate`.
 */

import { turnQueue } from './turn-queue.js'

// The whole turn's requests resume together, in the order they were read.
const join = turnQueue<() => void>((waiting) => {
  for (const resume of waiting.splice(0)) resume()
})

/**
 * Resolves after this turn's I/O callbacks, with every other request read in
 * the same turn, in the order they were read.
 */
export function afterTurnReads(): Promise<void> {
  return new Promise<void>((resume) => join(resume))
}
