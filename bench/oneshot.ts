/**
 * Bench section `oneshot` (issue 6): the time of one SEARCH step of every one-shot algorithm on the DARTS cell
 * space, the supernet's device memory, and the supernet overhead ratio (the DARTS mixed weight step against the
 * training step of one fixed subnet of the same space).
 *
 * Each algorithm runs its real driver (src/runtime/oneshot/*-driver.ts) for one epoch over a small synthetic data
 * set sized to `warm-up + timed` steps; a step is the time between two of the driver's progress calls (DARTS: the
 * architecture step on a valid batch, then the weight step on a train batch; ProxylessNAS: the sampled weight step,
 * then the mixed architecture step; GDAS as DARTS with Gumbel samples; ENAS and SPOS: one sampled step of a fresh
 * architecture). The supernet the driver sees is wrapped to time each of its calls (mixedStep, sampledStep, …),
 * to note whether a sampled architecture needed a new subnet (not among the supernet's 8 cached ones) and how many
 * pipelines the device's cache had to create during each step. Step 1 pays program instantiation and pipeline
 * compilation (lavapipe compiles a pipeline at its first dispatch): it is reported apart from the timed steps.
 * DARTS 1st order, DARTS 2nd order and GDAS share one supernet (their weight training is the same: SGD 0.025,
 * momentum 0.9, wd 3e-4, clip 5), so only DARTS 1st order pays its warm-up; the others get their own.
 *
 * Memory: from the Programs a supernet holds (pure: bench/oneshot-memory.ts): the parameters and optimizer state
 * once per path (the supernet's ParamPool shares them between programs), plus every other buffer and the read-back
 * staging of the outputs of each program; cross-checked against the bytes the executor asked the device for while
 * the algorithm ran (no buffer is freed before the end while at most 8 subnets were drawn).
 *
 * Configurations: `issue` is the issue's (8 cells, 4 nodes, 16 channels, batch 64); `small` (5 cells, 4 nodes,
 * 8 channels, batch 32) is what lavapipe can time with more than one step; `issue-memory` gives the issue size's
 * memory figures without running anything. `NASGRAPH_BENCH_ONESHOT=small,issue-memory,issue` picks them (default
 * those three, in that order); `NASGRAPH_BENCH_ONESHOT_ALGOS=darts1,darts2,gdas,proxyless,enas,spos`
 * picks algorithms. PyTorch CPU (Debian's python3-torch, bench/pytorch.ts): right after our DARTS 1st-order steps, the
 * same step in PyTorch at 1 and 2 threads (NASGRAPH_BENCH_PYTORCH=0 skips it), with the ratios ours / PyTorch.
 */
import * as E from 'fp-ts/lib/Either.js';
import os from 'node:os';
import { dartsSpace } from '../examples/darts.ts';
import { adapterKind } from '../src/compile/kernels/tiles.ts';
import { type Architecture, apply } from '../src/ir/apply.ts';
import { architectureKey, firstArchitecture, randomArchitecture } from '../src/ir/architecture.ts';
import { type Graph, type ModelDef, buildModel, nextFloat, paramCount, seedRng } from '../src/ir/index.ts';
import { searchSpace } from '../src/ir/space.ts';
import type { Dataset } from '../src/runtime/data/batches.ts';
import type { Gpu } from '../src/runtime/device.ts';
import { type AnyDriver, type DriverContext } from '../src/runtime/oneshot/driver.ts';
import { createDriver } from '../src/runtime/oneshot/registry.ts';
import { Supernet } from '../src/runtime/oneshot/supernet.ts';
import { pipelineCacheFor } from '../src/runtime/pipeline-cache.ts';
import { silentProgress } from '../src/runtime/progress.ts';
import { countMacs } from '../src/runtime/trial-evaluator.ts';
import type { BenchSection, Row } from './section.ts';
import { timing } from './section.ts';
import { type PoolMemory, heldPrograms, poolMemory, trainerProgram } from './oneshot-memory.ts';
import { countCreatedBuffers, mb } from './training-memory.ts';
import { pytorchDartsStep } from './pytorch.ts';

