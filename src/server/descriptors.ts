import { readFileSync } from 'node:fs'

/**
 * File descriptors: how many the process may open, how many connections that
 * leaves room for, and surviving the moments when none is left.
 */

/** Kept for the process itself: stdio, the event loop's own, the steps and schema files read at a reload, watched files. */
export const RESERVED_DESCRIPTORS = 64

/** Assumed when the limit cannot be read (no /proc/self/limits, as on macOS): the usual soft limit. */
export const FALLBACK_DESCRIPTOR_LIMIT = 1024

/** The soft "Max open files" of /proc/self/limits; undefined when the text has none. */
export function parseOpenFilesLimit(limits: string): number | undefined {
  const soft = /^Max open files\s+(\S+)/m.exec(limits)?.[1]
  if (soft === undefined) return undefined
  // Linux never lets it be higher than fs.nr_open, 1048576 by default.
  if (soft === 'unlimited') return 1_048_576
  return /^\d+$/.test(soft) ? Number(soft) : undefined
}

/**
 * The process's own descriptor limit. Node raises its soft limit to the hard
 * one at start-up, so this is read from the running process, not from the
 * shell's `ulimit -Sn`.
 */
export function descriptorLimit(): number {
  try {
    return parseOpenFilesLimit(readFileSync('/proc/self/limits', 'utf8')) ?? FALLBACK_DESCRIPTOR_LIMIT
  } catch {
    return FALLBACK_DESCRIPTOR_LIMIT
  }
}

/**
 * The default MAX_CONNECTIONS: half of what the limit leaves after the
 * process's own descriptors, so that every connection can have an outbound
 * call open at the same time.
 */
export function defaultMaxConnections(limit: number): number {
  return Math.max(1, Math.floor((limit - RESERVED_DESCRIPTORS) / 2))
}

export function isOutOfDescriptors(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  return code === 'EMFILE' || code === 'ENFILE'
}

/**
 * process.memoryUsage() opens /proc/self/stat to read the resident size, so it
 * throws EMFILE when no descriptor is left; under-pressure calls it from a
 * timer, where a throw ends the process. Out of descriptors, it answers the
 * last figures read instead and tells `onEmfile` (any other error still throws).
 */
export function memoryUsageSurvivesEmfile(onEmfile: (code: string) => void): void {
  const read = process.memoryUsage
  let last = read()
  const survive =
    <T>(measure: () => T, fallback: () => T) =>
    (): T => {
      try {
        return measure()
      } catch (err) {
        if (!isOutOfDescriptors(err)) throw err
        onEmfile((err as NodeJS.ErrnoException).code!)
        return fallback()
      }
    }
  process.memoryUsage = Object.assign(
    survive(
      () => (last = read()),
      () => last,
    ),
    { rss: survive(read.rss, () => last.rss) },
  )
}
