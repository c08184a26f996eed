/**
 * JSONata reads `fetch-customer.data.name` as `fetch - customer.data.name`: a
 * subtraction of two paths that yields nothing, silently. This finds such
 * subtractions in an expression's parse tree where the names on both sides of
 * the `-` (written without spaces) join to a step name, so lint can say so.
 */

/** The parts of a JSONata parse-tree node that this check reads. */
interface AstNode {
  readonly type?: string
  readonly value?: unknown
  /** Index just past the node's token in the expression text. */
  readonly position?: number
  readonly lhs?: unknown
  readonly rhs?: unknown
  readonly steps?: readonly AstNode[]
}

export interface HyphenatedName {
  /** The step name, as it was meant: `fetch-customer`. */
  readonly name: string
  /** Where it starts in the expression text. */
  readonly index: number
  /** The path as it should be written: `` `fetch-customer`.data.name ``. */
  readonly fix: string
}

export function findHyphenatedNames(ast: unknown, text: string, stepNames: ReadonlySet<string>): HyphenatedName[] {
  if (![...stepNames].some((n) => n.includes('-'))) return []
  const found: HyphenatedName[] = []
  const inChain = new Set<unknown>()
  walk(ast, (node) => {
    if (!isMinus(node) || inChain.has(node)) return
    const operands: AstNode[] = []
    const minuses: AstNode[] = []
    flatten(node, operands, minuses, inChain)
    found.push(...namesInChain(operands, minuses, text, stepNames))
  })
  return found
}

function isMinus(node: unknown): node is AstNode {
  return typeof node === 'object' && node !== null && (node as AstNode).type === 'binary' && (node as AstNode).value === '-'
}

/** `a-b-c.data` is `(a - b) - c.data`: its operands left to right, and the `-` between each pair. */
function flatten(node: AstNode, operands: AstNode[], minuses: AstNode[], inChain: Set<unknown>): void {
  inChain.add(node)
  if (isMinus(node.lhs)) flatten(node.lhs, operands, minuses, inChain)
  else operands.push(node.lhs as AstNode)
  minuses.push(node)
  operands.push(node.rhs as AstNode)
}

/** A name step written plainly (not in backticks), with where it starts and ends in the text. */
interface WrittenName {
  readonly value: string
  readonly start: number
  readonly end: number
}

function written(step: AstNode | undefined, text: string): WrittenName | undefined {
  if (step?.type !== 'name' || typeof step.value !== 'string' || step.position === undefined) return undefined
  const start = step.position - step.value.length
  return text.slice(start, step.position) === step.value ? { value: step.value, start, end: step.position } : undefined
}

const stepsOf = (node: AstNode): readonly AstNode[] => (node.type === 'path' && Array.isArray(node.steps) ? node.steps : [])

/**
 * Joins, left to right, the last name of one operand, any operands that are a
 * lone name, and the first name of a later operand, wherever each `-` touches
 * the names on both sides; the longest join that is a step name wins.
 */
function namesInChain(operands: readonly AstNode[], minuses: readonly AstNode[], text: string, stepNames: ReadonlySet<string>): HyphenatedName[] {
  const found: HyphenatedName[] = []
  let i = 0
  while (i < operands.length - 1) {
    const tail = written(stepsOf(operands[i]!).at(-1), text)
    let match: { name: string; to: number; head: WrittenName } | undefined
    let joined = tail?.value
    let end = tail?.end
    for (let j = i + 1; j < operands.length && joined !== undefined && end !== undefined; j++) {
      const minusAt = (minuses[j - 1]!.position ?? 0) - 1
      const steps = stepsOf(operands[j]!)
      const head = written(steps[0], text)
      if (head === undefined || minusAt !== end || head.start !== minusAt + 1) break
      joined = `${joined}-${head.value}`
      if (stepNames.has(joined)) match = { name: joined, to: j, head }
      // Only a lone name can be the middle of a longer name (`a-b-c`).
      if (steps.length !== 1) break
      end = head.end
    }
    if (match !== undefined && tail !== undefined) {
      const rest = stepsOf(operands[match.to]!)
      const last = rest.at(-1)
      const restEnd = rest.length > 1 && last?.type === 'name' && last.position !== undefined ? last.position : match.head.end
      found.push({ name: match.name, index: tail.start, fix: `\`${match.name}\`${text.slice(match.head.end, restEnd)}` })
      i = match.to
    } else {
      i++
    }
  }
  return found
}

function walk(node: unknown, visit: (node: unknown) => void, seen = new Set<object>()): void {
  if (typeof node !== 'object' || node === null || seen.has(node)) return
  seen.add(node)
  visit(node)
  for (const value of Object.values(node)) walk(value, visit, seen)
}
