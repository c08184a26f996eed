import { spawn, type ChildProcess } from 'node:child_process'
import { createConnection } from 'node:net'
import { freePort } from './server.js'
import { tempDir } from './temp.js'

export interface TestRedis {
  readonly url: string
  readonly process: ChildProcess
  /** Kills it at once (SIGKILL), as a crash would. */
  kill(): Promise<void>
}

/** A real redis-server on a free loopback port, in a folder of its own, without persistence. */
export async function startRedis(): Promise<TestRedis> {
  const port = await freePort()
  const dir = tempDir('step-runner-redis-')
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  child.on('error', () => {})
  // Up once it accepts a connection.
  for (let tries = 0; ; tries++) {
    if (child.exitCode !== null) throw new Error('redis-server exited at start (is the redis-server package installed?)')
    const up = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: '127.0.0.1' }, () => {
        socket.end()
        resolve(true)
      })
      socket.on('error', () => resolve(false))
    })
    if (up) break
    if (tries > 200) throw new Error('redis-server did not start')
    await new Promise((r) => setTimeout(r, 25))
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    process: child,
    async kill() {
      child.kill('SIGKILL')
      await exited
    },
  }
}
