// The expression engine, measured apart from the server (part of `npm run bench`,
// or alone: `npm run bench -- --only engine`):
//
// - each expression of bench/steps.yaml, evaluated over the bench's request by
//   step-runner's engine and by jsonata-js (2.2.2, what the engine replaces),
//   in CPU time per evaluation, best of several rounds, and the ratio;
// - loading a steps file of 1,000 steps (static, transform, input schema, HTTP
//   steps), in this process, then by the real server: start to listening, and
//   a reload on SIGHUP as the server reports it.
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BENCH = join(ROOT, 'bench')

/** The bench's request (run.mjs sends the same to the transform step). */
const DATA = { order_id: 'o-1', amount: 42.5 }
const DEPS = {
  fetch_customer: { data: { name: 'Ada Lovelace', email: 'ada@example.com' }, exit_code: 'success' },
  fetch_cart: { data: { items: [{ sku: 'a', price: 10 }, { sku: 'b', price: 20.5 }, { sku: 'c', price: 12 }] }, exit_code: 'success' },
}
const CONTEXT = { flow_id: 'bench_flow', step_name: 'transform_step', dependencies_context: DEPS }
/** The HTTP step's upstream answer, as its `output` sees it. */
const RESPONSE = { status: 200, headers: { 'content-type': 'application/json' }, body: { id: 'item-1', name: 'Item one' } }

/**
 * CPU time (µs) of one call of `run`, the best over `rounds` rounds of `n`
 * calls: awaited when it returns a promise (jsonata-js), not otherwise (an
 * await costs more than a small evaluation of the engine).
 */
async function cpuPerCall(run, n, rounds, awaited) {
  let best = Infinity
  for (let r = 0; r < rounds; r++) {
    const start = process.cpuUsage()
    if (awaited) for (let i = 0; i < n; i++) await run()
    else for (let i = 0; i < n; i++) run()
    const used = process.cpuUsage(start)
    best = Math.min(best, (used.user + used.system) / n)
  }
  return best
}

/** Each bench expression: engine vs jsonata-js. */
export async function engineTable({ quick }) {
  const { compile, DEFAULT_LIMITS } = await engineModule()
  const { default: jsonata } = await import('jsonata')
  const steps = parse(readFileSync(join(BENCH, 'steps.yaml'), 'utf8')).steps
  const cases = [
    { name: 'transform_step.transform', source: steps.transform_step.transform, input: DEPS, bindings: { data: DATA, context: CONTEXT } },
    { name: 'http_step.http.params', source: steps.http_step.http.params, input: {}, bindings: { data: { id: 'item-1' }, context: CONTEXT } },
    { name: 'http_step.output', source: steps.http_step.output, input: RESPONSE, bindings: { data: { id: 'item-1' }, context: CONTEXT } },
  ]
  const n = quick ? 20_000 : 100_000
  const rounds = quick ? 3 : 7
  const rows = []
  for (const c of cases) {
    const engine = compile(c.source, DEFAULT_LIMITS)
    const reference = jsonata(c.source)
    const ours = engine.evaluate(c.input, c.bindings)
    const theirs = await reference.evaluate(c.input, c.bindings)
    if (JSON.stringify(ours) !== JSON.stringify(theirs)) throw new Error(`${c.name}: the engine gives ${JSON.stringify(ours)}, jsonata-js ${JSON.stringify(theirs)}`)
    const engineUs = await cpuPerCall(() => engine.evaluate(c.input, c.bindings), n, rounds, false)
    // jsonata-js is ~20x slower: a tenth of the calls take as long.
    const jsonataUs = await cpuPerCall(() => reference.evaluate(c.input, c.bindings), Math.ceil(n / 10), rounds, true)
    rows.push({ expression: c.name, engine_us: engineUs, jsonata_us: jsonataUs, ratio: jsonataUs / engineUs })
  }
  return rows
}

/** The engine as the server loads it (dist/, built by run.mjs), with the steps' default limits. */
async function engineModule() {
  const { compile } = await import(join(ROOT, 'dist/engine/index.js'))
  const { DEFAULT_EXPRESSION_LIMITS } = await import(join(ROOT, 'dist/core/expression.js'))
  return { compile, DEFAULT_LIMITS: DEFAULT_EXPRESSION_LIMITS }
}

