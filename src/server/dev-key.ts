import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'

/**
 * Where the development signing key lives, so that `npm run send` signs with
 * the key the server checks. Relative to the working directory.
 */
export const DEV_KEY_FILE = join('.step-runner', 'dev-signature-key')

/** The saved development key, or a new one saved for next time. */
export async function developmentKey(file = DEV_KEY_FILE): Promise<{ key: string; created: boolean }> {
  const existing = await readDevelopmentKey(file)
  if (existing !== undefined) return { key: existing, created: false }
  const key = `wsk_dev_${randomBytes(24).toString('base64url')}`
  await mkdir(dirname(file), { recursive: true })
  await writeFile(file, key + '\n', { mode: 0o600 })
  return { key, created: true }
}

export async function readDevelopmentKey(file = DEV_KEY_FILE): Promise<string | undefined> {
  try {
    const key = (await readFile(file, 'utf8')).trim()
    return key === '' ? undefined : key
  } catch {
    return undefined
  }
}
