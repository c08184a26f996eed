// The upstream API that the HTTP scenario calls: a small JSON answer, at once.
import { createServer } from 'node:http'

const server = createServer((req, res) => {
  const id = decodeURIComponent((req.url ?? '').split('/').pop() ?? '')
  const body = JSON.stringify({ id, name: 'lamp', price: 12.5 })
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body)
})
server.keepAliveTimeout = 60_000
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1')

// Exit cleanly on a signal, so that --cpu-prof can write its profile.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0))
