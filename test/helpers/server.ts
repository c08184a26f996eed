import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { sign } from '../../src/core/signature.js'
import { tempDir } from './temp.js'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const MAIN = join(ROOT, 'dist', 'main.js')
export const TEST_KEY = 'wsk_test_0123456789abcdefghijklmnopqrstuv'

export interface RunningServer {
  readonly url: string
  readonly process: ChildProcess
  /** Everything the process wrote so far. */
  output(): { stdout: string; stderr: string }
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

export interface StartOptions {
  readonly stepsFile?: string
  readonly env?: Record<string, string | undefined>
  /** Working directory; a new temporary folder by default, so dev keys stay out of the repo. */
  readonly cwd?: string
  /** Arguments after dist/main.js, such as --dev. */
  readonly args?: readonly string[]
  /** Listen here and poll /healthz, for runs whose logs do not say where they listen (LOG_LEVEL=warn). */
  readonly port?: number
  /** Run the server with this limit of open files (`ulimit -n` in a shell that then execs node). */
  readonly fileLimit?: number
}

/** Starts dist/main.js on a free loopback port and waits until it listens. */
export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const { child, stdout, stderr, exited } = spawnServer(options)
  const url = options.port !== undefined ? await pollUntilUp(`http://127.0.0.1:${options.port}`, exited, stderr) : await new Promise<string>((resolve, reject) => {
    const onData = () => {
      // JSON logs say "url":"http://..."; pretty ones (--dev) say url: "http://...".
      const match = /"?url"?:\s?"(http:\/\/[^"]+)"/.exec(stdout.join(''))
      if (match) {
        child.stdout!.off('data', onData)
        resolve(match[1]!)
      }
    }
    child.stdout!.on('data', onData)
    void exited.then((code) => reject(new Error(`server exited with ${code} before listening:\n${stderr.join('')}${stdout.join('')}`)))
  })
  return {
    url,
    process: child,
    output: () => ({ stdout: stdout.join(''), stderr: stderr.join('') }),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
  }
}

async function pollUntilUp(url: string, exited: Promise<number | null>, stderr: string[]): Promise<string> {
  let gone = false
  void exited.then(() => (gone = true))
  for (;;) {
    if (gone) throw new Error(`server exited before listening:\n${stderr.join('')}`)
    try {
      if ((await fetch(`${url}/healthz`)).ok) return url
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** A port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** Runs the server expecting it to refuse to start; resolves with its exit code and output. */
export async function runServerToExit(options: StartOptions = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { stdout, stderr, exited } = spawnServer(options)
  const code = await exited
  return { code, stdout: stdout.join(''), stderr: stderr.join('') }
}

// A test that times out never reaches its `finally`: whatever it started is
// killed when the test process ends, so no server outlives the run.
const running = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

function spawnServer(options: StartOptions) {
  const cwd = options.cwd ?? tempDir('step-runner-test-')
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'],
    PORT: String(options.port ?? 0),
    HOST: '127.0.0.1',
    STEPS_FILE: options.stepsFile ?? join(ROOT, 'steps.yaml'),
    SIGNATURE_KEY: TEST_KEY,
    LOG_LEVEL: 'info',
    // Most tests send the same payload again on purpose and expect it to run
    // again: the replay cache is off unless a test turns it on (its tests do).
    REPLAY_TTL_S: '0',
  }
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k]
    else env[k] = v
  }
  const argv = [MAIN, ...(options.args ?? [])]
  const child =
    options.fileLimit === undefined
      ? spawn(process.execPath, argv, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
      : // exec: the shell becomes node, so signals reach the server itself.
        spawn('/bin/sh', ['-c', `ulimit -n ${options.fileLimit} && exec "$0" "$@"`, process.execPath, ...argv], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const stdout: string[] = []
  const stderr: string[] = []
  child.stdout.setEncoding('utf8').on('data', (d: string) => stdout.push(d))
  child.stderr.setEncoding('utf8').on('data', (d: string) => stderr.push(d))
  running.add(child)
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      running.delete(child)
      resolve(code)
    }),
  )
  return { child, stdout, stderr, exited }
}

export interface Answer {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  readonly body: unknown
  readonly text: string
}

/** POSTs a raw body to /hook and reads the answer. */
export function post(server: { url: string }, body: string | Buffer, contentType: string | undefined = 'application/json'): Promise<Answer> {
  return postWith(server, body, contentType === undefined ? {} : { 'content-type': contentType })
}

/** POSTs a raw body to /hook with exactly these headers, and reads the answer. */
export async function postWith(server: { url: string }, body: string | Buffer, headers: Record<string, string>): Promise<Answer> {
  const response = await request(`${server.url}/hook`, { method: 'POST', headers, body })
  const text = await response.body.text()
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    parsed = undefined
  }
  return { status: response.statusCode, headers: response.headers, body: parsed, text }
}

export interface PayloadOptions {
  readonly data?: unknown
  readonly deps?: Record<string, unknown>
  readonly context?: Record<string, unknown>
}

/** A payload shaped like the orchestrator's. */
export function payloadFor(stepName: string, options: PayloadOptions = {}): Record<string, unknown> {
  const context = {
    flow_id: 'flow_1',
    flow_name: 'test_flow',
    step_name: stepName,
    request_id: 'mqr_4b81ae2d5613446e9e21d76ba2ce26fc',
    triggered_by: { step_name: 'step_a', step_execution_id: 'ste_edf275e1e6e54212aa10662b05719d7a' },
    dependencies_context: options.deps ?? {},
    ...options.context,
  }
  return 'data' in options ? { data: options.data, context } : { context }
}

export function signedBody(payload: unknown, key = TEST_KEY): string {
  return JSON.stringify({ payload, signature: sign(JSON.stringify(payload), key) })
}

/** Signs and sends a payload for a step. */
export function callStep(server: { url: string }, stepName: string, options: PayloadOptions = {}, key = TEST_KEY): Promise<Answer> {
  return post(server, signedBody(payloadFor(stepName, options), key))
}
