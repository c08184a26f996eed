import { watch, type FSWatcher } from 'node:fs'
import { basename, dirname } from 'node:path'

export interface FileWatch {
  /** Follows a new set of files (the set changes as the config does). */
  update(files: readonly string[]): void
  close(): void
}

/**
 * Calls `onChange` once after a burst of changes to any of the files. It
 * watches their folders rather than the files themselves, so that saves by
 * rename (vim, VS Code, `mv` over the file) and files deleted and created
 * again are seen: a watch on the file itself would stay on the old inode.
 */
export function watchFiles(files: readonly string[], onChange: () => void, debounceMs = 100): FileWatch {
  const watchers = new Map<string, FSWatcher>()
  let names = new Map<string, Set<string>>()
  let timer: NodeJS.Timeout | undefined

  const changed = () => {
    clearTimeout(timer)
    timer = setTimeout(onChange, debounceMs)
  }

  function update(next: readonly string[]): void {
    names = new Map()
    for (const file of next) {
      const dir = dirname(file)
      if (!names.has(dir)) names.set(dir, new Set())
      names.get(dir)!.add(basename(file))
    }
    for (const [dir, watcher] of watchers) {
      if (!names.has(dir)) {
        watcher.close()
        watchers.delete(dir)
      }
    }
    for (const dir of names.keys()) {
      if (watchers.has(dir)) continue
      try {
        const watcher = watch(dir, (_event, filename) => {
          // No name: the platform could not say which file; reload to be safe.
          if (filename === null || names.get(dir)?.has(filename.toString())) changed()
        })
        watcher.on('error', () => {
          watcher.close()
          watchers.delete(dir)
        })
        watchers.set(dir, watcher)
      } catch {
        // The folder does not exist (yet): the next update tries again.
      }
    }
  }

  update(files)
  return {
    update,
    close() {
      clearTimeout(timer)
      for (const watcher of watchers.values()) watcher.close()
      watchers.clear()
    },
  }
}
