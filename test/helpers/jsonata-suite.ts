import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from './server.js'

/**
 * The official JSONata conformance suite, as released with jsonata 2.2.2
 * (MIT; LICENSE beside it), copied from the team's shared folder so that a
 * clone has it: test/fixtures/jsonata-suite/README.md describes the format.
 */
export const SUITE = join(ROOT, 'test/fixtures/jsonata-suite')

export interface SuiteCase {
  /** group/file[index] */
  readonly id: string
  readonly group: string
  readonly expr: string
  /** The input; `undefined` when the case's dataset is null (or absent with no data). */
  readonly input: unknown
  readonly bindings: Record<string, unknown>
  readonly expect:
    | { readonly kind: 'result'; readonly value: unknown; readonly unordered: boolean }
    | { readonly kind: 'undefined' }
    | { readonly kind: 'error'; readonly code: string; readonly token?: string; readonly message?: string }
  /** The reference runner's limits, when the case sets them. */
  readonly timelimit?: number
  readonly depth?: number
}

interface RawCase {
  expr?: string
  'expr-file'?: string
  data?: unknown
  dataset?: string | null
  bindings?: Record<string, unknown>
  result?: unknown
  undefinedResult?: boolean
  code?: string
  token?: string
  /** Some cases give the error as an object. */
  error?: { code?: string; token?: string; message?: string }
  unordered?: boolean
  timelimit?: number
  depth?: number
}

export function loadSuite(): SuiteCase[] {
  const datasets = new Map<string, unknown>()
  const dataset = (name: string) => {
    if (!datasets.has(name)) datasets.set(name, JSON.parse(readFileSync(join(SUITE, 'datasets', `${name}.json`), 'utf8')))
    return datasets.get(name)
  }
  const cases: SuiteCase[] = []
  for (const group of readdirSync(join(SUITE, 'groups')).sort()) {
    const dir = join(SUITE, 'groups', group)
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
      const parsed = JSON.parse(readFileSync(join(dir, file), 'utf8')) as RawCase | RawCase[]
      const list = Array.isArray(parsed) ? parsed : [parsed]
      list.forEach((raw, index) => {
        const expr = raw.expr ?? readFileSync(join(dir, raw['expr-file']!), 'utf8')
        const input = 'data' in raw ? raw.data : typeof raw.dataset === 'string' ? dataset(raw.dataset) : undefined
        const code = raw.code ?? raw.error?.code
        const token = raw.token ?? raw.error?.token
        const message = raw.error?.message
        const expect: SuiteCase['expect'] =
          code !== undefined
            ? { kind: 'error', code, ...(token === undefined ? {} : { token }), ...(message === undefined ? {} : { message }) }
            : raw.undefinedResult === true
              ? { kind: 'undefined' }
              : { kind: 'result', value: raw.result, unordered: raw.unordered === true }
        cases.push({
          id: `${group}/${file}${list.length > 1 ? `[${index}]` : ''}`,
          group,
          expr,
          input,
          bindings: raw.bindings ?? {},
          expect,
          ...(raw.timelimit === undefined ? {} : { timelimit: raw.timelimit }),
          ...(raw.depth === undefined ? {} : { depth: raw.depth }),
        })
      })
    }
  }
  return cases
}
