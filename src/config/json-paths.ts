import type { NodePath } from './yaml-source.js'

/** `/steps/a~1b/http` → `['steps', 'a/b', 'http']`. */
export function pointerToPath(pointer: string): NodePath {
  if (pointer === '') return []
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
}

/** A copy of a plain value without the parts at the given paths (undefined when the whole is one of them). */
export function without(value: unknown, paths: readonly NodePath[]): unknown {
  if (paths.some((p) => p.length === 0)) return undefined
  if (typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) return value.map((item, i) => without(item, childPaths(paths, String(i))))
  const out: Record<string, unknown> = {}
  for (const [key, item] of Object.entries(value)) {
    const rest = childPaths(paths, key)
    if (!rest.some((p) => p.length === 0)) out[key] = without(item, rest)
  }
  return out
}

function childPaths(paths: readonly NodePath[], key: string): NodePath[] {
  return paths.filter((p) => String(p[0]) === key).map((p) => p.slice(1))
}
