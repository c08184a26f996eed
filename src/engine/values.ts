/**
 * What makes a JSONata value something other than plain JSON data, in words,
 * or undefined when it is data: a function (a JSONata lambda, partial
 * application or built-in), a regular expression, a number that is not
 * finite, an object that is not plain, nesting deeper than `maxDepth`.
 * JSON.stringify would drop some of these silently, turn others into null,
 * and throw on the rest; none of them may reach an answer.
 */
export function jsonProblem(value: unknown, maxDepth: number): string | undefined {
  const found = walk(value, 0, maxDepth)
  if (found === undefined) return undefined
  // Too deep: the path would be as long as the nesting, and says nothing.
  if (found.path.length === 0 || found.deep) return found.what
  const path = found.path.reverse().join('').replace(/^\./, '')
  return `${found.what} (at ${path.length > 80 ? `${path.slice(0, 77)}...` : path})`
}

interface Found {
  readonly what: string
  /** Segments from the value found up to the root. */
  readonly path: string[]
  readonly deep?: boolean
}

function walk(value: unknown, depth: number, maxDepth: number): Found | undefined {
  if (value instanceof NotData) return { what: value.problem, path: [] }
  if (value instanceof JsonText) return depth + value.depth > maxDepth ? { what: `a value nested deeper than ${maxDepth} levels`, path: [], deep: true } : undefined
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'undefined':
      return undefined
    case 'number':
      return Number.isFinite(value) ? undefined : { what: `a number that JSON cannot carry (${value})`, path: [] }
    case 'function':
      return { what: isJsonataRegex(value) ? 'a regular expression' : 'a function', path: [] }
    case 'object':
      break
    default:
      return { what: `a value that is not JSON data (${typeof value})`, path: [] }
  }
  if (value === null) return undefined
  if (depth >= maxDepth) return { what: `a value nested deeper than ${maxDepth} levels`, path: [], deep: true }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = walk(value[i], depth + 1, maxDepth)
      if (found !== undefined) return (found.path.push(`[${i}]`), found)
    }
    return undefined
  }
  const proto = Object.getPrototypeOf(value) as unknown
  if (proto !== Object.prototype && proto !== null) return { what: 'a value that is not JSON data', path: [] }
  const o = value as Record<string, unknown>
  // JSONata's functions are objects with a marker: lambdas, partial applications and built-ins.
  if (o['_jsonata_lambda'] === true || o['_jsonata_function'] === true || o['_jsonata_partial'] === true) return { what: 'a function', path: [] }
  for (const key in o) {
    const found = walk(o[key], depth + 1, maxDepth)
    if (found !== undefined) return (found.path.push(/^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`), found)
  }
  return undefined
}

/** JSONata evaluates a regex literal to a matcher closure of this shape. */
function isJsonataRegex(fn: Function): boolean {
  return /^function\s*\(str, fromIndex\)/.test(Function.prototype.toString.call(fn))
}

/**
 * A result that an evaluation off the main thread could not send back because
 * it is not data (a function cannot cross threads): what it was, in words.
 */
export class NotData {
  constructor(readonly problem: string) {}
}

/**
 * A result that an evaluation thread sent back as the JSON text it will be
 * answered as, left unparsed: where it goes straight into an answer or a
 * request body, the main thread splices the text in, instead of parsing it
 * and serializing it again (for a result of 15,000 objects, 6 ms of the
 * thread that answers every other request, and the garbage of 15,000
 * objects). Made only where the caller asked for it (`asText`); checked on
 * the thread: it is JSON data, nested `depth` levels deep.
 */
export class JsonText {
  constructor(
    readonly text: string,
    /** Objects and arrays on the deepest path: 0 for a scalar, 1 for `[]`. */
    readonly depth: number,
  ) {}

  /** Anything that serializes it anyway gets the value it stands for. */
  toJSON(): unknown {
    return JSON.parse(this.text)
  }
}

/** How deeply a JSON value nests: objects and arrays on its deepest path (see JsonText.depth). */
export function nesting(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0
  let deepest = 0
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const d = nesting(value[i])
      if (d > deepest) deepest = d
    }
  } else {
    for (const key in value) {
      const d = nesting((value as Record<string, unknown>)[key])
      if (d > deepest) deepest = d
    }
  }
  return deepest + 1
}
