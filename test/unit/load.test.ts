import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadFromTexts, problemsOf, registryFrom } from '../helpers/config.js'

describe('loadConfig', () => {
  it('compiles every step of a valid file into an immutable registry', async () => {
    const registry = await registryFrom({
      'steps.yaml': 'version: 1\nsteps:\n  a:\n    exit_code: success\n  b:\n    input: schemas/b.json\n    transform: $data\n    exit_code: done\n',
      'schemas/b.json': '{"type": "object"}',
    })
    expect([...registry.steps.keys()]).toEqual(['a', 'b'])
    expect(registry.steps.get('b')).toMatchObject({ action: { kind: 'static', exitCode: 'done' } })
    expect(registry.steps.get('b')!.validate).toBeTypeOf('function')
    expect(registry.files).toEqual([resolve('steps.yaml'), resolve('schemas/b.json')])
    expect(registry.hash).toMatch(/^[0-9a-f]{16}$/)
    expect(Object.isFrozen(registry)).toBe(true)
  })

  it('gives the same hash to the same files and another to a changed schema file', async () => {
    const steps = 'version: 1\nsteps:\n  b:\n    input: b.json\n    exit_code: done\n'
    const one = await registryFrom({ 'steps.yaml': steps, 'b.json': '{"type": "object"}' })
    const two = await registryFrom({ 'steps.yaml': steps, 'b.json': '{"type": "object"}' })
    const three = await registryFrom({ 'steps.yaml': steps, 'b.json': '{"type": "array"}' })
    expect(one.hash).toBe(two.hash)
    expect(three.hash).not.toBe(one.hash)
  })

  it('reads schema files relative to the steps file, and reports them by that path', async () => {
    const result = await loadFromTexts({ 'conf/steps.yaml': 'version: 1\nsteps:\n  b:\n    input: s/b.json\n    exit_code: done\n', 'conf/s/b.json': '{"type": "object"}' }, 'conf/steps.yaml')
    expect(result.ok).toBe(true)
    expect(await problemsOf({ 'conf/steps.yaml': 'version: 1\nsteps:\n  b:\n    input: s/b.json\n    exit_code: done\n', 'conf/s/b.json': '{"type": "objekt"}' }, 'conf/steps.yaml')).toEqual([
      "conf/s/b.json:1:10: error: invalid input schema: 'type' must be equal to one of the allowed values",
    ])
  })

  it('reports a file that is not there as unreadable', async () => {
    const result = await loadFromTexts({}, 'nowhere.yaml')
    expect(result).toMatchObject({ ok: false, unreadable: true, diagnostics: [{ file: 'nowhere.yaml', line: 1, col: 1, message: 'steps file not found' }] })
  })

  it('points every problem at its line and column, all in one run', async () => {
    const steps = [
      'version: 1', //                        1
      'steps:', //                            2
      '  a:', //                              3
      '    exit_cod: success', //             4
      '  b:', //                              5
      '    exit_code: 3', //                  6
      '  c:', //                              7
      '    exit_code: ok', //                 8
      "    transform: '$foo('", //            9
      '  d:', //                              10
      '    exit_code: ok', //                 11
      '    input: missing.json', //           12
      '  e:', //                              13
      '    exit_code: ok', //                 14
      '    input: { type: object, requried: [x] }', // 15
    ].join('\n')
    expect(await problemsOf({ 'steps.yaml': steps })).toEqual([
      "steps.yaml:4:5: error: unknown key 'exit_cod' in steps.a (did you mean 'exit_code'?)",
      'steps.yaml:6:16: error: steps.b.exit_code must be a string, not a number',
      'steps.yaml:9:22: error: steps.c.transform: JSONata syntax error: Expected ")" before end of expression',
      "steps.yaml:12:12: error: schema file 'missing.json' not found",
      "steps.yaml:15:28: error: unknown JSON Schema keyword 'requried' (did you mean 'required'?) (ajv strict mode)",
    ])
  })

  it('reports a missing key on its own when no unknown key looks like it', async () => {
    expect(await problemsOf({ 'steps.yaml': 'version: 1\nsteps:\n  a:\n    description: x\n' })).toEqual(['steps.yaml:3:3: error: steps.a needs exit_code (a static step) or http (an HTTP call)'])
  })

  it('reports a step defined twice at the second definition', async () => {
    expect(await problemsOf({ 'steps.yaml': 'version: 1\nsteps:\n  a:\n    exit_code: x\n  a:\n    exit_code: y\n' })).toEqual([
      "steps.yaml:5:3: error: duplicate key 'a' (it is already defined above)",
    ])
  })

  it('requires the format version', async () => {
    expect(await problemsOf({ 'steps.yaml': 'steps: {}\n' })).toEqual(["steps.yaml:1:1: error: the file is missing the required key 'version'"])
    expect(await problemsOf({ 'steps.yaml': 'version: 2\nsteps: {}\n' })).toEqual(['steps.yaml:1:10: error: version must be 1'])
  })

  it('refuses async schemas, whose validators would read as always valid', async () => {
    expect(await problemsOf({ 'steps.yaml': 'version: 1\nsteps:\n  a:\n    exit_code: x\n    input: { $async: true, type: object }\n' })).toEqual([
      "steps.yaml:5:14: error: '$async' schemas are not supported for step input",
    ])
  })

  it('follows $ref to other local schema files', async () => {
    const registry = await registryFrom({
      'steps.yaml': 'version: 1\nsteps:\n  a:\n    exit_code: x\n    input: { type: object, properties: { address: { $ref: "schemas/address.json" } } }\n',
      'schemas/address.json': '{"type": "object", "required": ["city"]}',
    })
    const validate = registry.steps.get('a')!.validate!
    expect(validate({ address: { city: 'Paris' } })).toBe(true)
    expect(validate({ address: {} })).toBe(false)
    expect(registry.files).toHaveLength(2)
  })

  it('points at every $ref that cannot be resolved, in the steps file and in the schema files it reaches', async () => {
    const steps = [
      'version: 1', //                                          1
      'steps:', //                                              2
      '  a:', //                                                3
      '    exit_code: x', //                                    4
      '    input:', //                                          5
      '      type: object', //                                  6
      '      properties:', //                                   7
      '        b: { $ref: "#/definitions/nope" }', //           8
      '        c: { $ref: "#/definitions/nope_either" }', //    9
      '        d: { $ref: "d.json" }', //                       10
    ].join('\n')
    const d = '{\n  "type": "object",\n  "properties": { "e": { "$ref": "#/definitions/e" }, "f": { "$ref": "#/definitions/f" } }\n}'
    expect(await problemsOf({ 'steps.yaml': steps, 'd.json': d })).toEqual([
      "d.json:3:34: error: cannot resolve $ref '#/definitions/e'",
      "d.json:3:70: error: cannot resolve $ref '#/definitions/f'",
      "steps.yaml:8:20: error: cannot resolve $ref '#/definitions/nope'",
      "steps.yaml:9:20: error: cannot resolve $ref '#/definitions/nope_either'",
    ])
  })

  it('reports the meta-schema errors and the unknown keywords of a schema together, each where it is', async () => {
    const steps = 'version: 1\nsteps:\n  a:\n    exit_code: x\n    input:\n      type: objekt\n      requried: [x]\n      properties:\n        x: { type: strin, minLenght: 1 }\n'
    expect(await problemsOf({ 'steps.yaml': steps })).toEqual([
      "steps.yaml:6:13: error: invalid input schema: 'type' must be equal to one of the allowed values",
      "steps.yaml:7:7: error: unknown JSON Schema keyword 'requried' (did you mean 'required'?) (ajv strict mode)",
      "steps.yaml:9:20: error: invalid input schema: 'properties/x/type' must be equal to one of the allowed values",
      "steps.yaml:9:27: error: unknown JSON Schema keyword 'minLenght' (did you mean 'minLength'?) (ajv strict mode)",
    ])
  })

  it('still checks the valid parts of a step whose format is wrong', async () => {
    const steps = [
      'version: 1', //                                          1
      'steps:', //                                              2
      '  a:', //                                                3
      '    transform: "$data +"', //                            4
      '    http:', //                                           5
      '      methd: GET', //                                    6
      '      url: /relative', //                                7
      '  b:', //                                                8
      '    output: "status ="', //                              9
      '    exit_code: x', //                                    10
    ].join('\n')
    expect(await problemsOf({ 'steps.yaml': steps })).toEqual([
      'steps.yaml:4:24: error: steps.a.transform: JSONata syntax error: Unexpected end of expression',
      "steps.yaml:6:7: error: unknown key 'methd' in steps.a.http (did you mean 'method'?)",
      'steps.yaml:7:12: error: steps.a.http.url must be an absolute http(s) URL, such as https://api.example.com/v1/items',
      'steps.yaml:9:5: error: steps.b.output needs http: output maps the response of an HTTP step',
      'steps.yaml:9:22: error: steps.b.output: JSONata syntax error: Unexpected end of expression',
    ])
  })

  it('reports a step that is not a mapping, or a file that is not one, once and without crashing', async () => {
    expect(await problemsOf({ 'steps.yaml': 'version: 1\nsteps:\n  a:\n  b:\n    exit_code: x\n' })).toEqual(['steps.yaml:3:3: error: steps.a must be a mapping, not null'])
    expect(await problemsOf({ 'steps.yaml': '' })).toEqual(['steps.yaml:1:1: error: the file must be a mapping, not null'])
    expect(await problemsOf({ 'steps.yaml': '- a\n' })).toEqual(['steps.yaml:1:1: error: the file must be a mapping, not a list'])
  })

  it('reports a $schema other than draft-07, and every unknown format at its value, and checks the rest', async () => {
    const steps = [
      'version: 1',
      'steps:',
      '  a:',
      '    exit_code: x',
      '    input:',
      '      $schema: "http://json-schema.org/draft-04/schema#"', // 6
      '      type: object',
      '      properties:',
      '        x: { type: string, format: nope }', //               9
      '        y: { type: string, format: nada }', //               10
      '      requried: [x]', //                                     11
    ].join('\n')
    expect(await problemsOf({ 'steps.yaml': steps })).toEqual([
      'steps.yaml:6:16: error: unsupported $schema "http://json-schema.org/draft-04/schema#": input schemas are JSON Schema draft-07 (http://json-schema.org/draft-07/schema#)',
      'steps.yaml:9:36: error: invalid input schema: unknown format "nope"',
      'steps.yaml:10:36: error: invalid input schema: unknown format "nada"',
      "steps.yaml:11:7: error: unknown JSON Schema keyword 'requried' (did you mean 'required'?) (ajv strict mode)",
    ])
  })

  it('reports nothing that follows only from a part the format check took out', async () => {
    const steps = [
      'version: 1',
      'steps:',
      '  a:',
      '    transform: "$data"',
      '    http:',
      '      methd: GET', //  the method meant is unknown: no advice about POST
      '      url: https://api.example.com/items/{id}',
      '      params: 5', //   wrong, but there: no "add http.params"
      '      retry: { max_attempts: 3 }',
    ].join('\n')
    expect(await problemsOf({ 'steps.yaml': steps })).toEqual([
      "steps.yaml:6:7: error: unknown key 'methd' in steps.a.http (did you mean 'method'?)",
      'steps.yaml:8:15: error: steps.a.http.params must be a string, not a number',
    ])
  })

  it('compiles a schema file shared by several steps once', async () => {
    const registry = await registryFrom({
      'steps.yaml': 'version: 1\nsteps:\n  a:\n    exit_code: x\n    input: s.json\n  b:\n    exit_code: x\n    input: ./s.json\n',
      's.json': '{"$id": "https://example.com/s.json", "type": "string"}',
    })
    expect(registry.steps.get('a')!.validate).toBe(registry.steps.get('b')!.validate)
  })
})
