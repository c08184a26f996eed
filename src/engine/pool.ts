import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { limitError } from './frame.js'
import type { EngineLimits } from './index.js'
import { JsonText } from './values.js'

/**
 * Threads that finish the evaluations the main thread gave up on.
 *
 * An evaluation starts on the main thread, which is what almost every
 * evaluation needs (a few microseconds). One that is still running after a
 * few milliseconds stops there and runs again on one of these threads, where
 * it can take its whole `timeout_ms` without holding up any other request:
 * a JSONata expression has no side effects, so running it again is safe.
 * Each thread has its own heap, bounded (`resourceLimits`): an evaluation
 * that exhausts it ends that thread, not the process. A thread still busy
 * at the evaluation's deadline is terminated and replaced.
 */
export interface Job {
  readonly source: string
  readonly limits: EngineLimits
  readonly input: unknown
  readonly bindings: Readonly<Record<string, unknown>> | undefined
  /** The evaluation's clock ($now, $millis), in ms. */
  readonly timestamp: number
  /** When the evaluation must have ended, in ms since the epoch: waiting for a thread counts. */
  readonly deadline: number
}

/** A result comes back as the JSON text the thread made (absent: undefined), for the caller to parse or splice. */
export type Outcome = { readonly ok: true; readonly result: JsonText | undefined } | { readonly ok: false; readonly error: unknown } | { readonly ok: false; readonly notData: string }

/** Each thread's heap, in MiB. */
const HEAP_MB = 512
/**
 * How much an evaluation on a thread may grow its heap: it fails with
 * `memory` there, well before V8 would spend its time collecting garbage
 * near the thread's limit (and then end the thread).
 */
export const EVALUATION_HEAP_BYTES = 320 * 1024 * 1024
/**
 * How long past the deadline a thread may take to stop by itself (it checks
 * the deadline as it evaluates, and then reports its own timeout) before it
 * is terminated. The request does not wait for this: it has its answer at
 * the deadline.
 */
const GRACE_MS = 50

/**
 * A thread idle this long ends, giving its memory back (30 to 60 MB each,
 * whatever its evaluation left): offloads are rare, and a new thread takes
 * ~60 ms to start.
 */
const IDLE_MS = 2000

interface Slot {
  worker: Worker
  /** The job running on the thread; still set, answered, while an expired one winds down. */
  job: Pending | undefined
  /** Ends the thread once idle (see IDLE_MS). */
  idle: NodeJS.Timeout | undefined
}

interface Pending {
  readonly id: number
  readonly job: Job
  readonly resolve: (outcome: Outcome) => void
  timer: NodeJS.Timeout | undefined
  done: boolean
}

export class EvaluatorPool {
  private readonly slots: Slot[] = []
  private readonly queue: Pending[] = []
  private nextId = 0
  private closed = false

  constructor(
    private readonly size: number = Math.max(1, Math.min(4, availableParallelism())),
    private readonly script: URL = workerScript(),
  ) {}

  run(job: Job): Promise<Outcome> {
    if (this.closed) return Promise.resolve({ ok: false, error: new Error('the expression engine is shut down') })
    return new Promise<Outcome>((resolve) => {
      const pending: Pending = { id: this.nextId++, job, resolve, timer: undefined, done: false }
      // The deadline holds while the job waits for a thread, and while it runs.
      pending.timer = setTimeout(() => this.expire(pending), Math.max(0, job.deadline - Date.now()))
      pending.timer.unref()
      this.queue.push(pending)
      this.dispatch()
    })
  }

