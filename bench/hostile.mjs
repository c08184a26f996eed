// npm run bench -- --hostile [--quick] [--only TEXT]   (or node bench/hostile.mjs ...)
//   --quick: each row ten at once only, the RSS followed only until it is back
//   --only TEXT: only the rows whose step or name contains TEXT
//
// The isolation measurement of issue 11: the real server (dist/main.js,
// production settings, the default overload guard) on
// bench/hostile-steps.yaml gets each hostile request of the issue once and
// ten at once, while bench/probe.mjs sends the cheap step continuously on a
// connection of its own and times every answer; then ten hostile evaluations
// (and a few other requests) are in flight when SIGTERM arrives. It reports
// every answer, how long it took, the cheap step's latency meanwhile, the
// server's RSS, and which targets are met.
//
// Nothing is pinned to a CPU: the server runs its evaluation threads
// (worker_threads) beside its main thread, as many as it has cores, and
// pinning it to one core (as bench/run.mjs does to compare servers) would
// measure those threads fighting the main thread for that core, not the
// isolation as deployed. So the server, the probe and this driver share the
// machine's CPUs, and the probe's latencies include that contention.
import { execFileSync, fork, spawn } from 'node:child_process'
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { Client } from 'undici'
import { parse as parseYaml } from 'yaml'
import { body, freePort, KEY } from './lib.mjs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BENCH = join(ROOT, 'bench')
const RESULTS = join(BENCH, 'results')
const STEPS_FILE = join(BENCH, 'hostile-steps.yaml')
const SHUTDOWN_TIMEOUT_MS = 2000
/** The targets of issue 11. */
const SLACK_MS = 100 // a hostile request answers within its timeout_ms + this
const CHEAP_P99_MS = 50
const RSS_SLACK_MB = 50
const RSS_WAIT_MS = 5000
const LEGIT_MS = 100
const LEGIT_REPEAT = 5
const TEN = 10

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** A seeded generator (mulberry32): the same bodies on every run. */
function random(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function rows() {
  const next = random(11)
  const numbers = Array.from({ length: 40_000 }, () => Math.floor(next() * 100_000))
  const objects = Array.from({ length: 20_000 }, (_, i) => ({ id: i % 15_000, sku: `sku-${i % 15_000}` }))
  const failure = (code) => `failure transform_failed/${code}`
  return [
    { name: 'a transform that recurses forever (tail call)', step: 'recurse_forever', expect: failure('timeout'), before: 'every other request waited up to 1,000 ms; 8 at once: 503s; 10 at once: one after another; SIGTERM: 7 resets, exit 3.7 s' },
    { name: 'recursion, not a tail call', step: 'recurse_deeper', expect: failure('depth'), before: '(not in the issue)' },
    { name: '$sort of 40,000 numbers', step: 'sort_numbers', data: { numbers }, expect: 'success', legit: true, before: '18 s frozen, RSS 0.9 → 3.3 GB' },
    { name: 'e-mail regex in $match, 31 characters', step: 'email_regex', data: { email: `${'a'.repeat(30)}!` }, expect: 'success', linear: true, before: '4.3 s frozen' },
    { name: '$match with (a+)+$, 30 characters', step: 'nested_quantifier', data: { text: `${'a'.repeat(29)}!` }, expect: 'success', linear: true, before: '22.6 s frozen' },
    { name: '$pad("", 150000000) from $data.width', step: 'pad_from_data', data: { width: 150_000_000 }, expect: failure('string_length'), before: 'V8 fatal error' },
    { name: '$split into 5,000,001 items', step: 'split_items', expect: failure('items'), before: 'succeeded (should fail with items)' },
    { name: '$distinct of 20,000 objects', step: 'distinct_objects', data: { objects }, expect: 'success', legit: true, before: '8.1 s frozen' },
    { name: '$pad("", 100000000)', step: 'pad_literal', expect: failure('string_length'), before: '4.6 s frozen, 1.6 GB' },
    { name: 'JSON Schema pattern ^([a-zA-Z0-9]+\\s?)*$, 31 characters', step: 'schema_pattern', data: { name: `${'a'.repeat(30)}!` }, expect: 'failure input_invalid', before: 'catastrophic backtracking in input validation' },
  ].map((row) => ({ ...row, body: body(row.step, { data: row.data }) }))
}

/** What an answer says, in one short string: `success`, `failure transform_failed/timeout`, `503`, `ECONNRESET`. */
function outcomeOf(status, text) {
  if (typeof status !== 'number') return status
  if (status !== 200) return String(status)
  try {
    const answer = JSON.parse(text)
    if (answer.exit_code === 'success') return 'success'
    const error = answer.data?.error ?? {}
    return `${answer.exit_code} ${error.code}${typeof error.details?.code === 'string' ? `/${error.details.code}` : ''}`
  } catch {
    return '200 (not JSON)'
  }
}

/** A keep-alive connection of its own; long timeouts, so that a slow answer is measured rather than abandoned. */
const connection = (url) => new Client(url, { pipelining: 1, headersTimeout: 120_000, bodyTimeout: 120_000 })

async function send(client, text) {
  const started = performance.now()
  try {
    const res = await client.request({ path: '/hook', method: 'POST', headers: { 'content-type': 'application/json' }, body: text })
    const answer = await res.body.text()
    return { outcome: outcomeOf(res.statusCode, answer), ms: performance.now() - started, at: Date.now() }
  } catch (err) {
    return { outcome: err.code ?? err.name ?? 'error', ms: performance.now() - started, at: Date.now() }
  }
}

/** Resident memory of a process, all threads, in MB (VmRSS). */
function rssMb(pid) {
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1])
    return kb / 1024
  } catch {
    return NaN
  }
}

