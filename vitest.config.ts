import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Every test file ends with the log check (no secret in any line a server wrote) and with its
    // temporary directories removed.
    setupFiles: ['test/helpers/log-check.setup.ts', 'test/helpers/temp-dirs.setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    // the default report, then one "N passed, N failed, N skipped" line for CI
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
