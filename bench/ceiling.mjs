// The ceiling: a bare fastify server doing the same work as step-runner on
// bench/steps.yaml, written by hand — the same signature check, the same
// checks of the input and the same output — with no YAML, ajv or JSONata.
//
// CEILING_LOG=line: the same, and one pino line per answer at info, with the
// fields of step-runner's line, through pino's asynchronous destination with
// step-runner's batching (4 KiB): the hand-written handler as a team would
// run it in production, where a line per request is what operators expect.
import { createHash, timingSafeEqual } from 'node:crypto'
import Fastify, { LogController } from 'fastify'
import pino from 'pino'
import { Agent, request } from 'undici'

const logsLine = process.env.CEILING_LOG === 'line'

const keys = [Buffer.from(process.env.SIGNATURE_KEY, 'utf8')]
const upstream = process.env.UPSTREAM_URL
const dispatcher = new Agent({ keepAliveTimeout: 10_000 })
const HEX64 = /^[0-9a-f]{64}$/

function verified(payload, signature) {
  if (typeof signature !== 'string' || !HEX64.test(signature)) return false
  const expected = createHash('sha256').update(JSON.stringify(payload), 'utf8').update(keys[0]).digest()
  return timingSafeEqual(expected, Buffer.from(signature, 'hex'))
}

const steps = {
  step_a: async () => ({ exit_code: 'success' }),
  transform_step: async ({ data, context }) => {
    if (typeof data !== 'object' || data === null || typeof data.order_id !== 'string' || typeof data.amount !== 'number' || data.amount < 0) {
      return { exit_code: 'failure', data: { error: { code: 'input_invalid', message: 'bad input' } } }
    }
    const deps = context.dependencies_context ?? {}
    const items = deps.fetch_cart?.data?.items ?? []
    return {
      exit_code: 'success',
      data: {
        order_id: data.order_id,
        amount: data.amount,
        customer: deps.fetch_customer?.data?.name,
        email: deps.fetch_customer?.data?.email,
        items: items.length,
        total: items.reduce((sum, item) => sum + item.price, 0),
      },
    }
  },
  http_step: async ({ data }) => {
    const res = await request(`${upstream}/items/${encodeURIComponent(data.id)}`, { dispatcher })
    const body = await res.body.json()
    return { exit_code: res.statusCode === 200 ? 'success' : 'failure', data: { name: body.name } }
  },
}

const app = Fastify({
  bodyLimit: Number(process.env.BODY_LIMIT ?? 1048576),
  ...(logsLine ? { loggerInstance: pino({ level: 'info' }, pino.destination({ dest: 1, sync: false, minLength: 4096 })), logController: new LogController({ disableRequestLogging: true }) } : {}),
})
app.post('/hook', async (req, reply) => {
  const { payload, signature } = req.body ?? {}
  if (typeof payload !== 'object' || payload === null) return reply.code(400).send({ error: 'bad request' })
  if (!verified(payload, signature)) return reply.code(400).send({ error: 'Invalid input request, please verify the signature' })
  const step = steps[payload.context?.step_name]
  if (step === undefined) return reply.code(404).send({ error: `unknown step '${payload.context?.step_name}'` })
  if (!logsLine) return step(payload)
  const answer = await step(payload)
  const { request_id, flow_id, step_name } = payload.context
  req.log.info({ request_id, flow_id, step_name, exit_code: answer.exit_code, status: 200, duration_ms: Math.round(reply.elapsedTime * 1000) / 1000 }, 'step answered')
  return answer
})
const url = await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' })
process.stdout.write(`listening ${url}\n`)

// Exit cleanly on a signal, so that --cpu-prof can write its profile.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0))
