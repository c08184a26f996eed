// One request at a time, timed one by one: latency without queueing, to the
// microsecond (autocannon's percentiles are whole milliseconds).
//   node bench/latency.mjs <url> <count> [body-file]   (a body makes it a POST)
import { readFileSync } from 'node:fs'
import { Client } from 'undici'

const [url, count, bodyFile] = process.argv.slice(2)
const target = new URL(url)
const client = new Client(target.origin)
const body = bodyFile === undefined ? undefined : readFileSync(bodyFile, 'utf8')
const options = body === undefined
  ? { path: target.pathname, method: 'GET' }
  : { path: target.pathname, method: 'POST', headers: { 'content-type': 'application/json' }, body }
const times = []
for (let i = 0; i < Number(count) + 200; i++) {
  const started = performance.now()
  const res = await client.request(options)
  await res.body.text()
  if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`)
  if (i >= 200) times.push(performance.now() - started) // the first 200 warm up
}
await client.close()
times.sort((a, b) => a - b)
const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))]
process.stdout.write(JSON.stringify({ p50: at(0.5), p99: at(0.99), mean: times.reduce((a, b) => a + b, 0) / times.length }))
