/**
 * Bench section `profile` (issue 10: "a profile before every optimisation"): the DARTS search space of the issue's
 * figures (`examples/darts.ts`: 5 cells, 4 nodes, 8 channels, input [1, 28, 28], batch 32) compiled as one mixed
 * training step (forward, backward, ∂L/∂α and an SGD momentum update), one warm-up step, then `PROFILED_STEPS`
 * steps timed per dispatch on the device (`Executable.profile`, timestamp queries) and aggregated per kernel
 * family. The row's time is the median profiled step (device time summed over dispatches); the note and
 * `profile` carry the family table, so BENCHMARKS.md can show where a step's time goes.
 *
 * `npm run bench -- --profile` runs this section (with any `--only` sections); `--only profile` alone works too.
 */
import * as E from 'fp-ts/lib/Either.js';
import { dartsSpace } from '../examples/darts.ts';
import { stepScalars } from '../src/compile/optimizer.ts';
import { adapterKind } from '../src/compile/kernels/tiles.ts';
import { seedRng } from '../src/ir/index.ts';
import { mixGraph } from '../src/compile/mix.ts';
import { Executable } from '../src/runtime/execute.ts';
import { initParams } from '../src/runtime/params.ts';
import { type FamilyTime, profileByFamily, showProfile } from '../src/runtime/profile.ts';
import { dropoutSeed } from '../src/runtime/train.ts';
import type { BenchSection, Row } from './section.ts';
import { buildOrThrow, compileStep } from './training-models.ts';

/** Profiled steps after the warm-up step. */
const PROFILED_STEPS = 3;
const BATCH = 32;

/** A deterministic batch: images in [0, 1) and labels 0..9 from `seed`. */
const batchData = (batch: number, seed: number): { x: Float32Array; labels: Float32Array } => {
  let s = seed >>> 0;
  const next = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  return { x: Float32Array.from({ length: batch * 784 }, next), labels: Float32Array.from({ length: batch }, () => Math.floor(next() * 10)) };
};

/** A profile row carries its family table besides the usual fields (written to the bench JSON). */
export interface ProfileRow extends Row {
  readonly profile: readonly FamilyTime[];
}

export const profileSection: BenchSection = {
  name: 'profile',
  description: 'device time per kernel family of one DARTS mixed training step (5 cells, 8 ch, batch 32), timestamp queries',
  run: async ({ gpu, log }) => {
    if (!gpu.features.has('timestamp-query')) {
      log(`  skipped: the adapter '${gpu.adapterInfo.name}' has no timestamp-query feature`);
      return [];
    }
    const g = buildOrThrow(dartsSpace({ cells: 5, nodes: 4, channels: 8, input: [1, 28, 28], classes: 10 }));
    const step = compileStep(g, BATCH, adapterKind(gpu.adapterInfo));
    const p = step.program;
    const mixed = mixGraph(g);
    const [drawn] = initParams(E.isRight(mixed) ? mixed.right.graph : g, seedRng(1));
    const params = new Map(p.params.map((q) => [q.path, drawn.get(q.path) ?? new Float32Array(q.shape.reduce((a, d) => a * d, 1))]));
    const exeR = await Executable.instantiate(gpu, p, params);
    if (E.isLeft(exeR)) throw new Error(`instantiating the DARTS step: ${exeR.left.map((e) => e.message).join('; ')}`);
    const exe = exeR.right;
    try {
      const weights = Object.fromEntries(step.choices.map((c) => [c.key, new Array<number>(c.n).fill(1 / c.n)]));
      const hasSeed = p.scalars.some((s) => s.name === 'seed');
      const request = (t: number) => {
        const d = batchData(BATCH, t + 1);
        const scalars: Record<string, number> = { ...stepScalars(step.layout.resolved.rule, t + 1, step.layout.resolved.lr) };
        if (hasSeed) scalars['seed'] = dropoutSeed(1, t);
        return { inputs: { x: d.x, labels: d.labels }, scalars, readback: [0], choice: { kind: 'mix' as const, weights } };
      };
      const t0 = performance.now();
      const warm = await exe.run(request(0));
      if (E.isLeft(warm)) throw new Error(`warm-up step: ${warm.left.map((e) => e.message).join('; ')}`);
      log(`  warm-up step ${((performance.now() - t0) / 1000).toFixed(1)} s (${p.kernels.length} pipelines, ${p.dispatches.length} dispatches)`);
      const steps: { total: number; wall: number; families: readonly FamilyTime[] }[] = [];
      for (let t = 1; t <= PROFILED_STEPS; t++) {
        const s = performance.now();
        const r = await exe.profile(request(t));
        const wall = (performance.now() - s) / 1000;
        if (E.isLeft(r)) throw new Error(`profiled step ${t}: ${r.left.map((e) => e.message).join('; ')}`);
        const families = profileByFamily(r.right.dispatches);
        const total = families.reduce((a, f) => a + f.ms, 0);
        log(`  profiled step ${t}: device ${(total / 1000).toFixed(2)} s over ${r.right.dispatches.length} dispatches, wall ${wall.toFixed(2)} s`);
        steps.push({ total, wall, families });
      }
      const sorted = [...steps].sort((a, b) => a.total - b.total);
      const median = sorted[sorted.length >> 1]!;
      const table = showProfile(median.families, 15);
      log(table);
      const row: ProfileRow = {
        section: 'profile',
        name: `DARTS mixed training step, 5 cells, 4 nodes, 8 ch, [1,28,28], batch ${BATCH}: device time summed per dispatch (median of ${PROFILED_STEPS} profiled steps)`,
        flops: null,
        ours: { ms: median.total, gflops: null },
        tfjs: null,
        note: `${p.kernels.length} pipelines, ${p.dispatches.length} dispatches; wall of that profiled step ${median.wall.toFixed(2)} s (one pass per dispatch); top families: ${median.families
          .slice(0, 6)
          .map((f) => `${f.family} ${(100 * f.share).toFixed(1)} % (${f.dispatches})`)
          .join(', ')}`,
        profile: median.families,
      };
      return [row];
    } finally {
      exe.destroy();
    }
  },
};
