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
