import { defineConfig } from 'vitest/config';

/**
 * Two projects: the reference target's own integration tests, and the
 * harness's tests. Both run real Postgres, Redis and Toxiproxy processes.
 */
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'target',
          include: ['target/test/**/*.test.ts'],
          globalSetup: ['target/test/support/global-setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
          pool: 'forks',
        },
      },
      {
        test: {
          name: 'harness',
          include: ['test/**/*.test.ts'],
          exclude: ['test/fixtures/**'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          pool: 'forks',
        },
      },
    ],
  },
});
