import { createHash } from 'node:crypto'
import { readFileSync, watch, type FSWatcher } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname } from 'node:path'

export interface FileWatch {
  /** Follows a new set of files (the set changes as the config does). */
  update(files: readonly string[]): void
  close(): void
}

export interface WatchOptions {
  /** A burst of events within this makes one check. */
  readonly debounceMs?: number
  /** Also check this often, for changes no event reports (0: never). */
  readonly pollMs?: number
}

/**
 * Calls `onChange` when the content of the files has really changed: after
 * any event in their folders (debounced), and every `pollMs`, it reads them
 * and compares a hash of their content with the last one.
 *
 * Events name what changed in a folder, and often not the file itself:
 * - an editor's save by rename, or a file deleted and created again, is an
 *   event for a temporary name, then for the file;
 * - Kubernetes updates a mounted ConfigMap by swapping a symlink
 *   (`..data_tmp` renamed over `..data`): `steps.yaml` is a symlink into
 *   `..data`, no event names it and its mtime does not change;
 * - a folder reached through a symlink (`schemas -> ..data/schemas`) is
 *   watched on the target it had when the watch began.
 * So any event in a watched folder leads to a check, the content decides,
 * and every check watches the folders again (following the symlinks as they
 * are now). The poll catches what no event reports (network file systems,
 * a folder swapped under a symlink that was not watched).
 */
export function watchFiles(files: readonly string[], onChange: () => void, options: WatchOptions = {}): FileWatch {
  const debounceMs = options.debounceMs ?? 100
  const watchers = new Map<string, FSWatcher>()
  let current = [...files]
  let timer: NodeJS.Timeout | undefined
  let closed = false
  // The content when the config was last loaded (or last found changed).
  // Read now, synchronously (a few small files): a change made while an
  // asynchronous read was under way would count as already known.
  let known: string = fingerprintNow(current)
  let checking: Promise<void> | undefined
  let again = false

  const schedule = () => {
    clearTimeout(timer)
    timer = setTimeout(() => void check(), debounceMs)
  }

  async function check(): Promise<void> {
    if (closed) return
    if (checking !== undefined) {
      again = true
      return checking
    }
    checking = (async () => {
      rearm()
      const now = await fingerprint(current)
      if (closed || now === known) return
      known = now
      onChange()
    })()
    try {
      await checking
    } finally {
      checking = undefined
      if (again) {
        again = false
        schedule()
      }
    }
  }

  /** Watches each folder anew: a folder reached through a swapped symlink is now another one. */
  function rearm(): void {
    for (const watcher of watchers.values()) watcher.close()
    watchers.clear()
    for (const dir of new Set(current.map((file) => dirname(file)))) {
      try {
        const watcher = watch(dir, () => schedule())
        // The folder went away (swapped, deleted): the next check watches what is there then.
        watcher.on('error', () => {
          watcher.close()
          watchers.delete(dir)
          schedule()
        })
        watchers.set(dir, watcher)
      } catch {
        // The folder does not exist (yet): the poll, or the next reload, tries again.
      }
    }
  }

  rearm()
  const poll = options.pollMs !== undefined && options.pollMs > 0 ? setInterval(() => void check(), options.pollMs) : undefined
  poll?.unref()

  return {
    update(next) {
      const changedSet = next.length !== current.length || next.some((file, i) => file !== current[i])
      current = [...next]
      // A new file (a schema just referenced) is part of what the reload
      // read: take the set's content as known, so that it is not one change more.
      if (changedSet) known = fingerprintNow(current)
      rearm()
    },
    close() {
      closed = true
      clearTimeout(timer)
      if (poll !== undefined) clearInterval(poll)
      for (const watcher of watchers.values()) watcher.close()
      watchers.clear()
    },
  }
}

const absent = (err: NodeJS.ErrnoException) => `\u0000missing:${err.code ?? 'error'}`

/** A hash of every file's content (or of its absence), in order. */
async function fingerprint(files: readonly string[]): Promise<string> {
  return digest(files, await Promise.all(files.map((file) => readFile(file).catch(absent))))
}

function fingerprintNow(files: readonly string[]): string {
  return digest(
    files,
    files.map((file) => {
      try {
        return readFileSync(file)
      } catch (err) {
        return absent(err as NodeJS.ErrnoException)
      }
    }),
  )
}

function digest(files: readonly string[], texts: readonly (string | Buffer)[]): string {
  const hash = createHash('sha256')
  files.forEach((file, i) => hash.update(file).update('\u0000').update(texts[i]!).update('\u0000'))
  return hash.digest('hex')
}
