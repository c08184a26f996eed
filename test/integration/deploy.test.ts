import { execFile } from 'node:child_process'
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { parseAllDocuments } from 'yaml'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/load.js'
import { ENVIRONMENT } from '../../src/server/settings.js'
import { callStep, freePort, ROOT, startServer } from '../helpers/server.js'
import { tempDir } from '../helpers/temp.js'

const run = promisify(execFile)
const DEPLOY = join(ROOT, 'deploy/kubernetes')

interface Manifest {
  kind: string
  metadata: { name: string }
  spec?: Record<string, unknown>
  data?: Record<string, string>
}
const manifests: Manifest[] = readdirSync(DEPLOY)
  .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .flatMap((f) => parseAllDocuments(readFileSync(join(DEPLOY, f), 'utf8')).map((d) => d.toJS() as Manifest))
const find = (kind: string, name: string) => manifests.find((m) => m.kind === kind && m.metadata.name === name)!

interface Container {
  name: string
  env: { name: string; value: string }[]
  volumeMounts: { name: string; mountPath: string; subPath?: string }[]
  readinessProbe: { httpGet: { path: string } }
  livenessProbe: { httpGet: { path: string } }
  lifecycle: { preStop: { exec: { command: string[] } } }
}
const deployment = find('Deployment', 'step-runner') as Manifest & {
  spec: { replicas: number; template: { spec: { terminationGracePeriodSeconds: number; containers: Container[]; volumes: { name: string; configMap?: { name: string }; secret?: { secretName: string } }[] } } }
}
const pod = deployment.spec.template.spec
const container = pod.containers.find((c) => c.name === 'step-runner')!
const env = Object.fromEntries(container.env.map((e) => [e.name, e.value]))
const mountOf = (volume: string) => container.volumeMounts.find((m) => m.name === volume)!

describe('deploy/kubernetes against the code', () => {
  it('names only environment variables that the server reads', () => {
    for (const name of Object.keys(env)) expect(ENVIRONMENT, `${name} in deployment.yaml`).toContain(name)
  })

  it('mounts the ConfigMap as a folder (never subPath) where STEPS_FILE points, and the Secret where SIGNATURE_KEY_FILE points', () => {
    expect(container.volumeMounts.filter((m) => m.subPath !== undefined)).toEqual([])
    const steps = pod.volumes.find((v) => v.configMap !== undefined)!
    expect(dirname(env['STEPS_FILE']!)).toBe(mountOf(steps.name).mountPath)
    const configMap = find('ConfigMap', steps.configMap!.name)
    expect(Object.keys(configMap.data!)).toContain(env['STEPS_FILE']!.split('/').pop())
    const key = pod.volumes.find((v) => v.secret !== undefined)!
    expect(dirname(env['SIGNATURE_KEY_FILE']!)).toBe(mountOf(key.name).mountPath)
    expect(env['WATCH']).toBe('on')
  })

  it('gives the drain time to finish: terminationGracePeriodSeconds above SHUTDOWN_TIMEOUT_MS and the preStop sleep', () => {
    const sleep = Number(container.lifecycle.preStop.exec.command.at(-1))
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(Number(env['SHUTDOWN_TIMEOUT_MS']) + sleep * 1000 + 1000)
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2)
    expect(find('PodDisruptionBudget', 'step-runner')).toBeDefined()
  })

  it('points REDIS_URL at the Redis Service, and lists every file in the kustomization', () => {
    const redis = new URL(env['REDIS_URL']!)
    const service = find('Service', redis.hostname) as Manifest & { spec: { ports: { port: number }[] } }
    expect(service.spec.ports.map((p) => p.port)).toContain(Number(redis.port))
    const kustomization = readFileSync(join(DEPLOY, 'kustomization.yaml'), 'utf8')
    for (const file of readdirSync(DEPLOY).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')) expect(kustomization).toContain(`- ${file}`)
  })

  it("ships a steps file that loads, and probes paths that the server serves (a real server, the ConfigMap's steps)", async () => {
    const dir = tempDir('step-runner-k8s-')
    writeFileSync(join(dir, 'steps.yaml'), find('ConfigMap', 'step-runner-steps').data!['steps.yaml']!)
    const loaded = await loadConfig(join(dir, 'steps.yaml'), { env: {}, readFile: async (p) => readFileSync(p, 'utf8') })
    expect(loaded.ok).toBe(true)
    const server = await startServer({ stepsFile: join(dir, 'steps.yaml'), port: await freePort(), env: { ADMIN_PORT: undefined } })
    try {
      for (const path of [container.readinessProbe.httpGet.path, container.livenessProbe.httpGet.path]) expect((await fetch(`${server.url}${path}`)).status, path).toBe(200)
      expect((await callStep(server, 'greet', { data: { name: 'k8s' } })).body).toEqual({ exit_code: 'success', data: { greeting: 'hello k8s' } })
    } finally {
      await server.stop()
    }
  })
})

describe('the image build (scripts/build-image.sh, what the Dockerfile runs)', () => {
  // npm ci and tsc: tens of seconds on a loaded machine.
  it('builds a copy of the repo into dist/ and production node_modules that serve /healthz', { timeout: 240_000 }, async () => {
    const src = tempDir('step-runner-image-src-')
    for (const entry of ['package.json', 'package-lock.json', 'tsconfig.json', 'src', 'schemas', 'scripts', 'steps.yaml', 'steps.test.yaml']) cpSync(join(ROOT, entry), join(src, entry), { recursive: true })
    const out = join(tempDir('step-runner-image-'), 'app')
    mkdirSync(out)
    await run(join(src, 'scripts/build-image.sh'), [src, out], { timeout: 240_000, maxBuffer: 16 * 1024 * 1024 })
    expect(readdirSync(out).sort()).toEqual(['dist', 'node_modules', 'package.json', 'schemas', 'steps.test.yaml', 'steps.yaml'])
    // Production dependencies only: no compiler, no test runner.
    expect(readdirSync(join(out, 'node_modules'))).not.toContain('typescript')
    expect(readdirSync(join(out, 'node_modules'))).not.toContain('vitest')
    expect(readdirSync(join(out, 'node_modules'))).toContain('fastify')

    // As the Dockerfile's CMD runs it, with the image's environment.
    const { spawn } = await import('node:child_process')
    const port = await freePort()
    const child = spawn(process.execPath, ['dist/main.js'], {
      cwd: out,
      env: { PATH: process.env['PATH'], NODE_ENV: 'production', HOST: '127.0.0.1', PORT: String(port), STEPS_FILE: join(out, 'steps.yaml'), SIGNATURE_KEY: 'wsk_image_test_0123456789abcdefghij' },
      stdio: 'ignore',
    })
    try {
      let status = 0
      for (let i = 0; i < 400 && status !== 200; i++) {
        status = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status, () => 0)
        if (status !== 200) await new Promise((r) => setTimeout(r, 50))
      }
      expect(status).toBe(200)
    } finally {
      child.kill('SIGTERM')
      await new Promise((r) => child.once('exit', r))
    }
  })
})
