// npm run bench [-- --quick] [-- --rounds N --duration S]
//
// Starts step-runner (production mode, bench/steps.yaml), the ceiling (bare
// fastify, same work by hand) and the seed (the orchestrator's Express
// example), drives each with autocannon from a separate process, interleaved
// (A B C A B C ...), and prints medians over the rounds with the ratios of
// step-runner to the ceiling and to the seed (taken within each round).
import { execFileSync, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { engineTable, loadTimes, serverLoadTimes, writeThousandSteps } from './engine.mjs'
import { body, freePort, KEY } from './lib.mjs'

// npm run bench -- --hostile [--quick] [--only TEXT]: the isolation measurement instead (bench/hostile.mjs).
if (process.argv.includes('--hostile')) process.exit(await (await import('./hostile.mjs')).main(process.argv.slice(2).filter((a) => a !== '--hostile')))

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BENCH = join(ROOT, 'bench')
const BODY_LIMIT = String(4 * 1024 * 1024)
const PROFILE_DIR = join(ROOT, 'bench', 'results', 'profile')

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    connections: { type: 'string', default: '16' },
    only: { type: 'string' },
    profile: { type: 'boolean', default: false },
  },
})
const quick = values.quick
const rounds = Number(values.rounds ?? (quick ? 1 : 3))
const duration = Number(values.duration ?? (quick ? 1 : 5))
const connections = Number(values.connections)

// Pin the servers to one core and the load generator to another, where the
// machine has two and taskset exists; say so when it cannot.
const canPin = cpus().length >= 2 && existsSync('/usr/bin/taskset')
const onCore = (core, command, args) => (canPin ? ['/usr/bin/taskset', ['-c', String(core), command, ...args]] : [command, args])

/** A body of about `size` bytes: dependencies_context carries the bulk. */
function sizedBody(size) {
  const bare = body('step_a', { deps: { step_x: { data: { blob: '' }, exit_code: 'success' } } })
  return body('step_a', { deps: { step_x: { data: { blob: 'x'.repeat(Math.max(0, size - bare.length)) }, exit_code: 'success' } } })
}

const scenarios = [
  { name: 'static step', body: body('step_a') },
  {
    name: 'transform step',
    body: body('transform_step', {
      data: { order_id: 'o-1', amount: 42.5 },
      deps: {
        fetch_customer: { data: { name: 'Ada Lovelace', email: 'ada@example.com' }, exit_code: 'success' },
        fetch_cart: { data: { items: [{ sku: 'a', price: 10 }, { sku: 'b', price: 20.5 }, { sku: 'c', price: 12 }] }, exit_code: 'success' },
      },
    }),
  },
  { name: 'HTTP step', body: body('http_step', { data: { id: 'item-1' } }), direct: true },
  { name: 'payload 1 KB', body: sizedBody(1024), bytes: true },
  { name: 'payload 10 KB', body: sizedBody(10 * 1024), bytes: true },
  { name: 'payload 100 KB', body: sizedBody(100 * 1024), bytes: true },
  { name: 'payload 1 MB', body: sizedBody(1024 * 1024), bytes: true },
].filter((s) => values.only === undefined || s.name.includes(values.only))
/**
 * step-runner again at LOG_LEVEL=warn (no line per request), on the scenarios
 * where the log line is a visible share of the work: the difference to the
 * row above it is what the line costs.
 */
const WITHOUT_LOG = 'step-runner, LOG_LEVEL=warn'
const WITHOUT_LOG_SCENARIOS = ['static step', 'transform step']
/** step-runner with traces exported (OTLP/HTTP JSON to the bench's upstream, which answers 200): what tracing costs when on. */
const WITH_TRACING = 'step-runner, tracing on'
/**
 * The ceiling with one pino line per answer (bench/ceiling.mjs, CEILING_LOG=line):
 * what a hand-written handler costs with the log line that step-runner writes
 * at its default LOG_LEVEL=info. The pinned ratios are to the ceiling without
 * it; this one shows how much of the gap is the line itself.
 */
