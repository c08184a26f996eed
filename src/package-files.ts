import { readFileSync } from 'node:fs'

// This module sits one level below the package root both as src/*.ts and as
// dist/*.js, so the same relative URL finds the package's own files in both.
const packageRoot = new URL('../', import.meta.url)

function readJson(relativePath: string): unknown {
  return JSON.parse(readFileSync(new URL(relativePath, packageRoot), 'utf8'))
}

/** The steps-file format: the one definition that validation, editors and types come from. */
export const stepsFileSchema = readJson('schemas/steps.schema.json') as Record<string, unknown>

/** The step-tests format (steps.test.yaml). */
export const testsFileSchema = readJson('schemas/steps-test.schema.json') as Record<string, unknown>

export const packageVersion = (readJson('package.json') as { version: string }).version
