import { expect } from 'vitest'
import type { RunningServer } from './server.js'

/** The JSON log lines the server wrote so far. */
export function logLines(server: RunningServer): Record<string, unknown>[] {
  return server
    .output()
    .stdout.split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
}

/** The first log line that matches, once it has been written (logs trail the answer). */
export async function logged(server: RunningServer, match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  for (;;) {
    const line = logLines(server).find(match)
    if (line !== undefined) return line
    await new Promise((r) => setTimeout(r, 10))
  }
}

export async function metricsText(server: { url: string }): Promise<string> {
  const res = await fetch(`${server.url}/metrics`)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
  return res.text()
}

/** The value of one sample in Prometheus text, 0 when absent. */
export function sample(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(name + ' '))
  return line === undefined ? 0 : Number(line.slice(name.length + 1))
}

/**
 * Waits until every line logged so far has been written: the server writes
 * its lines asynchronously, at most 100 ms after they are logged (see
 * src/server/log-output.ts). For checks that a line is absent.
 */
export function linesWritten(): Promise<void> {
  return new Promise((r) => setTimeout(r, 250))
}

/** One sample of a server's /metrics, 0 when absent. */
export async function metricSample(server: { url: string }, name: string): Promise<number> {
  return sample(await metricsText(server), name)
}
