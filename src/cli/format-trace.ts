/**
 * A run's trace for a terminal: one line per stage with its duration, the
 * stage's fields indented under it. Colour only when the output is a TTY.
 */
interface Stage {
  readonly name: string
  readonly duration_ms: number
  readonly [field: string]: unknown
}

export interface PrintableTrace {
  readonly request_id: string
  readonly step: string
  readonly started_at: string
  readonly duration_ms: number
  readonly stages: readonly Stage[]
  readonly answer: unknown
}

export function formatTrace(trace: PrintableTrace, colour: boolean): string {
  const paint = (code: number, text: string) => (colour ? `\u001b[${code}m${text}\u001b[0m` : text)
  const bold = (t: string) => paint(1, t)
  const dim = (t: string) => paint(2, t)
  const red = (t: string) => paint(31, t)
  const ms = (n: number) => `${n.toFixed(n < 10 ? 3 : 1)} ms`
  const lines = [`${bold(`trace of ${trace.step}`)} ${dim(`request_id ${trace.request_id}, ${trace.started_at}, ${ms(trace.duration_ms)}`)}`]
  for (const stage of trace.stages) {
    const { name, duration_ms, ...fields } = stage
    const failed = 'error' in fields || fields['valid'] === false || ('reason' in fields && name === 'attempt')
    const label = name === 'attempt' ? `attempt ${String(fields['attempt'] ?? '')}` : name
    lines.push(`  ${(failed ? red : bold)(label.padEnd(10))} ${dim(ms(duration_ms).padStart(11))}`)
    for (const [key, value] of Object.entries(fields)) {
      if (key === 'attempt') continue
      const text = typeof value === 'string' ? value : JSON.stringify(value)
      lines.push(`      ${dim(`${key}:`)} ${text === undefined ? '' : text.length > 400 ? `${text.slice(0, 400)}…` : text}`)
    }
  }
  lines.push(`  ${bold('answer'.padEnd(10))} ${JSON.stringify(trace.answer)}`)
  return lines.join('\n') + '\n'
}
