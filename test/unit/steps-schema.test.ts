import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Ajv } from 'ajv'
import { compileFromFile } from 'json-schema-to-typescript'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/server.js'

describe('schemas/steps.schema.json, the one definition of the format', () => {
  it('is a valid JSON Schema that ajv compiles in strict mode', () => {
    const schema = JSON.parse(readFileSync(join(ROOT, 'schemas/steps.schema.json'), 'utf8'))
    expect(() => new Ajv({ strict: true, strictRequired: false }).compile(schema)).not.toThrow()
  })

  it('is what the TypeScript types were generated from (run `npm run gen-types` after changing it)', async () => {
    const generated = await compileFromFile(join(ROOT, 'schemas/steps.schema.json'), { unreachableDefinitions: true, cwd: join(ROOT, 'schemas') })
    expect(readFileSync(join(ROOT, 'src/config/steps-file.generated.ts'), 'utf8')).toBe(generated)
  })
})
