/**
 * Polls until the check passes; the test's own timeout bounds the wait. With
 * `retryErrors`, a probe that throws is tried again (a connection handed to a
 * process that is then killed is reset).
 */
export async function eventually<T>(probe: () => Promise<T>, ok: (value: T) => boolean, options: { retryErrors?: boolean } = {}): Promise<T> {
  for (;;) {
    const got = await probe().then(
      (value) => ({ value }),
      (err: unknown) => {
        if (options.retryErrors === true) return undefined
        throw err
      },
    )
    if (got !== undefined && ok(got.value)) return got.value
    await new Promise((r) => setTimeout(r, 25))
  }
}
