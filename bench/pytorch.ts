/**
 * PyTorch CPU as a standing baseline (issue 10): runs bench/pytorch/darts_step.py — the same DARTS supernet and
 * 1st-order search step as ours, written in PyTorch — with Debian's python3-torch, and decodes what it prints.
 * Used by the `oneshot` section right after our own DARTS step, so that both figures come from one window and the
 * ratio means something on a shared machine. Not part of CI (torch is not installed there).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';

const PYTHON = process.env['NASGRAPH_BENCH_PYTHON'] ?? '/usr/bin/python3';
const SCRIPT = join(import.meta.dirname, 'pytorch', 'darts_step.py');

const Measured = t.type({
  torch: t.string,
  threads: t.number,
  params: t.number,
  firstS: t.number,
  stepsS: t.array(t.number),
  medianS: t.number,
  peakRssMB: t.number,
});
/** One PyTorch run: its parameter count (checked against ours by the caller), first step, timed steps, peak RSS. */
export type PytorchMeasured = t.TypeOf<typeof Measured>;

/** The DARTS space's size and the run's settings. */
export interface PytorchDartsConfig {
  readonly cells: number;
  readonly channels: number;
  readonly batch: number;
  readonly threads: number;
  /** Timed steps after one warm-up step. */
  readonly steps: number;
}

/**
 * Runs the PyTorch DARTS step; Left with a one-line reason when python3-torch is missing or the run fails.
 *
 * @example
 * const r = pytorchDartsStep({ cells: 5, channels: 8, batch: 32, threads: 1, steps: 3 });
 * if (E.isRight(r)) console.log(`PyTorch: ${r.right.medianS.toFixed(2)} s/step`);
 */
export const pytorchDartsStep = (c: PytorchDartsConfig): E.Either<string, PytorchMeasured> => {
  const args = [SCRIPT, '--cells', `${c.cells}`, '--channels', `${c.channels}`, '--batch', `${c.batch}`, '--threads', `${c.threads}`, '--steps', `${c.steps}`];
  // OMP/MKL read their own thread counts at start; torch.set_num_threads in the script sets the intra-op pool.
  const r = spawnSync(PYTHON, args, { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: `${c.threads}` } });
  if (r.error !== undefined) return E.left(`PyTorch CPU: ${PYTHON} could not be started (${r.error.message}); install Debian's python3-torch`);
  if (r.status !== 0) {
    const last = r.stderr.trim().split('\n').pop() ?? '';
    return E.left(last.includes('No module named') ? `PyTorch CPU: not installed (apt-get install python3-torch)` : `PyTorch CPU: the script failed (exit ${r.status}): ${last}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
  } catch {
    return E.left(`PyTorch CPU: the script printed no JSON line`);
  }
  const d = Measured.decode(parsed);
  return E.isRight(d) ? E.right(d.right) : E.left('PyTorch CPU: the script printed an unexpected JSON object');
};

const MainJobMeasured = t.type({
  torch: t.string,
  threads: t.number,
  searchSteps: t.number,
  searchS: t.number,
  retrainS: t.number,
  totalS: t.number,
  arch: t.record(t.string, t.string),
  testAccuracy: t.number,
  peakRssMB: t.number,
});
/** The PyTorch main job's figures: search and retrain seconds, derived architecture, test accuracy, peak RSS. */
export type PytorchMainJob = t.TypeOf<typeof MainJobMeasured>;

/**
 * Runs bench/pytorch/main_job.py (the main job's DARTS search and retrain in PyTorch CPU); Left with a one-line
 * reason when python3-torch or the data set is missing or the run fails.
 *
 * @example
 * const r = pytorchMainJob(1);
 * if (E.isRight(r)) console.log(`PyTorch main job: ${r.right.totalS.toFixed(0)} s, test ${(100 * r.right.testAccuracy).toFixed(2)} %`);
 */
export const pytorchMainJob = (threads: number): E.Either<string, PytorchMainJob> => {
  const r = spawnSync(PYTHON, [join(import.meta.dirname, 'pytorch', 'main_job.py'), '--threads', `${threads}`], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: `${threads}` } });
  if (r.error !== undefined) return E.left(`PyTorch CPU: ${PYTHON} could not be started (${r.error.message}); install Debian's python3-torch`);
  if (r.status !== 0) return E.left(`PyTorch CPU: main_job.py failed (exit ${r.status}): ${r.stderr.trim().split('\n').pop() ?? ''}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
  } catch {
    return E.left('PyTorch CPU: main_job.py printed no JSON line');
  }
  const d = MainJobMeasured.decode(parsed);
  return E.isRight(d) ? E.right(d.right) : E.left('PyTorch CPU: main_job.py printed an unexpected JSON object');
};
