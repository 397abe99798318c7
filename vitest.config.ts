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
    // One process per test file (vitest's default isolation). Long-lived workers (isolate: false) were tried: a
    // fresh-clone run crashed a worker (IPC channel closed) in 1 of 5 runs — files that create and release their
    // own Dawn instances (device tests) then share a process with later files, and Dawn dies at a later GC.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    // Above the CLI tests' child limit (test/cli/run-cli.ts, 480 s): no test may fail because a loaded machine is slow.
    testTimeout: 600_000,
    hookTimeout: 600_000,
    reporters: ci ? ['default', ['json', { outputFile: '.vitest-report.json' }]] : ['default'],
  },
});
