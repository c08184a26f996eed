import { writeSync } from 'node:fs'
import type pino from 'pino'

/**
 * Where the server's log lines go outside `--dev`: stdout, through a bounded
 * buffer of our own. A request only appends its line to an array; the writes
 * happen many lines at a time.
 *
 * - Batched: lines wait until MIN_BATCH_BYTES have gathered or FLUSH_EVERY_MS
 *   has passed, whichever comes first, so under load one write carries dozens
 *   of lines, and a quiet server's line is out within FLUSH_EVERY_MS.
 * - Never blocking: a batch goes to `process.stdout`, which on a pipe (a
 *   container's stdout) is libuv's non-blocking stream: the write is tried at
 *   once, and what the pipe cannot take waits in the stream, off the event
 *   loop. A file or a terminal takes the write at once.
 * - Bounded: past LOG_BUFFER_BYTES waiting (our lines and the stream's queue
 *   together: stdout not being read, a stuck log shipper), a new line is
 *   dropped rather than kept, and counted (`log_lines_dropped_total`). Once
 *   the stream has written everything out again, one line says how many were
 *   dropped. A request never waits for its log line.
 * - Flushed: a normal stop waits for `flush()`, so no line is lost. On every
 *   other way out through process.exit (a second signal, an error during the
 *   stop, the stop's last-resort timeout, a failed start) the lines still
 *   waiting here are written synchronously on the process's `exit` event.
 *
 * Why not pino's own destination (sonic-boom), as before: it appends each
 * line to one growing string and measures that string's UTF-8 length at
 * every line (a copy of the whole pending batch per line), and in its
 * asynchronous mode hands every batch to libuv's thread pool. Together that
 * cost the static step about a tenth of its requests/s in the bench; an
 * array joined once per batch, written straight to the stream, costs next to
 * nothing (BENCHMARKS.md, "Where the time goes").
 */
export interface LogOutput {
  readonly stream: LogStream
  /** Resolves once every line logged so far is written, in order. */
  flush(): Promise<void>
}

/**
 * pino's destination, and one more way in: `later(render, record)` takes a
 * line that is only rendered at the end of the event loop's turn, together
 * with the others of that turn (the answer line: see answer-line.ts). A line
 * written meanwhile through `write` first renders those, so the lines keep
 * the order they were logged in.
 */
export interface LogStream extends pino.DestinationStream {
  write(line: string): void
  later<R>(render: (record: R) => string, record: R): void
}

/** What the lines are written to: process.stdout, or a stream of its kind in tests. */
export interface LogSink {
  write(chunk: string, callback: (err?: Error | null) => void): boolean
  readonly writableLength: number
  on(event: 'error', listener: (err: Error) => void): unknown
  /** The descriptor behind the stream, for the synchronous write at exit. */
  readonly fd?: number
}

export interface LogOutputOptions {
  /** LOG_BUFFER_BYTES: the most bytes waiting to be written; past it, lines are dropped. */
  readonly bufferBytes: number
  /** A line was dropped: the buffer was full. */
  readonly onDrop: () => void
  /** Everything has been written out after `dropped` lines were dropped: time to say so. */
  readonly onCaughtUp: (dropped: number) => void
  /** Where to write; process.stdout unless a test says otherwise. */
  readonly sink?: LogSink
}

/** A write of at least this much: about twenty request lines. */
const MIN_BATCH_BYTES = 4096
/** The longest a line waits for others to join it. */
const FLUSH_EVERY_MS = 100

export function createLogOutput(options: LogOutputOptions): LogOutput {
  const sink: LogSink = options.sink ?? (process.stdout as unknown as LogSink)
  const { bufferBytes } = options
  let pending: string[] = []
  let pendingBytes = 0
  let writing = 0
  let dropped = 0
  // stdout failed (EPIPE: the reader went away): lines are discarded from then on.
  let broken = false
  let waiters: Array<() => void> = []
  // Lines to render at the end of this turn: render, record, render, record, …
  let deferred: unknown[] = []
  let renderScheduled = false

  sink.on('error', () => {
    broken = true
    pending = []
    pendingBytes = 0
    settle()
  })

  function later<R>(render: (record: R) => string, record: R): void {
    if (broken) return
    deferred.push(render, record)
    if (!renderScheduled) {
      renderScheduled = true
      setImmediate(renderDeferred)
    }
  }

  /**
   * Renders the turn's deferred lines, in a row: rendering twenty lines one
   * after the other costs less than one at a time between requests, whose
   * other work has pushed the code and data out of the CPU's caches.
   */
  function renderDeferred(): void {
    renderScheduled = false
    if (deferred.length === 0) return
    const batch = deferred
    deferred = []
    for (let i = 0; i < batch.length; i += 2) append((batch[i] as (record: unknown) => string)(batch[i + 1]))
  }

  function write(line: string): void {
    if (deferred.length > 0) renderDeferred()
    append(line)
  }

  function append(line: string): void {
    if (broken) return
    const bytes = Buffer.byteLength(line)
    if (pendingBytes + bytes + sink.writableLength > bufferBytes) {
      dropped++
      options.onDrop()
      return
    }
    pending.push(line)
    pendingBytes += bytes
    if (pendingBytes >= MIN_BATCH_BYTES) writeOut()
  }

  function writeOut(): void {
    if (pending.length === 0 || broken) return
    const text = pending.length === 1 ? pending[0]! : pending.join('')
    pending = []
    pendingBytes = 0
    writing++
    sink.write(text, written)
  }

  function written(): void {
    writing--
    if (dropped > 0 && !broken && sink.writableLength === 0) {
      const count = dropped
      dropped = 0
      options.onCaughtUp(count)
    }
    settle()
  }

  function settle(): void {
    if ((writing > 0 && !broken) || waiters.length === 0) return
    const done = waiters
    waiters = []
    for (const resolve of done) resolve()
  }

  setInterval(writeOut, FLUSH_EVERY_MS).unref()

  // process.exit skips every pending callback: write what waits here now. Only
  // when the stream has nothing queued (else these lines would overtake its
  // queue, and a pipe that is full would refuse them anyway).
  process.once('exit', () => {
    renderDeferred()
    if (broken || pending.length === 0 || sink.writableLength > 0 || sink.fd === undefined) return
    try {
      writeSync(sink.fd, pending.join(''))
    } catch {
      // stdout is closed or full: there is nowhere left to write to.
    }
    pending = []
  })

  return {
    stream: { write, later },
    flush: () =>
      new Promise<void>((resolve) => {
        renderDeferred()
        writeOut()
        waiters.push(resolve)
        settle()
      }),
  }
}
