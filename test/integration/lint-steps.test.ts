import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { ROOT, runServerToExit } from '../helpers/server.js'

const exec = promisify(execFile)
const LINT = join(ROOT, 'dist/cli/lint-steps.js')
const F = 'test/fixtures/lint'

/** Runs `lint-steps` as `npm run lint-steps -- ...` would, from the repo root. */
async function lint(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [LINT, ...args], { cwd: ROOT, env: { PATH: process.env['PATH'] } })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

const lines = (stdout: string) => stdout.split('\n').filter((l) => l !== '')

/** The problem lines of a text report: every line but the closing summary, which must be there. */
function problems(stdout: string): string[] {
  const all = lines(stdout)
  expect(all.at(-1)).toMatch(/: (\d+ errors?, \d+ warnings?|\d+ steps.*, no problems)$/)
  return all.slice(0, -1)
}

describe('npm run lint-steps', () => {
  it("passes the repo's own steps.yaml and steps.test.yaml (exit 0), the summary on stdout", async () => {
    const result = await lint()
    expect(result).toMatchObject({ code: 0, stderr: '' })
    expect(result.stdout).toMatch(/^steps\.yaml: \d+ steps, \d+ step tests, no problems\n$/)
  })

  it('prints the problems and the summary on stdout, so that a pipe keeps them together', async () => {
    const result = await lint(`${F}/unknown-key.yaml`)
    expect(result).toMatchObject({
      code: 1,
      stderr: '',
      stdout: [
        `${F}/unknown-key.yaml:4:5: error: unknown key 'exit_cod' in steps.a (did you mean 'exit_code'?)`,
        `${F}/unknown-key.yaml:7:5: error: unknown key 'descripton' in steps.b (did you mean 'description'?)`,
        `${F}/unknown-key.yaml: 2 errors, 0 warnings`,
        '',
      ].join('\n'),
    })
  })

  it('reports a YAML syntax error alone, at the bracket never closed on the last line, with no step-test errors derived from it', async () => {
    const result = await lint(`${F}/unclosed.yaml`)
    expect(result).toMatchObject({
      code: 1,
      stderr: '',
      stdout:
        `${F}/unclosed.yaml:8:9: error: this '[' is never closed: Flow sequence in block collection must be sufficiently indented and end with a ]\n` +
        `${F}/unclosed.yaml: 1 error, 0 warnings\n`,
    })
    expect(readFileSync(join(ROOT, F, 'unclosed.yaml'), 'utf8').split('\n')[7]).toBe('broken: [unclosed')
  })

  it('reports every independent error of a step and of a schema in one run', async () => {
    const result = await lint(`${F}/independent-errors.yaml`)
    expect(problems(result.stdout)).toEqual([
      `${F}/independent-errors.yaml:5:7: error: unknown key 'methd' in steps.call.http (did you mean 'method'?)`,
      `${F}/independent-errors.yaml:6:12: error: steps.call.http.url must be an absolute http(s) URL, such as https://api.example.com/v1/items`,
      `${F}/independent-errors.yaml:9:13: error: invalid input schema: 'type' must be equal to one of the allowed values`,
      `${F}/independent-errors.yaml:12:7: error: unknown JSON Schema keyword 'requried' (did you mean 'required'?) (ajv strict mode)`,
      `${F}/independent-errors.yaml:18:20: error: cannot resolve $ref '#/definitions/one'`,
      `${F}/independent-errors.yaml:19:20: error: cannot resolve $ref '#/definitions/two'`,
      `${F}/independent-errors.yaml:20:20: error: schema file '${F}/schemas/nowhere.json' not found`,
      `${F}/schemas/two-bad-refs.json:4:20: error: cannot resolve $ref '#/definitions/one'`,
      `${F}/schemas/two-bad-refs.json:5:20: error: cannot resolve $ref '#/definitions/two'`,
      `${F}/schemas/two-bad-refs.json:6:20: error: invalid input schema: 'properties/c/type' must be equal to one of the allowed values`,
      `${F}/schemas/two-bad-refs.json:6:29: error: unknown JSON Schema keyword 'maxLenght' (did you mean 'maxLength'?) (ajv strict mode)`,
    ])
    expect(result.code).toBe(1)
  })

  it('reports a hyphenated step name that JSONata reads as a subtraction, at the name, with the fix', async () => {
    const result = await lint(`${F}/hyphenated-name.yaml`, '--format', 'json')
    const why = (name: string, minus: string, fix: string) =>
      `'${name}' is read by JSONata as a subtraction (${minus}), which yields nothing: write the step name in backticks, ${fix}`
    expect(JSON.parse(result.stdout)).toEqual([
      { file: `${F}/hyphenated-name.yaml`, line: 10, col: 17, severity: 'error', rule: 'hyphenated-name', message: `steps.summarize.transform: ${why('fetch-customer', 'fetch minus customer', '`fetch-customer`.data.name')}` },
      { file: `${F}/hyphenated-name.yaml`, line: 11, col: 16, severity: 'error', rule: 'hyphenated-name', message: `steps.summarize.transform: ${why('a-b-c', 'a minus b minus c', '`a-b-c`.data')}` },
      // order-id is no step's name: both sides are paths into dependencies_context that name no step (issue 14's shape check).
      ...['order', 'id'].map((name, i) => ({
        file: `${F}/hyphenated-name.yaml`,
        line: 14,
        col: [23, 29][i],
        severity: 'warning',
        rule: 'shape',
        message: `steps.summarize.transform: '${name}' is not a step of this file, so dependencies_context has nothing under it; list steps served elsewhere in external_steps`,
      })),
      { file: `${F}/hyphenated-name.yaml`, line: 18, col: 19, severity: 'error', rule: 'hyphenated-name', message: `steps.root.transform: ${why('fetch-customer', 'fetch minus customer', '`fetch-customer`.exit_code')}` },
    ])
    expect(result.code).toBe(1)
  })

  it('reports a regular expression the linear-time engine cannot run, in an expression or a schema pattern, where it is written', async () => {
    const result = await lint(`${F}/regex-unsupported.yaml`)
    expect(result.code).toBe(1)
    const reason = '(step-runner runs regular expressions on a linear-time engine, RE2, which has no backreferences and no lookaround)'
    expect(problems(result.stdout)).toEqual([
      `${F}/regex-unsupported.yaml:5:33: error: steps.a.transform: The regular expression /(a)\\1/ cannot be used: invalid escape sequence: \`\\1\` ${reason}`,
      `${F}/regex-unsupported.yaml:11:41: error: pattern "^(?=.*@)[^ ]+$" cannot be used: invalid or unsupported Perl syntax: \`(?=\` ${reason}`,
      `${F}/regex-unsupported.yaml:14:9: error: pattern "^x-(?!y)" cannot be used: invalid or unsupported Perl syntax: \`(?!\` ${reason}`,
    ])
  })

  it('checks the keys and values of limits blocks, in defaults and in steps', async () => {
    const result = await lint(`${F}/limits-invalid.yaml`)
    expect(result.code).toBe(1)
    expect(problems(result.stdout)).toEqual([
      `${F}/limits-invalid.yaml:4:25: error: defaults.limits.timeout_ms must be >= 1`,
      `${F}/limits-invalid.yaml:7:15: error: unknown key 'max_itmes' in steps.a.limits (did you mean 'max_items'?)`,
      `${F}/limits-invalid.yaml:7:40: error: steps.a.limits.max_depth must be an integer, not a string`,
    ])
  })

  it('refuses a step-tests file given as the steps file, naming the steps file to pass (exit 2)', async () => {
    expect(await lint('steps.test.yaml')).toEqual({ code: 2, stdout: '', stderr: 'lint-steps: steps.test.yaml: that is a step-tests file; pass the steps file it tests: steps.yaml\n' })
  })

  it.each([
    ['YAML syntax errors, at the token never closed', 'yaml-syntax.yaml', ["5:16: error: this '[' is never closed: Flow sequence in block collection must be sufficiently indented and end with a ]"]],
    ['a step defined twice', 'duplicate-step.yaml', ["7:3: error: duplicate key 'charge' (it is already defined above)"]],
    [
      'unknown keys, with the likely key',
      'unknown-key.yaml',
      ["4:5: error: unknown key 'exit_cod' in steps.a (did you mean 'exit_code'?)", "7:5: error: unknown key 'descripton' in steps.b (did you mean 'description'?)"],
    ],
    ['missing required keys', 'missing-key.yaml', ["1:1: error: the file is missing the required key 'version'", "3:5: error: steps.a.http is missing the required key 'url'"]],
    [
      'wrong types',
      'wrong-type.yaml',
      [
        '4:16: error: steps.a.exit_code must be a string, not a number',
        '8:19: error: steps.b.http.timeout_ms must be an integer, not a string',
        '10:18: error: steps.b.http.headers["x-count"] must be a string, not a number',
      ],
    ],
    [
      'a step with both or neither of exit_code and http',
      'step-kind.yaml',
      [
        '3:3: error: steps.both has both exit_code and http: a step is either static (exit_code) or an HTTP call (http)',
        '6:3: error: steps.neither needs exit_code (a static step) or http (an HTTP call)',
        '10:5: error: steps.output_without_http.output needs http: output maps the response of an HTTP step',
      ],
    ],
    ['a JSONata error inside a block scalar, at the bad token', 'jsonata-block.yaml', ['7:43: error: steps.a.transform: JSONata syntax error: The symbol "," cannot be used as a unary operator']],
    [
      'JSONata errors inside quoted scalars, through escapes',
      'jsonata-quoted.yaml',
      [
        '4:32: error: steps.single.transform: JSONata syntax error: The symbol "]" cannot be used as a unary operator',
        '7:34: error: steps.double.transform: JSONata syntax error: Unknown operator: "~"',
      ],
    ],
    [
      'JSONata errors inside plain and flow scalars, also over folded lines',
      'jsonata-plain.yaml',
      [
        '4:25: error: steps.plain.transform: JSONata syntax error: The symbol "+" cannot be used as a unary operator',
        '8:15: error: steps.multi_line_plain.transform: JSONata syntax error: Syntax error: ")"',
        '11:28: error: steps.in_a_flow_mapping.transform: JSONata syntax error: The symbol "=" cannot be used as a unary operator',
      ],
    ],
    ['an unknown keyword in an inline schema', 'schema-strict-inline.yaml', ["8:7: error: unknown JSON Schema keyword 'requried' (did you mean 'required'?) (ajv strict mode)"]],
    ['a bad $ref', 'schema-bad-ref.yaml', ["7:26: error: cannot resolve $ref '#/definitions/address'"]],
    ['a schema file that is missing', 'schema-missing.yaml', ["4:12: error: schema file 'test/fixtures/lint/schemas/nowhere.json' not found"]],
    [
      'URLs that are not absolute http(s), and placeholders without params',
      'url-invalid.yaml',
      [
        '5:12: error: steps.relative.http.url must be an absolute http(s) URL, such as https://api.example.com/v1/items',
        '8:12: error: steps.other_scheme.http.url must be an http or https URL, not ftp:',
        `12:12: error: URL placeholder {user_id} has no value: add http.params, such as params: '{ "user_id": $data.user_id }'`,
        '17:15: error: http.params gives no value for the URL placeholder {order_id}',
      ],
    ],
    [
      'unset ${VAR}s, at the variable',
      'env-missing.yaml',
      ['5:36: error: environment variable STEP_RUNNER_LINT_UNSET_HOST_PART is not set', '7:32: error: environment variable STEP_RUNNER_LINT_UNSET_TOKEN is not set'],
    ],
  ])('reports %s, exit 1', async (_what, fixture, expected) => {
    const result = await lint(`${F}/${fixture}`)
    expect(problems(result.stdout)).toEqual(expected.map((l) => `${F}/${fixture}:${l}`))
    expect(result.code).toBe(1)
  })

  it('reports a problem inside a schema file at its position in that file', async () => {
    expect(problems((await lint(`${F}/schema-strict-file.yaml`)).stdout)).toEqual([`${F}/schemas/strict.json:4:35: error: unknown JSON Schema keyword 'minimun' (did you mean 'minimum'?) (ajv strict mode)`])
  })

  it('reports schema files that are not valid JSON or YAML, in those files', async () => {
    const result = await lint(`${F}/schema-bad-json.yaml`)
    expect(problems(result.stdout)).toEqual([
      `${F}/schemas/broken.json:3:20: error: schema file is not valid JSON: value expected`,
      `${F}/schemas/broken.yaml:3:6: error: schema file is not valid YAML: this '{' is never closed: Flow map in block collection must be sufficiently indented and end with a }`,
    ])
    expect(result.code).toBe(1)
  })

  it('reports step tests that name a step that does not exist', async () => {
    const result = await lint(`${F}/test-unknown-step.yaml`)
    expect(problems(result.stdout)).toEqual([
      `${F}/test-unknown-step.test.yaml:6:11: error: test 'refunds' names step 'refund', which the steps file does not define`,
      `${F}/test-unknown-step.test.yaml:9:11: error: test 'typo' names step 'chrage', which the steps file does not define (did you mean 'charge'?)`,
    ])
    expect(result.code).toBe(1)
  })

  it('with --allow-missing-env, reports unset variables as warnings and exits 0', async () => {
    const result = await lint(`${F}/env-missing.yaml`, '--allow-missing-env')
    expect(problems(result.stdout)).toEqual([
      `${F}/env-missing.yaml:5:36: warning: environment variable STEP_RUNNER_LINT_UNSET_HOST_PART is not set`,
      `${F}/env-missing.yaml:7:32: warning: environment variable STEP_RUNNER_LINT_UNSET_TOKEN is not set`,
    ])
    expect(result.code).toBe(0)
  })

  it('prints the same problems as JSON with --format json', async () => {
    const result = await lint(`${F}/unknown-key.yaml`, '--format', 'json')
    expect(JSON.parse(result.stdout)).toEqual([
      { file: `${F}/unknown-key.yaml`, line: 4, col: 5, severity: 'error', message: "unknown key 'exit_cod' in steps.a (did you mean 'exit_code'?)", rule: 'unknown-key' },
      { file: `${F}/unknown-key.yaml`, line: 7, col: 5, severity: 'error', message: "unknown key 'descripton' in steps.b (did you mean 'description'?)", rule: 'unknown-key' },
    ])
    expect(result.code).toBe(1)
    expect(JSON.parse((await lint(`${F}/clean.yaml`, '--format', 'json')).stdout)).toEqual([])
  })

  it('exits 0 on a clean file and 2 when the file cannot be read', async () => {
    expect((await lint(`${F}/clean.yaml`)).code).toBe(0)
    const missing = await lint(`${F}/no-such-file.yaml`)
    expect(missing).toMatchObject({ code: 2, stdout: `${F}/no-such-file.yaml:1:1: error: steps file not found\n${F}/no-such-file.yaml: 1 error, 0 warnings\n` })
  })

  it('and the server refuses to start on the same problems, printing the same lines', async () => {
    for (const fixture of ['jsonata-block.yaml', 'test-unknown-step.yaml', 'schema-strict-file.yaml', 'hyphenated-name.yaml', 'unclosed.yaml']) {
      const linted = problems((await lint(`${F}/${fixture}`)).stdout)
      const started = await runServerToExit({ stepsFile: `${F}/${fixture}`, cwd: ROOT })
      expect(started.code).toBe(1)
      expect(lines(started.stderr).slice(0, -1)).toEqual(linted)
    }
  })
})
