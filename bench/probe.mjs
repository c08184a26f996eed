// The cheap step, sent continuously on one keep-alive connection, one
// request at a time, each timed: what every other request sees while
// bench/hostile.mjs sends hostile ones.
//   fork('bench/probe.mjs', [url, body-file])
// Run with an IPC channel: {cmd: 'collect', id, until} is answered with the
// samples since the last collect once the request under way at `until` (ms
// since the epoch) has its answer, so that a stalled request counts where it
// stalled; {cmd: 'stop'} ends it.
// A sample: [sent, answered] (ms since the epoch, to the microsecond:
// comparable with the driver's Date.now()), ms from one to the other, status
// (the HTTP status, or the error's code for a request that got no answer).
import { readFileSync } from 'node:fs'
import { Client } from 'undici'

const [url, bodyFile] = process.argv.slice(2)
const target = new URL(url)
const body = readFileSync(bodyFile, 'utf8')
// Long timeouts: a request that stalls is measured, not abandoned.
const client = new Client(target.origin, { pipelining: 1, headersTimeout: 120_000, bodyTimeout: 120_000 })
const options = { path: target.pathname, method: 'POST', headers: { 'content-type': 'application/json' }, body }

let samples = []
let stopping = false
let waiting = [] // collect requests: {id, until}

process.on('message', (message) => {
  if (message.cmd === 'collect') waiting.push(message)
  if (message.cmd === 'stop') stopping = true
})

// The epoch's clock to the microsecond: performance.now() from Date.now()'s origin.
const epoch = Date.now() - performance.now()
while (!stopping) {
  const sent = performance.now()
  let status
  try {
    const res = await client.request(options)
    await res.body.text()
    status = res.statusCode
  } catch (err) {
    status = err.code ?? err.name ?? 'error'
    await new Promise((resolve) => setTimeout(resolve, 10)) // no server: do not spin
  }
  const answered = performance.now()
  samples.push([epoch + sent, epoch + answered, answered - sent, status])
  const ready = waiting.filter((w) => w.until <= epoch + answered)
  if (ready.length > 0) {
    for (const { id } of ready) process.send({ id, samples })
    waiting = waiting.filter((w) => !ready.includes(w))
    samples = []
  }
}
process.send({ id: 'stopped', samples })
await client.close()
process.disconnect()
