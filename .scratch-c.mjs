import { scanJson } from './dist/core/json-scan.js'
const MB = 1024*1024
function fill(unit, open='[', close=']') { const n = Math.floor((MB-2)/ (unit.length+1)); return open + Array(n).fill(unit).join(',') + close }
const cases = {
  ctorObjs: fill('{"constructor":{}}'), emptyObjs: fill('{}'), zeros: fill('0'), strs: fill('"a"'),
  keys: '{' + Array.from({length: 60000}, (_, i) => `"k${i}":0`).join(',') + '}',
  deep1000: (() => { const unit = '['.repeat(999)+']'.repeat(999); const n = Math.floor(MB/unit.length); return '[' + Array(n).fill(unit).join(',') + ']' })(),
  escapes: '["' + '\\u0041'.repeat(Math.floor(MB/6)-2) + '"]',
  blob: '["' + 'x'.repeat(MB) + '"]',
  pretty: JSON.stringify(Array.from({length: 10000}, (_, i) => ({ id: i, name: 'name ' + i, tags: ['a', 'b'] })), null, 2),
}
for (const [name, text] of Object.entries(cases)) {
  const body = `{"payload":{"context":{"step_name":"x"},"data":${text}},"signature":"${'0'.repeat(64)}"}`
  let r; const t0 = performance.now()
  for (let i=0;i<10;i++) r = scanJson(body, { maxDepth: 1000, members: ["payload","signature"] }); const t0b = performance.now(); for (let i=0;i<10;i++) r = scanJson(body, { maxDepth: 1000, members: ['payload','signature'] })
  const t1 = performance.now()
  console.log(name.padEnd(10), (body.length/MB).toFixed(2), 'MB scan', ((t1-t0b)/10).toFixed(2), 'ms', r.ok, r.ok ? r.depth : r.message)
}
