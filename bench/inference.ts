/**
 * Bench section: whole-model inference, images/s at batch 64 and 256, through the real compiler and executor
 * (`lower` → `Executable.run`: inputs uploaded, every dispatch recorded in one pass, outputs read back, per run):
 * - examples/mnist.ts, fixed mode, its first architecture; beside it the same CNN in tfjs-core ops on
 *   tfjs-webgpu on the same device (bench/inference-tfjs.ts), also uploading its input and reading back its
 *   output every run;
 * - examples/darts.ts (its small default: 5 cells, 4 nodes, 8 channels, [1, 28, 28]) as a supernet in mixed
 *   mode (every candidate computed, uniform weights) and in sampled mode (one program for the supernet; a new
 *   random architecture every run, so the runtime re-selects the dispatches each time); beside them the same
 *   supernet written by hand in tfjs ops (bench/darts-tfjs.ts: the same parameters path for path, counts
 *   printed), mixed with uniform weights and sampled with the same random architectures, in that order.
 * Each row also reports the Program's peak memory. GFLOP/s count the conv2d and linear multiply-adds only
 * (2 per MAC; for sampled mode the mean over the architectures run). Medians of 2 to 5 runs (`TIMING`) after
 * warm-up runs; lavapipe compiles a shader at its first dispatch (and keeps it in Mesa's on-disk cache, so a
 * second bench run starts faster): the warm-up time is reported separately, in the notes.
 */
import * as E from 'fp-ts/lib/Either.js';
import darts from '../examples/darts.ts';
import mnist from '../examples/mnist.ts';
import { adapterKind } from '../src/compile/kernels/tiles.ts';
import { lower } from '../src/compile/lower.ts';
import type { Mode, Program } from '../src/compile/program.ts';
import {
  type Architecture,
  type Graph,
  type ModelDef,
  type SearchSpace,
  apply,
  buildModel,
  firstArchitecture,
  nodes,
  numel,
  paramCount,
  randomArchitecture,
  searchSpace,
  seedRng,
} from '../src/ir/index.ts';
import { type ChoiceInput, Executable } from '../src/runtime/execute.ts';
import { initParams } from '../src/runtime/params.ts';
import { pipelineCacheFor } from '../src/runtime/pipeline-cache.ts';
import { formatBytes, median, programMemory, randomInputs, uniformWeights } from '../src/cli/run.ts';
import type { Gpu } from '../src/runtime/device.ts';
import { tfjsMnist } from './inference-tfjs.ts';
import { type Selection, dartsNetOptions } from './darts-net.ts';
import { type TfjsDartsInference, tfjsDartsInference } from './darts-tfjs.ts';
import type { Tfjs } from './tfjs.ts';
import { type BenchSection, type Row, timing } from './section.ts';

const BATCHES = [64, 256] as const;
/**
 * Timed runs per case after the warm-up: at least 2, at most 5, stopping once 4 s have been spent, so that the
 * slow cases (batch 256, the mixed supernet on lavapipe) take 2 runs and the section stays within minutes.
 */
const TIMING = { minRuns: 2, maxRuns: 5, budgetS: 4 } as const;

/**
 * Floating-point operations of one sample through `g`'s conv2d and linear nodes (2 per multiply-add). For a
 * supernet it counts every candidate, which is what mixed mode computes.
 */
export const denseFlops = (g: Graph): number =>
  nodes(g).reduce((s, n) => {
    if (n.op.kind !== 'conv2d' && n.op.kind !== 'linear') return s;
    const w = n.inputs[1]?.shape;
    if (w === undefined || w[0] === undefined) return s;
    // numel(out) · (weights per output channel): cout·oh·ow · (cin/groups)·kh·kw for conv2d, out · in for linear.
    return s + 2 * numel(n.shape) * (numel(w) / w[0]);
  }, 0);

const build = (def: ModelDef): Graph => {
  const g = buildModel(def);
  if (E.isLeft(g)) throw new Error(`${def.name} does not build: ${g.left.map((e) => e.message).join('; ')}`);
  return g.right;
};

const orThrow = <T>(what: string, r: E.Either<readonly { readonly message: string }[], T>): T => {
  if (E.isLeft(r)) throw new Error(`${what}: ${r.left.map((e) => e.message).join('; ')}`);
  return r.right;
};

