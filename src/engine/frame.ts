import type { JBase, JFrame } from './sync-jsonata.js'

/**
 * A scope of variables, as jsonata's frames are: `bind`, `lookup` up the
 * chain, and the fields jsonata's evaluator reads from a frame. A class, so
 * that making one (every block, every call of a function) allocates one
 * object rather than jsonata's four; jsonata's own frames and these chain
 * into each other freely.
 */
export class Frame implements JFrame {
  readonly bindings: Record<string | symbol, unknown> = Object.create(null) as Record<string | symbol, unknown>
  timestamp: Date | null
  async: boolean
  isParallelCall: boolean
  global: unknown
  base!: JFrame & JBase;
  [key: string]: unknown

  constructor(readonly parent: JFrame | null) {
    this.timestamp = parent === null ? null : (parent.timestamp ?? null)
    this.async = parent === null ? false : parent.async === true
    this.isParallelCall = parent === null ? false : parent.isParallelCall === true
    this.global = parent === null ? { ancestry: [null] } : parent.global
    if (parent !== null) this.base = parent.base
  }

  bind(name: string, value: unknown): void {
    this.bindings[name] = value
  }

  lookup(name: string | symbol): unknown {
    let frame: JFrame | null = this
    while (frame instanceof Frame) {
      if (name in frame.bindings) return frame.bindings[name]
      frame = frame.parent
    }
    return frame === null ? undefined : frame.lookup(name)
  }
}

/** What jsonata sets on the frame of one evaluation: its clock, depth and limits. */
export class EvaluationFrame extends Frame implements JBase {
  depth = 0
  readonly RegexEngine: unknown
  readonly options: { timeout?: number; stack?: number; sequence?: number }
  readonly createSequence: (...items: unknown[]) => unknown[]
  private readonly started: number

  constructor(parent: JFrame, options: { timeout?: number; stack?: number; sequence?: number }, createSequence: (...items: unknown[]) => unknown[], regexEngine: unknown, timestamp: Date) {
    super(parent)
    this.base = this as unknown as JFrame & JBase
    this.options = options
    this.createSequence = createSequence
    this.RegexEngine = regexEngine
    this.timestamp = timestamp
    this.started = timestamp.getTime()
  }

  /** jsonata's guardrails: past `stack` levels of evaluation, D1011; past `timeout` ms, D1012. */
  guardrails(): void {
    const { stack, timeout } = this.options
    if (stack !== undefined && stack > 0 && this.depth > stack) throw { code: 'D1011', value: stack, stack: new Error().stack }
    if (timeout !== undefined && timeout > 0 && Date.now() - this.started > timeout) throw { code: 'D1012', value: timeout, stack: new Error().stack }
  }
}
