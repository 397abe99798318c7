/**
 * Bench sections: full training steps — forward, backward and an SGD momentum update (lr 0.01, momentum 0.9) in
 * one compiled Program and one submit, the loss read back as the fence — in ms/step and images/s.
 *
 * - `training`: the PyTorch MNIST example CNN (bench/training-models.ts) at batch 64 and 256, beside the same CNN
 *   trained by tfjs-backend-webgpu on the same device in the same run, its convolutions written both ways
 *   (tfjs's own conv2d, and im2col + matmul: bench/training-tfjs.ts); the tfjs column of the table is the faster.
 * - `training-darts`: the DARTS supernet (8 cells, 16 channels, input [1, 28, 28]) in mixed mode with uniform
 *   choice weights, including ∂L/∂w per key; beside it the same supernet written by hand in tfjs ops
 *   (bench/darts-tfjs.ts: same parameters, path for path; ∂L/∂w too), fewer timed steps (it is slow on lavapipe);
 *   on lavapipe only where vm.max_map_count allows it (see `dartsTfjsBlocked`).
 *
 * Each case: one warm-up step (lavapipe compiles every pipeline at its first dispatch: reported separately), then
 * timed steps; the row gives the median and the note the min–max spread. Every step uploads its images and
 * labels and draws a new dropout seed. Alongside: the step's device memory from the Program (memoryBreakdown),
 * checked against the buffers the executor created and, on a software adapter, the process's resident-set growth.
 * GFLOP/s: 3 × the forward conv+linear FLOPs per step (forward, ∂X, ∂W).
 */
import * as E from 'fp-ts/lib/Either.js';
import { readFileSync } from 'node:fs';
import { stepScalars } from '../src/compile/optimizer.ts';
import { adapterKind } from '../src/compile/kernels/tiles.ts';
import { type Graph, nextFloat, paramCount, seedRng } from '../src/ir/index.ts';
import { dropoutSeed } from '../src/runtime/train.ts';
import { type ChoiceInput, Executable } from '../src/runtime/execute.ts';
import type { Gpu } from '../src/runtime/device.ts';
import { initParams } from '../src/runtime/params.ts';
import { mixGraph } from '../src/compile/mix.ts';
import { type CreatedBuffers, type MemoryBreakdown, countCreatedBuffers, mb, memoryBreakdown, showBreakdown } from './training-memory.ts';
import { type BenchStep, buildOrThrow, compileStep, dartsBench, dartsBenchOptions, pytorchMnistCnn, trainingFlops } from './training-models.ts';
import { registerTfjsGradients, tfjsCnnTrainer } from './training-tfjs.ts';
import { dartsNetOptions } from './darts-net.ts';
import { tfjsDartsTrainer } from './darts-tfjs.ts';
import type { BenchContext, BenchSection, Row } from './section.ts';
import { timing } from './section.ts';
import type { Tfjs } from './tfjs.ts';

/** Timed steps after the warm-up step, per batch size (fewer at 256 to keep the section within minutes on lavapipe). */
const STEPS: Readonly<Record<number, { readonly ours: number; readonly tfjs: number }>> = {
  64: { ours: 5, tfjs: 3 },
  256: { ours: 3, tfjs: 2 },
};

/** Seconds of each step: min, median, max and all of them. */
export interface Spread {
  readonly min: number;
  readonly median: number;
  readonly max: number;
  readonly all: readonly number[];
}

/** The spread of a non-empty list of seconds. */
export const spreadOf = (xs: readonly number[]): Spread => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { min: s[0]!, median, max: s[s.length - 1]!, all: xs };
};

const showSpread = (s: Spread, batch: number): string =>
  `${(s.median * 1000).toFixed(0)} ms/step (min ${(s.min * 1000).toFixed(0)}, max ${(s.max * 1000).toFixed(0)}, n=${s.all.length}), ${(batch / s.median).toFixed(1)} img/s`;

/** Images in [0, 1) and labels 0..9 of one batch, from a seeded generator (values do not matter, only their finiteness). */
const batchData = (batch: number, seed: number): { readonly x: Float32Array; readonly labels: Float32Array; readonly labelsInt: Int32Array } => {
  let rng = seedRng(seed);
  const x = new Float32Array(batch * 784);
  for (let i = 0; i < x.length; i++) {
    const [v, next] = nextFloat(rng);
    x[i] = v;
    rng = next;
  }
  const labelsInt = Int32Array.from({ length: batch }, (_, i) => (i * 7 + seed) % 10);
  return { x, labels: Float32Array.from(labelsInt), labelsInt };
};

