/**
 * The bench's extension point: a section is a named list of measurements. `bench/main.ts` runs the sections
 * named by `--only` (all by default) and prints/saves their rows; a new section (whole-model inference, training
 * steps, …) is one more entry in `sections` of main.ts.
 */
import type { Gpu } from '../src/runtime/device.ts';
import type { Tfjs } from './tfjs.ts';

/** One timed figure: median milliseconds per run, and GFLOP/s when the work has a FLOP count. */
export interface Timing {
  readonly ms: number;
  readonly gflops: number | null;
}

/** One row of the results table. `tfjs` is null with a `note` saying why when it was not measured. */
export interface Row {
  readonly section: string;
  readonly name: string;
  /** Floating-point operations of one run (2·M·N·K for a matmul), or null. */
  readonly flops: number | null;
  readonly ours: Timing;
  readonly tfjs: Timing | null;
  readonly note: string;
}

/** What a section gets: our device, and tfjs-webgpu on the same device (undefined with --no-tfjs). */
export interface BenchContext {
  readonly gpu: Gpu;
  readonly tfjs: Tfjs | undefined;
  /** Progress lines go here (stderr), results are returned. */
  readonly log: (line: string) => void;
}

export interface BenchSection {
  readonly name: string;
  readonly description: string;
  readonly run: (ctx: BenchContext) => Promise<readonly Row[]>;
}

/**
 * Median seconds of `runOnce` (which must wait for its own completion): one warm-up (pipeline compilation happens
 * there), then as many timed runs as fit in about `budgetS` seconds, at least `minReps` and at most `maxReps`.
 */
export const medianSeconds = async (runOnce: () => Promise<void>, budgetS = 3, minReps = 2, maxReps = 9): Promise<number> => {
  await runOnce();
  const times: number[] = [];
  const t0 = performance.now();
  await runOnce();
  times.push((performance.now() - t0) / 1000);
  const reps = Math.max(minReps, Math.min(maxReps, Math.floor(budgetS / Math.max(times[0]!, 1e-4))));
  for (let r = 1; r < reps; r++) {
    const t = performance.now();
    await runOnce();
    times.push((performance.now() - t) / 1000);
  }
  times.sort((a, b) => a - b);
  const mid = times.length >> 1;
  return times.length % 2 === 1 ? times[mid]! : (times[mid - 1]! + times[mid]!) / 2;
};

/** A Timing from seconds and a FLOP count. */
export const timing = (seconds: number, flops: number | null): Timing => ({
  ms: seconds * 1000,
  gflops: flops === null ? null : flops / seconds / 1e9,
});
