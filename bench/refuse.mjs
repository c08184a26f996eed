// Sends the same unsigned body, one request at a time, and says how the
// server answered: for measuring what refusing a hostile body costs it.
//   node bench/refuse.mjs <url> <count> <body-file>
import { readFileSync } from 'node:fs'
import { Client } from 'undici'

const [url, count, bodyFile] = process.argv.slice(2)
const target = new URL(url)
const client = new Client(target.origin, { bodyTimeout: 120_000, headersTimeout: 120_000 })
const body = readFileSync(bodyFile)
const statuses = {}
for (let i = 0; i < Number(count); i++) {
  const res = await client.request({ path: target.pathname, method: 'POST', headers: { 'content-type': 'application/json' }, body })
  await res.body.text()
  statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1
}
await client.close()
process.stdout.write(JSON.stringify(statuses))
