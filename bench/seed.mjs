// The orchestrator's own Express example (shared/seed-webhook-protocol.txt),
// extended only as far as needed to answer bench/steps.yaml's steps: the
// body limit raised for the payload scenarios, and the two other steps.
import { createHash } from 'crypto'
import express from 'express'

const SIGNATURE_KEY = process.env.SIGNATURE_KEY
const UPSTREAM_URL = process.env.UPSTREAM_URL
const STEPS = {
  step_a: (payload) => ({ exit_code: 'success' }),
  transform_step: (payload) => {
    const deps = payload.context.dependencies_context
    const items = deps.fetch_cart.data.items
    return {
      exit_code: 'success',
      data: {
        order_id: payload.data.order_id,
        amount: payload.data.amount,
        customer: deps.fetch_customer.data.name,
        email: deps.fetch_customer.data.email,
        items: items.length,
        total: items.reduce((sum, item) => sum + item.price, 0),
      },
    }
  },
  http_step: async (payload) => {
    const res = await fetch(`${UPSTREAM_URL}/items/${encodeURIComponent(payload.data.id)}`)
    const body = await res.json()
    return { exit_code: res.status === 200 ? 'success' : 'failure', data: { name: body.name } }
  },
}

function stepFactory (stepName) {
  const defaultHandler = (_) => ({})
  return STEPS[stepName] || defaultHandler
}

function validateRequest(payload, signature) {
  const message = `${JSON.stringify(payload)}${SIGNATURE_KEY}`
  const hash = createHash('sha256').update(message, 'utf-8').digest('hex').toString('hex')
  return hash == signature
}

const app = express()
app.use(express.json({ limit: process.env.BODY_LIMIT ?? '100kb' }))

app.post('/hook', async (req, res) => {
  const body = req.body
  const { payload, signature } = body

  if (!validateRequest(payload, signature)) {
    res.status(400).json({ error: 'Invalid input request, please verify the signature' })
    return
  }

  const { context } = payload
  const step = stepFactory(context.step_name)

  return res.json(await step(payload))
})

const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => process.stdout.write(`listening http://127.0.0.1:${server.address().port}\n`))

// Exit cleanly on a signal, so that --cpu-prof can write its profile.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0))
