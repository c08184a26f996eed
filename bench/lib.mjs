// What bench/run.mjs and bench/hostile.mjs share: the key, the signed
// request bodies (as the orchestrator writes them) and a free port.
import { createHash } from 'node:crypto'
import { createServer } from 'node:net'

export const KEY = 'wsk_bench_0123456789abcdefghijklmnop'

export function sign(payload) {
  return createHash('sha256').update(JSON.stringify(payload), 'utf8').update(KEY, 'utf8').digest('hex')
}

export function body(stepName, { data, deps = {} } = {}) {
  const payload = {
    ...(data === undefined ? {} : { data }),
    context: {
      flow_id: 'bench_flow',
      flow_name: 'bench',
      step_name: stepName,
      request_id: 'mqr_4b81ae2d5613446e9e21d76ba2ce26fc',
      triggered_by: { step_name: 'step_a', step_execution_id: 'ste_edf275e1e6e54212aa10662b05719d7a' },
      dependencies_context: deps,
    },
  }
  return JSON.stringify({ payload, signature: sign(payload) })
}

export async function freePort() {
  const server = createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}
