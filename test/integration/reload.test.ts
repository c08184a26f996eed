import { spawn } from 'node:child_process'
import { cpSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Pool } from 'undici'
import { callStep, payloadFor, ROOT, signedBody, startServer, TEST_KEY, type RunningServer } from '../helpers/server.js'
import { tempDir } from '../helpers/temp.js'
import { eventually } from '../helpers/wait.js'

const FIXTURE = join(ROOT, 'test/fixtures/reload')

function copyFixture(): string {
  const dir = tempDir('step-runner-reload-')
  cpSync(FIXTURE, dir, { recursive: true })
  return dir
}

interface Health {
  status: string
  config: { hash: string; steps: number; loaded_at: string; last_reload: { ok: boolean; at: string; errors: string[] } }
}

async function health(server: { url: string }): Promise<Health> {
  return (await (await fetch(`${server.url}/healthz`)).json()) as Health
}

/** Waits for the next reload after `since` (an ISO time) and returns the health then. */
const nextReload = (server: { url: string }, since: string) => eventually(() => health(server), (h) => h.config.last_reload.at > since)

const reloadLines = (server: RunningServer) => server.output().stdout.split('\n').filter((l) => /config reload(ed| failed)/.test(l))
/** The newest reload log line, once it contains `text` (logs can trail the reload itself). */
const loggedReload = (server: RunningServer, text: string) => eventually(async () => reloadLines(server).at(-1) ?? '', (line) => line.includes(text))

describe('npm run dev: the running server follows the files as they are saved', () => {
  let dir: string
  let server: RunningServer
  const steps = () => join(dir, 'steps.yaml')

  beforeAll(async () => {
    dir = copyFixture()
    server = await startServer({ stepsFile: join(dir, 'steps.yaml'), args: ['--dev'] })
  })
  afterAll(async () => {
    await server.stop()
  })

  it('serves a step added to the file once it is saved', async () => {
    expect((await callStep(server, 'added')).status).toBe(404)
    writeFileSync(steps(), readFileSync(steps(), 'utf8') + '  added:\n    exit_code: added_ok\n')
    const answer = await eventually(() => callStep(server, 'added'), (a) => a.status === 200)
    expect(answer.body).toEqual({ exit_code: 'added_ok' })
    expect(await loggedReload(server, 'added added')).toMatch(/config reloaded \(file change\): 3 steps, added added, in \d+ ms/)
  })

  it('follows a save by rename (an atomic save, as editors do it)', async () => {
    const temp = join(dir, '.steps.yaml.tmp')
    writeFileSync(temp, readFileSync(steps(), 'utf8').replace('exit_code: added_ok', 'exit_code: renamed_ok'))
    renameSync(temp, steps())
    expect((await eventually(() => callStep(server, 'added'), (a) => (a.body as { exit_code?: string }).exit_code === 'renamed_ok')).status).toBe(200)
  })

  it('follows a file deleted and created again', async () => {
    const text = readFileSync(steps(), 'utf8')
    const before = (await health(server)).config.last_reload.at
    rmSync(steps())
    const failed = await nextReload(server, before)
    expect(failed.config.last_reload.ok).toBe(false)
    expect(failed.config.last_reload.errors).toEqual([`${steps()}:1:1: error: steps file not found`])
    expect((await callStep(server, 'added')).status).toBe(200)
    writeFileSync(steps(), text.replace('exit_code: renamed_ok', 'exit_code: recreated_ok'))
    expect((await eventually(() => callStep(server, 'added'), (a) => (a.body as { exit_code?: string }).exit_code === 'recreated_ok')).status).toBe(200)
    expect((await health(server)).config.last_reload).toMatchObject({ ok: true, errors: [] })
  })

  it.each([
    ['bad YAML', (t: string) => t + '  broken: [1, 2\n', /steps\.yaml:\d+:\d+: error: /],
    ['bad JSONata', (t: string) => t + "  broken:\n    transform: '$x +'\n    exit_code: success\n", /steps\.yaml:\d+:21: error: steps\.broken\.transform: JSONata syntax error: Unexpected end of expression/],
    ['a missing schema file', (t: string) => t + '  broken:\n    input: nowhere.json\n    exit_code: success\n', /steps\.yaml:\d+:12: error: schema file '.*nowhere\.json' not found/],
  ])('keeps the old config serving after a save with %s, says so in /healthz, and reloads on the fix', async (_what, breakIt, error) => {
    const good = readFileSync(steps(), 'utf8')
    const servedBefore = await health(server)
    writeFileSync(steps(), breakIt(good))
    const broken = await nextReload(server, servedBefore.config.last_reload.at)
    expect(broken.config.last_reload.ok).toBe(false)
    expect(broken.config.last_reload.errors).toEqual([expect.stringMatching(error)])
    expect(broken.config.hash).toBe(servedBefore.config.hash)
    expect(await callStep(server, 'greet', { data: { name: 'Ada' } })).toMatchObject({ status: 200, body: { data: { greeting: 'hello Ada' } } })
    await loggedReload(server, 'still serving the previous config')

    writeFileSync(steps(), good.replace('"hello "', '"hi "'))
    const fixed = await nextReload(server, broken.config.last_reload.at)
    expect(fixed.config.last_reload).toMatchObject({ ok: true, errors: [] })
    expect(await callStep(server, 'greet', { data: { name: 'Ada' } })).toMatchObject({ body: { data: { greeting: 'hi Ada' } } })
    writeFileSync(steps(), good)
    await nextReload(server, fixed.config.last_reload.at)
  })

  it('reloads on a change to a referenced schema file alone', async () => {
    expect((await callStep(server, 'checked', { data: { amount: 5 } })).body).toEqual({ exit_code: 'success' })
    const before = (await health(server)).config.last_reload.at
    writeFileSync(join(dir, 'amount.json'), '{ "type": "object", "required": ["amount"], "properties": { "amount": { "type": "number", "minimum": 10 } } }')
    await nextReload(server, before)
    expect((await callStep(server, 'checked', { data: { amount: 5 } })).body).toMatchObject({ exit_code: 'failure', data: { error: { code: 'input_invalid' } } })
    await loggedReload(server, 'changed checked')
  })

  it('debounces a burst of saves into one reload', async () => {
    const text = readFileSync(steps(), 'utf8')
    const before = reloadLines(server).length
    const at = (await health(server)).config.last_reload.at
    for (let i = 0; i < 10; i++) writeFileSync(steps(), text + `# save ${i}\n`)
    await nextReload(server, at)
    await loggedReload(server, 'no step changed')
    // Time for a second reload to show up, were the burst not folded into one.
    await new Promise((r) => setTimeout(r, 300))
    expect(reloadLines(server).length - before).toBe(1)
  })
})