/** A steps file of `count` steps: a quarter each static, transform, with an input schema, HTTP. */
export function thousandSteps(count = 1000) {
  // fetch_cart is served elsewhere: declared, so that the file lints clean.
  const lines = ['# 1,000 steps, written by bench/engine.mjs for the load-time measurement.', 'version: 1', 'external_steps: [fetch_cart]', 'steps:']
  for (let i = 0; i < count; i++) {
    const name = `step_${String(i).padStart(4, '0')}`
    switch (i % 4) {
      case 0:
        lines.push(`  ${name}:`, '    exit_code: success')
        break
      case 1:
        lines.push(
          `  ${name}:`,
          `    transform: '{ "id": $data.id, "n": ${i}, "total": $sum(fetch_cart.data.items.price), "names": fetch_cart.data.items.sku }'`,
          '    exit_code: success',
        )
        break
      case 2:
        lines.push(
          `  ${name}:`,
          '    input:',
          '      type: object',
          '      required: [id]',
          '      properties:',
          `        id: { type: string, pattern: "^[a-z]+-[0-9]{1,${(i % 9) + 1}}$" }`,
          '        amount: { type: number, minimum: 0 }',
          '    transform: \'{ "id": $data.id, "amount": $data.amount }\'',
          '    exit_code: success',
        )
        break
      default:
        lines.push(
          `  ${name}:`,
          '    http:',
          '      method: GET',
          `      url: \${UPSTREAM_URL}/items/{id}`,
          `      params: '{ "id": $data.id & "-${i}" }'`,
          '    output: \'{ "exit_code": status = 200 ? "success" : "failure", "data": body }\'',
        )
    }
  }
  return `${lines.join('\n')}\n`
}

/** Loading the 1,000-step file in this process: the first load, and the next (a reload). */
export async function loadTimes({ file }) {
  const { loadConfig } = await import(join(ROOT, 'dist/config/load.js'))
  const options = { readFile: (p) => readFile(p, 'utf8'), env: { UPSTREAM_URL: 'http://127.0.0.1:1' } }
  const times = []
  for (let i = 0; i < 3; i++) {
    const start = performance.now()
    const result = await loadConfig(file, options)
    times.push(performance.now() - start)
    if (!result.ok) throw new Error(`the 1,000-step file does not load:\n${result.diagnostics.map((d) => d.message).join('\n')}`)
    if (result.registry.steps.size !== 1000) throw new Error(`the 1,000-step file loaded ${result.registry.steps.size} steps`)
  }
  return { first_ms: times[0], reload_ms: Math.min(...times.slice(1)) }
}

/** Writes the 1,000-step file under bench/results and returns its path. */
export function writeThousandSteps() {
  mkdirSync(join(BENCH, 'results'), { recursive: true })
  const file = join(BENCH, 'results', 'steps-1000.yaml')
  writeFileSync(file, thousandSteps())
  return file
}

/**
 * The real server on the 1,000-step file: time from spawn to its "listening"
 * line, then a SIGHUP and the reload's own `duration_ms` from its log.
 */
export async function serverLoadTimes({ file, port }) {
  const started = performance.now()
  const child = spawn(process.execPath, [join(ROOT, 'dist/main.js')], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, NODE_ENV: 'production', STEPS_FILE: file, PORT: String(port), HOST: '127.0.0.1', SIGNATURE_KEY: 'wsk_bench_0123456789abcdefghijklmnop', UPSTREAM_URL: 'http://127.0.0.1:1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stderr.setEncoding('utf8').on('data', (d) => (err += d))
  // One reader of stdout; each wait checks what has arrived so far (a long
  // line comes in several chunks, so every chunk is appended once).
  const waiting = new Set()
  child.stdout.setEncoding('utf8').on('data', (d) => {
    out += d
    for (const check of waiting) check()
  })
  const line = (predicate) =>
    new Promise((resolve, reject) => {
      const check = () => {
        for (const text of out.split('\n')) {
          if (text.trim() === '') continue
          let entry
          try {
            entry = JSON.parse(text)
          } catch {
            continue
          }
          if (predicate(entry)) {
            waiting.delete(check)
            return resolve(entry)
          }
        }
        return undefined
      }
      waiting.add(check)
      child.on('exit', (code) => reject(new Error(`the server exited with ${code}:\n${err}${out}`)))
      check()
    })
  try {
    await line((e) => typeof e.url === 'string' && e.steps === 1000)
    const listening = performance.now() - started
    child.kill('SIGHUP')
    const reloaded = await line((e) => e.reload === 'ok')
    return { start_to_listening_ms: listening, sighup_reload_ms: reloaded.duration_ms }
  } finally {
    child.kill('SIGKILL')
  }
}
