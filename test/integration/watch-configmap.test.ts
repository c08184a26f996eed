import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { callStep, startServer, type RunningServer } from '../helpers/server.js'
import { tempDir } from '../helpers/temp.js'
import { eventually } from '../helpers/wait.js'
import { metricSample } from '../helpers/logs.js'

/**
 * A folder laid out as the kubelet mounts a ConfigMap: each key a symlink
 * into `..data`, itself a symlink to a timestamped folder; an update writes a
 * new timestamped folder, points `..data_tmp` at it, renames `..data_tmp`
 * over `..data` and removes the old folder (Kubernetes' AtomicWriter).
 * `schemas` is a key whose path has a folder: a symlinked directory.
 */
function configMap(dir: string) {
  let generation = 0
  let previous: string | undefined
  const write = (files: Record<string, string>) => {
    const stamp = `..2026_11_29_10_00_0${generation++}.${String(123456789 + generation)}`
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(dir, stamp, path, '..'), { recursive: true })
      writeFileSync(join(dir, stamp, path), text)
    }
    symlinkSync(stamp, join(dir, '..data_tmp'))
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
    if (previous !== undefined) rmSync(join(dir, previous), { recursive: true, force: true })
    previous = stamp
  }
  return {
    create(files: Record<string, string>) {
      write(files)
      symlinkSync('..data/steps.yaml', join(dir, 'steps.yaml'))
      symlinkSync('..data/schemas', join(dir, 'schemas'))
    },
    update: write,
  }
}

const stepsFile = (greeting: string) => `version: 1\nsteps:\n  greet:\n    input: schemas/name.json\n    transform: '{ "greeting": "${greeting} " & $data.name }'\n    exit_code: success\n`
const schema = (maxLength: number) => JSON.stringify({ type: 'object', required: ['name'], properties: { name: { type: 'string', maxLength } } })

const reloads = (server: RunningServer) => metricSample(server, 'config_reloads_total{result="ok"}')

describe('WATCH=on follows a ConfigMap mounted as a folder', () => {
  let dir: string
  let server: RunningServer
  let map: ReturnType<typeof configMap>

  beforeAll(async () => {
    dir = tempDir('step-runner-configmap-')
    map = configMap(dir)
    map.create({ 'steps.yaml': stepsFile('hello'), 'schemas/name.json': schema(10) })
    // Events only: the poll is off, so each reload below is the watcher's.
    server = await startServer({ stepsFile: join(dir, 'steps.yaml'), env: { WATCH: 'on', WATCH_POLL_MS: '0' } })
  })
  afterAll(async () => {
    await server?.stop()
  })

  const greet = async (name: string) => (await callStep(server, 'greet', { data: { name } })).body

  it('reloads exactly once for each of three updates in a row, the steps file and the symlinked schemas/ alike', async () => {
    expect(await greet('Ada')).toEqual({ exit_code: 'success', data: { greeting: 'hello Ada' } })
    expect(await reloads(server)).toBe(0)

    map.update({ 'steps.yaml': stepsFile('hi'), 'schemas/name.json': schema(10) })
    await eventually(() => greet('Ada'), (a) => JSON.stringify(a).includes('hi Ada'))
    expect(await reloads(server)).toBe(1)

    map.update({ 'steps.yaml': stepsFile('hi'), 'schemas/name.json': schema(2) })
    await eventually(() => greet('Ada'), (a) => JSON.stringify(a).includes('input_invalid'))
    expect(await reloads(server)).toBe(2)

    map.update({ 'steps.yaml': stepsFile('hey'), 'schemas/name.json': schema(20) })
    await eventually(() => greet('Ada'), (a) => JSON.stringify(a).includes('hey Ada'))
    expect(await reloads(server)).toBe(3)
  })

  it('does not reload when an update leaves the content as it was', async () => {
    const before = await reloads(server)
    map.update({ 'steps.yaml': stepsFile('hey'), 'schemas/name.json': schema(20) })
    // A marker update after it: once that has reloaded, the one before was seen too.
    map.update({ 'steps.yaml': stepsFile('marker'), 'schemas/name.json': schema(20) })
    await eventually(() => greet('Ada'), (a) => JSON.stringify(a).includes('marker Ada'))
    expect(await reloads(server)).toBe(before + 1)
  })
})

describe('WATCH=on follows a schema folder reached through a symlink', () => {
  it('reloads a schema saved by rename in the folder the symlink points to', async () => {
    const dir = tempDir('step-runner-symlinked-')
    // The steps file lives in `config/`, its schemas behind `config/schemas -> ../versions/v1`.
    mkdirSync(join(dir, 'config'))
    mkdirSync(join(dir, 'versions', 'v1'), { recursive: true })
    writeFileSync(join(dir, 'versions', 'v1', 'name.json'), schema(10))
    symlinkSync('../versions/v1', join(dir, 'config', 'schemas'))
    writeFileSync(join(dir, 'config', 'steps.yaml'), stepsFile('hello'))
    const server = await startServer({ stepsFile: join(dir, 'config', 'steps.yaml'), env: { WATCH: 'on', WATCH_POLL_MS: '0' } })
    try {
      expect(await callStep(server, 'greet', { data: { name: 'Adalovelace' } })).toMatchObject({ body: { exit_code: 'failure' } })
      writeFileSync(join(dir, 'versions', 'v1', 'name.json.tmp'), schema(20))
      renameSync(join(dir, 'versions', 'v1', 'name.json.tmp'), join(dir, 'versions', 'v1', 'name.json'))
      await eventually(
        async () => (await callStep(server, 'greet', { data: { name: 'Adalovelace' } })).body,
        (a) => JSON.stringify(a).includes('hello Adalovelace'),
      )
      expect(await reloads(server)).toBe(1)
    } finally {
      await server.stop()
    }
  })
})
