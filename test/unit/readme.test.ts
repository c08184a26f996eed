import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runStepTests } from '../../src/step-tests/run-tests.js'
import { registryFrom } from '../helpers/config.js'
import { readmeBlocks, readmeProse } from '../helpers/readme.js'
import { ROOT } from '../helpers/server.js'

/** A path as the README writes it, relative to the repo root; undefined when it leaves the repo. */
function inRepo(path: string): string | undefined {
  const rel = relative(ROOT, resolve(ROOT, path))
  return rel.startsWith('..') || resolve(rel) === rel ? undefined : rel
}

/**
 * Every file under a folder, relative to the repo root, except the stand-in
 * secrets of the examples (`secrets/` folders: keys and certificates that
 * the README names but does not print).
 */
function filesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && !relative(ROOT, e.parentPath).split(/[\\/]/).includes('secrets'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)))
    .sort()
}

describe('the README shows the example files exactly', () => {
  const shown = readmeBlocks().filter((b) => b.marker?.startsWith('file: '))

  it('shows each block marked <!-- file: path --> byte for byte as that file in the repo', () => {
    expect(shown.length).toBeGreaterThan(0)
    for (const block of shown) {
      const path = block.marker!.slice('file: '.length)
      expect(inRepo(path), `README.md:${block.line}: ${path} is outside the repo`).toBeDefined()
      expect(existsSync(join(ROOT, path)), `README.md:${block.line}: ${path} does not exist`).toBe(true)
      expect(block.text, `README.md:${block.line} differs from ${path}`).toBe(readFileSync(join(ROOT, path), 'utf8'))
    }
  })

  it('shows every file under examples/', () => {
    expect(shown.map((b) => b.marker!.slice('file: '.length)).sort()).toEqual(expect.arrayContaining(filesUnder('examples')))
  })

  it('has no YAML a user would copy that is not a tested file: each YAML block is a file or marked <!-- outline -->', () => {
    const loose = readmeBlocks()
      .filter((b) => b.lang === 'yaml' && b.marker !== 'outline' && !b.marker?.startsWith('file: '))
      .map((b) => `README.md:${b.line}: a YAML block that is neither <!-- file: path --> nor <!-- outline -->`)
    expect(loose).toEqual([])
  })
})

describe('the README links nothing that a clone does not have', () => {
  it('points every relative link at a file in the repo', () => {
    const links = [...readmeProse().matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z]+:|^#/.test(t))
    expect(links.length).toBeGreaterThan(0)
    for (const link of links) {
      const path = link.replace(/#.*$/, '')
      expect(inRepo(path), `${link} is outside the repo`).toBeDefined()
      expect(existsSync(join(ROOT, path)), `${link} does not exist`).toBe(true)
    }
  })

  it('names only files in the repo: a path in `code` exists, unless the tools create it or it is a placeholder', () => {
    // Made by the build, the server, the benchmark (all in .gitignore), or a stand-in for the reader's own path.
    const madeLater = ['dist/', '.step-runner/', 'bench/results/', 'path/to/']
    const paths = [...readmeProse().matchAll(/`(\.{0,2}\/?[\w.-]+(?:\/[\w.-]+)+\.\w+)`/g)].map((m) => m[1]!)
    expect(paths).toContain('schemas/steps.schema.json')
    const wrong = paths.filter((p) => {
      const rel = inRepo(p)
      return rel === undefined || (!madeLater.some((dir) => rel.startsWith(dir)) && !existsSync(join(ROOT, rel)))
    })
    expect(wrong).toEqual([])
  })

  it('catches the links it is meant to catch', () => {
    expect(inRepo('../shared/seed-webhook-protocol.txt')).toBeUndefined()
    expect(inRepo('/etc/passwd')).toBeUndefined()
    expect(inRepo('./steps.yaml')).toBe('steps.yaml')
  })
})

describe('the context step tests run with, as the README documents it', () => {
  const defaults = { flow_id: 'test_flow', flow_name: 'test', request_id: 'mqr_test', triggered_by: { step_name: 'test', step_execution_id: 'ste_test' }, dependencies_context: {} }

  it('defaults flow_id, flow_name, request_id and triggered_by; `context` changes any field but step_name', async () => {
    const registry = await registryFrom({ 'steps.yaml': 'version: 1\nsteps:\n  ctx:\n    transform: $context\n    exit_code: success\n' })
    const reports = await runStepTests(registry, [
      { name: 'defaults', step: 'ctx', expect: { exit_code: 'success', data: { ...defaults, step_name: 'ctx' } } },
      {
        name: 'changed',
        step: 'ctx',
        context: { flow_name: 'checkout', request_id: 'mqr_1', step_name: 'other' },
        dependencies_context: { a: { exit_code: 'success' } },
        expect: { exit_code: 'success', data: { ...defaults, flow_name: 'checkout', request_id: 'mqr_1', dependencies_context: { a: { exit_code: 'success' } }, step_name: 'ctx' } },
      },
    ])
    expect(reports.map((r) => r.problems)).toEqual([[], []])
  })
})
