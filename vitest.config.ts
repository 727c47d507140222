import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    // the default report, then one "N passed, N failed, N skipped" line for CI
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
