/**
 * Function signatures (`<a<n>:n>`), validated fast.
 *
 * jsonata validates the arguments of every call of a built-in (and of a
 * lambda with a signature) by writing the arguments' types as a string of
 * symbols (`"an"`: an array, a number), matching the signature's regular
 * expression against it, and walking the match with a closure per argument.
 * For a small call that costs more than the call. The same work here:
 * the symbols in a loop, the match looked up by that string (a signature
 * sees few distinct ones), the walk in a loop. Only the successful case is
 * done here: whenever the arguments do not fit, jsonata's own `validate`
 * runs and throws its error (T0410, T0411, T0412), so errors are jsonata's
 * by construction.
 */

/** A parameter of a signature, as jsonata's parseSignature records it. */
interface Param {
  readonly type: string
  readonly regex: string
  readonly subtype?: string
  readonly context?: boolean
  readonly contextRegex?: RegExp
}

export interface Signature {
  readonly definition: string
  validate(args: unknown[], context: unknown): unknown[]
}

/** The most match strings remembered per signature: a call site sees few. */
const MAX_MATCHES = 64

/** jsonata's getSymbol: the letter for a value's type. */
export function symbolOf(value: unknown): string {
  if (value) {
    const v = value as { _jsonata_function?: unknown; _jsonata_lambda?: unknown }
    if (v._jsonata_function === true || v._jsonata_lambda === true) return 'f'
  }
  switch (typeof value) {
    case 'string':
      return 's'
    case 'number':
      return 'n'
    case 'boolean':
      return 'b'
    case 'function':
      return 'f'
    case 'object':
      return value === null ? 'l' : Array.isArray(value) ? 'a' : 'o'
    default:
      return 'm'
  }
}

/**
 * The signature object jsonata's parseSignature returns, with its
 * `validate` made fast (called from inside the synchronous jsonata, see
 * sync-jsonata.ts, for every signature it parses).
 */
export function fastSignature(params: readonly Param[], regex: RegExp, signature: Signature): Signature {
  const slow = signature.validate
  const matches = new Map<string, readonly string[] | null>()
  const validate = (args: unknown[], context: unknown): unknown[] => {
    let supplied = ''
    for (let i = 0; i < args.length; i++) supplied += symbolOf(args[i])
    let groups = matches.get(supplied)
    if (groups === undefined) {
      const match = regex.exec(supplied)
      groups = match === null ? null : match.slice(1)
      if (matches.size < MAX_MATCHES) matches.set(supplied, groups)
    }
    if (groups === null) return slow(args, context)
    const validated: unknown[] = []
    let argIndex = 0
    for (let p = 0; p < params.length; p++) {
      const param = params[p]!
      const match = groups[p]!
      if (match === '') {
        if (param.context === true && param.contextRegex !== undefined) {
          if (!param.contextRegex.test(symbolOf(context))) return slow(args, context)
          validated.push(context)
        } else {
          validated.push(args[argIndex])
          argIndex++
        }
        continue
      }
      for (let c = 0; c < match.length; c++) {
        const single = match[c]
        let arg = args[argIndex]
        if (param.type === 'a') {
          if (single === 'm') {
            arg = undefined
          } else {
            if (param.subtype !== undefined && !itemsFit(single!, match, arg, param.subtype)) return slow(args, context)
            if (single !== 'a') arg = [arg]
          }
        }
        validated.push(arg)
        argIndex++
      }
    }
    return validated
  }
  ;(signature as { validate: Signature['validate'] }).validate = validate
  return signature
}

/**
 * Whether an array argument's items are of the signature's item type, as
 * jsonata checks: every item of the first item's type, that type the
 * subtype's first letter. Unsure (a sparse array, whose holes jsonata's
 * filter passes over) counts as not: jsonata then decides.
 */
function itemsFit(single: string, match: string, arg: unknown, subtype: string): boolean {
  if (single !== 'a') return match === subtype
  const items = arg as unknown[]
  if (items.length === 0) return true
  const type = symbolOf(items[0])
  if (type !== subtype.charAt(0)) return false
  for (let i = 0; i < items.length; i++) if (!(i in items) || symbolOf(items[i]) !== type) return false
  return true
}