const LOGGING_CEILING = 'ceiling, one log line per request'
/** step-runner with WORKERS=2, on both cores, on the same scenarios. */
const WITH_WORKERS = 'step-runner, WORKERS=2 (both cores)'
/** The engine's own measurements (bench/engine.mjs): always, unless --only names something else. */
const measureEngine = values.only === undefined || values.only === 'engine'

/**
 * Unsigned bodies of about 1 MB shaped to cost a server the most: what an
 * attacker without the key can make it spend per request. The first ones are
 * written as JSON.stringify writes (as the orchestrator sends); the
 * "reformatted" ones have spaces, which make step-runner write the payload
 * again as JSON.stringify would before it can check the signature.
 */
function unsigned(data) {
  return `{"payload":{"context":{"step_name":"step_a"},"data":${data}},"signature":"${'5ca1ab1e'.repeat(8)}"}`
}
function repeated(unit, separator = ',') {
  const count = Math.floor((1024 * 1024) / (unit.length + separator.length))
  return `[${Array(count).fill(unit).join(separator)}]`
}
const deepest = `${'['.repeat(995)}${']'.repeat(995)}`
const refusals = [
  { name: 'nested 500,000 levels', body: unsigned(`${'['.repeat(500_000)}${']'.repeat(500_000)}`) },
  { name: '"constructor" keys', body: unsigned(repeated('{"constructor":{"a":1}}')) },
  { name: 'empty objects', body: unsigned(repeated('{}')) },
  { name: 'numbers', body: unsigned(repeated('0')) },
  { name: 'nested 998 levels, repeated', body: unsigned(repeated(deepest)) },
  { name: 'empty objects, reformatted', body: unsigned(repeated('{}', ', ')), reformatted: true },
  { name: 'numbers as 1.0, reformatted', body: unsigned(repeated('1.0', ', ')), reformatted: true },
  { name: 'keys out of order, reformatted', body: unsigned(repeated('{"1":0,"0":0}', ', ')), reformatted: true },
].filter((s) => values.only === undefined || `unsigned ${s.name}`.includes(values.only))

const children = []
/**
 * Starts a server on a free port and waits until it answers. Its output goes
 * to a file under bench/results: a pipe that this process reads would fill
 * while autocannon runs and stall a server that logs synchronously.
 */
async function start(name, command, args, env, core) {
  const port = await freePort()
  const [cmd, argv] = onCore(core, command, args)
  mkdirSync(join(BENCH, 'results'), { recursive: true })
  const log = openSync(join(BENCH, 'results', `${name}.log`), 'w')
  const child = spawn(cmd, argv, { cwd: ROOT, env: { PATH: process.env.PATH, ...env, PORT: String(port) }, stdio: ['ignore', log, log] })
  children.push(child)
  const url = `http://127.0.0.1:${port}`
  let exited = false
  child.on('exit', () => (exited = true))
  for (;;) {
    if (exited) throw new Error(`${name} exited; see bench/results/${name}.log`)
    try {
      await fetch(url)
      return { name, url, child }
    } catch {
      await new Promise((r) => setTimeout(r, 50))
    }
  }
}

function cleanup() {
  for (const child of children) child.kill('SIGKILL')
}
process.on('exit', cleanup)
process.on('SIGINT', () => process.exit(130))

/** One autocannon run, in a process of its own (on the other CPU). */
async function autocannon(url, scenario, seconds) {
  const file = bodyFile(scenario)
  const args = [join(ROOT, 'node_modules/autocannon/autocannon.js'), '--json', '-c', String(connections), '-d', String(seconds)]
  const target = scenario.directUrl ?? `${url}/hook`
  if (scenario.directUrl === undefined) args.push('-m', 'POST', '-H', 'content-type=application/json', '-i', file)
  args.push(target)
  const [cmd, argv] = onCore(1, process.execPath, args)
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'ignore'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d))
  const code = await new Promise((resolve) => child.on('exit', resolve))
  if (code !== 0) throw new Error(`autocannon exited with ${code}`)
  const r = JSON.parse(out)
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts + r.non2xx }
}

