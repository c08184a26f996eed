#!/usr/bin/env node
// Builds dist/ only when a source changed since the last build: what the
// command-line tools run before each call (`npm run send`, `lint-steps`,
// `test-steps`, `start`, `dev`). tsc takes seconds even with nothing to do;
// comparing modification times takes milliseconds. `npm run build` always builds.
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const stamp = join(root, 'dist', '.build-stamp')

/** The newest modification time among the files that make dist/, or Infinity when one cannot be read. */
function newestSource() {
  let newest = 0
  const visit = (path) => {
    const stat = statSync(path)
    if (stat.isDirectory()) for (const entry of readdirSync(path)) visit(join(path, entry))
    else newest = Math.max(newest, stat.mtimeMs)
  }
  for (const path of ['src', 'tsconfig.json', 'package.json', 'package-lock.json']) visit(join(root, path))
  return newest
}

let built = 0
try {
  built = statSync(stamp).mtimeMs
} catch {
  // Never built by this script: build.
}
if (built > 0 && newestSource() < built) process.exit(0)

// The time is taken before tsc starts: a file saved while it runs is newer than the stamp.
const started = new Date()
const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', root], { stdio: 'inherit' })
if (tsc.status !== 0) process.exit(tsc.status ?? 1)
writeFileSync(stamp, `${started.toISOString()}\n`)
// The stamp's own time is when the build started.
const { utimesSync } = await import('node:fs')
utimesSync(stamp, started, started)