/** What one of our cases measured. */
export interface OursMeasured {
  readonly step: BenchStep;
  readonly memory: MemoryBreakdown;
  readonly created: CreatedBuffers;
  /** Resident-set growth of the process from before instantiation to after the warm-up step (bytes). */
  readonly rssGrowth: number;
  readonly instantiateS: number;
  readonly warmupS: number;
  readonly steps: Spread;
  readonly losses: readonly number[];
}

/**
 * Instantiates `step` (the compiled training step of `g`), runs one warm-up step and `timed` timed steps (each:
 * inputs uploaded, one submit, loss read back). Throws on any device error.
 */
export const measureOurs = async (gpu: Gpu, g: Graph, step: BenchStep, timed: number, log: (line: string) => void): Promise<OursMeasured> => {
  const p = step.program;
  const batch = p.batch;
  const memory = memoryBreakdown(p, step.layout, step.plannedBuffers);
  const mixed = mixGraph(g);
  const [drawn] = initParams(E.isRight(mixed) ? mixed.right.graph : g, seedRng(1));
  // Optimizer state (momentum buffers) starts at zero, as PyTorch's.
  const params = new Map(p.params.map((q) => [q.path, drawn.get(q.path) ?? new Float32Array(q.shape.reduce((a, d) => a * d, 1))]));
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  const [exeR, created] = await countCreatedBuffers(gpu.device, () => Executable.instantiate(gpu, p, params));
  if (E.isLeft(exeR)) throw new Error(`instantiating the training step: ${exeR.left.map((e) => e.message).join('; ')}`);
  const exe = exeR.right;
  const instantiateS = (performance.now() - t0) / 1000;
  try {
    const choice: ChoiceInput | undefined =
      step.choices.length === 0 ? undefined : { kind: 'mix', weights: Object.fromEntries(step.choices.map((c) => [c.key, new Array<number>(c.n).fill(1 / c.n)])) };
    const hasSeed = p.scalars.some((s) => s.name === 'seed');
    const data = [batchData(batch, 1), batchData(batch, 2)];
    const losses: number[] = [];
    const runStep = async (t: number): Promise<number> => {
      const d = data[t % 2]!;
      const scalars: Record<string, number> = { ...stepScalars(step.layout.resolved.rule, t + 1, step.layout.resolved.lr) };
      if (hasSeed) scalars['seed'] = dropoutSeed(1, t);
      const s = performance.now();
      const r = await exe.run({ inputs: { x: d.x, labels: d.labels }, scalars, readback: [0], ...(choice === undefined ? {} : { choice }) });
      const seconds = (performance.now() - s) / 1000;
      if (E.isLeft(r)) throw new Error(`training step ${t + 1}: ${r.left.map((e) => e.message).join('; ')}`);
      losses.push(r.right[0]![0]!);
      return seconds;
    };
    const warmupS = await runStep(0);
    const rssGrowth = process.memoryUsage().rss - rss0;
    log(`  warm-up step (compiles ${p.kernels.length} pipelines on first dispatch): ${warmupS.toFixed(1)} s; loss ${losses[0]?.toFixed(4)}`);
    const times: number[] = [];
    for (let t = 1; t <= timed; t++) times.push(await runStep(t));
    return { step, memory, created, rssGrowth, instantiateS, warmupS, steps: spreadOf(times), losses };
  } finally {
    exe.destroy();
  }
};

/** One line on where the step's device memory goes, and the cross-checks. */
export const describeMemory = (m: OursMeasured, software: boolean): string => {
  const planned = m.memory.total;
  const agree = m.created.storageBytes === planned ? 'equal to the plan' : `plan ${mb(planned)}: differs by ${mb(m.created.storageBytes - planned)}`;
  return (
    `memory plan: ${showBreakdown(m.memory)}; executor created ${m.created.storage} storage buffers = ${mb(m.created.storageBytes)} (${agree}) ` +
    `+ ${m.created.staging} readback buffers = ${mb(m.created.stagingBytes)}` +
    (software ? `; process RSS grew ${mb(m.rssGrowth)} from before instantiation to after the warm-up step (lavapipe: device memory is host memory)` : '')
  );
};

