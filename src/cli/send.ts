/**
 * Signs a webhook payload the way the orchestrator does and sends it to a
 * running step-runner, printing the answer: for trying a step by hand.
 *
 *   npm run send -- step_c --data '{"foo":"bar"}' --deps '{"step_a":{"data":null,"exit_code":"success"}}'
 */
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { formatTrace, type PrintableTrace } from './format-trace.js'
import { runCli } from './run-cli.js'
import { request } from 'undici'
import { sign } from '../core/signature.js'
import { DEV_KEY_FILE, readDevelopmentKey } from '../server/dev-key.js'
import { signatureKeysOf } from '../server/settings.js'

const USAGE = `usage: npm run send -- <step_name> [--data JSON] [--deps JSON] [--context JSON] [--url URL] [--trace]

  --data JSON      payload.data (left out when not given)
  --deps JSON      payload.context.dependencies_context (default {})
  --context JSON   other payload.context fields, e.g. '{"flow_name":"checkout"}'; they replace the
                   defaults flow_id manual_flow, flow_name manual, a random request_id mqr_<32 hex>
                   and triggered_by {step_name: manual, step_execution_id: ste_<32 hex>}
  --url URL        where the server listens (default http://127.0.0.1:$PORT/hook, PORT defaulting to 3000)
  --trace          then print the run's trace, stage by stage (the server must run with npm run dev)

The key is the first of SIGNATURE_KEY's comma-separated keys, trimmed as the server
trims them, else the development key that the server saved in ${DEV_KEY_FILE}.`

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      data: { type: 'string' },
      deps: { type: 'string' },
      context: { type: 'string' },
      url: { type: 'string' },
      trace: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) return usage(0)
  const stepName = positionals[0]
  if (stepName === undefined || positionals.length > 1) return usage(2)

  const data = values.data === undefined ? undefined : json('--data', values.data)
  const deps = values.deps === undefined ? {} : json('--deps', values.deps)
  const extra = values.context === undefined ? {} : json('--context', values.context)
  if (typeof extra !== 'object' || extra === null || Array.isArray(extra)) throw new Error('--context must be a JSON object')

  // The first key exactly as the server reads SIGNATURE_KEY (split, trimmed).
  const keys = signatureKeysOf(process.env)
  if (!keys.ok) throw new Error(keys.error)
  const key = keys.keys?.[0] ?? (await readDevelopmentKey())
  if (key === undefined) throw new Error(`no key: set SIGNATURE_KEY, or start the server once without it so that it saves a development key in ${DEV_KEY_FILE}`)

  const context = {
    flow_id: 'manual_flow',
    flow_name: 'manual',
    request_id: `mqr_${randomBytes(16).toString('hex')}`,
    triggered_by: { step_name: 'manual', step_execution_id: `ste_${randomBytes(16).toString('hex')}` },
    dependencies_context: deps,
    ...extra,
    // The step named on the command line, whatever --context says (as in step tests).
    step_name: stepName,
  }
  const payload = data === undefined ? { context } : { data, context }
  const signature = sign(JSON.stringify(payload), key)
  const url = values.url ?? `http://127.0.0.1:${process.env['PORT'] || 3000}/hook`

  const response = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ payload, signature }),
  })
  const text = await response.body.text()
  let shown = text
  try {
    shown = JSON.stringify(JSON.parse(text), null, 2)
  } catch {
    // not JSON: show it as it came
  }
  process.stdout.write(`HTTP ${response.statusCode}\n${shown}\n`)
  const ok = response.statusCode >= 200 && response.statusCode < 300
  if (values.trace) {
    // The run's trace, by its request id, from the same server's /dev/runs.
    const traceUrl = new URL(`/dev/runs/${encodeURIComponent(String(context.request_id))}`, url)
    const traced = await request(traceUrl, { method: 'GET' })
    const body = await traced.body.text()
    if (traced.statusCode !== 200) {
      process.stderr.write(
        traced.statusCode === 404 && !body.includes('request_id')
          ? 'send: no trace: the server keeps traces only with npm run dev\n'
          : `send: no trace of this run (${traced.statusCode}): ${body}\n`,
      )
      return 1
    }
    process.stdout.write('\n' + formatTrace(JSON.parse(body) as PrintableTrace, process.stdout.isTTY === true))
  }
  return ok ? 0 : 1
}

function json(flag: string, text: string): unknown {
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new Error(`${flag} is not valid JSON: ${(err as Error).message}`)
  }
}

function usage(code: number): number {
  ;(code === 0 ? process.stdout : process.stderr).write(USAGE + '\n')
  return code
}

runCli('send', main, (err) => {
  const e = err as { code?: string; message?: string }
  return e.code === 'ECONNREFUSED' ? 'connection refused: is the server running (npm start)?' : (e.message ?? String(err))
})