/**
 * Where a server's memory is: its RSS, its threads (an evaluation thread is
 * one more), and its main thread's heap, used and reserved, from its
 * /metrics (prom-client's figures).
 */
async function memory(server) {
  const status = (() => {
    try {
      return readFileSync(`/proc/${server.child.pid}/status`, 'utf8')
    } catch {
      return ''
    }
  })()
  const threads = Number(/Threads:\s+(\d+)/.exec(status)?.[1] ?? NaN)
  let heap = { used: NaN, total: NaN }
  try {
    const text = await (await fetch(`${server.url}/metrics`)).text()
    const mb = (name) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN) / 2 ** 20
    heap = { used: mb('nodejs_heap_size_used_bytes'), total: mb('nodejs_heap_size_total_bytes') }
  } catch {
    /* no server */
  }
  return { rss_mb: rssMb(server.child.pid), threads, main_heap_used_mb: heap.used, main_heap_total_mb: heap.total }
}

/** Starts the server (not pinned: see the top of this file) and waits until it answers. */
async function startServer(name = 'hostile-server') {
  const port = await freePort()
  mkdirSync(RESULTS, { recursive: true })
  const logFile = join(RESULTS, `${name}.log`)
  const log = openSync(logFile, 'w')
  const env = {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    STEPS_FILE,
    LOG_LEVEL: 'info',
    SIGNATURE_KEY: KEY,
    SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
    // The same hostile payload is sent again on purpose: each must run, not be answered from the replay cache.
    REPLAY_TTL_S: '0',
    // The overload guard keeps its defaults: "no 503s for other requests" must hold with them.
  }
  const child = spawn(process.execPath, [join(ROOT, 'dist/main.js')], { cwd: ROOT, env, stdio: ['ignore', log, log] })
  const server = { child, url: `http://127.0.0.1:${port}`, logFile, exit: undefined }
  server.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve((server.exit = { code, signal, at: Date.now() }))))
  for (;;) {
    if (server.exit !== undefined) throw new Error(`the server exited at start; see ${logFile}`)
    try {
      await fetch(`${server.url}/readyz`)
      return server
    } catch {
      await sleep(50)
    }
  }
}

