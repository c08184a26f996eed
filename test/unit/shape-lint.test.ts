import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runStepTests } from '../../src/step-tests/run-tests.js'
import { problemsOf, registryFrom } from '../helpers/config.js'
import { ROOT } from '../helpers/server.js'

const FIXTURE = readFileSync(join(ROOT, 'test/fixtures/lint/shapes.yaml'), 'utf8')

describe('lint that knows the shape of the data', () => {
  it('checks $data paths against the input schema, step names, and paths into a step against its data_schema, at the token', async () => {
    expect(await problemsOf({ 'shapes.yaml': FIXTURE }, 'shapes.yaml')).toEqual([
      "shapes.yaml:24:20: error: steps.summarize.transform: $data.amout is not allowed by the step's input schema (additionalProperties: false), so it is always empty (did you mean 'amount'?)",
      "shapes.yaml:25:34: error: steps.summarize.transform: fetch_customer.data.nmae is not allowed by fetch_customer's data_schema (additionalProperties: false), so it is always empty (did you mean 'name'?)",
      "shapes.yaml:26:14: warning: steps.summarize.transform: 'fetch_custmer' is not a step of this file, so dependencies_context has nothing under it (did you mean 'fetch_customer'?); list steps served elsewhere in external_steps",
      "shapes.yaml:27:26: warning: steps.summarize.transform: the step's input schema does not define $data.items.prcie (did you mean 'price'?)",
      "shapes.yaml:28:42: warning: steps.summarize.transform: fetch_customer's data_schema does not define fetch_customer.data.address.ctiy (did you mean 'city'?)",
      "shapes.yaml:31:29: warning: steps.summarize.transform: a step's answer in dependencies_context has data and exit_code, not 'dta' (did you mean 'data'?)",
    ])
  })

  const file = (transform: string, extra = '') =>
    `version: 1\n${extra}steps:\n  a:\n    exit_code: success\n    data_schema: { type: object, properties: { x: { type: object, properties: { y: { type: string } } } } }\n  b:\n    input: { $ref: "#/definitions/in", definitions: { in: { type: object, properties: { n: { type: number } } } } }\n    transform: '${transform}'\n    exit_code: success\n`
  const lint = async (transform: string, extra = '') => (await problemsOf({ 'steps.yaml': file(transform, extra) })).map((line) => line.replace(/^steps\.yaml:\d+:\d+: /, ''))

  it('says nothing of what it cannot be sure of: predicates, lambdas, wildcards, functions, open schemas, external steps', async () => {
    expect(await lint('{ "a": a.data.x.y, "b": $data.n, "c": a.data.x[y = "1"].y, "d": $map($data.n, function($v) { $v.anything }), "e": a.data.*.q, "f": $keys(a.data), "g": a.exit_code }')).toEqual([])
    expect(await lint('elsewhere.data.thing', 'external_steps: [elsewhere]\n')).toEqual([])
    // Inside a predicate, names are the item's, not steps.
    expect(await lint('a.data.x[unknown_name = 1].y')).toEqual([])
  })

  it('follows local $refs, and says which name is missing at its own token', async () => {
    expect(await lint('$data.m')).toEqual(["warning: steps.b.transform: the step's input schema does not define $data.m (did you mean 'n'?)"])
    expect(await lint('a.data.x.z')).toEqual(["warning: steps.b.transform: a's data_schema does not define a.data.x.z (did you mean 'y'?)"])
  })
})

describe('data_schema in step tests', () => {
  it('fails a test whose success answer does not match the step data_schema, and not one with another exit code', async () => {
    const registry = await registryFrom({
      'steps.yaml':
        'version: 1\nsteps:\n  s:\n    transform: \'{ "total": "12" }\'\n    exit_code: success\n    data_schema: { type: object, properties: { total: { type: number } } }\n  f:\n    transform: \'{ "total": "12" }\'\n    exit_code: failure\n    data_schema: { type: object, properties: { total: { type: number } } }\n',
    })
    const [bad, other] = await runStepTests(registry, [
      { name: 'wrong type', step: 's', expect: { exit_code: 'success' } },
      { name: 'not a success', step: 'f', expect: { exit_code: 'failure' } },
    ])
    expect(bad!.passed).toBe(false)
    expect(bad!.problems[0]).toMatch(/^data does not match the step's data_schema: data\.total must be number\ndata: \{"total":"12"\}$/)
    expect(other!.passed).toBe(true)
  })
})
