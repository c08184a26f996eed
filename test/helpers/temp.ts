import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A new folder inside the run's temporary folder, which the global teardown removes. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(process.env['STEP_RUNNER_TEST_TMP'] ?? tmpdir(), prefix))
}
