import pino from 'pino'

/**
 * Where the server's log lines go outside `--dev`: stdout, written
 * asynchronously through pino's own destination (sonic-boom) with a bounded
 * buffer. A request only appends its line to the buffer; the write system
 * calls happen off the request's path, many lines at a time.
 *
 * - Batched: lines wait until MIN_BATCH_BYTES have gathered or FLUSH_EVERY_MS
 *   has passed, whichever comes first, so under load one write carries dozens
 *   of lines, and a quiet server's line is out within FLUSH_EVERY_MS.
 * - Bounded: past LOG_BUFFER_BYTES waiting to be written (stdout not being
 *   read: a stuck log shipper), a new line is dropped rather than kept, and
 *   counted (`log_lines_dropped_total`). Once the buffer is written out again,
 *   one line says how many were dropped. The server goes on answering either
 *   way: a request never waits for its log line.
 * - Flushed: a normal stop waits for `flush()`, so no line is lost; on every
 *   other way out through process.exit (a second signal, an error during the
 *   stop, the stop's last-resort timeout, a failed start) pino writes what is
 *   left synchronously (it registers flushSync on the process's `exit` event
 *   for an asynchronous destination).
 */
export interface LogOutput {
  readonly stream: pino.DestinationStream
  /** Resolves once every line logged so far is written, in order. */
  flush(): Promise<void>
}

export interface LogOutputOptions {
  /** LOG_BUFFER_BYTES: the most bytes waiting to be written; past it, lines are dropped. */
  readonly bufferBytes: number
  /** A line was dropped: the buffer was full. */
  readonly onDrop: () => void
  /** The buffer has been written out after `dropped` lines were dropped: time to say so. */
  readonly onCaughtUp: (dropped: number) => void
}

/** A write of at least this much: about ten request lines. */
const MIN_BATCH_BYTES = 4096
/** The longest a line waits for others to join it. */
const FLUSH_EVERY_MS = 100

export function createLogOutput(options: LogOutputOptions): LogOutput {
  const stream = pino.destination({
    dest: 1,
    sync: false,
    minLength: MIN_BATCH_BYTES,
    maxLength: options.bufferBytes,
    periodicFlush: FLUSH_EVERY_MS,
  })
  let dropped = 0
  stream.on('drop', () => {
    dropped++
    options.onDrop()
  })
  // 'drain': a write has finished and less than MIN_BATCH_BYTES waits.
  stream.on('drain', () => {
    if (dropped === 0) return
    const count = dropped
    dropped = 0
    options.onCaughtUp(count)
  })
  return {
    stream,
    flush: () =>
      new Promise<void>((resolve) => {
        // flush(cb) starts a write of what waits unless one is under way, and
        // calls back on the next 'drain' (after an fsync, whose error on a pipe
        // or terminal means nothing here). No write is then under way, so
        // flushSync writes the rest, less than MIN_BATCH_BYTES, behind it in order.
        const writeRest = () => {
          try {
            stream.flushSync()
          } catch {
            // stdout is closed: there is nowhere left to write to.
          }
          resolve()
        }
        try {
          stream.flush(writeRest)
        } catch {
          // Destroyed (stdout closed): nothing waits that could be written.
          resolve()
        }
      }),
  }
}
