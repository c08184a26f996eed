import { execFile } from 'node:child_process'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { callStep, ROOT, runServerToExit, startServer, TEST_KEY } from '../helpers/server.js'
import { json, startUpstream } from '../helpers/upstream.js'
import { tempDir } from '../helpers/temp.js'

const run = promisify(execFile)

describe('starting the server', () => {
  it('serves the bundled steps.yaml: the seed steps and the example with a schema and a transform', async () => {
    const server = await startServer()
    try {
      expect(await callStep(server, 'step_a')).toMatchObject({ status: 200, text: '{"exit_code":"success"}' })
      expect(await callStep(server, 'step_c')).toMatchObject({ status: 200, body: { exit_code: 'success', data: { myOutput: 'myValue' } } })
      const order = { order_id: 'o-1', items: [{ sku: 'a', quantity: 2, unit_price: 1.5 }, { sku: 'b', quantity: 1, unit_price: 4 }] }
      expect(await callStep(server, 'summarize_order', { data: order, deps: { fetch_customer: { data: { name: 'Ada' }, exit_code: 'success' } } })).toMatchObject({
        status: 200,
        body: { exit_code: 'success', data: { order_id: 'o-1', customer: 'Ada', total: 7, item_count: 2, flow: 'test_flow' } },
      })
      expect(await callStep(server, 'summarize_order', { data: { order_id: 'o-1', items: [] } })).toMatchObject({
        status: 200,
        body: { exit_code: 'failure', data: { error: { code: 'input_invalid' } } },
      })
    } finally {
      await server.stop()
    }
  })

  it('serves the bundled HTTP step against the customers API that CUSTOMERS_API names', async () => {
    const api = await startUpstream()
    api.on('/customers/c%2042', (_req, res) => json(res, 200, { id: 'c 42', name: 'Ada Lovelace', email: 'ada@example.com' }))
    api.on('/customers/nobody', (_req, res) => json(res, 404, { error: 'not found' }))
    const server = await startServer({ env: { CUSTOMERS_API: api.url } })
    try {
      expect((await callStep(server, 'fetch_customer', { data: { customer_id: 'c 42' } })).body).toEqual({
        exit_code: 'success',
        data: { name: 'Ada Lovelace', email: 'ada@example.com' },
      })
      expect((await callStep(server, 'fetch_customer', { data: { customer_id: 'nobody' } })).body).toEqual({ exit_code: 'not_found' })
    } finally {
      await server.stop()
      await api.close()
    }
  })

  it('refuses to start on an invalid steps file, printing file:line:col', async () => {
    const result = await runServerToExit({ stepsFile: 'test/fixtures/invalid/steps.yaml', cwd: ROOT })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain("test/fixtures/invalid/steps.yaml:4:5: error: unknown key 'exit_cod' in steps.step_a (did you mean 'exit_code'?)")
    expect(result.stderr).toContain('not started')
  })

  it('refuses to start on a steps file that is not there', async () => {
    const result = await runServerToExit({ stepsFile: 'no/such/steps.yaml' })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('no/such/steps.yaml:1:1: error: steps file not found')
  })

  it('refuses to start in production without SIGNATURE_KEY, naming the variable', async () => {
    const result = await runServerToExit({ env: { NODE_ENV: 'production', SIGNATURE_KEY: undefined } })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('SIGNATURE_KEY must be set when NODE_ENV=production')
  })

  it('reads the key from SIGNATURE_KEY_FILE (one trailing newline removed) when SIGNATURE_KEY is unset, and refuses both, an unreadable file or an empty one', async () => {
    const dir = tempDir('step-runner-keyfile-')
    const keyFile = join(dir, 'signature_key')
    writeFileSync(keyFile, `${TEST_KEY}\n`)
    const server = await startServer({ env: { SIGNATURE_KEY: undefined, SIGNATURE_KEY_FILE: keyFile, NODE_ENV: 'production', HOST: '127.0.0.1' } })
    try {
      // callStep signs with TEST_KEY: the newline was not part of the key.
      expect(await callStep(server, 'step_a')).toMatchObject({ status: 200, body: { exit_code: 'success' } })
      // The key is redacted from logs as the SIGNATURE_KEY value would be.
      expect(server.output().stdout + server.output().stderr).not.toContain(TEST_KEY)
    } finally {
      await server.stop()
    }
    const both = await runServerToExit({ env: { SIGNATURE_KEY: TEST_KEY, SIGNATURE_KEY_FILE: keyFile } })
    expect(both.code).toBe(1)
    expect(both.stderr).toContain('SIGNATURE_KEY and SIGNATURE_KEY_FILE are both set')
    const missing = await runServerToExit({ env: { SIGNATURE_KEY: undefined, SIGNATURE_KEY_FILE: join(dir, 'nope') } })
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain(`SIGNATURE_KEY_FILE: cannot read ${join(dir, 'nope')}: no such file`)
    writeFileSync(join(dir, 'empty'), '\n')
    const empty = await runServerToExit({ env: { SIGNATURE_KEY: undefined, SIGNATURE_KEY_FILE: join(dir, 'empty') } })
    expect(empty.code).toBe(1)
    expect(empty.stderr).toContain(`SIGNATURE_KEY_FILE: ${join(dir, 'empty')} is empty`)
  })

  it('refuses a bad PORT or LOG_LEVEL, naming the variable', async () => {
    expect((await runServerToExit({ env: { PORT: 'eighty' } })).stderr).toContain("PORT must be a whole number from 0 to 65535; got 'eighty'")
    expect((await runServerToExit({ env: { LOG_LEVEL: 'loud' } })).stderr).toContain("LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent; got 'loud'")
  })

  it('outside production without a key, starts on a saved development key that npm run send uses, and never accepts unsigned requests', async () => {
    const cwd = tempDir('step-runner-dev-')
    const server = await startServer({ cwd, env: { SIGNATURE_KEY: undefined } })
    try {
      const keyFile = join(cwd, '.step-runner', 'dev-signature-key')
      const key = readFileSync(keyFile, 'utf8').trim()
      expect(key).toMatch(/^wsk_dev_[A-Za-z0-9_-]{32}$/)
      expect(statSync(keyFile).mode & 0o777).toBe(0o600)
      // Shown once on stderr; every log line redacts it like any signature key.
      expect(server.output().stderr).toContain(`using the development key ${key}`)

      // The send command finds the key where the server saved it.
      const { stdout } = await run(process.execPath, [join(ROOT, 'dist/cli/send.js'), 'step_c', '--url', `${server.url}/hook`], { cwd, env: { PATH: process.env['PATH'] } })
      expect(stdout).toContain('HTTP 200')
      expect(JSON.parse(stdout.slice(stdout.indexOf('{')))).toEqual({ exit_code: 'success', data: { myOutput: 'myValue' } })

      expect(await callStep(server, 'step_c', {}, 'wsk_not_the_dev_key')).toMatchObject({ status: 400 })
    } finally {
      await server.stop()
    }
    // Stopped: every line is written, none with the key.
    expect(server.output().stdout).toContain('"msg":"stopped"')
    expect(server.output().stdout).not.toContain(readFileSync(join(cwd, '.step-runner', 'dev-signature-key'), 'utf8').trim())
    // A restart keeps the same key, so a running `send` setup keeps working.
    const again = await startServer({ cwd, env: { SIGNATURE_KEY: undefined } })
    try {
      expect(again.output().stderr).toContain(readFileSync(join(cwd, '.step-runner', 'dev-signature-key'), 'utf8').trim())
      expect(again.output().stderr).not.toContain('(new, ')
    } finally {
      await again.stop()
    }
  })

  it('send passes --data, --deps and --context and prints the answer', async () => {
    const server = await startServer({ stepsFile: join(ROOT, 'test/fixtures/protocol/steps.yaml') })
    try {
      const { stdout } = await run(
        process.execPath,
        [join(ROOT, 'dist/cli/send.js'), 'with_data', '--url', `${server.url}/hook`, '--data', '{"amount": 3}', '--deps', '{"fetch_user": {"data": {"email": "x@y.z"}, "exit_code": "success"}}', '--context', '{"flow_name": "checkout"}'],
        { env: { PATH: process.env['PATH'], SIGNATURE_KEY: 'wsk_test_0123456789abcdefghijklmnopqrstuv' } },
      )
      expect(JSON.parse(stdout.slice(stdout.indexOf('{')))).toEqual({ exit_code: 'success', data: { email: 'x@y.z', amount: 3, flow: 'checkout' } })
    } finally {
      await server.stop()
    }
  })
})
