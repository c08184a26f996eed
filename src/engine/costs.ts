/**
 * Which calls of built-in functions are too big for the main thread.
 *
 * An evaluation on the main thread gives way to an evaluation thread after
 * INLINE_MS (index.ts), but only where it reads the clock: between calls and
 * steps of loops. A single call of a built-in over a big list (`$sort`,
 * `$distinct`, `$split`...) runs to its end in between, for tens or hundreds
 * of milliseconds. So on the main thread such a call gives way before it
 * starts: when an argument is a list of more than BIG_LIST items, or a
 * string of more than BIG_STRING characters, and the function is not one
 * that is cheap at any size (a count, a sum, a lookup).
 */
export const BIG_LIST = 2_000
export const BIG_STRING = 200_000

/** The implementations (jsonata's functions) that take about the same time whatever their arguments' size, or one pass at native speed. */
const cheap = new Set<unknown>()

export function markCheap(implementation: unknown): void {
  cheap.add(implementation)
}

/** Whether calling `proc` with these arguments is too big to start on the main thread. */
export function isBigCall(proc: unknown, args: readonly unknown[]): boolean {
  const p = proc as { _jsonata_function?: unknown; implementation?: unknown } | null
  if (p === null || typeof p !== 'object' || p._jsonata_function !== true || cheap.has(p.implementation)) return false
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    if (Array.isArray(arg) ? arg.length > BIG_LIST : typeof arg === 'string' && arg.length > BIG_STRING) return true
  }
  return false
}
