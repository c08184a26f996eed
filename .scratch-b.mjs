import sjp from 'secure-json-parse'
import { createHash } from 'node:crypto'
const MB = 1024*1024
function fill(unit, open='[', close=']') { const n = Math.floor((MB-2)/ (unit.length+1)); return open + Array(n).fill(unit).join(',') + close }
const cases = {
  ctorObjs: fill('{"constructor":{}}'),
  ctorProto: fill('{"constructor":{"a":1}}'),
  emptyObjs: fill('{}'),
  emptyArrs: fill('[]'),
  zeros: fill('0'),
  nums: fill('1.2345678901234567e-300'),
  strs: fill('"a"'),
  keys: '{' + Array.from({length: 60000}, (_, i) => `"k${i}":0`).join(',') + '}',
  deep1000: (() => { let s=''; const unit = '['.repeat(999)+']'.repeat(999); const n = Math.floor(MB/unit.length); return '[' + Array(n).fill(unit).join(',') + ']' })(),
  escapes: '["' + '\\u0041'.repeat(Math.floor(MB/6)-2) + '"]',
}
for (const [name, text] of Object.entries(cases)) {
  const body = `{"payload":{"context":{"step_name":"x"},"data":${text}},"signature":"${'0'.repeat(64)}"}`
  const t0 = performance.now(); let v
  for (let i=0;i<5;i++) v = sjp.parse(body, undefined, {protoAction:'error', constructorAction:'error'})
  const t1 = performance.now()
  for (let i=0;i<5;i++) { const s = JSON.stringify(v.payload); createHash('sha256').update(s).digest('hex') }
  const t2 = performance.now()
  console.log(name.padEnd(10), (body.length/MB).toFixed(2)+'MB', 'parse+scan', ((t1-t0)/5).toFixed(1), 'ms  stringify+hash', ((t2-t1)/5).toFixed(1), 'ms')
}
console.log('--- JSON.parse alone / stringify alone / sha256 raw')
for (const [name, text] of Object.entries(cases)) {
  const body = `{"payload":{"context":{"step_name":"x"},"data":${text}},"signature":"${'0'.repeat(64)}"}`
  let v; const t0 = performance.now()
  for (let i=0;i<5;i++) v = JSON.parse(body)
  const t1 = performance.now()
  for (let i=0;i<5;i++) JSON.stringify(v.payload)
  const t2 = performance.now()
  for (let i=0;i<5;i++) createHash('sha256').update(body).digest('hex')
  const t3 = performance.now()
  let d = 0, max = 0; for (let i=0;i<5;i++) { for (let j=0;j<body.length;j++){ const c = body.charCodeAt(j); if (c===91||c===123) {d++; if(d>max)max=d} else if (c===93||c===125) d-- } }
  const t4 = performance.now()
  console.log(name.padEnd(10), 'parse', ((t1-t0)/5).toFixed(1), 'stringify', ((t2-t1)/5).toFixed(1), 'sha', ((t3-t2)/5).toFixed(1), 'scan', ((t4-t3)/5).toFixed(1), max)
}
