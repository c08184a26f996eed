import { AssertionError, deepStrictEqual } from 'node:assert'
import type { ValidateFunction } from 'ajv'
import { MockAgent, type Dispatcher } from 'undici'
import type { Payload } from '../core/protocol.js'
import type { Registry, UpstreamConnection } from '../core/registry.js'
import { finishAnswer } from '../core/answer.js'
import { parseForm } from '../core/http-step.js'
import { createTraceRecorder, type TraceStage } from '../core/trace.js'
import { DEFAULT_LIMITS } from '../core/limits.js'
import { runStep } from '../core/run-step.js'
import { createTokenCache } from '../upstream/oauth.js'
import type { UpstreamRuntime } from '../upstream/pools.js'
import { createUpstream } from '../upstream/undici-upstream.js'
import { packageVersion } from '../package-files.js'
import type { ExpectedRequest, StepTest, UpstreamAnswer } from './test-file.generated.js'

export interface TestReport {
  readonly name: string
  readonly step: string
  readonly passed: boolean
  /** What did not match, each a readable paragraph. */
  readonly problems: readonly string[]
  /** The run, stage by stage (for test-steps --trace). */
  readonly trace?: { readonly stages: readonly TraceStage[]; readonly answer: unknown; readonly started_at: string; readonly duration_ms: number }
}

interface SentRequest {
  readonly method: string
  readonly path: string
  readonly headers: Record<string, string>
  readonly body: string | undefined
}

/**
 * Runs step tests on the real step code, offline: an HTTP step's calls go to
 * undici's MockAgent, answered in order by the test's `upstream` list; a call
 * with no answer left fails the test, and nothing reaches the network.
 */
export async function runStepTests(registry: Registry, tests: readonly StepTest[]): Promise<TestReport[]> {
  const reports: TestReport[] = []
  for (const test of tests) reports.push(await runOne(registry, test))
  return reports
}

async function runOne(registry: Registry, test: StepTest): Promise<TestReport> {
  const recorder = createTraceRecorder()
  let answer: unknown
  const report = (problems: string[]): TestReport => ({
    name: test.name,
    step: test.step,
    passed: problems.length === 0,
    problems,
    trace: { stages: recorder.stages, answer, started_at: recorder.startedAt.toISOString(), duration_ms: recorder.elapsed() },
  })
  const step = registry.steps.get(test.step)
  if (step === undefined) return report([`step '${test.step}' is not defined in the steps file`])

  const answers = test.upstream ?? []
  const agent = new MockAgent()
  agent.disableNetConnect()
  const sent: SentRequest[] = []
  // Every request, to the API or to an OAuth2 token endpoint, takes the next
  // answer of the test's list, in order: all go to the one mocked origin.
  const MOCKED = 'http://step-test.invalid'
  const dispatcher = agent.compose((dispatch) => (options, handler) => {
    sent.push(describeRequest(options))
    return dispatch({ ...options, origin: MOCKED }, handler)
  })
  const problems: string[] = []
  // A fresh token per test: each test's first call that needs one asks the token endpoint.
  const runtimes = new Map<string, UpstreamRuntime>()
  const runtimeFor = (connection: UpstreamConnection): UpstreamRuntime => {
    let runtime = runtimes.get(connection.name)
    if (runtime === undefined) {
      const tokens = connection.oauth2 === undefined ? undefined : createTokenCache({ settings: connection.oauth2, dispatcher, userAgent: `step-runner/${packageVersion}` })
      runtimes.set(connection.name, (runtime = { dispatcher, gate: undefined, tokens }))
    }
    return runtime
  }
  if (step.action.kind === 'http') {
    const pool = agent.get(MOCKED)
    for (const answer of answers) mock(pool.intercept({ path: () => true, method: () => true }), answer)
  } else if (answers.length > 0) {
    problems.push(`'${test.step}' is not an HTTP step: its upstream answers are never used`)
  }

  const payload: Payload = {
    ...('data' in test ? { data: test.data } : {}),
    context: {
      flow_id: 'test_flow',
      flow_name: 'test',
      request_id: 'mqr_test',
      triggered_by: { step_name: 'test', step_execution_id: 'ste_test' },
      dependencies_context: (test.dependencies_context ?? {}) as Payload['context']['dependencies_context'] & object,
      ...test.context,
      step_name: test.step,
    },
  }
  try {
    const run = await runStep(step, payload, { upstream: createUpstream({ dispatcher, runtimeFor, wait: async () => {} }), limits: DEFAULT_LIMITS, trace: recorder }, registry.secrets)
    const result = finishAnswer(run, DEFAULT_LIMITS, registry.secrets).result
    // Compared as the orchestrator sees it: through JSON.
    const actual = JSON.parse(JSON.stringify(result)) as { exit_code: string; data?: unknown }
    answer = actual

    if (sent.length > answers.length) {
      const extra = sent[answers.length]!
      problems.push(`request ${answers.length + 1} (${extra.method} ${extra.path}) has no upstream answer: add one to the test's upstream list`)
    } else if (sent.length < answers.length) {
      problems.push(`${answers.length - sent.length} of the ${answers.length} upstream answers were not used: the step made ${sent.length} request${sent.length === 1 ? '' : 's'}`)
    }
    if (actual.exit_code !== test.expect.exit_code) {
      problems.push(`exit_code: expected ${JSON.stringify(test.expect.exit_code)}, got ${JSON.stringify(actual.exit_code)}${actual.exit_code === 'failure' ? `\ndata: ${JSON.stringify(actual.data)}` : ''}`)
    }
    // Every success answer is held to the step's data_schema, whatever the test expects.
    if (step.dataSchema !== undefined && actual.exit_code === 'success' && !step.dataSchema(actual.data ?? null)) {
      problems.push(`data does not match the step's data_schema: ${describeSchemaErrors(step.dataSchema.errors)}\ndata: ${JSON.stringify(actual.data ?? null)}`)
    }
    if ('data' in test.expect) {
      const diff = difference(actual.data, test.expect.data)
      if (diff !== undefined) problems.push(`data differs:\n${diff}`)
    }
    if (test.expect.requests !== undefined) problems.push(...compareRequests(sent, test.expect.requests))
  } finally {
    await agent.close()
  }
  return report(problems)
}