/** The probe process (bench/probe.mjs) and a way to collect its samples. */
function startProbe(url, cheapBody) {
  mkdirSync(join(RESULTS, 'bodies'), { recursive: true })
  const file = join(RESULTS, 'bodies', 'hostile-cheap.json')
  writeFileSync(file, cheapBody)
  const child = fork(join(BENCH, 'probe.mjs'), [`${url}/hook`, file], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  let nextId = 0
  const waiting = new Map()
  child.on('message', (m) => {
    waiting.get(m.id)?.(m.samples)
    waiting.delete(m.id)
  })
  return {
    child,
    /** The samples since the last collect, once the request under way at `until` (default now) has its answer. */
    collect(until = Date.now()) {
      const id = nextId++
      return new Promise((resolve) => {
        waiting.set(id, resolve)
        child.send({ cmd: 'collect', id, until })
      })
    },
    async stop() {
      const stopped = new Promise((resolve) => waiting.set('stopped', resolve))
      child.send({ cmd: 'stop' })
      const samples = await stopped
      await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.on('exit', resolve)))
      return samples
    },
  }
}

function percentile(sorted, q) {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}

/**
 * The cheap step over a window (its requests that overlap it): its
 * latencies, one request after another, and its answers other than 200.
 */
function cheapStats(samples, from = -Infinity, to = Infinity) {
  const mine = samples.filter(([sent, answered]) => answered >= from && sent <= to)
  const ms = mine.map((s) => s[2]).sort((a, b) => a - b)
  const other = {}
  for (const [, , , status] of mine) if (status !== 200) other[status] = (other[status] ?? 0) + 1
  return { count: mine.length, p50: percentile(ms, 0.5), p99: percentile(ms, 0.99), max: ms.at(-1) ?? NaN, moment: atRandomMoments(mine, from, to), other }
}

/**
 * What a cheap request arriving at a random moment of the window would
 * wait, p50 and p99, estimated from the probe's request under way at that
 * moment: the rest of its time (a request that arrives during a stall waits
 * for the stall to end). The probe's own latencies count a stall of a second
 * once, as one slow request among many quick ones; this counts it for all
 * its time, as callers arriving at their own pace meet it.
 */
function atRandomMoments(samples, from, to) {
  const spans = samples.map(([sent, answered]) => [Math.max(sent, from), Math.min(answered, to), answered]).filter(([a, b]) => b > a)
  const total = spans.reduce((t, [a, b]) => t + b - a, 0)
  // How long, in all, a request arriving would have waited more than x ms.
  const longer = (x) => spans.reduce((t, [a, b, answered]) => t + Math.max(0, Math.min(b, answered - x) - a), 0)
  const quantile = (q) => {
    let [lo, hi] = [0, Math.max(0, ...spans.map(([a, , answered]) => answered - a))]
    for (let i = 0; i < 40; i++) {
      const mid = (lo + hi) / 2
      if (longer(mid) > (1 - q) * total) lo = mid
      else hi = mid
    }
    return hi
  }
  return total === 0 ? { p50: NaN, p99: NaN } : { p50: quantile(0.5), p99: quantile(0.99) }
}

/** The cheap step's p99 as the target reads it: the worse of the two (NaN, no request at all, as 0). */
const worstP99 = (cheap) => Math.max(cheap.p99 || 0, cheap.moment.p99 || 0)

function summarize(answers) {
  const counts = {}
  for (const a of answers) counts[a.outcome] = (counts[a.outcome] ?? 0) + 1
  return Object.entries(counts).map(([outcome, n]) => (answers.length > 1 ? `${n}x ${outcome}` : outcome)).join(', ')
}

/**
 * One phase of a row: `count` copies of the hostile request at once, each on
 * its own connection, while the probe runs; then the RSS, until it is back
 * within RSS_SLACK_MB of where it started (and, on a full run, 5 s after).
 */
