/**
 * Runs a command-line tool's main and exits with its code once stdout and
 * stderr are flushed: process.exit() right after writing to a pipe can cut
 * the output short.
 */
export function runCli(name: string, main: () => Promise<number>, onError: (err: unknown) => string = describe): void {
  const exit = (code: number) => {
    process.exitCode = code
    process.stdout.write('', () => process.stderr.write('', () => process.exit(code)))
  }
  main().then(exit, (err: unknown) => {
    process.stderr.write(`${name}: ${onError(err)}\n`)
    exit(2)
  })
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