/** Latency at concurrency 1, in its own process on the load generator's CPU. */
async function latency(url, scenario, count) {
  const args = [join(BENCH, 'latency.mjs'), scenario.directUrl ?? `${url}/hook`, String(count)]
  if (scenario.directUrl === undefined) args.push(bodyFile(scenario))
  const [cmd, argv] = onCore(1, process.execPath, args)
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d))
  const code = await new Promise((resolve) => child.on('exit', resolve))
  if (code !== 0) throw new Error(`latency probe exited with ${code}`)
  return JSON.parse(out)
}

function bodyFile(scenario) {
  // Beside the results (not committed), so that a run leaves nothing in the system's temporary folder.
  mkdirSync(join(BENCH, 'results', 'bodies'), { recursive: true })
  const file = join(BENCH, 'results', 'bodies', `${createHash('sha1').update(scenario.body).digest('hex')}.json`)
  writeFileSync(file, scenario.body)
  return file
}

async function check(url, scenario) {
  const res = await fetch(`${url}/hook`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: scenario.body })
  const answer = await res.json()
  if (res.status !== 200 || answer.exit_code !== 'success') throw new Error(`${url} answered ${res.status} ${JSON.stringify(answer)} to ${scenario.name}`)
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

async function main() {
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', ROOT], { stdio: 'inherit' })
  let engine
  if (measureEngine) {
    process.stderr.write('expression engine: each bench expression in the engine and in jsonata-js; loading 1,000 steps\n')
    const file = writeThousandSteps()
    engine = { expressions: await engineTable({ quick }), load: { ...(await loadTimes({ file })), ...(await serverLoadTimes({ file, port: await freePort() })) } }
    if (scenarios.length === 0 && refusals.length === 0) return report([], [], engine)
  }
  const upstream = await start('upstream', process.execPath, [join(BENCH, 'upstream.mjs')], {}, 1)
  const common = { SIGNATURE_KEY: KEY, UPSTREAM_URL: upstream.url, BODY_LIMIT }
  const production = {
    ...common,
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    STEPS_FILE: join(BENCH, 'steps.yaml'),
    LOG_LEVEL: 'info',
    // Every request of a run is the same payload: measure runs, not the replay cache's answers.
    REPLAY_TTL_S: '0',
    // Measure the server, not its overload guard.
    MAX_EVENT_LOOP_DELAY_MS: '0',
    MAX_EVENT_LOOP_UTILIZATION: '0',
  }
  const servers = [
    await start('step-runner', process.execPath, [...(values.profile ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : []), join(ROOT, 'dist/main.js')], production, 0),
    await start('ceiling', process.execPath, [join(BENCH, 'ceiling.mjs')], common, 0),
    await start('seed', process.execPath, [join(BENCH, 'seed.mjs')], common, 0),
    Object.assign(await start(LOGGING_CEILING, process.execPath, [join(BENCH, 'ceiling.mjs')], { ...common, CEILING_LOG: 'line' }, 0), { only: WITHOUT_LOG_SCENARIOS }),
    // What the per-request log line costs, in every run: the same server without it.
    Object.assign(await start(WITHOUT_LOG, process.execPath, [join(ROOT, 'dist/main.js')], { ...production, LOG_LEVEL: 'warn' }, 0), { only: WITHOUT_LOG_SCENARIOS }),
    // Both cores: on this 2-core machine the load generator shares them, so
    // this measures what a second worker adds when a core is half taken.
    Object.assign(
      await start(WITH_TRACING, process.execPath, [join(ROOT, 'dist/main.js')], { ...production, OTEL_EXPORTER_OTLP_ENDPOINT: upstream.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, 0),
      { only: WITHOUT_LOG_SCENARIOS },
    ),
    Object.assign(await start(WITH_WORKERS, process.execPath, [join(ROOT, 'dist/main.js')], { ...production, WORKERS: '2' }, '0,1'), { only: WITHOUT_LOG_SCENARIOS }),
  ]
  const serves = (server, scenario) => server.only === undefined || server.only.includes(scenario.name)
  for (const scenario of scenarios) for (const server of servers) if (serves(server, scenario)) await check(server.url, scenario)

  const runs = [] // { scenario, server, round, rps, p50, p99, errors }
  const plan = scenarios.flatMap((scenario) => [
    ...servers.filter((server) => serves(server, scenario)).map((server) => ({ scenario, server })),
    ...(scenario.direct ? [{ scenario: { ...scenario, directUrl: `${upstream.url}/items/item-1` }, server: { name: 'direct call', url: upstream.url } }] : []),
  ])
  process.stderr.write(`${plan.length} runs x ${rounds} rounds x ${duration} s, ${connections} connections, ${canPin ? 'servers on CPU 0, load on CPU 1' : 'not pinned (needs 2 CPUs and taskset)'}\n`)
  // Warm every server (and the upstream) before measuring.
  for (const { scenario, server } of plan.filter((p) => p.scenario === scenarios[0] || p.scenario.directUrl)) await autocannon(server.url, scenario, 1)
  for (let round = 1; round <= rounds; round++) {
    for (const { scenario, server } of plan) {
      const r = await autocannon(server.url, scenario, duration)
      if (scenario.direct) r.lat = await latency(server.url, scenario, quick ? 300 : 2000)
      runs.push({ scenario: scenario.name, server: server.name, round, ...r, bodyBytes: Buffer.byteLength(scenario.body) })
      process.stderr.write(`round ${round}: ${scenario.name} / ${server.name}: ${Math.round(r.rps)} req/s, p50 ${r.p50} ms${r.errors ? `, ${r.errors} errors` : ''}\n`)
    }
  }
  const refused = []
  if (refusals.length > 0) {
    process.stderr.write(`unsigned 1 MB bodies: ${refusals.length} shapes x ${servers.length} servers, ${quick ? 10 : 40} requests each\n`)
    for (const shape of refusals) {
      for (const server of servers.filter((server) => server.only === undefined)) {
        const r = await refusalCost(server, shape, quick ? 10 : 40)
        refused.push({ shape: shape.name, reformatted: shape.reformatted === true, server: server.name, ...r })
        process.stderr.write(`unsigned ${shape.name} / ${server.name}: ${r.ms.toFixed(1)} ms of CPU each, answers ${JSON.stringify(r.statuses)}\n`)
      }
    }
  }
  report(runs, refused, engine)
  if (values.profile) await profileSummary(servers[0].child)
}

/** CPU time (user + system) of a process, in ms, from /proc. */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS
}
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/**
 * What refusing one body costs a server: its CPU time over `count` requests
 * sent one at a time (the clock is the kernel's, in ticks of 10 ms: over
 * many requests that is precise enough).
 */