function mock(interceptor: ReturnType<ReturnType<MockAgent['get']>['intercept']>, answer: UpstreamAnswer): void {
  if (answer.error !== undefined) {
    interceptor.replyWithError(Object.assign(new Error(`${answer.error} (from the test)`), { code: answer.error }))
    return
  }
  const headers: Record<string, string> = { ...answer.headers }
  let body = ''
  if (answer.body !== undefined) {
    if (typeof answer.body === 'string') body = answer.body
    else {
      body = JSON.stringify(answer.body)
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json'
    }
  }
  interceptor.reply(answer.status ?? 200, body, { headers })
}

function describeRequest(options: Dispatcher.DispatchOptions): SentRequest {
  const headers: Record<string, string> = {}
  const raw = options.headers
  if (Array.isArray(raw)) {
    for (let i = 0; i + 1 < raw.length; i += 2) headers[String(raw[i]).toLowerCase()] = String(raw[i + 1])
  } else if (raw !== null && raw !== undefined && typeof raw === 'object') {
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) headers[k.toLowerCase()] = String(v)
  }
  const body = options.body
  // fetch (the OAuth2 token request) hands its body over as bytes.
  const text = typeof body === 'string' ? body : body instanceof Uint8Array ? Buffer.from(body).toString('utf8') : undefined
  return { method: options.method, path: options.path, headers, body: text }
}

function compareRequests(sent: readonly SentRequest[], expected: readonly ExpectedRequest[]): string[] {
  const problems: string[] = []
  if (sent.length !== expected.length) {
    problems.push(`requests: expected ${expected.length}, the step made ${sent.length}: ${sent.map((r) => `${r.method} ${r.path}`).join(', ') || 'none'}`)
  }
  expected.forEach((want, i) => {
    const got = sent[i]
    if (got === undefined) return
    const label = `request ${i + 1}`
    if (got.method !== want.method || got.path !== want.path) problems.push(`${label}: expected ${want.method} ${want.path}, got ${got.method} ${got.path}`)
    if ('body' in want) {
      let body: unknown = got.body
      try {
        body = got.body === undefined ? undefined : JSON.parse(got.body)
      } catch {
        // A form (a token request, a `body: form` call) compares as its fields; other text as it is.
        if (/^application\/x-www-form-urlencoded\b/i.test(got.headers['content-type'] ?? '')) body = parseForm(got.body!)
      }
      const diff = difference(body, want.body)
      if (diff !== undefined) problems.push(`${label} body differs:\n${diff}`)
    }
    for (const [name, value] of Object.entries(want.headers ?? {})) {
      const actual = got.headers[name.toLowerCase()]
      if (actual !== value) problems.push(`${label} header ${name}: expected ${JSON.stringify(value)}, got ${actual === undefined ? 'none' : JSON.stringify(actual)}`)
    }
  })
  return problems
}

/** ajv's errors as `data.path: message`, the way the README and lint write paths. */
export function describeSchemaErrors(errors: ValidateFunction['errors']): string {
  return (errors ?? []).map((e) => `data${e.instancePath.replaceAll('/', '.')} ${e.message ?? 'is invalid'}`).join('; ')
}

/** Node's own deep-equality diff (+ actual, - expected), or undefined when equal. */
function difference(actual: unknown, expected: unknown): string | undefined {
  try {
    deepStrictEqual(actual, expected)
    return undefined
  } catch (err) {
    if (!(err instanceof AssertionError)) throw err
    return err.message
      .split('\n')
      .filter((line, i) => i > 0 || !line.startsWith('Expected values to be strictly deep-equal'))
      .join('\n')
      .trim()
  }
}