  /** Terminates every thread: for a process that is stopping. */
  async close(): Promise<void> {
    this.closed = true
    for (const pending of this.queue.splice(0)) this.finish(pending, { ok: false, error: new Error('the expression engine is shut down') })
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()))
    this.slots.length = 0
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => s.job === undefined)
      if (slot === undefined && this.slots.length < this.size) slot = this.spawn()
      if (slot === undefined) return
      const pending = this.queue.shift()!
      let job: JobMessage
      try {
        job = message(pending)
      } catch (err) {
        // Past what a string can hold (a body limit raised far above its default).
        this.finish(pending, { ok: false, error: limitError('memory', HEAP_MB * 1024 * 1024, `the evaluation's input cannot be sent to an evaluation thread: ${(err as Error).message}`) })
        continue
      }
      slot.job = pending
      clearTimeout(slot.idle)
      slot.worker.postMessage(job)
    }
  }

  private spawn(): Slot {
    const worker = new Worker(this.script, { resourceLimits: { maxOldGenerationSizeMb: HEAP_MB, maxYoungGenerationSizeMb: 32 } })
    // An idle pool does not keep a process alive (a CLI ends when its work does).
    worker.unref()
    const slot: Slot = { worker, job: undefined, idle: undefined }
    worker.on('message', (message: { id: number } & Reply) => {
      const pending = slot.job
      if (pending === undefined || pending.id !== message.id) return
      slot.job = undefined
      this.finish(pending, outcomeOf(message))
      this.dispatch()
      if (slot.job === undefined) {
        slot.idle = setTimeout(() => void (slot.job === undefined && this.retire(slot)), IDLE_MS)
        slot.idle.unref()
      }
    })
    worker.on('error', (err: Error & { code?: string }) => {
      const pending = slot.job
      slot.job = undefined
      if (pending !== undefined) {
        const memory = err.code === 'ERR_WORKER_OUT_OF_MEMORY'
        this.finish(pending, {
          ok: false,
          error: memory ? limitError('memory', HEAP_MB * 1024 * 1024, `the evaluation ran out of its ${HEAP_MB} MiB heap`) : { code: 'engine', message: `the evaluation failed: ${err.message}` },
        })
      }
    })
    worker.on('exit', () => {
      clearTimeout(slot.idle)
      const at = this.slots.indexOf(slot)
      if (at >= 0) this.slots.splice(at, 1)
      if (slot.job !== undefined) this.finish(slot.job, { ok: false, error: { code: 'engine', message: 'the evaluation thread stopped' } })
      slot.job = undefined
      if (!this.closed) this.dispatch()
    })
    this.slots.push(slot)
    return slot
  }

  /** Ends an idle thread; the next job that needs one starts a new one. */
  private retire(slot: Slot): void {
    const at = this.slots.indexOf(slot)
    if (at >= 0) this.slots.splice(at, 1)
    void slot.worker.terminate()
  }

  /**
   * The deadline passed: the request gets its timeout now. A queued job is
   * dropped; a running one has GRACE_MS to stop by itself (the thread then
   * stays), after which its thread is terminated.
   */
  private expire(pending: Pending): void {
    const queued = this.queue.indexOf(pending)
    if (queued >= 0) this.queue.splice(queued, 1)
    const { timeoutMs } = pending.job.limits
    this.finish(pending, { ok: false, error: limitError('timeout', timeoutMs, `the evaluation took longer than ${timeoutMs} ms (limits.timeout_ms)`) })
    const slot = this.slots.find((s) => s.job === pending)
    if (slot !== undefined) {
      const stuck = setTimeout(() => {
        if (slot.job === pending) {
          slot.job = undefined
          this.retire(slot)
          this.dispatch()
        }
      }, GRACE_MS)
      stuck.unref()
    }
  }

  /** Answers a job, once: a thread's late report of an expired job is dropped. */
  private finish(pending: Pending, outcome: Outcome): void {
    if (pending.done) return
    pending.done = true
    clearTimeout(pending.timer)
    pending.resolve(outcome)
  }
}

/**
 * What crosses to a thread: the job, with its input and bindings as JSON
 * text. They are JSON data (a request's payload, an upstream's answer), and
 * for them JSON.stringify here and JSON.parse there cost about half of what
 * the structured clone that postMessage makes otherwise costs, and this
 * thread, which answers every other request, does only the first half.
 */
export interface JobMessage {
  readonly id: number
  readonly source: string
  readonly limits: EngineLimits
  /** `{"input": ..., "bindings": ...}`; a key is left out where its value is undefined. */
  readonly json: string
  readonly timestamp: number
  readonly deadline: number
}

/** What a thread answers: a result as JSON text (absent: undefined) and how deeply it nests. */
export type Reply = { readonly id: number } & ({ readonly ok: true; readonly json?: string; readonly depth?: number } | { readonly ok: false; readonly error: unknown } | { readonly ok: false; readonly notData: string })

function message(pending: Pending): JobMessage {
  const { source, limits, input, bindings, timestamp, deadline } = pending.job
  return { id: pending.id, source, limits, json: JSON.stringify({ input, bindings }), timestamp, deadline }
}

function outcomeOf(reply: Reply): Outcome {
  if (!reply.ok) return 'notData' in reply ? { ok: false, notData: reply.notData } : { ok: false, error: reply.error }
  return { ok: true, result: reply.json === undefined ? undefined : new JsonText(reply.json, reply.depth ?? 0) }
}

/**
 * The thread's script, beside this module in dist/. Under the tests, which
 * run the TypeScript sources, it is the built one (the tests build dist/ first).
 */
function workerScript(): URL {
  const here = fileURLToPath(import.meta.url)
  return here.endsWith('.ts') ? new URL(`../../dist/engine/worker.js`, import.meta.url) : new URL('./worker.js', import.meta.url)
}