async function refusalCost(server, shape, count) {
  const file = bodyFile(shape)
  const args = [join(BENCH, 'refuse.mjs'), `${server.url}/hook`, String(count), file]
  const [cmd, argv] = onCore(1, process.execPath, args)
  const before = cpuMs(server.child.pid)
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d))
  const code = await new Promise((resolve) => child.on('exit', resolve))
  if (code !== 0) throw new Error(`refusal probe exited with ${code}`)
  return { ms: (cpuMs(server.child.pid) - before) / count, statuses: JSON.parse(out) }
}

/** Stops step-runner gracefully so that it writes its CPU profile, and prints the top self times. */
async function profileSummary(child) {
  const { readdirSync, readFileSync } = await import('node:fs')
  const exited = new Promise((resolve) => child.on('exit', resolve))
  child.kill('SIGTERM')
  await exited
  const file = readdirSync(PROFILE_DIR).filter((f) => f.endsWith('.cpuprofile')).sort().at(-1)
  const profile = JSON.parse(readFileSync(join(PROFILE_DIR, file), 'utf8'))
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map()
  for (const id of profile.samples) {
    const { functionName, url, lineNumber } = byId.get(id).callFrame
    const where = url ? `${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(dist|bench)\//, '$1/')}:${lineNumber + 1}` : ''
    const key = `${functionName || '(anonymous)'} ${where}`
    self.set(key, (self.get(key) ?? 0) + 1)
  }
  const total = profile.samples.length
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)
  process.stdout.write(`\nstep-runner CPU profile (self time, ${total} samples): ${join('bench/results/profile', file)}\n`)
  for (const [key, n] of top) process.stdout.write(`${((n / total) * 100).toFixed(1).padStart(5)}%  ${key}\n`)
}

