import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import type { FastifyInstance } from 'fastify'
import { LineCounter, parseDocument } from 'yaml'
import { sign } from '../core/signature.js'
import type { CompiledStep, Registry } from '../core/registry.js'
import type { RunStore } from './dev-runs.js'
import type { Reloader } from './reloader.js'

/** What the console's live view is told: the config's status, and each run as it ends. */
export interface DevEvents {
  emit(event: 'status' | 'run', data: unknown): void
  subscribe(listener: (event: string, data: unknown) => void): () => void
}

export function createDevEvents(): DevEvents {
  const listeners = new Set<(event: string, data: unknown) => void>()
  return {
    emit: (event, data) => {
      for (const listener of listeners) listener(event, data)
    },
    subscribe(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
  }
}

export interface DevConsoleOptions {
  readonly config: Pick<Reloader, 'current' | 'lastReload'>
  readonly runs: RunStore
  readonly events: DevEvents
  readonly stepsFile: string
  /** The key the console signs its requests with (the development key, or SIGNATURE_KEY's first). */
  readonly key: string
}

// The console's own files: plain HTML, CSS and JavaScript, no framework, no network.
const ASSETS = new URL('../../console/', import.meta.url)
const asset = (name: string) => readFileSync(new URL(name, ASSETS), 'utf8')

/**
 * `npm run dev`'s console at /dev/: the steps with their schemas, an example
 * input and their YAML, the config's status and the runs live (server-sent
 * events), and a form that runs a step, signed here with the development key.
 */
export function devConsoleRoutes(app: FastifyInstance, options: DevConsoleOptions): void {
  const page = { html: asset('index.html'), js: asset('console.js'), css: asset('console.css') }
  app.get('/dev', async (_request, reply) => reply.redirect('/dev/'))
  app.get('/dev/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(page.html))
  app.get('/dev/console.js', async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(page.js))
  app.get('/dev/console.css', async (_request, reply) => reply.type('text/css; charset=utf-8').send(page.css))

  app.get('/dev/api/steps', async () => describeSteps(options.config.current(), await readFile(options.stepsFile, 'utf8').catch(() => ''), options.stepsFile))
  app.get('/dev/api/status', async () => statusOf(options.config))

  app.get('/dev/api/events', (request, reply) => {
    reply.hijack()
    const res = reply.raw
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' })
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
    send('status', statusOf(options.config))
    const unsubscribe = options.events.subscribe(send)
    request.raw.on('close', unsubscribe)
  })

  app.post('/dev/api/try', async (request, reply) => {
    // The server reads JSON bodies as text for /hook (see json-body.ts): parse this one here.
    const raw = request.body as { text?: unknown } | undefined
    let body: { step?: unknown; data?: unknown; dependencies_context?: unknown }
    try {
      body = typeof raw?.text === 'string' ? (JSON.parse(raw.text) as typeof body) : ((raw ?? {}) as typeof body)
    } catch {
      return reply.code(400).send({ error: 'the body must be JSON: {"step", "data"?, "dependencies_context"?}' })
    }
    if (typeof body !== 'object' || body === null) return reply.code(400).send({ error: 'the body must be a JSON object' })
    if (typeof body.step !== 'string') return reply.code(400).send({ error: 'step must be a step name' })
    const requestId = `mqr_${randomBytes(16).toString('hex')}`
    const context = {
      flow_id: 'dev_console',
      flow_name: 'dev console',
      step_name: body.step,
      request_id: requestId,
      triggered_by: { step_name: 'dev_console', step_execution_id: `ste_${randomBytes(16).toString('hex')}` },
      dependencies_context: typeof body.dependencies_context === 'object' && body.dependencies_context !== null ? body.dependencies_context : {},
    }
    const payload = body.data === undefined ? { context } : { data: body.data, context }
    // Signed as the orchestrator signs, and sent through /hook like any request.
    const answer = await app.inject({ method: 'POST', url: '/hook', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ payload, signature: sign(JSON.stringify(payload), options.key) }) })
    let parsed: unknown = answer.body
    try {
      parsed = JSON.parse(answer.body)
    } catch {
      // not JSON: shown as text
    }
    return { request_id: requestId, status: answer.statusCode, answer: parsed, trace: options.runs.get(requestId) ?? null }
  })
}

/** The config's status as the console shows it: what is served, and the last reload's errors with their lines quoted. */
export function statusOf(config: Pick<Reloader, 'current' | 'lastReload'>) {
  const registry = config.current()
  const last = config.lastReload()
  return {
    hash: registry.hash,
    steps: registry.steps.size,
    loaded_at: registry.unavailable ? null : registry.loadedAt.toISOString(),
    last_reload: { ok: last.ok, at: last.at.toISOString(), errors: last.errors.map((line) => ({ line, quoted: quote(line) })) },
  }
}

