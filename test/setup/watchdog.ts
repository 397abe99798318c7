/**
 * Test-worker watchdog (a vitest setup file). Vitest's own `testTimeout` fires from the worker's event loop, so a
 * test that blocks that loop — a native call into Dawn or the Vulkan driver that never returns, or a synchronous
 * loop that never ends — would hang the worker, and with it the whole run, forever. A separate thread watches a
 * heartbeat the main thread beats once a second; when it stops for `NASGRAPH_WATCHDOG_S` seconds (default 300: no
 * test blocks the loop that long) the thread prints the file and test that blocked and kills the worker, which vitest
 * then reports as a failed file. The run ends, with the culprit named, instead of never ending. The same
 * happens to a file that has not finished after `NASGRAPH_FILE_LIMIT_S` seconds (default 1800; the slowest file
 * takes about 30 s): a promise that never settles while the file is being collected (a top-level await) is not
 * covered by the test timeout either.
 */
import { Worker } from 'node:worker_threads';
import { beforeEach, expect } from 'vitest';

const limitS = Number(process.env['NASGRAPH_WATCHDOG_S'] ?? 300);
const fileLimitS = Number(process.env['NASGRAPH_FILE_LIMIT_S'] ?? 1800);
const NAME_BYTES = 1024;
const nowS = (): number => Math.floor(Date.now() / 1000);

interface Watch {
  readonly beat: Int32Array;
  readonly name: Uint8Array;
}

// A worker runs several test files when vitest reuses it (isolate: false): one watcher thread per process, the
// file's start time reset by each file's setup.
const g = globalThis as typeof globalThis & { __nasgraphWatchdog?: Watch };
const start = (): Watch => {
  // [0]: last heartbeat, [1]: name length, [2]: when the file started (seconds since the epoch); then the name's bytes.
  const shared = new SharedArrayBuffer(16 + NAME_BYTES);
  const w: Watch = { beat: new Int32Array(shared, 0, 3), name: new Uint8Array(shared, 16, NAME_BYTES) };
  Atomics.store(w.beat, 0, nowS());
  setInterval(() => Atomics.store(w.beat, 0, nowS()), 1000).unref();
  const watcher = new Worker(
    `
  const { workerData } = require('node:worker_threads');
  const { writeSync } = require('node:fs');
  const beat = new Int32Array(workerData.shared, 0, 3);
  const name = new Uint8Array(workerData.shared, 16);
  setInterval(() => {
    const now = Math.floor(Date.now() / 1000);
    const silent = now - Atomics.load(beat, 0);
    const running = now - Atomics.load(beat, 2);
    const blocked = silent >= workerData.limitS;
    if (!blocked && running < workerData.fileLimitS) return;
    const what = new TextDecoder().decode(name.slice(0, Atomics.load(beat, 1)));
    const why = blocked
      ? 'has been blocked for ' + silent + ' s (NASGRAPH_WATCHDOG_S=' + workerData.limitS + ')'
      : 'has run one file for ' + running + ' s (NASGRAPH_FILE_LIMIT_S=' + workerData.fileLimitS + ')';
    writeSync(2, '\\n[watchdog] the test worker ' + process.pid + ' ' + why + ', now in: ' + what + '\\n[watchdog] killing it so that the run can end\\n');
    process.kill(process.pid, 'SIGKILL');
  }, 2000);
  `,
    { eval: true, workerData: { shared, limitS, fileLimitS } },
  );
  watcher.unref();
  return w;
};
const watch = (g.__nasgraphWatchdog ??= start());

const setName = (s: string): void => {
  const bytes = new TextEncoder().encode(s).subarray(0, NAME_BYTES);
  watch.name.set(bytes);
  Atomics.store(watch.beat, 1, bytes.length);
};

Atomics.store(watch.beat, 2, nowS());
setName(expect.getState().testPath ?? 'a test file');
beforeEach((ctx) => setName(`${ctx.task.file?.name ?? '?'} > ${ctx.task.name}`));