function report(runs, refused, engine) {
  // A ratio is taken within each round, then the median over rounds: the
  // machine drifts between rounds (by a third on a busy host), and servers
  // measured back to back in one round share its conditions.
  const ratioOf = (scenario, server, reference) => {
    const pairs = runs.filter((r) => r.scenario === scenario && r.server === server).map((r) => r.rps / runs.find((q) => q.scenario === scenario && q.server === reference && q.round === r.round).rps)
    return median(pairs)
  }
  const rows = []
  const summary = {}
  for (const scenario of scenarios) {
    const of = (server) => {
      const mine = runs.filter((r) => r.scenario === scenario.name && r.server === server)
      if (mine.length === 0) return undefined
      const lat = mine[0].lat === undefined ? undefined : { p50: median(mine.map((r) => r.lat.p50)), p99: median(mine.map((r) => r.lat.p99)) }
      return { rps: median(mine.map((r) => r.rps)), p50: median(mine.map((r) => r.p50)), p99: median(mine.map((r) => r.p99)), errors: mine.reduce((n, r) => n + r.errors, 0), mbps: (median(mine.map((r) => r.rps)) * mine[0].bodyBytes) / 1e6, ...(lat ? { lat } : {}) }
    }
    const sr = of('step-runner')
    const ceiling = of('ceiling')
    const seed = of('seed')
    const direct = of('direct call')
    const withoutLog = of(WITHOUT_LOG)
    const workers = of(WITH_WORKERS)
    const traced = of(WITH_TRACING)
    const loggingCeiling = of(LOGGING_CEILING)
    const ratio = (server, reference) => ratioOf(scenario.name, server, reference)
    summary[scenario.name] = {
      'step-runner': sr,
      ceiling,
      seed,
      ...(direct ? { 'direct call': direct } : {}),
      ...(withoutLog ? { [WITHOUT_LOG]: withoutLog, without_log_vs_ceiling: ratio(WITHOUT_LOG, 'ceiling') } : {}),
      ...(workers ? { [WITH_WORKERS]: workers, workers_vs_one: ratio(WITH_WORKERS, 'step-runner') } : {}),
      ...(traced ? { [WITH_TRACING]: traced, tracing_vs_off: ratio(WITH_TRACING, 'step-runner') } : {}),
      ...(loggingCeiling ? { [LOGGING_CEILING]: loggingCeiling, vs_logging_ceiling: ratio('step-runner', LOGGING_CEILING) } : {}),
      vs_ceiling: ratio('step-runner', 'ceiling'),
      vs_seed: ratio('step-runner', 'seed'),
    }
    const compared = (name) => name === 'step-runner' || name === WITHOUT_LOG || name === WITH_WORKERS || name === WITH_TRACING || name === LOGGING_CEILING
    for (const [name, r] of Object.entries({ 'step-runner': sr, ceiling, seed, ...(loggingCeiling ? { [LOGGING_CEILING]: loggingCeiling } : {}), ...(direct ? { 'direct call': direct } : {}), ...(withoutLog ? { [WITHOUT_LOG]: withoutLog } : {}), ...(traced ? { [WITH_TRACING]: traced } : {}), ...(workers ? { [WITH_WORKERS]: workers } : {}) })) {
      rows.push([
        name === 'step-runner' ? scenario.name : '',
        name,
        Math.round(r.rps).toLocaleString('en-US'),
        scenario.bytes ? r.mbps.toFixed(1) : '',
        r.p50.toFixed(2),
        r.p99.toFixed(2),
        compared(name) ? ratio(name, 'ceiling').toFixed(2) : '',
        compared(name) ? ratio(name, 'seed').toFixed(2) : '',
        r.errors ? String(r.errors) : '',
      ])
    }
  }
  const header = ['scenario', 'server', 'req/s', 'MB/s', 'p50 ms', 'p99 ms', 'vs ceiling', 'vs seed', 'errors']
  let table = rows.length === 0 ? '' : [header, header.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n')
  const http = summary['HTTP step']
  if (http) {
    const latRows = Object.entries(http).filter(([, v]) => v && v.lat).map(([name, v]) => [name, v.lat.p50.toFixed(3), v.lat.p99.toFixed(3)])
    table += `\n\nHTTP step, one request at a time (latency without queueing):\n\n| server | p50 ms | p99 ms |\n| --- | --- | --- |\n${latRows.map((r) => `| ${r.join(' | ')} |`).join('\n')}`
  }

  const verdicts = []
  const target = (label, value, goal, ok, unit = '') => verdicts.push(`- ${label}: ${value}${unit} (target ${goal}) — ${ok ? 'met' : 'SHORT of the target'}`)
  const s = summary['static step']
  if (s) {
    target('static step vs ceiling', s.vs_ceiling.toFixed(2), '>= 0.9', s.vs_ceiling >= 0.9)
    target('static step vs seed', s.vs_seed.toFixed(2), '>= 3', s.vs_seed >= 3)
  }
  const t = summary['transform step']
  if (t) target('transform step vs ceiling', t.vs_ceiling.toFixed(2), '>= 0.85', t.vs_ceiling >= 0.85)
  const h = summary['HTTP step']
  if (h) {
    const added = h['step-runner'].lat.p50 - h['direct call'].lat.p50
    target('HTTP step p50 added over calling the upstream directly (one request at a time)', added.toFixed(3), '<= 1 ms', added <= 1, ' ms')
  }
  const big = summary['payload 1 MB']
  if (big) target('1 MB payloads, MB/s vs ceiling', big.vs_ceiling.toFixed(2), '>= 0.8', big.vs_ceiling >= 0.8)

  if (refused.length > 0) {
    const names = [...new Set(refused.map((r) => r.shape))]
    const at = (shape, server) => refused.find((r) => r.shape === shape && r.server === server)
    const rows = names.map((shape) => {
      const sr = at(shape, 'step-runner')
      const cells = ['step-runner', 'ceiling', 'seed'].map((server) => at(shape, server)?.ms.toFixed(1) ?? '')
      return [shape, ...cells, (at(shape, 'ceiling').ms / Math.max(sr.ms, 0.1)).toFixed(1), Object.keys(sr.statuses).join(', ')]
    })
    table += `\n\nUnsigned 1 MB bodies: server CPU time to refuse one, in ms:\n\n| body | step-runner | ceiling | seed | ceiling / step-runner | step-runner answers |\n| --- | --- | --- | --- | --- | --- |\n${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}`
    const worst = (reformatted) => Math.max(...refused.filter((r) => r.server === 'step-runner' && r.reformatted === reformatted).map((r) => r.ms))
    target('unsigned 1 MB body, worst case, as JSON.stringify writes it', worst(false).toFixed(1), '<= 10 ms', worst(false) <= 10, ' ms')
    if (refused.some((r) => r.reformatted)) target('unsigned 1 MB body, worst case, reformatted', worst(true).toFixed(1), '<= 10 ms', worst(true) <= 10, ' ms')
    summary['unsigned 1 MB bodies'] = refused
  }

  const withTracing = Object.entries(summary).filter(([, v]) => v && v.tracing_vs_off !== undefined)
  if (withTracing.length > 0) {
    table += `\n\nTracing on (a span per request and its export, OTLP/HTTP JSON) against the default, off (requests/s, same round): ${withTracing.map(([name, v]) => `${name} ${v.tracing_vs_off.toFixed(2)}x`).join(', ')}. Off, the SDK is not loaded: the default rows are the cost of tracing off.`
  }
  const againstLogging = Object.entries(summary).filter(([, v]) => v && v.vs_logging_ceiling !== undefined)
  if (againstLogging.length > 0) {
    table += `\n\nstep-runner (LOG_LEVEL=info, its default) against the ceiling that also writes one pino line per request (requests/s, same round): ${againstLogging.map(([name, v]) => `${name} ${v.vs_logging_ceiling.toFixed(2)}x`).join(', ')}. That ceiling itself serves ${againstLogging.map(([name]) => `${name} ${ratioOf(name, LOGGING_CEILING, 'ceiling').toFixed(2)}x`).join(', ')} of the one without the line.`
  }
  const withWorkers = Object.entries(summary).filter(([, v]) => v && v.workers_vs_one !== undefined)
  if (withWorkers.length > 0) {
    table += `\n\nWORKERS=2 against one process (requests/s, same round): ${withWorkers.map(([name, v]) => `${name} ${v.workers_vs_one.toFixed(2)}x`).join(', ')}. The two workers run on both cores, and so does autocannon: on this 2-core machine the load generator takes about half a core from them, so this is what a second worker adds when a core is shared, not what a machine with a core per worker gets.`
  }

  if (engine !== undefined) {
    const rows = engine.expressions.map((e) => `| ${e.expression} | ${e.engine_us.toFixed(2)} | ${e.jsonata_us.toFixed(2)} | ${e.ratio.toFixed(1)} |`)
    table += `${table === '' ? '' : '\n\n'}Expression engine: CPU time per evaluation, in µs (best of several rounds):\n\n| expression | step-runner | jsonata-js | jsonata-js / step-runner |\n| --- | --- | --- | --- |\n${rows.join('\n')}`
    const { load } = engine
    table += `\n\nA steps file of 1,000 steps (bench/results/steps-1000.yaml):\n\n| | ms |\n| --- | --- |\n| load, in process | ${load.first_ms.toFixed(0)} |\n| load again, in process | ${load.reload_ms.toFixed(0)} |\n| server start to listening | ${load.start_to_listening_ms.toFixed(0)} |\n| server reload on SIGHUP | ${load.sighup_reload_ms} |`
    const transform = engine.expressions.find((e) => e.expression === 'transform_step.transform')
    target('bench transform, jsonata-js / engine', transform.ratio.toFixed(1), '>= 20', transform.ratio >= 20, 'x')
    const worst = Math.max(load.first_ms, load.start_to_listening_ms, load.sighup_reload_ms)
    target('1,000-step config, slowest of load / start / reload', worst.toFixed(0), '< 2000 ms', worst < 2000, ' ms')
    summary['expression engine'] = engine
  }

  const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} CPUs, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}`
  const settings = `${rounds} round(s) x ${duration} s per run, ${connections} connections, medians over rounds; ${canPin ? 'servers pinned to CPU 0, autocannon to CPU 1' : 'not pinned'}`
  const text = `${table}\n\nTargets:\n${verdicts.join('\n')}\n\n${settings}\n${machine}\n`
  process.stdout.write('\n' + text)
  mkdirSync(join(BENCH, 'results'), { recursive: true })
  const stamp = new Date().toISOString()
  writeFileSync(join(BENCH, 'results', 'latest.json'), JSON.stringify({ date: stamp, machine, settings, quick, summary, runs }, null, 2) + '\n')
  writeFileSync(join(BENCH, 'results', 'latest.md'), `Run of ${stamp}\n\n${text}`)
  process.stdout.write(`\nresults: bench/results/latest.json, bench/results/latest.md\n`)
}

main().then(
  () => {
    cleanup()
    process.exit(0)
  },
  (err) => {
    process.stderr.write(`bench: ${err.stack ?? err}\n`)
    cleanup()
    process.exit(1)
  },
)