/** What one tfjs variant measured, or why it could not run. `label` names the variant (e.g. the conv form). */
type TfjsMeasured =
  | {
      readonly kind: 'ok';
      readonly label: string;
      /** No timed step ran (`timed` 0): `steps` holds the warm-up step alone, pipeline compilation included. */
      readonly firstOnly: boolean;
      readonly warmupS: number;
      readonly steps: Spread;
      /** tfjs's device buffer pool after the warm-up step (numBytesAllocatedInGPU; it keeps freed buffers for reuse). */
      readonly pool: number;
      readonly losses: readonly number[];
    }
  | { readonly kind: 'failed'; readonly label: string; readonly message: string };

const tfjsAllocated = (tfjs: Tfjs): number => (tfjs.tf.memory() as { numBytesAllocatedInGPU?: number }).numBytesAllocatedInGPU ?? NaN;

/** A tfjs training step at a fixed batch size (the CNN's or the DARTS supernet's). */
interface TfjsTrainer {
  readonly step: (x: Float32Array, labels: Int32Array) => Promise<number>;
  readonly dispose: () => void;
}

/**
 * Times a tfjs step: one warm-up step, then `timed` steps. Every step runs inside validation and out-of-memory
 * error scopes: tfjs does not check its buffers against the device's limits (im2col's patch matrix at batch 256 is
 * 170 MB, over lavapipe's 128 MB storage binding limit), and a step whose commands were rejected would otherwise
 * be timed as if it had run.
 */
const measureTfjs = async (gpu: Gpu, tfjs: Tfjs, batch: number, label: string, makeTrainer: () => TfjsTrainer, timed: number, log?: (line: string) => void): Promise<TfjsMeasured> => {
  await registerTfjsGradients();
  const trainer = makeTrainer();
  const device = gpu.device;
  try {
    const data = [batchData(batch, 1), batchData(batch, 2)];
    const losses: number[] = [];
    const runStep = async (t: number): Promise<number | string> => {
      const d = data[t % 2]!;
      device.pushErrorScope('validation');
      device.pushErrorScope('out-of-memory');
      const s = performance.now();
      let seconds = NaN;
      try {
        losses.push(await trainer.step(d.x, d.labelsInt));
        seconds = (performance.now() - s) / 1000;
      } finally {
        const errors = [await device.popErrorScope(), await device.popErrorScope()].filter((e) => e !== null);
        if (errors.length > 0) return `step ${t + 1}: ${errors[0]!.message.split('\n')[0]}`;
      }
      return seconds;
    };
    const warmup = await runStep(0);
    if (typeof warmup === 'string') return { kind: 'failed', label, message: warmup };
    log?.(`  tfjs (${label}) warm-up step: ${warmup.toFixed(1)} s; loss ${losses[0]?.toFixed(4)}`);
    const pool = tfjsAllocated(tfjs);
    const times: number[] = [];
    for (let t = 1; t <= timed; t++) {
      const r = await runStep(t);
      if (typeof r === 'string') return { kind: 'failed', label, message: r };
      times.push(r);
    }
    return { kind: 'ok', label, firstOnly: times.length === 0, warmupS: warmup, steps: spreadOf(times.length === 0 ? [warmup] : times), pool, losses };
  } finally {
    trainer.dispose();
  }
};

const showTfjs = (t: TfjsMeasured, batch: number): string =>
  t.kind === 'failed'
    ? `tfjs (${t.label}) NOT MEASURED: the device rejected its commands (${t.message})`
    : t.firstOnly
      ? `tfjs (${t.label}) FIRST STEP ONLY (no timed step; pipeline compilation included, an upper bound): ${showSpread(t.steps, batch)}; tfjs buffer pool ${mb(t.pool)} after it; ${finiteLosses(t.losses)}`
      : `tfjs (${t.label}) ${showSpread(t.steps, batch)}; warm-up ${t.warmupS.toFixed(1)} s; tfjs buffer pool ${mb(t.pool)} after it; ${finiteLosses(t.losses)}`;

const finiteLosses = (xs: readonly number[]): string => (xs.every(Number.isFinite) ? 'losses finite' : `NON-FINITE LOSS in [${xs.join(', ')}]`);