interface Measured {
  readonly program: Program;
  /** Pipelines this program created (the others were cached on the device by an earlier program). */
  readonly created: number;
  /** Seconds of the warm-up runs (the first run of a program compiles its shaders). */
  readonly firstS: number;
  readonly medianS: number;
  readonly runs: number;
}

/**
 * Compiles `g` in `mode`, runs the `warmup` choices once each, then timed runs with `choiceOf(i)` (see
 * `TIMING`); each run uploads the inputs and reads the outputs back.
 */
const measure = async (
  gpu: Gpu,
  g: Graph,
  mode: Mode,
  batch: number,
  warmup: (program: Program, created: number) => readonly (ChoiceInput | undefined)[],
  choiceOf: (program: Program, i: number) => ChoiceInput | undefined,
): Promise<Measured> => {
  const program = orThrow(`lowering ${mode}`, lower(g, { mode, batch, adapter: adapterKind(gpu.adapterInfo) }));
  const [params, rng] = initParams(g, seedRng(1));
  const [inputs] = randomInputs(program, rng);
  const cache = pipelineCacheFor(gpu.device);
  const before = cache.creations;
  const exe = orThrow('instantiating', await Executable.instantiate(gpu, program, params));
  const created = cache.creations - before;
  try {
    const runWith = async (choice: ChoiceInput | undefined): Promise<void> => {
      orThrow(`a ${mode} run`, await exe.run(choice === undefined ? { inputs } : { inputs, choice }));
    };
    const t0 = performance.now();
    for (const c of warmup(program, created)) await runWith(c);
    const firstS = (performance.now() - t0) / 1000;
    const times = await timeWithin((i) => runWith(choiceOf(program, i)));
    return { program, created, firstS, medianS: median(times), runs: times.length };
  } finally {
    exe.destroy();
  }
};

/** Seconds of each timed run of `runOnce(i)`, i = 0, 1, …, as `TIMING` allows. */
const timeWithin = async (runOnce: (i: number) => Promise<void>): Promise<readonly number[]> => {
  const times: number[] = [];
  let spent = 0;
  while (times.length < TIMING.maxRuns && (times.length < TIMING.minRuns || spent < TIMING.budgetS)) {
    const t = performance.now();
    await runOnce(times.length);
    const s = (performance.now() - t) / 1000;
    times.push(s);
    spent += s;
  }
  return times;
};

/** Architectures that together select every candidate of every layer choice: candidate i everywhere, for each i. */
const coveringArchitectures = (space: SearchSpace): readonly Architecture[] => {
  const widest = Math.max(1, ...space.decisions.map((d) => d.names.length));
  const first = firstArchitecture(space);
  return Array.from({ length: widest }, (_, i) =>
    Object.fromEntries(space.decisions.map((d) => [d.key, d.kind === 'layer' ? [i % d.names.length] : (first[d.key] ?? [])] as const)),
  );
};

/** The options of examples/darts.ts's default export (a test checks the hand-written network against it). */
const DARTS_SMALL = dartsNetOptions({ cells: 5, nodes: 4, channels: 8, input: [1, 28, 28], classes: 10 });

/** What tfjs measured on one DARTS case, or why it did not run. */
type TfjsDartsMeasured =
  | { readonly kind: 'ok'; readonly warmupS: number; readonly medianS: number; readonly runs: number }
  | { readonly kind: 'failed'; readonly message: string };

/**
 * Times tfjs's DARTS runs: `warmup` selections once each, then timed runs of `selOf(i)` as `TIMING` allows.
 * Every run sits inside validation and out-of-memory error scopes, so a rejected run is reported, not timed.
 */
const measureTfjsDarts = async (gpu: Gpu, net: TfjsDartsInference, x: Float32Array, warmup: readonly Selection[], selOf: (i: number) => Selection): Promise<TfjsDartsMeasured> => {
  const device = gpu.device;
  let rejected: string | undefined;
  const run = async (sel: Selection): Promise<void> => {
    device.pushErrorScope('validation');
    device.pushErrorScope('out-of-memory');
    try {
      await net.run(x, sel);
    } finally {
      const errors = [await device.popErrorScope(), await device.popErrorScope()].filter((e) => e !== null);
      if (errors.length > 0) rejected ??= errors[0]!.message.split('\n')[0]!;
    }
  };
  const t0 = performance.now();
  for (const sel of warmup) await run(sel);
  const warmupS = (performance.now() - t0) / 1000;
  const times = await timeWithin((i) => run(selOf(i)));
  return rejected === undefined ? { kind: 'ok', warmupS, medianS: median(times), runs: times.length } : { kind: 'failed', message: rejected };
};

