import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'
import { ROOT } from '../helpers/server.js'
import { tempDir } from '../helpers/temp.js'

const exec = promisify(execFile)

/** 100 steps: transforms everywhere, inline schemas on a quarter, HTTP calls on a tenth. */
function hundredSteps(): string {
  let yaml = 'version: 1\nsteps:\n'
  for (let i = 0; i < 100; i++) {
    if (i % 10 === 0) {
      yaml += `  h${i}:\n    input: { type: object, required: [id] }\n    http: { method: GET, url: "https://api.example.com/items/{id}", params: '{ "id": $data.id }' }\n    output: '{ "exit_code": "success", "data": body }'\n`
    } else if (i % 4 === 0) {
      yaml += `  v${i}:\n    input: { type: object, required: [n], properties: { n: { type: integer, minimum: ${i} } } }\n    transform: '{ "n": $data.n + ${i} }'\n    exit_code: success\n`
    } else {
      yaml += `  s${i}:\n    transform: '{ "n": $data.n + ${i}, "dep": dep.data.v }'\n    exit_code: success\n`
    }
  }
  return yaml
}

// Runs the real reloader in a process of its own, where the heap can be
// measured after a full GC: 50 reloads to warm up, then 1,000 more.
const SCRIPT = `
const { readFile } = await import('node:fs/promises')
const { checkSteps } = await import(process.env.DIST + '/config/check.js')
const { createReloader } = await import(process.env.DIST + '/server/reloader.js')
const log = { info() {}, warn() {}, error() {}, debug() {}, trace() {}, fatal() {}, child() { return log } }
const check = () => checkSteps(process.env.STEPS, { readFile: (p) => readFile(p, 'utf8'), env: {} })
const reloader = createReloader(await check(), check, log)
const heap = () => { globalThis.gc(); globalThis.gc(); return process.memoryUsage().heapUsed }
for (let i = 0; i < 50; i++) await reloader.reload('warm-up')
const before = heap()
for (let i = 0; i < 1000; i++) await reloader.reload('test')
const after = heap()
process.stdout.write(JSON.stringify({ before, after, steps: reloader.current().steps.size, ok: reloader.lastReload().ok }))
`

it('keeps memory flat over 1,000 reloads of a config with 100 steps (heap after GC)', async () => {
  const dir = tempDir('step-runner-memory-')
  writeFileSync(join(dir, 'steps.yaml'), hundredSteps())
  const { stdout } = await exec(process.execPath, ['--expose-gc', '--input-type=module', '-e', SCRIPT], {
    env: { PATH: process.env['PATH'], DIST: pathToFileURL(join(ROOT, 'dist')).href, STEPS: join(dir, 'steps.yaml') },
  })
  const { before, after, steps, ok } = JSON.parse(stdout) as { before: number; after: number; steps: number; ok: boolean }
  expect({ steps, ok }).toEqual({ steps: 100, ok: true })
  // Each reload compiles 35 schemas and 110 expressions; keeping even one
  // config's worth per reload would grow the heap by hundreds of megabytes.
  expect(after - before).toBeLessThan(8 * 1024 * 1024)
}, 180_000)