const cnnRows = async ({ gpu, tfjs, log }: BenchContext): Promise<readonly Row[]> => {
  const g = buildOrThrow(pytorchMnistCnn);
  const rows: Row[] = [];
  for (const batch of [64, 256] as const) {
    const n = STEPS[batch]!;
    const flops = trainingFlops(g, batch);
    log(`training cnn b${batch}: ours (${(flops / 1e9).toFixed(1)} GFLOP/step)`);
    const ours = await measureOurs(gpu, g, compileStep(g, batch, adapterKind(gpu.adapterInfo)), n.ours, log);
    log(`training cnn b${batch}: ours ${showSpread(ours.steps, batch)}; ${finiteLosses(ours.losses)}`);
    log(`training cnn b${batch}: ${describeMemory(ours, gpu.isSoftware)}`);
    const theirs: TfjsMeasured[] = [];
    if (tfjs !== undefined) {
      for (const conv of ['im2col', 'conv2d'] as const) {
        const t = await measureTfjs(gpu, tfjs, batch, conv, () => tfjsCnnTrainer(tfjs, batch, conv), n.tfjs);
        log(`training cnn b${batch}: ${showTfjs(t, batch)}`);
        theirs.push(t);
      }
    }
    const best = theirs.reduce<(TfjsMeasured & { kind: 'ok' }) | undefined>(
      (b, t) => (t.kind === 'ok' && (b === undefined || t.steps.median < b.steps.median) ? t : b),
      undefined,
    );
    rows.push({
      section: 'training',
      name: `PyTorch MNIST CNN, fwd+bwd+SGD momentum, batch ${batch}`,
      flops,
      ours: timing(ours.steps.median, flops),
      tfjs: best === undefined ? null : timing(best.steps.median, flops),
      note:
        `ours ${showSpread(ours.steps, batch)}; first step ${ours.warmupS.toFixed(1)} s (pipeline compilation), instantiate ${ours.instantiateS.toFixed(1)} s, ` +
        `compile ${ours.step.compileS.toFixed(2)} s; ${ours.step.program.dispatches.length} dispatches, ${ours.step.program.kernels.length} pipelines; ` +
        describeMemory(ours, gpu.isSoftware) +
        (theirs.length === 0 ? '; tfjs not run' : `; tfjs column: ${best?.label ?? 'none ran'}; ${theirs.map((t) => showTfjs(t, batch)).join('; ')}`),
    });
  }
  return rows;
};

export const trainingSection: BenchSection = {
  name: 'training',
  description:
    'training step (forward + backward + SGD momentum, one submit, loss read back), ms/step and images/s at batch 64/256: ' +
    'the PyTorch MNIST example CNN, ours vs tfjs-webgpu (im2col+matmul and conv2d; the faster in the table); peak device memory',
  run: cnnRows,
};

/**
 * Batch sizes of the DARTS rows: 64, and 256 only where its memory plan fits the device (24 GB at 256: more
 * than lavapipe's host has). `NASGRAPH_BENCH_DARTS_BATCHES=64,256` overrides.
 */
const dartsBatches = (): readonly number[] => {
  const env = process.env['NASGRAPH_BENCH_DARTS_BATCHES'];
  return env === undefined ? [64, 256] : env.split(',').map(Number).filter((b) => Number.isInteger(b) && b > 0);
};

/**
 * Timed tfjs steps of the DARTS supernet after its warm-up step: 1 by default (minutes each on lavapipe);
 * `NASGRAPH_BENCH_DARTS_TFJS_STEPS` overrides, and 0 reports the warm-up step alone, marked as such.
 */
const dartsTfjsSteps = (): number => {
  const n = Number(process.env['NASGRAPH_BENCH_DARTS_TFJS_STEPS'] ?? 1);
  return Number.isInteger(n) && n >= 0 ? n : 1;
};

/**
 * Why the tfjs DARTS step cannot run here, or undefined. On lavapipe every bind group is a descriptor set backed by
 * a memory mapping of its own (measured: 3,000 bind groups, 3,000 more mappings), tfjs creates one per dispatch,
 * and its 8-cell step holds ~50,000 at once (measured at batch 64; about 20 dispatches per BatchNorm, thousands of
 * BatchNorms) on top of its buffers and ours: past `vm.max_map_count` (65,530 by default) Dawn segfaults in
 * createBuffer, killing the bench run with every row. `NASGRAPH_BENCH_DARTS_TFJS=force` runs it anyway.
 */