/** A configuration of the darts space and how many steps each algorithm gets. */
interface Config {
  readonly name: string;
  readonly cells: number;
  readonly channels: number;
  readonly batch: number;
  /** Timed steps after the warm-up step: algorithms on the mixed supernet, and the sampled ones (ENAS, SPOS). */
  readonly timedMixed: number;
  readonly timedSampled: number;
  /** Only the memory figures from the Programs (pure: nothing runs on the device). */
  readonly memoryOnly?: boolean;
}

const CONFIGS: Readonly<Record<string, Config>> = {
  small: { name: 'small', cells: 5, channels: 8, batch: 32, timedMixed: 3, timedSampled: 5 },
  // One mixed pass takes about a minute here: one timed step per mixed algorithm (DARTS 2nd order is five passes).
  issue: { name: 'issue', cells: 8, channels: 16, batch: 64, timedMixed: 1, timedSampled: 3 },
  // The issue's size with nothing run: on a shared 2-core lavapipe its first mixed step alone compiles ~2500
  // pipelines (the small configuration's took 17 minutes under load), so its timings may be out of reach.
  'issue-memory': { name: 'issue-memory', cells: 8, channels: 16, batch: 64, timedMixed: 0, timedSampled: 0, memoryOnly: true },
};

type Algo = 'darts1' | 'darts2' | 'gdas' | 'proxyless' | 'enas' | 'spos';
const ALGOS: readonly Algo[] = ['darts1', 'darts2', 'gdas', 'proxyless', 'enas', 'spos'];
const LABEL: Readonly<Record<Algo, string>> = {
  darts1: 'DARTS 1st order (mixed arch step + mixed weight step)',
  darts2: 'DARTS 2nd order (virtual step, finite-difference Hessian-vector product, mixed weight step)',
  gdas: 'GDAS (hard Gumbel sample through the mixed supernet: arch step + weight step)',
  proxyless: 'ProxylessNAS (sampled weight step + mixed arch step over two active paths)',
  enas: 'ENAS (child step of a fresh architecture from the controller)',
  spos: 'SPOS (sampled step of a uniformly drawn path)',
};

const listEnv = (name: string): readonly string[] | undefined => process.env[name]?.split(',').map((s) => s.trim()).filter((s) => s !== '');

/** The driver of an algorithm, with the options the bench runs it with. */
const driverOf = (a: Algo): AnyDriver => {
  const r =
    a === 'darts1' ? createDriver('darts', { order: 1 })
    : a === 'darts2' ? createDriver('darts', { order: 2 })
    : a === 'gdas' ? createDriver('gdas', {})
    : a === 'proxyless' ? createDriver('proxyless', {})
    // ENAS: 4 controller samples per epoch keep its controller phase short (it is timed apart from the child steps).
    : a === 'enas' ? createDriver('enas', { samplesPerStep: 4, controllerSamples: 4 })
    : createDriver('spos', {});
  if (E.isLeft(r)) throw new Error(`driver ${a}: ${r.left.join('; ')}`);
  return r.right;
};

/** A synthetic data set of `n` images shaped [1, 28, 28] (values in [0, 1), labels 0..9) from a seed. */
const syntheticSet = (n: number, seed: number): Dataset => {
  let rng = seedRng(seed);
  const images = new Float32Array(n * 784);
  for (let i = 0; i < images.length; i++) {
    const [v, next] = nextFloat(rng);
    images[i] = v;
    rng = next;
  }
  return { images, labels: Int32Array.from({ length: n }, (_, i) => (i * 7 + seed) % 10), n, shape: [1, 28, 28], classes: 10 };
};

/** One call the driver made on the supernet: which method, seconds; sampled calls: whether the subnet was new. */
interface Call {
  readonly method: string;
  readonly seconds: number;
  /** mixedStep/sampledStep: whether the call updated the weights. */
  readonly update?: boolean;
  readonly newSubnet?: boolean;
}

/** One search step: seconds, the supernet calls inside it, pipelines the device's cache created during it. */
interface StepRecord {
  readonly seconds: number;
  readonly calls: readonly Call[];
  readonly pipelines: number;
}

