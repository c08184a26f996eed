import { describe, expect, it } from 'vitest'
import { answerOf, registryFrom } from '../helpers/config.js'

const payload = (data: unknown) => ({ data, context: { step_name: 's', dependencies_context: {} } }) as Parameters<typeof answerOf>[2]

describe('a JSONata runtime error', () => {
  it("points details.at at the failing token's first character in the steps file, in a block scalar and in a quoted one", async () => {
    const registry = await registryFrom({
      'steps.yaml': 'version: 1\nsteps:\n  s:\n    transform: |\n      {\n        "a": $data.n + "x"\n      }\n    exit_code: success\n  q:\n    transform: \'$number($data.t) & ""\'\n    exit_code: success\n',
    })
    expect(await answerOf(registry, 's', payload({ n: 1 }))).toMatchObject({
      exit_code: 'failure',
      data: { error: { code: 'transform_failed', details: { code: 'T2002', token: '+', at: 'steps.yaml:6:22' } } },
    })
    const quoted = await answerOf(registry, 'q', { ...payload({ t: 'abc' }), context: { step_name: 'q', dependencies_context: {} } } as Parameters<typeof answerOf>[2])
    expect(quoted).toMatchObject({ exit_code: 'failure', data: { error: { code: 'transform_failed', details: { code: 'D3030', at: 'steps.yaml:10:17' } } } })
  })

  it("keeps the expression's start for a limit, which is the whole evaluation's", async () => {
    const registry = await registryFrom({ 'steps.yaml': "version: 1\nsteps:\n  s:\n    limits: { max_items: 10 }\n    transform: '[1..100]'\n    exit_code: success\n" })
    expect(await answerOf(registry, 's', payload(null))).toMatchObject({ data: { error: { details: { code: 'items', at: 'steps.yaml:5:17' } } } })
  })
})
