import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, type RunningServer } from '../helpers/server.js'
import { tempDir } from '../helpers/temp.js'

/** Debian's chromium, which .ci/run installs when it is missing. */
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p))

const STEPS = `version: 1
steps:
  greet:
    description: Greets someone by name.
    input: { type: object, required: [name], properties: { name: { type: string, examples: [Grace] } } }
    transform: '{ "greeting": "hello " & $data.name }'
    exit_code: success
    data_schema: { type: object, properties: { greeting: { type: string } } }
  shout:
    description: Shouts what greet said.
    transform: '{ "loud": $uppercase(greet.data.greeting) }'
    exit_code: success
`
// The same file with a syntax error on line 6.
const BROKEN = STEPS.replace(`'{ "greeting": "hello " & $data.name }'`, `'{ "greeting": "hello " & $data.name '`)

describe('the development console in a real browser (headless Chromium)', () => {
  let dir: string
  let server: RunningServer
  let browser: Browser
  let page: Page
  const shots = process.env['CONSOLE_SCREENSHOTS']
  const shot = async (name: string) => {
    if (shots !== undefined) await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true })
  }

  beforeAll(async () => {
    if (CHROMIUM === undefined) throw new Error('chromium is not installed: .ci/run installs it (apt-get install chromium)')
    dir = tempDir('step-runner-console-')
    writeFileSync(join(dir, 'steps.yaml'), STEPS)
    server = await startServer({ stepsFile: join(dir, 'steps.yaml'), args: ['--dev'], cwd: dir })
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
    page = await browser.newPage({ viewport: { width: 1200, height: 900 } })
    await page.goto(`${server.url}/dev/`)
  })
  afterAll(async () => {
    await browser?.close()
    await server?.stop()
  })

  it('lists the steps, and shows a step with its schema, an example input from it, and its YAML', async () => {
    await page.getByRole('button', { name: 'greet' }).click()
    await expect.poll(() => page.locator('#step-name').textContent()).toBe('greet')
    expect(await page.locator('#step-description').textContent()).toBe('Greets someone by name.')
    expect(JSON.parse(await page.locator('#data').inputValue())).toEqual({ name: 'Grace' })
    expect(await page.locator('#source').textContent()).toContain("transform: '{ \"greeting\": \"hello \" & $data.name }'")
    expect(await page.locator('#status').textContent()).toContain('config ok')
  })

  it('runs the step from the form, signed by the server: the answer and its trace appear beside it, and in the live runs', async () => {
    await page.locator('#data').fill('{ "name": "Ada" }')
    await page.getByRole('button', { name: 'Run' }).click()
    await expect.poll(() => page.locator('#answer').textContent()).toContain('"greeting": "hello Ada"')
    expect(await page.locator('#answer-status').textContent()).toBe('HTTP 200')
    const trace = await page.locator('#trace').textContent()
    expect(trace).toContain('input')
    expect(trace).toContain('transform')
    await expect.poll(() => page.locator('#runs').textContent()).toContain('greet → success')
    await shot('console-run')
  })

  it("prefills a step's dependencies_context with the latest answers of the steps it reads", async () => {
    await page.getByRole('button', { name: 'shout' }).click()
    await expect.poll(async () => JSON.parse((await page.locator('#deps').inputValue()) || '{}')).toEqual({ greet: { exit_code: 'success', data: { greeting: 'hello Ada' } } })
    await page.getByRole('button', { name: 'Run' }).click()
    await expect.poll(() => page.locator('#answer').textContent()).toContain('"loud": "HELLO ADA"')
  })

  it('shows a broken save at once, with its line quoted, and the recovery when it is fixed', async () => {
    writeFileSync(join(dir, 'steps.yaml'), BROKEN)
    await expect.poll(() => page.locator('#status').textContent(), { timeout: 10_000 }).toContain('config has errors')
    const status = await page.locator('#status').textContent()
    expect(status).toMatch(/steps\.yaml:6:\d+: error: steps\.greet\.transform: JSONata syntax error/)
    expect(status).toContain(`transform: '{ "greeting": "hello " & $data.name '`)
    await shot('console-error')
    writeFileSync(join(dir, 'steps.yaml'), STEPS)
    await expect.poll(() => page.locator('#status').textContent(), { timeout: 10_000 }).toContain('config ok')
  })
})
