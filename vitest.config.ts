import { defineConfig } from 'vitest/config';

// Under CI the run also writes a JSON report, from which .ci/run prints its one-line summary.
const ci = process.env.CI === 'true';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Kills a worker whose event loop is blocked for minutes (a hung native call), naming the test: see the file.
    setupFiles: ['test/setup/watchdog.ts'],
    // GPU tests share one Dawn device per worker; lavapipe runs on the CPU's 2 cores, so keep workers few.
    pool: 'forks',
    // isolate: false — two long-lived workers run every file (one Dawn device and one pipeline cache each) instead
    // of a new process per file: faster, and 2 process exits with a live Dawn device instead of ~70.
    poolOptions: { forks: { maxForks: 2, minForks: 1, isolate: false } },
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ci ? ['default', ['json', { outputFile: '.vitest-report.json' }]] : ['default'],
  },
});