async function phase(server, probe, clients, row, count, timeoutMs, quick) {
  const pid = server.child.pid
  const before = await probe.collect()
  const rssBefore = rssMb(pid)
  const sentAt = Date.now()
  // A legitimate row, once, is sent LEGIT_REPEAT times in a row: the first is cold (its code not yet optimized), the others show the work itself.
  const repeat = row.legit && count === 1 ? LEGIT_REPEAT : 1
  const answers = []
  for (let i = 0; i < repeat; i++) answers.push(...(await Promise.all(clients.slice(0, count).map((client) => send(client, row.body)))))
  const answeredAt = Date.now()
  const rssAfter = rssMb(pid)
  // The cheap requests under way while the row ran, once the last of them has its answer.
  const collected = [...before, ...(await probe.collect(answeredAt))]
  let rssBackMs
  let rssLater = rssAfter
  for (;;) {
    const elapsed = Date.now() - answeredAt
    rssLater = rssMb(pid)
    if (rssBackMs === undefined && rssLater <= rssBefore + RSS_SLACK_MB) rssBackMs = elapsed
    if ((quick && rssBackMs !== undefined) || elapsed >= RSS_WAIT_MS || server.exit !== undefined) break
    await sleep(100)
  }
  const after = await probe.collect()
  const times = answers.map((a) => a.ms)
  const maxMs = Math.max(...times)
  const medianMs = percentile([...times].sort((a, b) => a - b), 0.5)
  const cheap = cheapStats(collected, sentAt, answeredAt)
  // Any answer but 200 counts from the end of the last row to the end of this one's RSS wait.
  const cheapOther = cheapStats([...collected, ...after]).other
  return {
    row: row.name,
    step: row.step,
    count,
    repeat,
    legit: row.legit === true,
    linear: row.linear === true,
    expect: row.expect,
    timeout_ms: timeoutMs,
    answers: summarize(answers),
    answers_ms: times.map((ms) => Math.round(ms * 10) / 10),
    answers_ok: answers.every((a) => a.outcome === row.expect),
    max_ms: maxMs,
    median_ms: medianMs,
    // Legitimate work, once: well under LEGIT_MS once warm; everything else: within timeout_ms + SLACK_MS.
    time_ok: repeat > 1 ? medianMs < LEGIT_MS : maxMs <= timeoutMs + SLACK_MS,
    cheap,
    cheap_other_status: cheapOther,
    cheap_ok: worstP99(cheap) <= CHEAP_P99_MS && Object.keys(cheapOther).length === 0,
    rss_mb: { before: rssBefore, after: rssAfter, later: rssLater, later_after_ms: Date.now() - answeredAt, back_after_ms: rssBackMs ?? null },
    rss_ok: rssBackMs !== undefined,
    alive: server.exit === undefined,
    window_ms: answeredAt - sentAt,
  }
}

/**
 * SIGTERM while ten hostile evaluations are in flight: every request sent
 * before the signal must get its answer (its result or its limit failure),
 * and the process must exit 0 within SHUTDOWN_TIMEOUT_MS + 1 s.
 */
async function sigtermScenario(server, allRows) {
  const byStep = new Map(allRows.map((r) => [r.step, r]))
  const plan = [
    ...Array.from({ length: TEN }, () => ({ kind: 'recurse_forever', wave: 0 })),
    ...Array.from({ length: 3 }, () => ({ kind: 'cheap', wave: 1 })),
    { kind: 'sort_numbers', wave: 1 },
    { kind: 'distinct_objects', wave: 1 },
    { kind: 'recurse_deeper', wave: 1 },
  ]
  const expect = (kind) => (kind === 'cheap' ? ['success'] : kind === 'recurse_forever' ? [byStep.get(kind).expect] : [byStep.get(kind).expect, 'failure transform_failed/timeout'])
  const clients = plan.map(() => connection(server.url))
  const cheap = body('cheap')
  // Every connection is open (and warm) before the scenario: a request sent on it is one the server has to answer.
  await Promise.all(clients.map((client) => send(client, cheap)))
  const started = Date.now()
  const pending = []
  for (const [i, item] of plan.entries()) {
    if (item.wave === 1 && plan[i - 1].wave === 0) await sleep(200)
    const text = item.kind === 'cheap' ? cheap : byStep.get(item.kind).body
    const sentAt = Date.now()
    pending.push(send(clients[i], text).then((a) => ({ ...item, ...a, sentAt })))
  }
  // Long enough for the last requests' bytes to be read, short enough that the legitimate ones are still being worked on.
  await sleep(20)
  const signalAt = Date.now()
  server.child.kill('SIGTERM')
  const answers = await Promise.all(pending)
  const exit = await Promise.race([server.exited, sleep(SHUTDOWN_TIMEOUT_MS + 5000).then(() => undefined)])
  for (const client of clients) client.destroy().catch(() => {})
  const requests = answers.map((a) => ({
    kind: a.kind,
    sent_ms: a.sentAt - signalAt,
    answered_ms: a.at - signalAt,
    outcome: a.outcome,
    ok: expect(a.kind).includes(a.outcome),
  }))
  const exitMs = exit === undefined ? null : exit.at - signalAt
  return {
    started_before_signal_ms: signalAt - started,
    requests,
    answers: summarize(answers.map((a) => ({ outcome: `${a.kind}: ${a.outcome}` }))),
    all_answered: requests.every((r) => r.ok),
    exit_code: exit?.code ?? null,
    exit_signal: exit?.signal ?? null,
    exit_ms: exitMs,
    exit_ok: exit !== undefined && exit.code === 0 && exitMs <= SHUTDOWN_TIMEOUT_MS + 1000,
  }
}

