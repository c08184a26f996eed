// The development console of `npm run dev`: plain JavaScript, no framework,
// nothing fetched from anywhere but this server.
'use strict'

const $ = (id) => document.getElementById(id)
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props)
  for (const child of children) node.append(child)
  return node
}
const pretty = (value) => (value === undefined ? '' : JSON.stringify(value, null, 2))
let steps = []
let current

async function loadSteps() {
  steps = await (await fetch('/dev/api/steps')).json()
  const list = $('steps')
  list.replaceChildren(...steps.map((step) => el('li', {}, el('button', { type: 'button', textContent: step.name, onclick: () => select(step.name) }))))
  const filter = $('filter-step')
  filter.replaceChildren(el('option', { value: '', textContent: 'all' }), ...steps.map((s) => el('option', { value: s.name, textContent: s.name })))
  if (current !== undefined && steps.some((s) => s.name === current)) select(current, false)
}

async function select(name, fill = true) {
  const step = steps.find((s) => s.name === name)
  if (step === undefined) return
  current = name
  for (const button of $('steps').querySelectorAll('button')) button.setAttribute('aria-current', String(button.textContent === name))
  $('step').hidden = false
  $('step-name').textContent = step.name
  $('step-description').textContent = step.description
  $('step-kind').textContent = step.kind === 'http' ? 'HTTP step' : 'static step'
  $('input-schema').textContent = step.input === null ? '(none)' : pretty(step.input)
  $('data-schema').textContent = step.data_schema === null ? '(none)' : pretty(step.data_schema)
  $('source').textContent = `${step.source.file}:${step.source.line}\n${step.source.text}`
  if (!fill) return
  $('data').value = step.example === null ? '' : pretty(step.example)
  // The steps it reads, prefilled with their latest recorded answers.
  const deps = {}
  for (const dep of step.depends_on) {
    const [latest] = await (await fetch(`/dev/runs?step=${encodeURIComponent(dep)}`)).json()
    deps[dep] = latest === undefined ? { exit_code: 'success', data: null } : latest.answer
  }
  $('deps').value = pretty(deps)
  $('result').hidden = true
}

function renderTrace(list, trace) {
  list.replaceChildren()
  if (trace === null) {
    list.append(el('li', { textContent: 'no trace' }))
    return
  }
  for (const stage of trace.stages) {
    const { name, duration_ms: ms, ...fields } = stage
    const failed = 'error' in fields || fields.valid === false || (name === 'attempt' && 'reason' in fields)
    list.append(
      el('li', {}, el('strong', { className: failed ? 'failed' : '', textContent: name === 'attempt' ? `attempt ${fields.attempt}` : name }), ' ', el('span', { className: 'ms', textContent: `${ms} ms` }), el('pre', { textContent: pretty(fields) })),
    )
  }
  list.append(el('li', {}, el('strong', { textContent: 'answer' }), el('pre', { textContent: pretty(trace.answer) })))
}

function parseField(id) {
  const text = $(id).value.trim()
  return text === '' ? undefined : JSON.parse(text)
}

$('try').addEventListener('submit', async (event) => {
  event.preventDefault()
  let data, deps
  try {
    data = parseField('data')
    deps = parseField('deps') ?? {}
  } catch (err) {
    $('result').hidden = false
    $('answer-status').textContent = ''
    $('answer').textContent = `not JSON: ${err.message}`
    return
  }
  const result = await (await fetch('/dev/api/try', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ step: current, data, dependencies_context: deps }) })).json()
  $('result').hidden = false
  $('answer-status').textContent = `HTTP ${result.status}`
  $('answer').textContent = pretty(result.answer)
  renderTrace($('trace'), result.trace)
})

function renderStatus(status) {
  const box = $('status')
  const last = status.last_reload
  const parts = [
    el('p', {}, el('span', { className: last.ok ? 'ok' : 'failed', textContent: last.ok ? 'config ok' : 'config has errors' }), ` — ${status.steps} steps, hash ${status.hash || '(none)'}, loaded at ${status.loaded_at ?? '(never)'}; last reload ${last.at}`),
  ]
  for (const error of last.errors) {
    parts.push(el('p', { className: 'failed', textContent: error.line }))
    if (error.quoted) parts.push(el('pre', { textContent: error.quoted }))
  }
  box.replaceChildren(...parts)
}

let runs = []
function renderRuns() {
  const step = $('filter-step').value
  const exit = $('filter-exit').value.trim()
  const shown = runs.filter((r) => (step === '' || r.step === step) && (exit === '' || r.exit_code === exit))
  $('runs').replaceChildren(
    ...shown.map((run) =>
      el(
        'li',
        {},
        el('button', {
          type: 'button',
          // A success whose data does not match the step's data_schema is flagged.
          textContent: `${run.started_at.slice(11, 23)} ${run.step} → ${run.exit_code} (${run.duration_ms} ms)${run.data_schema_errors ? ` ⚠ data_schema: ${run.data_schema_errors}` : ''}`,
          className: run.data_schema_errors ? 'flagged' : '',
          onclick: () => openRun(run.request_id),
        }),
      ),
    ),
  )
}

async function openRun(id) {
  const trace = await (await fetch(`/dev/runs/${encodeURIComponent(id)}`)).json()
  $('run-trace').hidden = false
  $('run-trace-title').textContent = `${trace.step} ${trace.request_id}`
  renderTrace($('run-trace-stages'), trace)
}

$('filter-step').addEventListener('change', renderRuns)
$('filter-exit').addEventListener('input', renderRuns)

async function start() {
  const existing = await (await fetch('/dev/runs')).json()
  runs = existing.map((t) => ({ request_id: t.request_id, step: t.step, exit_code: t.answer?.exit_code, duration_ms: t.duration_ms, started_at: t.started_at, data_schema_errors: t.data_schema_errors }))
  renderRuns()
  await loadSteps()
  const events = new EventSource('/dev/api/events')
  events.addEventListener('status', (e) => {
    renderStatus(JSON.parse(e.data))
    void loadSteps()
  })
  events.addEventListener('run', (e) => {
    runs.unshift(JSON.parse(e.data))
    runs = runs.slice(0, 200)
    renderRuns()
  })
}
void start()