/**
 * The supernet as a driver sees it, every method call timed into `calls`. Methods are bound to the real supernet
 * (its private fields are not reachable through a proxy receiver). `lru` mirrors the supernet's cache of 8
 * subnets (most recent last); `archs` collects every architecture a subnet was compiled for.
 */
const instrument = (net: Supernet, calls: Call[], lru: string[], archs: Map<string, Architecture>): Supernet =>
  new Proxy(net, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function') return v;
      const f = (v as (...args: unknown[]) => Promise<unknown>).bind(target);
      return async (...args: unknown[]) => {
        let extra: Partial<Call> = {};
        if (prop === 'sampledStep' || prop === 'recalibrate') {
          const arch = args[prop === 'sampledStep' ? 1 : 0] as Architecture;
          const key = architectureKey(arch);
          const at = lru.indexOf(key);
          if (at >= 0) lru.splice(at, 1);
          lru.push(key);
          if (lru.length > 8) lru.shift();
          archs.set(key, arch);
          extra = { newSubnet: at < 0 };
        }
        if (prop === 'mixedStep' || prop === 'sampledStep') extra = { ...extra, update: (args[2] as { update?: boolean }).update !== false };
        const t0 = performance.now();
        const r = await f(...args);
        calls.push({ method: String(prop), seconds: (performance.now() - t0) / 1000, ...extra });
        return r;
      };
    },
  });

/** What one algorithm measured. */
interface AlgoMeasured {
  readonly algo: Algo;
  readonly steps: readonly StepRecord[];
  /** The epoch after its last step (ENAS: the controller phase). */
  readonly tail: StepRecord;
  readonly archs: readonly Architecture[];
  readonly usedMixed: boolean;
  readonly usedEval: boolean;
  readonly createdStorage: number;
  readonly createdStaging: number;
}

/** The supernet's options for a driver (as oneShotSearch creates it). */
const supernetFor = (graph: Graph, gpu: Gpu, batch: number, d: AnyDriver): Supernet => {
  const r = Supernet.create(graph, {
    gpu,
    batchSize: batch,
    optimizer: d.weights.optimizer,
    ...(d.weights.clipGradNorm === undefined ? {} : { clipGradNorm: d.weights.clipGradNorm }),
    seed: 0,
  });
  if (E.isLeft(r)) throw new Error(`supernet: ${r.left.map((e) => e.message).join('; ')}`);
  return r.right;
};

/** Runs one epoch of `algo`'s driver on `net` over `steps` train (and valid) batches, timing each step. */
const runAlgo = async (algo: Algo, net: Supernet, graph: Graph, batch: number, steps: number, gpu: Gpu, log: (line: string) => void): Promise<AlgoMeasured> => {
  const driver = driverOf(algo);
  const space = searchSpace(graph);
  // As the CLI does: an algorithm refuses a space with choice kinds it does not support (ProxylessNAS: layer
  // choices only, so not the DARTS cells' input choices).
  const refused = driver.check(space);
  if (refused.length > 0) throw new Error(`refused by ${algo}'s check: ${refused.map((e) => e.message).join('; ')}`);
  const calls: Call[] = [];
  const archs = new Map<string, Architecture>();
  const records: StepRecord[] = [];
  const pipes = pipelineCacheFor(gpu.device);
  let mark = performance.now();
  let callMark = 0;
  let pipeMark = pipes.creations;
  const cut = (): StepRecord => {
    const now = performance.now();
    const r = { seconds: (now - mark) / 1000, calls: calls.slice(callMark), pipelines: pipes.creations - pipeMark };
    mark = now;
    callMark = calls.length;
    pipeMark = pipes.creations;
    return r;
  };
  const lr = driver.weights.optimizer.lr ?? 0.025;
  const ctx: DriverContext = {
    net: instrument(net, calls, [], archs),
    graph,
    space,
    train: syntheticSet(batch * steps, 1),
    valid: syntheticSet(batch * steps, 2),
    batchSize: batch,
    epochs: 1,
    lr: () => lr,
    macs: (arch) => {
      const f = apply(graph, arch);
      return E.isRight(f) ? countMacs(f.right) : Infinity;
    },
    progress: {
      ...silentProgress,
      epochStart: () => void cut(),
      step: (done) => {
        const r = cut();
        records.push(r);
        // Progress on stderr: a step on lavapipe can take minutes (the first one compiles every pipeline).
        log(`  ${algo} step ${done}/${steps}: ${secs(r.seconds)}, ${r.pipelines} pipelines created, ${r.calls.map((c) => `${c.method} ${secs(c.seconds)}`).join(', ')}`);
      },
    },
  };
  const [s0, rng] = driver.init(space, seedRng(0));
  const [r, created] = await countCreatedBuffers(gpu.device, () => driver.epoch(ctx, s0, 0, rng));
  const tail = cut();
  if (E.isLeft(r)) throw new Error(`${algo}: ${r.left.map((e) => e.message).join('; ')}`);
  return {
    algo,
    steps: records,
    tail,
    archs: [...archs.values()],
    usedMixed: calls.some((c) => c.method === 'mixedStep'),
    usedEval: calls.some((c) => c.method === 'evaluate'),
    createdStorage: created.storageBytes,
    createdStaging: created.stagingBytes,
  };
};

