import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Ajv } from 'ajv'
import { parse } from 'yaml'
import { compileFromFile } from 'json-schema-to-typescript'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/server.js'

describe('schemas/steps.schema.json, the one definition of the format', () => {
  it('is a valid JSON Schema that ajv compiles in strict mode', () => {
    const schema = JSON.parse(readFileSync(join(ROOT, 'schemas/steps.schema.json'), 'utf8'))
    expect(() => new Ajv({ strict: true, strictRequired: false }).compile(schema)).not.toThrow()
  })

  it.each([
    ['schemas/steps.schema.json', 'src/config/steps-file.generated.ts'],
    ['schemas/steps-test.schema.json', 'src/step-tests/test-file.generated.ts'],
  ])('%s is what %s was generated from (run `npm run gen-types` after changing it)', async (schema, types) => {
    const generated = await compileFromFile(join(ROOT, schema), { unreachableDefinitions: true, cwd: join(ROOT, 'schemas') })
    expect(readFileSync(join(ROOT, types), 'utf8')).toBe(generated)
  })

  it.each([
    ['steps.yaml', './schemas/steps.schema.json'],
    ['steps.test.yaml', './schemas/steps-test.schema.json'],
  ])('%s names its schema for editors, and a plain JSON Schema validator accepts it', (file, schemaPath) => {
    const text = readFileSync(join(ROOT, file), 'utf8')
    expect(text.split('\n')[0]).toBe(`# yaml-language-server: $schema=${schemaPath}`)
    const schema = JSON.parse(readFileSync(join(ROOT, schemaPath), 'utf8'))
    const validate = new Ajv({ strict: true, strictRequired: false }).compile(schema)
    expect(validate(parse(text)), JSON.stringify(validate.errors)).toBe(true)
  })
})