const dartsTfjsBlocked = (software: boolean): string | undefined => {
  if (!software || process.env['NASGRAPH_BENCH_DARTS_TFJS'] === 'force') return undefined;
  let limit = Infinity;
  try {
    limit = Number(readFileSync('/proc/sys/vm/max_map_count', 'utf8').trim());
  } catch {
    return undefined; // not Linux: no such limit known
  }
  return limit >= 262_144
    ? undefined
    : `NOT RUN: on lavapipe tfjs's step needs more memory mappings than vm.max_map_count = ${limit} allows (one per bind group; Dawn segfaults past it); ` +
        'raise it (sysctl vm.max_map_count=262144) or set NASGRAPH_BENCH_DARTS_TFJS=force';
};

export const trainingDartsSection: BenchSection = {
  name: 'training-darts',
  description:
    'training step of the DARTS supernet (8 cells, 16 channels, [1, 28, 28]) in mixed mode, uniform weights, with ∂L/∂w per key: ' +
    'ms/step, images/s, device memory; beside it the same supernet by hand in tfjs ops (fewer timed steps)',
  run: async ({ gpu, tfjs, log }) => {
    const g = buildOrThrow(dartsBench);
    const rows: Row[] = [];
    // What the host can back: lavapipe's device memory is host memory; a GPU's is its own (maxBufferSize is per buffer).
    const limit = Number(process.env['NASGRAPH_BENCH_DEVICE_BYTES'] ?? (gpu.isSoftware ? (await import('node:os')).totalmem() * 0.6 : Infinity));
    for (const batch of dartsBatches()) {
      const flops = trainingFlops(g, batch);
      const plan = compileStep(g, batch, adapterKind(gpu.adapterInfo));
      const m = memoryBreakdown(plan.program, plan.layout, plan.plannedBuffers);
      log(`training darts b${batch}: ${(flops / 1e9).toFixed(1)} GFLOP/step; ${showBreakdown(m)}`);
      if (m.total > limit) {
        log(`training darts b${batch}: NOT RUN: the step needs ${mb(m.total)} of device memory, more than ${mb(limit)} available here (set NASGRAPH_BENCH_DEVICE_BYTES to override)`);
        continue;
      }
      const timed = batch >= 256 ? 1 : 2;
      const ours = await measureOurs(gpu, g, plan, timed, log);
      log(`training darts b${batch}: ours ${showSpread(ours.steps, batch)}; ${finiteLosses(ours.losses)}`);
      log(`training darts b${batch}: ${describeMemory(ours, gpu.isSoftware)}`);
      let theirs: TfjsMeasured | undefined;
      let counts = '';
      const blocked = dartsTfjsBlocked(gpu.isSoftware);
      if (tfjs !== undefined && blocked !== undefined) {
        counts = `tfjs (by hand) ${blocked}`;
        log(`training darts b${batch}: ${counts}`);
      } else if (tfjs !== undefined) {
        // The same supernet by hand in tfjs ops (bench/darts-tfjs.ts); its parameters are ours, path for path.
        let tfjsParams = NaN;
        const make = (): TfjsTrainer => {
          const t = tfjsDartsTrainer(tfjs.tf, dartsNetOptions(dartsBenchOptions), batch);
          tfjsParams = t.paramCount;
          return t;
        };
        log(`training darts b${batch}: tfjs (${dartsTfjsSteps()} timed step after the warm-up)`);
        theirs = await measureTfjs(gpu, tfjs, batch, 'by hand', make, dartsTfjsSteps(), log);
        counts = `parameters: ours ${paramCount(g)}, tfjs ${tfjsParams}${paramCount(g) === tfjsParams ? '' : ' (DIFFER)'}`;
        log(`training darts b${batch}: ${showTfjs(theirs, batch)}; ${counts}`);
      }
      rows.push({
        section: 'training',
        name: `DARTS supernet 8 cells 16 ch [1,28,28], mixed (uniform), fwd+bwd+SGD momentum, batch ${batch}`,
        flops,
        ours: timing(ours.steps.median, flops),
        tfjs: theirs?.kind === 'ok' ? timing(theirs.steps.median, flops) : null,
        note:
          `ours ${showSpread(ours.steps, batch)}; first step ${ours.warmupS.toFixed(1)} s (pipeline compilation), instantiate ${ours.instantiateS.toFixed(1)} s, ` +
          `compile ${ours.step.compileS.toFixed(1)} s; ${ours.step.program.dispatches.length} dispatches, ${ours.step.program.kernels.length} pipelines; ` +
          `${describeMemory(ours, gpu.isSoftware)}; ` +
          (theirs === undefined ? (counts === '' ? 'tfjs not run' : counts) : `${showTfjs(theirs, batch)}; ${counts}`),
      });
    }
    return rows;
  },
};
