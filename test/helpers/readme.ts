import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from './server.js'

/** A fenced code block of the README, with the `<!-- marker -->` on the line before it, if any. */
export interface ReadmeBlock {
  /** 1-based line of the opening fence. */
  readonly line: number
  readonly lang: string
  readonly marker: string | undefined
  /** The lines between the fences, each ending in a newline: what a file with this content holds. */
  readonly text: string
}

export const readme = (): string => readFileSync(join(ROOT, 'README.md'), 'utf8')

/** Every fenced block of the README (fences at the start of a line, as the README writes them). */
export function readmeBlocks(text = readme()): ReadmeBlock[] {
  const lines = text.split('\n')
  const blocks: ReadmeBlock[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]!)
    if (open === null) continue
    const end = lines.indexOf('```', i + 1)
    if (end === -1) throw new Error(`README.md:${i + 1}: a code fence is never closed`)
    const marker = /^<!-- (.+?) -->$/.exec(lines[i - 1] ?? '')?.[1]
    const body = lines.slice(i + 1, end)
    blocks.push({ line: i + 1, lang: open[1]!, marker, text: body.length === 0 ? '' : body.join('\n') + '\n' })
    i = end
  }
  return blocks
}

/** The one block marked `<!-- marker -->`. */
export function readmeBlock(marker: string, text = readme()): ReadmeBlock {
  const found = readmeBlocks(text).filter((b) => b.marker === marker)
  if (found.length !== 1) throw new Error(`README.md has ${found.length} blocks marked <!-- ${marker} -->, not 1`)
  return found[0]!
}

/** The README's prose: the text outside fenced blocks. */
export function readmeProse(text = readme()): string {
  return text.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '')
}