const describeTfjs = (t: TfjsDartsMeasured | undefined, batch: number): string =>
  t === undefined
    ? 'tfjs not run'
    : t.kind === 'failed'
      ? `tfjs NOT MEASURED: the device rejected its commands (${t.message})`
      : `tfjs (by hand) ${(batch / t.medianS).toFixed(1)} img/s; warm-up ${t.warmupS.toFixed(1)} s; median of ${t.runs}`;

const tfjsTiming = (t: TfjsDartsMeasured | undefined, flops: number): ReturnType<typeof timing> | null => (t?.kind === 'ok' ? timing(t.medianS, flops) : null);

/** The tfjs DARTS network at `batch`, with its parameter count checked against ours (a mismatch throws). */
const tfjsDarts = (tfjs: Tfjs, ours: Graph, batch: number): TfjsDartsInference => {
  const net = tfjsDartsInference(tfjs.tf, DARTS_SMALL, batch);
  if (net.paramCount !== paramCount(ours)) {
    net.dispose();
    throw new Error(`the tfjs DARTS network has ${net.paramCount} parameters, ours ${paramCount(ours)}: not the same network`);
  }
  return net;
};

const describe = (m: Measured, batch: number): string => {
  const mem = programMemory(m.program);
  return (
    `${(batch / m.medianS).toFixed(1)} img/s; peak ${formatBytes(mem.peak)} (activations ${formatBytes(mem.activations)}, ` +
    `${formatBytes(mem.unplanned)} unplanned; params ${formatBytes(mem.params)}); ${m.program.kernels.length} pipelines, ` +
    `${m.program.dispatches.length} dispatches (${m.created} pipelines created); warm-up ${m.firstS.toFixed(1)} s; median of ${m.runs}`
  );
};