/** `n` steps of one fixed architecture through `net.sampledStep` (its subnet compiled at the first). */
const repeatSampled = async (net: Supernet, arch: Architecture, batch: number, n: number, lr: number): Promise<readonly number[]> => {
  const data = syntheticSet(batch, 3);
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = await net.sampledStep({ images: data.images, labels: data.labels }, arch, { lr });
    if (E.isLeft(r)) throw new Error(`fixed subnet step: ${r.left.map((e) => e.message).join('; ')}`);
    times.push((performance.now() - t0) / 1000);
  }
  return times;
};

// ---------------------------------------------------------------------------------------------------------------
// Reporting

const median = (xs: readonly number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const secs = (s: number): string => (s >= 10 ? `${s.toFixed(1)} s` : `${(s * 1000).toFixed(0)} ms`);
const showTimes = (xs: readonly number[]): string => `[${xs.map(secs).join(', ')}]`;

/** Per method, the median seconds of its calls inside the timed steps, e.g. "mixedStep(arch) 1.2 s × 3". */
const callSummary = (steps: readonly StepRecord[]): string => {
  const groups = new Map<string, number[]>();
  for (const s of steps) {
    for (const c of s.calls) {
      const name = c.method === 'mixedStep' || c.method === 'sampledStep' ? `${c.method}(${c.update === true ? 'update' : 'no update'}${c.newSubnet === true ? ', new subnet' : ''})` : c.method;
      groups.set(name, [...(groups.get(name) ?? []), c.seconds]);
    }
  }
  return [...groups].map(([k, v]) => `${k} median ${secs(median(v))} × ${v.length}`).join(', ');
};

/**
 * The PyTorch CPU baseline beside our DARTS 1st-order step `ours` (seconds), run right after it (one window), at 1
 * and 2 threads; the note says what was measured and the ratios, or why nothing was.
 */
const pytorchBeside = (cfg: Config, ours: number, params: number, log: (line: string) => void): string => {
  if (process.env['NASGRAPH_BENCH_PYTORCH'] === '0') return 'PyTorch CPU: skipped (NASGRAPH_BENCH_PYTORCH=0)';
  const parts: string[] = [];
  for (const threads of [1, 2]) {
    log(`oneshot ${cfg.name} PyTorch CPU ${threads} thread(s): 1 warm-up + ${cfg.timedMixed} timed; ${load()}`);
    const r = pytorchDartsStep({ cells: cfg.cells, channels: cfg.channels, batch: cfg.batch, threads, steps: Math.max(cfg.timedMixed, 1) });
    if (E.isLeft(r)) return r.left;
    const m = r.right;
    const same = m.params === params ? `${m.params} parameters, as ours` : `${m.params} parameters, ours ${params}: DIFFER`;
    parts.push(
      `PyTorch ${m.torch} CPU ${threads} thread(s): first step ${secs(m.firstS)}, timed ${showTimes(m.stepsS)} median ${secs(m.medianS)}, ` +
        `peak RSS ${m.peakRssMB.toFixed(0)} MB (${same}); ours / PyTorch ${(ours / m.medianS).toFixed(1)}×`,
    );
  }
  const note = `${parts.join('; ')}; ${load()}`;
  log(`oneshot ${cfg.name} ${note}`);
  return note;
};

/** The load average (1, 5, 15 min): the machine is shared, so every figure carries it. */
const load = (): string => `load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`;

/**
 * Memory-only rows (no timing: `ours.ms` is NaN): per algorithm, the Programs its supernet would hold — the mixed
 * step (DARTS, GDAS, ProxylessNAS), 8 subnets of seeded random architectures (ProxylessNAS, ENAS, SPOS: the
 * supernet's cache size), the sampled evaluator (ENAS's controller phase, SPOS's search).
 */
const memoryRows = (cfg: Config, algos: readonly Algo[], graph: Graph, gpu: Gpu, where: string, log: (line: string) => void): readonly Row[] => {
  const space = searchSpace(graph);
  let rng = seedRng(7);
  const archs: Architecture[] = [];
  for (let i = 0; i < 8; i++) {
    const [a, next] = randomArchitecture(space, rng);
    archs.push(a);
    rng = next;
  }
  return algos.map((algo): Row => {
    const sampled = algo === 'proxyless' || algo === 'enas' || algo === 'spos';
    const m = { usedMixed: algo !== 'enas' && algo !== 'spos', usedEval: algo === 'enas' || algo === 'spos', archs: sampled ? archs : [] };
    const mem = poolMemory(heldPrograms(graph, cfg.batch, gpu, driverOf(algo), m));
    const note =
      `${where}; NOT TIMED (memory from the Programs only): ${mem.programs} Programs (${m.usedMixed ? 'mixed step' : 'no mixed step'}${sampled ? ', 8 subnets of seeded random architectures' : ''}${m.usedEval ? ', sampled evaluator' : ''}) ` +
      `${mb(mem.total)} = params+optimizer state ${mb(mem.pooled)} (shared by path) + per-program buffers ${mb(mem.perProgram)} + read-back staging ${mb(mem.staging)}; ${load()}`;
    log(`oneshot ${cfg.name} ${algo}: ${note}`);
    return { section: 'oneshot', name: `${LABEL[algo]}, ${where}: supernet memory ${mb(mem.total)} (not timed)`, flops: null, ours: { ms: NaN, gflops: null }, tfjs: null, note };
  });
};

/** The rows of one configuration. */
const runConfig = async (cfg: Config, algos: readonly Algo[], gpu: Gpu, log: (line: string) => void): Promise<readonly Row[]> => {
  const def: ModelDef = dartsSpace({ cells: cfg.cells, nodes: 4, channels: cfg.channels, input: [1, 28, 28], classes: 10 });
  const built = buildModel(def);
  if (E.isLeft(built)) throw new Error(`darts space: ${built.left.map((e) => e.message).join('; ')}`);
  const graph = built.right;
  const batch = cfg.batch;
  const where = `darts space ${cfg.cells} cells, 4 nodes, ${cfg.channels} ch, [1,28,28], batch ${batch}`;
  const rows: Row[] = [];
  if (cfg.memoryOnly === true) return memoryRows(cfg, algos, graph, gpu, where, log);
  const measured = new Map<Algo, AlgoMeasured>();
  const dartsGroup: readonly Algo[] = algos.filter((a) => a === 'darts1' || a === 'darts2' || a === 'gdas');
  let shared: Supernet | undefined;
  let fixedTimes: readonly number[] = [];
  let fixedMemory: PoolMemory | undefined;
  try {
    // What the host can back (lavapipe's device memory is host memory, shared with other processes here): an
    // algorithm on the mixed supernet runs only if its Programs fit in 60 % of what is available now.
    const available = Number(process.env['NASGRAPH_BENCH_DEVICE_BYTES'] ?? (gpu.isSoftware ? os.freemem() : Infinity));
    let mixedBytes: number | undefined;
    let pytorch = 'PyTorch CPU: measured beside DARTS 1st order only';
    for (const algo of algos) {
      const d = driverOf(algo);
      const inGroup = dartsGroup.includes(algo);
      if (algo !== 'enas' && algo !== 'spos') {
        mixedBytes ??= poolMemory(heldPrograms(graph, batch, gpu, d, { usedMixed: true, usedEval: false, archs: [] })).total;
        if (mixedBytes > 0.6 * available) {
          log(`oneshot ${cfg.name} ${algo}: NOT RUN: the mixed supernet's Programs need ${mb(mixedBytes)}, more than 60 % of the ${mb(available)} available now (set NASGRAPH_BENCH_DEVICE_BYTES to override); ${load()}`);
          continue;
        }
      }
      const first = !inGroup || shared === undefined;
      const timed = algo === 'enas' || algo === 'spos' ? cfg.timedSampled : cfg.timedMixed;
      const steps = timed + (first ? 1 : 0);
      let net: Supernet;
      if (inGroup) {
        shared ??= supernetFor(graph, gpu, batch, d);
        net = shared;
      } else {
        net = supernetFor(graph, gpu, batch, d);
      }
      log(`oneshot ${cfg.name} ${algo}: ${steps} step(s) (${first ? '1 warm-up + ' : 'supernet already warm: '}${timed} timed); ${load()}`);
      try {
        const m = await runAlgo(algo, net, graph, batch, steps, gpu, log);
        measured.set(algo, m);
        const timedSteps = first ? m.steps.slice(1) : m.steps;
        const t = median(timedSteps.map((s) => s.seconds));
        const mem = poolMemory(heldPrograms(graph, batch, gpu, d, m));
        if (algo === 'darts1') pytorch = pytorchBeside(cfg, t, paramCount(graph), log);
        const newSubnets = timedSteps.filter((s) => s.calls.some((c) => c.newSubnet === true)).length;
        let extra = '';
        if (algo === 'enas' || algo === 'spos') {
          // Warm: the same architecture again (its subnet cached, no compilation): what a step costs when the draw repeats.
          const last = m.archs[m.archs.length - 1]!;
          const warm = await repeatSampled(net, last, batch, cfg.timedSampled, d.weights.optimizer.lr ?? 0.05);
          extra =
            `; cold steps (a new architecture: subnet lowered and instantiated, pipelines from the device cache unless new) are the timed steps above (${newSubnets} of ${timedSteps.length} needed a new subnet; ` +
            `pipelines created per timed step ${timedSteps.map((s) => s.pipelines).join('/')}); warm (the last architecture repeated, subnet cached) ${showTimes(warm)}, median ${secs(median(warm))}, ${(batch / median(warm)).toFixed(1)} img/s`;
          if (algo === 'enas') extra += `; controller phase (${m.tail.calls.filter((c) => c.method === 'evaluate').length} architectures scored on valid batches + REINFORCE update) ${secs(m.tail.seconds)}`;
        }
        const warmup = first ? `step 1 (instantiation + pipeline compilation) ${secs(m.steps[0]!.seconds)}, ${m.steps[0]!.pipelines} pipelines created; ` : 'no warm-up step (supernet shared with DARTS 1st order, already warm); ';
        const note =
          `${where}; ${warmup}timed steps ${showTimes(timedSteps.map((s) => s.seconds))} (n=${timedSteps.length}), median ${secs(t)}, ${(batch / t).toFixed(2)} img/s (train images per search step); ` +
          `calls in timed steps: ${callSummary(timedSteps)}${extra}; ` +
          `supernet memory (Programs: ${mem.programs}) ${mb(mem.total)} = params+optimizer state ${mb(mem.pooled)} (shared by path) + per-program buffers ${mb(mem.perProgram)} + read-back staging ${mb(mem.staging)}; ` +
          `executor created ${mb(m.createdStorage)} storage + ${mb(m.createdStaging)} staging during this run${inGroup && !first ? ' (supernet already instantiated)' : ''}; ${algo === 'darts1' ? pytorch : 'PyTorch CPU: measured beside DARTS 1st order only'}; ${load()}`;
        log(`oneshot ${cfg.name} ${algo}: ${note}`);
        rows.push({ section: 'oneshot', name: `${LABEL[algo]}, ${where}`, flops: null, ours: timing(t, null), tfjs: null, note });
      } catch (e) {
        // One algorithm's failure (a driver refusing or breaking on this space) must not lose the others' figures.
        const message = e instanceof Error ? e.message : String(e);
        log(`oneshot ${cfg.name} ${algo}: FAILED: ${message}`);
        rows.push({ section: 'oneshot', name: `${LABEL[algo]}, ${where}: FAILED`, flops: null, ours: { ms: NaN, gflops: null }, tfjs: null, note: `FAILED: ${message}; ${load()}` });
      } finally {
        if (!inGroup) net.destroy();
      }
    }
    // The supernet overhead: the mixed weight step against one fixed subnet's training step, same optimizer.
    const d1 = measured.get('darts1');
    if (d1 !== undefined && shared !== undefined) {
      const d = driverOf('darts1');
      const arch = firstArchitecture(searchSpace(graph));
      log(`oneshot ${cfg.name} fixed subnet (first architecture): 1 warm-up + ${cfg.timedSampled} timed; ${load()}`);
      const times = await repeatSampled(shared, arch, batch, 1 + cfg.timedSampled, d.weights.optimizer.lr ?? 0.025);
      fixedTimes = times.slice(1);
      const f = apply(graph, arch);
      fixedMemory = E.isRight(f) ? poolMemory([trainerProgram(f.right, batch, adapterKind(gpu.adapterInfo), d)]) : undefined;
      const mixedWeight = d1.steps.slice(1).flatMap((s) => s.calls.filter((c) => c.method === 'mixedStep' && c.update === true).map((c) => c.seconds));
      const mixedArch = d1.steps.slice(1).flatMap((s) => s.calls.filter((c) => c.method === 'mixedStep' && c.update !== true).map((c) => c.seconds));
      const tm = median(mixedWeight);
      const tf = median(fixedTimes);
      const note =
        `${where}; DARTS mixed weight step (every candidate, ∂L/∂w per key, SGD update) ${showTimes(mixedWeight)} median ${secs(tm)}; mixed arch step (no update) ${showTimes(mixedArch)}; ` +
        `fixed subnet (first architecture, same optimizer, through Supernet.sampledStep) warm-up ${secs(times[0]!)}, timed ${showTimes(fixedTimes)} median ${secs(tf)}; ` +
        `supernet overhead ratio ${(tm / tf).toFixed(1)}×; fixed subnet memory ${fixedMemory === undefined ? '?' : mb(fixedMemory.total)}; ${load()}`;
      log(`oneshot ${cfg.name} overhead: ${note}`);
      rows.push({ section: 'oneshot', name: `supernet overhead: DARTS mixed weight step / fixed subnet step, ${where}`, flops: null, ours: timing(tm, null), tfjs: null, note });
    }
  } finally {
    shared?.destroy();
  }
  return rows;
};

export const oneshotSection: BenchSection = {
  name: 'oneshot',
  description:
    'one-shot search step time (images/s) per algorithm (DARTS 1st/2nd order, GDAS, ProxylessNAS, ENAS, SPOS) on the darts space, ' +
    'supernet device memory, and the supernet overhead ratio (mixed step / fixed subnet step)',
  run: async ({ gpu, log }) => {
    const names = listEnv('NASGRAPH_BENCH_ONESHOT') ?? ['small', 'issue-memory', 'issue'];
    const algos = (listEnv('NASGRAPH_BENCH_ONESHOT_ALGOS') ?? ALGOS) as readonly string[];
    const bad = [...names.filter((n) => CONFIGS[n] === undefined), ...algos.filter((a) => !(ALGOS as readonly string[]).includes(a))];
    if (bad.length > 0) throw new Error(`oneshot: unknown configuration or algorithm ${bad.join(', ')} (configurations: ${Object.keys(CONFIGS).join(', ')}; algorithms: ${ALGOS.join(', ')})`);
    const rows: Row[] = [];
    for (const n of names) rows.push(...(await runConfig(CONFIGS[n]!, ALGOS.filter((a) => algos.includes(a)), gpu, log)));
    return rows;
  },
};
