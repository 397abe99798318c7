/**
 * Bench section `main-job` (issue 10's standing baseline): the main job end to end — `scripts/main-job.sh`, DARTS on
 * examples/fashion-cells.ts for 3 epochs then the retrain — ours (the real CLI, as a child process, on the default
 * device) and the same job in PyTorch CPU (bench/pytorch/main_job.py) at 1 and 2 threads, one after the other in one
 * window, with the ratios. About 5 minutes of ours and 1–2 of PyTorch's on a quiet 2-core machine; not part of CI.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { pytorchMainJob } from './pytorch.ts';
import type { BenchSection, Row } from './section.ts';
import { timing } from './section.ts';

const load = (): string => `load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`;

/** Our main job's wall-clock seconds, derived architecture and test accuracy (from its result.json). */
const runOurs = (): { readonly seconds: number; readonly summary: string } => {
  const out = mkdtempSync(join(os.tmpdir(), 'nasgraph-bench-main-job-'));
  try {
    const t0 = performance.now();
    const r = spawnSync('bash', [join(import.meta.dirname, '..', 'scripts', 'main-job.sh'), '--out', join(out, 'run')], { encoding: 'utf8' });
    const seconds = (performance.now() - t0) / 1000;
    if (r.status !== 0) throw new Error(`the main job failed (exit ${r.status}): ${r.stderr.trim().split('\n').pop() ?? ''}`);
    const result = JSON.parse(readFileSync(join(out, 'run', 'result.json'), 'utf8')) as { arch?: unknown; retrain?: { testAccuracy?: number } | null };
    const acc = result.retrain?.testAccuracy;
    return { seconds, summary: `arch ${JSON.stringify(result.arch)}, test ${acc === undefined ? '?' : `${(100 * acc).toFixed(2)} %`}` };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
};

export const mainJobSection: BenchSection = {
  name: 'main-job',
  description: 'the main job end to end (DARTS on fashion-cells, 3 epochs, then the retrain): ours vs PyTorch CPU (1 and 2 threads), one window',
  run: async ({ log }) => {
    log(`main-job ours: scripts/main-job.sh; ${load()}`);
    const ours = runOurs();
    log(`main-job ours: ${ours.seconds.toFixed(1)} s, ${ours.summary}; ${load()}`);
    const notes: string[] = [`ours ${ours.seconds.toFixed(1)} s (${ours.summary})`];
    for (const threads of [1, 2]) {
      log(`main-job PyTorch CPU ${threads} thread(s); ${load()}`);
      const r = pytorchMainJob(threads);
      if (E.isLeft(r)) {
        notes.push(r.left);
        break;
      }
      const m = r.right;
      notes.push(
        `PyTorch ${m.torch} ${threads} thread(s) ${m.totalS.toFixed(1)} s (search ${m.searchS.toFixed(1)} s, ${m.searchSteps} steps; retrain ${m.retrainS.toFixed(1)} s; ` +
          `arch ${JSON.stringify(m.arch)}, test ${(100 * m.testAccuracy).toFixed(2)} %, peak RSS ${m.peakRssMB.toFixed(0)} MB): ours / PyTorch ${(ours.seconds / m.totalS).toFixed(1)}×`,
      );
    }
    const note = `${notes.join('; ')}; ${load()}`;
    log(`main-job: ${note}`);
    const row: Row = { section: 'main-job', name: 'main job end to end (scripts/main-job.sh)', flops: null, ours: timing(ours.seconds, null), tfjs: null, note };
    return [row];
  },
};