export const inferenceSection: BenchSection = {
  name: 'inference',
  description:
    'whole-model inference (upload, run, read back), images/s at batch 64/256: mnist fixed vs the same CNN on tfjs-webgpu; ' +
    'darts (5 cells, 8 ch, 28×28) supernet mixed (uniform weights) and sampled (a random architecture per run), vs the same supernet by hand in tfjs ops; ' +
    'GFLOP/s count conv2d+linear only',
  run: async ({ gpu, tfjs, log }) => {
    const rows: Row[] = [];
    const mnistGraph = build(mnist);
    const mnistFixed = orThrow('applying the first architecture to mnist', apply(mnistGraph, firstArchitecture(searchSpace(mnistGraph))));
    const dartsGraph = build(darts);
    const dartsSpace = searchSpace(dartsGraph);
    const mnistFlops = denseFlops(mnistFixed);
    const mixedFlops = denseFlops(dartsGraph);

    for (const batch of BATCHES) {
      // MNIST, fixed mode.
      const m = await measure(gpu, mnistFixed, 'fixed', batch, () => [undefined], () => undefined);
      log(`inference mnist fixed b${batch}: ours ${describe(m, batch)}`);
      let theirs: number | null = null;
      if (tfjs !== undefined) {
        const net = tfjsMnist(tfjs, batch);
        const [x] = randomInputs(m.program, seedRng(2));
        const t0 = performance.now();
        await net.run(x[0]!);
        const warmS = (performance.now() - t0) / 1000;
        const t = await timeWithin(async () => void (await net.run(x[0]!)));
        net.dispose();
        theirs = median(t);
        log(`inference mnist fixed b${batch}: tfjs ${(batch / theirs).toFixed(1)} img/s; warm-up ${warmS.toFixed(1)} s; median of ${t.length}`);
      }
      rows.push({
        section: 'inference',
        name: `mnist fixed (first arch), batch ${batch}`,
        flops: mnistFlops * batch,
        ours: timing(m.medianS, mnistFlops * batch),
        tfjs: theirs === null ? null : timing(theirs, mnistFlops * batch),
        note: `ours ${describe(m, batch)}${theirs === null ? '' : `; tfjs ${(batch / theirs).toFixed(1)} img/s`}`,
      });

      // DARTS supernet, mixed mode with uniform weights.
      const mixed = await measure(gpu, dartsGraph, 'mixed', batch, (p) => [uniformWeights(p)], (p) => uniformWeights(p));
      log(`inference darts mixed b${batch}: ours ${describe(mixed, batch)}`);
      const net = tfjs === undefined ? undefined : tfjsDarts(tfjs, dartsGraph, batch);
      const counts = net === undefined ? '' : `; parameters: ours ${paramCount(dartsGraph)}, tfjs ${net.paramCount}`;
      const [dartsX] = randomInputs(mixed.program, seedRng(3));
      const mixedSel: Selection = { kind: 'mixed' };
      const tfMixed = net === undefined ? undefined : await measureTfjsDarts(gpu, net, dartsX[0]!, [mixedSel], () => mixedSel);
      if (net !== undefined) log(`inference darts mixed b${batch}: ${describeTfjs(tfMixed, batch)}${counts}`);
      rows.push({
        section: 'inference',
        name: `darts supernet mixed (uniform weights), batch ${batch}`,
        flops: mixedFlops * batch,
        ours: timing(mixed.medianS, mixedFlops * batch),
        tfjs: tfjsTiming(tfMixed, mixedFlops * batch),
        note: `ours ${describe(mixed, batch)}; ${describeTfjs(tfMixed, batch)}${counts}`,
      });

      // DARTS supernet, sampled mode: a fresh random architecture for every timed run. Its kernels are those of
      // the mixed program (pipelines are cached by WGSL source, and a mixed run dispatches every one), so one
      // warm-up run does; should it create pipelines, the warm-up runs architectures covering every candidate,
      // so that no timed run compiles a shader.
      let rng = seedRng(1000 + batch);
      const archs: Architecture[] = [];
      for (let i = 0; i < TIMING.maxRuns; i++) {
        const [a, next] = randomArchitecture(dartsSpace, rng);
        archs.push(a);
        rng = next;
      }
      const select = (arch: Architecture): ChoiceInput => ({ kind: 'select', arch });
      const sampled = await measure(gpu, dartsGraph, 'sampled', batch, (_, created) => (created === 0 ? [select(archs[0]!)] : coveringArchitectures(dartsSpace).map(select)), (_, i) => select(archs[i]!));
      const meanFlops = (n: number): number => {
        const ran = archs.slice(0, n);
        return ran.reduce((s, a) => s + denseFlops(orThrow('applying a random darts architecture', apply(dartsGraph, a))), 0) / ran.length;
      };
      const sampledFlops = meanFlops(sampled.runs);
      log(`inference darts sampled b${batch}: ours ${describe(sampled, batch)}`);
      // tfjs runs the same architectures in the same order (its mixed run above compiled every op's pipelines).
      const pick = (i: number): Selection => ({ kind: 'sampled', arch: archs[i]! });
      const tfSampled = net === undefined ? undefined : await measureTfjsDarts(gpu, net, dartsX[0]!, [pick(0)], pick);
      net?.dispose();
      const tfFlops = tfSampled?.kind === 'ok' ? meanFlops(tfSampled.runs) : sampledFlops;
      if (tfSampled !== undefined) log(`inference darts sampled b${batch}: ${describeTfjs(tfSampled, batch)}`);
      rows.push({
        section: 'inference',
        name: `darts supernet sampled (random arch per run), batch ${batch}`,
        flops: sampledFlops * batch,
        ours: timing(sampled.medianS, sampledFlops * batch),
        tfjs: tfjsTiming(tfSampled, tfFlops * batch),
        note: `ours ${describe(sampled, batch)}; ${describeTfjs(tfSampled, batch)}${tfSampled?.kind === 'ok' && tfSampled.runs !== sampled.runs ? ` (its ${tfSampled.runs} architectures average ${(tfFlops / 1e6).toFixed(1)} MFLOP/image, ours' ${sampled.runs} ${(sampledFlops / 1e6).toFixed(1)})` : ''}${counts}`,
      });
    }
    return rows;
  },
};