/** The servers' log lines at warn and above (and any that is not JSON), counted by message. */
function logProblems(files) {
  const counts = {}
  for (const line of files.flatMap((file) => readFileSync(file, 'utf8').split('\n'))) {
    if (!line.startsWith('{')) {
      if (line.trim() !== '') counts[`(not JSON) ${line.slice(0, 120)}`] = (counts[`(not JSON) ${line.slice(0, 120)}`] ?? 0) + 1
      continue
    }
    try {
      const entry = JSON.parse(line)
      if (entry.level >= 40) {
        const key = `${entry.level >= 50 ? 'error' : 'warn'}: ${entry.msg}${entry.pressure ? ` (${entry.pressure})` : ''}`
        counts[key] = (counts[key] ?? 0) + 1
      }
    } catch {
      /* a line cut short */
    }
  }
  return counts
}

const fmt = (ms) => (Number.isFinite(ms) ? (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1)) : '-')
const mb = (x) => (Number.isFinite(x) ? x.toFixed(0) : '-')
const verdict = (ok) => (ok ? 'met' : 'SHORT')

export async function main(argv = process.argv.slice(2)) {
  const { values } = parseArgs({ args: argv, options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } } })
  const quick = values.quick
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', ROOT], { stdio: 'inherit' })
  const stepsConfig = parseYaml(readFileSync(STEPS_FILE, 'utf8'))
  const timeoutOf = (step) => stepsConfig.steps[step].limits?.timeout_ms ?? stepsConfig.defaults?.limits?.timeout_ms ?? 1000
  const allRows = rows()
  const loadBefore = loadavg()[0]
  const measured = allRows.filter((row) => values.only === undefined || row.step.includes(values.only) || row.name.includes(values.only))

  // Whatever this started ends with it, however it ends.
  const children = []
  const cleanup = () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  process.on('exit', cleanup)
  const server = await startServer()
  children.push(server.child)
  try {
    const clients = Array.from({ length: TEN }, () => connection(server.url))
    const cheap = body('cheap')
    for (let i = 0; i < 200; i++) await send(clients[i % TEN], cheap) // warm, and open every connection
    const probe = startProbe(server.url, cheap)
    children.push(probe.child)
    await probe.collect()
    await sleep(500)
    const rssStart = rssMb(server.child.pid)
    const memoryStart = await memory(server)
    process.stderr.write(`hostile: server pid ${server.child.pid}, RSS ${mb(rssStart)} MB; ${quick ? 'ten at once' : 'once, then ten at once'} per row; nothing pinned (${cpus().length} CPUs shared by the server, its evaluation threads, the probe and this driver)\n`)

    // The cheap step alone first: what its latency is when nothing else runs.
    await probe.collect()
    const aloneFrom = Date.now()
    await sleep(1000)
    const aloneTo = Date.now()
    const baseline = cheapStats(await probe.collect(aloneTo), aloneFrom, aloneTo)
    process.stderr.write(`the cheap step alone: p50 ${fmt(baseline.p50)} ms, p99 ${fmt(baseline.p99)} ms (${fmt(baseline.moment.p99)} at a random moment), max ${fmt(baseline.max)} ms (${baseline.count})\n`)
    const results = []
    for (const row of measured) {
      for (const count of quick ? [TEN] : [1, TEN]) {
        if (server.exit !== undefined) break
        const r = await phase(server, probe, clients, row, count, timeoutOf(row.step), quick)
        results.push(r)
        process.stderr.write(`${row.name} x${count}: ${r.answers}, max ${fmt(r.max_ms)} ms; cheap p99 ${fmt(r.cheap.p99)} ms (${fmt(r.cheap.moment.p99)} at a random moment), max ${fmt(r.cheap.max)} ms${Object.keys(r.cheap_other_status).length ? `, other answers ${JSON.stringify(r.cheap_other_status)}` : ''}; RSS ${mb(r.rss_mb.before)} → ${mb(r.rss_mb.after)} → ${mb(r.rss_mb.later)} MB${r.alive ? '' : '; THE SERVER EXITED'}\n`)
      }
    }
    const exitedDuringRows = server.exit
    const memoryEnd = exitedDuringRows === undefined ? await memory(server) : undefined
    const tail = exitedDuringRows === undefined ? await probe.stop() : (probe.child.kill(), [])
    for (const client of clients) await client.destroy().catch(() => {})
    // The stop: on the same server, unless the rows ended it.
    const stopServer = exitedDuringRows === undefined ? server : await startServer('hostile-server-stop')
    children.push(stopServer.child)
    process.stderr.write('SIGTERM during ten hostile evaluations...\n')
    const stop = await sigtermScenario(stopServer, allRows)
    process.stderr.write(`SIGTERM: ${stop.answers}; exit ${stop.exit_code} after ${stop.exit_ms} ms\n`)
    const log = logProblems([...new Set([server.logFile, stopServer.logFile])])
    return report({ quick, baseline, results, stop, tail: cheapStats(tail), exitedDuringRows, rssStart, memory: [memoryStart, memoryEnd], log, load: [loadBefore, loadavg()[0]] })
  } finally {
    cleanup()
  }
}

