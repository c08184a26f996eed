import fc from 'fast-check'

/**
 * Random JSONata expressions and the JSON data they run over, for the
 * differential test: the two share a small vocabulary of field names, so
 * that paths find data, and the expressions cover the language's parts
 * (paths, predicates, constructors, arithmetic, comparison, string and
 * aggregate functions, lambdas, `~>`, conditionals, variables, `%`, `#`,
 * `@`, sorting, grouping), valid or not: errors are compared too.
 */
export const NAMES = ['a', 'b', 'name', 'price', 'items', 'tags', 'n'] as const

const name = fc.constantFrom(...NAMES)
const scalar = fc.oneof(
  fc.integer({ min: -20, max: 20 }),
  fc.double({ min: -100, max: 100, noNaN: true, noDefaultInfinity: true }).map((d) => Math.round(d * 100) / 100),
  fc.constantFrom('x', 'Ada', 'b c', '', 'A1', '10'),
  fc.boolean(),
  fc.constant(null),
)

/** JSON data whose keys are the names the expressions use. */
export const data: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(name, tie('value'), { maxKeys: 5 }),
  ),
})).value

const numberLiteral = fc.oneof(fc.integer({ min: 0, max: 10 }).map(String), fc.constantFrom('1.5', '0', '100', '2e1'))
const stringLiteral = fc.constantFrom('"x"', '"Ada"', "'b c'", '""', '"a"', '"name"')
const literal = fc.oneof(numberLiteral, stringLiteral, fc.constantFrom('true', 'false', 'null'))
const variable = fc.constantFrom('$', '$$', '$v', '$w', '$i', '$data')

const regex = fc.constantFrom('/a+/', '/[A-Z]/i', '/b c|x/', '/^./m', '/\\d/', '/(a)(b)?/', '/\\s*/', '/x$/', '/[^a]+/')

const UNARY_FUNCTIONS = ['$sum', '$count', '$max', '$min', '$average', '$string', '$number', '$length', '$uppercase', '$lowercase', '$trim', '$keys', '$exists', '$sort', '$reverse', '$distinct', '$not', '$boolean', '$abs', '$floor', '$round', '$type', '$each', '$spread', '$join'] as const
const BINARY_FUNCTIONS = ['$substring', '$join', '$append', '$lookup', '$split', '$contains', '$map', '$filter', '$substringBefore', '$substringAfter', '$pad', '$zip'] as const
const BINARY_OPERATORS = ['+', '-', '*', '/', '%', '=', '!=', '<', '<=', '>', '>=', 'and', 'or', '&', 'in', '??', '?:'] as const

export const expression: fc.Arbitrary<string> = fc.letrec<{ expr: string; path: string; lambda: string }>((tie) => ({
  path: fc.oneof(
    { depthSize: 'small' },
    name,
    fc.tuple(name, fc.array(fc.oneof(name, fc.constant('*')), { minLength: 1, maxLength: 3 })).map(([first, rest]) => [first, ...rest].join('.')),
    fc.tuple(name, tie('expr')).map(([n, p]) => `${n}[${p}]`),
    fc.tuple(name, fc.integer({ min: -2, max: 3 })).map(([n, i]) => `${n}[${i}]`),
    fc.tuple(name, name).map(([n, m]) => `${n}.${m}.%`),
    fc.tuple(name, name).map(([n, m]) => `${n}#$i.${m}`),
    fc.tuple(name, name).map(([n, m]) => `${n}@$v.${m}`),
    fc.tuple(name, name, fc.constantFrom('<', '>')).map(([n, m, d]) => `${n}^(${d}${m})`),
    fc.tuple(name, name, name).map(([n, k, v]) => `${n}{${k}: ${v}}`),
    name.map((n) => `**.${n}`),
    name.map((n) => `${n}[]`),
  ),
  lambda: fc.oneof(
    tie('expr').map((body) => `function($v) { ${body} }`),
    tie('expr').map((body) => `function($v, $i) { ${body} }`),
    fc.constantFrom('$uppercase', '$string', '$count', '$sum'),
  ),
  expr: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    literal,
    variable,
    tie('path'),
    // Not a regular expression left of ?: or ??: jsonata clones that side
    // through JSON, which turns the regular expression into {} and can make
    // $match loop until memory runs out (jsonata-js too).
    fc.tuple(tie('expr'), fc.constantFrom(...BINARY_OPERATORS), tie('expr')).map(([l, op, r]) => `(${l} ${(op === '??' || op === '?:') && l.includes('/') ? 'and' : op} ${r})`),
    tie('expr').map((e) => `-${e}`),
    fc.tuple(fc.constantFrom(...UNARY_FUNCTIONS), tie('expr')).map(([f, e]) => `${f}(${e})`),
    fc.tuple(fc.constantFrom(...BINARY_FUNCTIONS), tie('expr'), fc.oneof(tie('expr'), tie('lambda'))).map(([f, a, b]) => `${f}(${a}, ${b})`),
    fc.tuple(tie('expr'), tie('expr'), tie('expr')).map(([c, t, e]) => `(${c} ? ${t} : ${e})`),
    fc.tuple(tie('expr'), tie('expr')).map(([c, t]) => `(${c} ? ${t})`),
    fc.array(tie('expr'), { maxLength: 3 }).map((items) => `[${items.join(', ')}]`),
    fc.array(fc.tuple(fc.oneof(stringLiteral, name), tie('expr')), { maxLength: 3 }).map((pairs) => `{${pairs.map(([k, v]) => `${k}: ${v}`).join(', ')}}`),
    fc.tuple(tie('expr'), tie('expr')).map(([v, body]) => `($w := ${v}; ${body})`),
    fc.tuple(tie('expr'), tie('lambda')).map(([e, f]) => `${e} ~> ${f.startsWith('function') ? `(${f})` : f}()`),
    fc.tuple(tie('lambda'), tie('expr')).map(([f, e]) => `(${f})(${e})`),
    fc.tuple(numberLiteral, numberLiteral).map(([a, b]) => `[${a}..${b}]`),
    fc.tuple(tie('expr'), tie('lambda'), tie('expr')).map(([a, f, init]) => `$reduce(${a}, function($x, $y) { $x + $y }, ${init})`),
    // Regular expressions: the engine's linear-time ones against JavaScript's.
    fc.tuple(fc.constantFrom('$match', '$contains', '$split'), tie('expr'), regex).map(([f, e, r]) => `${f}(${e}, ${r})`),
    fc.tuple(tie('expr'), regex, fc.constantFrom('"_"', '"<$0>"', '"$1$$"', 'function($m) { $m.index }')).map(([e, r, w]) => `$replace(${e}, ${r}, ${w})`),
  ),
})).expr