describe('SIGHUP under npm start', () => {
  it('reloads the config in production mode, where nothing watches the files', async () => {
    const dir = copyFixture()
    const npm = spawn('npm', ['start', '--silent'], {
      cwd: ROOT,
      env: { ...process.env, NODE_ENV: 'production', PORT: '0', HOST: '127.0.0.1', STEPS_FILE: join(dir, 'steps.yaml'), SIGNATURE_KEY: TEST_KEY, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    npm.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    const exited = new Promise((resolve) => npm.on('exit', resolve))
    // Killing npm would not end the server it started: a failed run kills both.
    let serverPid: number | undefined
    try {
      const { url, pid } = await eventually(
        async () => ({ url: /"url":"(http:[^"]+)"/.exec(out)?.[1], pid: Number(/"pid":(\d+)/.exec(out)?.[1]) }),
        (v) => v.url !== undefined,
      )
      serverPid = pid
      const server = { url: url! }
      writeFileSync(join(dir, 'steps.yaml'), readFileSync(join(dir, 'steps.yaml'), 'utf8') + '  late:\n    exit_code: late_ok\n')
      // Nothing watches in production: the new step is not served until the signal.
      await new Promise((r) => setTimeout(r, 300))
      expect((await callStep(server, 'late')).status).toBe(404)
      const before = (await health(server)).config.last_reload.at
      // The server's pid is in every log line: the signal goes to it, not to npm.
      process.kill(pid, 'SIGHUP')
      await nextReload(server, before)
      expect((await callStep(server, 'late')).body).toEqual({ exit_code: 'late_ok' })
      await expect.poll(() => out).toContain('config reloaded (SIGHUP): 3 steps, added late')
      // npm passes SIGTERM on, and `exec` in the start script makes the
      // server the process that gets it: stopping npm stops the server.
      npm.kill('SIGTERM')
      await exited
      for (;;) {
        try {
          process.kill(pid, 0)
        } catch {
          break
        }
        await new Promise((r) => setTimeout(r, 20))
      }
    } finally {
      npm.kill('SIGKILL')
      try {
        if (serverPid !== undefined) process.kill(serverPid, 'SIGKILL')
      } catch {
        // already gone, as it should be
      }
    }
  })
})

describe('reloads under load', () => {
  it('serves thousands of requests at concurrency 20 across 20 reloads, none failed and none mixing two configs', async () => {
    const dir = copyFixture()
    const variant = (v: string) => `version: 1\nsteps:\n  mixed:\n    transform: '{ "variant": "${v}" }'\n    exit_code: exit_${v}\n`
    writeFileSync(join(dir, 'steps.yaml'), variant('a'))
    // This checks what a reload does to requests in flight, not the overload
    // guard: on a busy machine 20 busy connections can trip it (503).
    const server = await startServer({ stepsFile: join(dir, 'steps.yaml'), env: { MAX_EVENT_LOOP_UTILIZATION: '0', MAX_EVENT_LOOP_DELAY_MS: '0' } })
    const pool = new Pool(server.url, { connections: 20 })
    const body = signedBody(payloadFor('mixed'))
    const seen = { a: 0, b: 0, failed: 0, mixed: 0 }
    let sent = 0
    const TOTAL = 3000
    const worker = async () => {
      while (sent < TOTAL) {
        sent++
        const res = await pool.request({ path: '/hook', method: 'POST', headers: { 'content-type': 'application/json' }, body })
        const answer = (await res.body.json()) as { exit_code?: string; data?: { variant?: string } }
        if (res.statusCode !== 200) seen.failed++
        else if (answer.exit_code === 'exit_a' && answer.data?.variant === 'a') seen.a++
        else if (answer.exit_code === 'exit_b' && answer.data?.variant === 'b') seen.b++
        else seen.mixed++
      }
    }
    const reloads = async () => {
      for (let i = 1; i <= 20; i++) {
        writeFileSync(join(dir, 'steps.yaml'), variant(i % 2 === 0 ? 'a' : 'b'))
        const before = (await health(server)).config.last_reload.at
        server.process.kill('SIGHUP')
        await nextReload(server, before)
      }
    }
    try {
      await Promise.all([...Array.from({ length: 20 }, worker), reloads()])
      expect(seen.failed).toBe(0)
      expect(seen.mixed).toBe(0)
      expect(seen.a + seen.b).toBe(sent)
      expect(sent).toBeGreaterThanOrEqual(TOTAL)
      expect(seen.a).toBeGreaterThan(0)
      expect(seen.b).toBeGreaterThan(0)
      await expect.poll(() => reloadLines(server).filter((l) => l.includes('"reload":"ok"')).length).toBe(20)
    } finally {
      await pool.close()
      await server.stop()
    }
  })
})
