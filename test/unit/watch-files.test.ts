import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { watchFiles } from '../../src/server/watch-files.js'
import { tempDir } from '../helpers/temp.js'

/** Polls until the check passes (the test's own timeout bounds the wait). */
async function until(ok: () => boolean): Promise<void> {
  while (!ok()) await new Promise((r) => setTimeout(r, 10))
}

describe('watchFiles', () => {
  it('with a poll, sees a file appear in a folder that did not exist when the watch began (no event can report it)', async () => {
    const dir = tempDir('step-runner-watch-')
    const file = join(dir, 'later', 'steps.yaml')
    let changes = 0
    const watch = watchFiles([file], () => changes++, { pollMs: 20 })
    try {
      mkdirSync(join(dir, 'later'))
      writeFileSync(file, 'version: 1\n')
      await until(() => changes === 1)
      // The poll goes on: an unchanged file is not a change.
      await new Promise((r) => setTimeout(r, 100))
      expect(changes).toBe(1)
    } finally {
      watch.close()
    }
  })

  it('without a poll, reports a save, and not a write of the same content', async () => {
    const dir = tempDir('step-runner-watch-')
    const file = join(dir, 'steps.yaml')
    const marker = join(dir, 'marker.yaml')
    writeFileSync(file, 'a\n')
    writeFileSync(marker, 'm\n')
    let changes = 0
    const watch = watchFiles([file, marker], () => changes++, { debounceMs: 10 })
    try {
      writeFileSync(file, 'a\n')
      // Then a real change: once it is seen, so was the write before it.
      writeFileSync(marker, 'm2\n')
      await until(() => changes >= 1)
      expect(changes).toBe(1)
    } finally {
      watch.close()
    }
  })
})