function report({ quick, baseline, results, stop, tail, exitedDuringRows, rssStart, memory, log, load }) {
  const md = (h, body) => [h, h.map(() => '---'), ...body].map((r) => `| ${r.join(' | ')} |`).join('\n')
  const statuses = (counts) => Object.entries(counts).map(([s, n]) => `${n}x ${s}`).join(', ')
  const cheapCell = (c) => `${fmt(c.p50)} / ${fmt(c.p99)} / ${fmt(c.max)} (${c.count})`
  const momentCell = (c) => `${fmt(c.moment.p50)} / ${fmt(c.moment.p99)}`
  const n = (r) => (r.repeat > 1 ? `1, ${r.repeat} times in a row` : String(r.count))
  const header = ['row', 'n', 'answers', 'max ms', 'timeout_ms', 'cheap step p50 / p99 / max ms (count)', 'at a random moment p50 / p99 ms', 'cheap non-200', `RSS MB before → after → ${quick ? 'back' : '5 s'}`, 'verdict']
  const rows = results.map((r, i) => {
    const misses = [!r.answers_ok && 'answer', !r.time_ok && 'time', !r.cheap_ok && 'cheap step', !r.rss_ok && 'RSS', !r.alive && 'EXITED'].filter(Boolean)
    const back = r.rss_mb.back_after_ms === null ? ' (not back)' : r.rss_mb.back_after_ms > 0 ? ` (back in ${(r.rss_mb.back_after_ms / 1000).toFixed(1)} s)` : ''
    return [
      i > 0 && results[i - 1].step === r.step ? '' : r.row,
      n(r),
      r.answers,
      `${fmt(r.max_ms)}${r.repeat > 1 ? ` (median ${fmt(r.median_ms)})` : ''}`,
      String(r.timeout_ms),
      cheapCell(r.cheap),
      momentCell(r.cheap),
      statuses(r.cheap_other_status) || '0',
      `${mb(r.rss_mb.before)} → ${mb(r.rss_mb.after)} → ${mb(r.rss_mb.later)}${back}`,
      misses.length === 0 ? 'met' : `SHORT: ${misses.join(', ')}`,
    ]
  })
  const alone = ['(none: the cheap step alone, 1 s)', '', '', '', '', cheapCell(baseline), momentCell(baseline), statuses(baseline.other) || '0', mb(rssStart), '']
  let table = md(header, [alone, ...rows])
  const stopRows = stop.requests.map((r) => [r.kind, String(r.sent_ms), String(r.answered_ms), r.outcome, r.ok ? 'yes' : 'NO'])
  table += `\n\nSIGTERM ${stop.started_before_signal_ms} ms after ten hostile evaluations were sent (SHUTDOWN_TIMEOUT_MS ${SHUTDOWN_TIMEOUT_MS}), times relative to the signal in ms:\n\n${md(['request', 'sent', 'answered', 'answer', 'as expected'], stopRows)}\n\nexit code ${stop.exit_code}${stop.exit_signal ? ` (signal ${stop.exit_signal})` : ''}, ${stop.exit_ms === null ? `no exit within SHUTDOWN_TIMEOUT_MS + 5 s` : `${stop.exit_ms} ms after the signal`}`

  const verdicts = []
  const target = (label, value, ok) => verdicts.push(`- ${label}: ${value} — ${verdict(ok)}`)
  const timing = (r) => `${r.step}${r.count === TEN ? ' x10' : ''}: ${r.answers} in ${r.repeat > 1 ? `${r.answers_ms.map(fmt).join(', ')} ms` : `${fmt(r.max_ms)} ms`}`
  const failing = results.filter((r) => r.expect !== 'success')
  for (const count of [1, TEN]) {
    const rs = failing.filter((r) => r.count === count)
    if (rs.length === 0) continue
    const bad = rs.filter((r) => !r.answers_ok || !r.time_ok)
    const slowest = rs.reduce((w, r) => (r.max_ms - r.timeout_ms > w.max_ms - w.timeout_ms ? r : w))
    target(
      `${count === 1 ? 'a hostile request answers' : 'hostile requests ten at once answer'} the named failure within timeout_ms + ${SLACK_MS} ms`,
      bad.length === 0 ? `${rs.length} row${rs.length === 1 ? '' : 's'}; the slowest: ${timing(slowest)} (timeout_ms ${slowest.timeout_ms})` : `not ${bad.map(timing).join('; ')}`,
      bad.length === 0,
    )
  }
  if (results.length > 0) {
    const p99s = (r) => `${fmt(r.cheap.p99)} ms, ${fmt(r.cheap.moment.p99)} at a random moment`
    const over = results.filter((r) => worstP99(r.cheap) > CHEAP_P99_MS)
    const worst = results.reduce((w, r) => (worstP99(r.cheap) > worstP99(w.cheap) ? r : w))
    target(`the cheap step's p99 <= ${CHEAP_P99_MS} ms throughout (per request, and at a random moment)`, over.length === 0 ? `worst ${p99s(worst)} (${worst.step}${worst.count === TEN ? ' x10' : ''})` : `over in ${over.map((r) => `${r.step}${r.count === TEN ? ' x10' : ''} (${p99s(r)})`).join('; ')}`, over.length === 0)
  }
  const other = {}
  for (const counts of [...results.map((r) => r.cheap_other_status), tail.other]) for (const [s, k] of Object.entries(counts)) other[s] = (other[s] ?? 0) + k
  target('no 503 (nor any other answer but 200) for the cheap step', statuses(other) || 'none', Object.keys(other).length === 0)
  target('no process exit', exitedDuringRows === undefined ? 'the server ran through every row' : `the server EXITED (code ${exitedDuringRows.code}, signal ${exitedDuringRows.signal})`, exitedDuringRows === undefined)
  const rssBad = results.filter((r) => !r.rss_ok)
  const where = (m) => (m === undefined ? 'the server had exited' : `RSS ${mb(m.rss_mb)} MB, ${m.threads} threads, main heap ${mb(m.main_heap_used_mb)} MB used of ${mb(m.main_heap_total_mb)} MB`)
  target(
    `RSS back within ${RSS_SLACK_MB} MB of where it started within ${RSS_WAIT_MS / 1000} s of each row`,
    `${rssBad.length === 0 ? 'after every row' : `not after ${rssBad.map((r) => `${r.step}${r.count === TEN ? ' x10' : ''} (${mb(r.rss_mb.before)} → ${mb(r.rss_mb.later)} MB)`).join(', ')}`}; over the whole run: ${where(memory[0])} at the start, ${where(memory[1])} after the last row`,
    rssBad.length === 0,
  )
  for (const rs of [...new Set(results.filter((r) => r.legit).map((r) => r.step))].map((step) => results.filter((r) => r.step === step))) {
    const once = rs.some((r) => r.repeat > 1) ? `, well under ${LEGIT_MS} ms (the median of ${LEGIT_REPEAT} in a row)` : ` (ten at once: within timeout_ms + ${SLACK_MS} ms)`
    target(`${rs[0].row} succeeds${once}`, rs.map(timing).join('; '), rs.every((r) => r.answers_ok && r.time_ok))
  }
  const linear = results.filter((r) => r.linear)
  if (linear.length > 0) target(`the regexes run in linear time: they succeed, in under ${LEGIT_MS} ms`, linear.map(timing).join('; '), linear.every((r) => r.answers_ok && r.max_ms < LEGIT_MS))
  const unanswered = stop.requests.filter((r) => !r.ok)
  target('SIGTERM during ten hostile evaluations: every request sent before it gets its result or its limit failure', unanswered.length === 0 ? `${stop.requests.length} of ${stop.requests.length}` : `not ${unanswered.map((r) => `${r.kind}: ${r.outcome}`).join(', ')}`, unanswered.length === 0)
  target(`SIGTERM: exit 0 within SHUTDOWN_TIMEOUT_MS + 1 s (${SHUTDOWN_TIMEOUT_MS + 1000} ms)`, `exit code ${stop.exit_code}${stop.exit_ms === null ? ', no exit' : ` after ${stop.exit_ms} ms`}`, stop.exit_ok)

  const before = md(['row', 'expected now', 'before the engine work (issue 11)'], allRowsSeen(results).map((r) => [r.row, r.expect, r.before]))
  const logLines = Object.entries(log).map(([m, k]) => `- ${k}x ${m}`)
  const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} CPUs, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}; load average (1 min) ${load.map((l) => l.toFixed(2)).join(' before, ')} after (anything else running shares the CPUs)`
  const settings = [
    `${quick ? 'Quick: each row ten at once' : `Each row once (a legitimate one ${LEGIT_REPEAT} times in a row), then ten at once`}, each request on a keep-alive connection of its own; meanwhile the cheap step (static) is sent continuously, one request at a time, on a connection of its own (bench/probe.mjs). Its figures cover a row from the first send to the last answer: per request, and at a random moment (what a request arriving then would wait: the rest of the probe's request under way, so that a stall counts for all its time, not as one slow request); its answers other than 200 are counted throughout, the RSS waits included.`,
    `Server: dist/main.js, NODE_ENV=production, LOG_LEVEL=info, the default overload guard, SHUTDOWN_TIMEOUT_MS=${SHUTDOWN_TIMEOUT_MS}, bench/hostile-steps.yaml; ${Math.max(1, Math.min(4, availableParallelism()))} evaluation threads (as many as cores, up to 4).`,
    `Nothing is pinned to a CPU: the server's main thread and evaluation threads, the probe and this driver share the ${cpus().length} CPUs (pinned to one core, the server's evaluation threads would compete with its main thread there, which is not how it runs).`,
  ].join('\n')
  const text = `${table}\n\nTargets:\n${verdicts.join('\n')}\n\n${before}\n\nServer log, warn and above:\n${logLines.join('\n') || '- none'}\n\n${settings}\n${machine}\n`
  process.stdout.write('\n' + text)
  mkdirSync(RESULTS, { recursive: true })
  const stamp = new Date().toISOString()
  writeFileSync(join(RESULTS, 'hostile.json'), JSON.stringify({ date: stamp, machine, quick, shutdown_timeout_ms: SHUTDOWN_TIMEOUT_MS, rss_start_mb: rssStart, memory_start: memory[0], memory_end: memory[1] ?? null, cheap_alone: baseline, results, sigterm: stop, cheap_after_rows: tail, server_log: log }, null, 2) + '\n')
  writeFileSync(join(RESULTS, 'hostile.md'), `Run of ${stamp}\n\n${text}`)
  process.stdout.write('\nresults: bench/results/hostile.json, bench/results/hostile.md; server log: bench/results/hostile-server.log\n')
  return 0
}

/** The rows measured, once each, with what the issue measured before. */
function allRowsSeen(results) {
  const byStep = new Map(rows().map((r) => [r.step, r]))
  return [...new Set(results.map((r) => r.step))].map((step) => ({ ...byStep.get(step), row: byStep.get(step).name }))
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`bench: ${err.stack ?? err}\n`)
      process.exit(1)
    },
  )
}
