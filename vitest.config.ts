import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests run the built server (dist/), as users do: build it once first.
    globalSetup: ['test/helpers/build.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
})