/** The source line an error points at (`file:line:col: ...`), with a caret under the column. */
function quote(error: string): string | undefined {
  const m = /^(.*?):(\d+):(\d+): /.exec(error)
  if (m === null) return undefined
  try {
    const line = readFileSync(m[1]!, 'utf8').split('\n')[Number(m[2]) - 1]
    return line === undefined ? undefined : `${line}\n${' '.repeat(Math.max(0, Number(m[3]) - 1))}^`
  } catch {
    return undefined
  }
}

function describeSteps(registry: Registry, text: string, file: string) {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, keepSourceTokens: false })
  return [...registry.steps.values()].map((step) => {
    const node = doc.getIn(['steps', step.name], true) as { range?: [number, number, number] } | undefined
    const start = node?.range === undefined ? undefined : lines.linePos(node.range[0]).line
    const end = node?.range === undefined ? undefined : lines.linePos(node.range[1]).line
    const source = start === undefined || end === undefined ? '' : text.split('\n').slice(Math.max(0, start - 2), Math.max(start, end - 1)).join('\n')
    const written = (doc.toJS() as { steps?: Record<string, { description?: string }> } | null)?.steps?.[step.name]
    const input = step.validate?.schema
    return {
      name: step.name,
      description: written?.description ?? '',
      kind: step.action.kind,
      input: input ?? null,
      example: input === undefined ? null : exampleOf(input as Schema, 0),
      data_schema: step.dataSchema?.schema ?? null,
      depends_on: dependenciesOf(step, registry),
      // From the step's key line.
      source: { file, line: start === undefined ? 0 : start - 1, text: source },
    }
  })
}

type Schema = Record<string, unknown> | boolean

/** An example value that a schema accepts in the common cases: its examples, defaults, consts, enums, else by type. */
export function exampleOf(schema: Schema, depth: number): unknown {
  if (typeof schema === 'boolean' || depth > 8) return null
  if (Array.isArray(schema['examples']) && schema['examples'].length > 0) return schema['examples'][0]
  if (schema['default'] !== undefined) return schema['default']
  if (schema['const'] !== undefined) return schema['const']
  if (Array.isArray(schema['enum']) && schema['enum'].length > 0) return schema['enum'][0]
  const type = Array.isArray(schema['type']) ? schema['type'][0] : schema['type']
  const properties = schema['properties'] as Record<string, Schema> | undefined
  if (type === 'object' || properties !== undefined) {
    const out: Record<string, unknown> = {}
    for (const [name, sub] of Object.entries(properties ?? {})) out[name] = exampleOf(sub, depth + 1)
    return out
  }
  if (type === 'array') {
    const items = schema['items']
    const min = typeof schema['minItems'] === 'number' ? schema['minItems'] : 1
    return Array.from({ length: Math.max(1, min) }, () => (items === undefined || Array.isArray(items) ? null : exampleOf(items as Schema, depth + 1)))
  }
  if (type === 'string') {
    if (schema['format'] === 'email') return 'ada@example.com'
    if (schema['format'] === 'date-time') return '2026-01-01T00:00:00Z'
    const min = typeof schema['minLength'] === 'number' ? schema['minLength'] : 0
    return 'example'.padEnd(min, 'x')
  }
  if (type === 'integer' || type === 'number') {
    const min = schema['minimum'] ?? schema['exclusiveMinimum']
    return typeof min === 'number' ? (schema['exclusiveMinimum'] !== undefined ? min + 1 : min) : 1
  }
  if (type === 'boolean') return true
  return null
}

/** The steps whose answers a step's expressions read from dependencies_context. */
function dependenciesOf(step: CompiledStep, registry: Registry): string[] {
  const found = new Set<string>()
  const visit = (node: unknown): void => {
    if (typeof node !== 'object' || node === null) return
    const n = node as { type?: string; steps?: { type?: string; value?: unknown }[] }
    if (n.type === 'path' && Array.isArray(n.steps) && n.steps[0]?.type === 'name' && typeof n.steps[0].value === 'string' && registry.steps.has(n.steps[0].value)) found.add(n.steps[0].value)
    for (const value of Object.values(node)) visit(value)
  }
  if (step.transform !== undefined) visit(step.transform.ast())
  if (step.action.kind === 'http') {
    if (step.action.params !== undefined) visit(step.action.params.ast())
    if (step.action.query !== undefined) visit(step.action.query.ast())
  }
  return [...found]
}
