/**
 * `oneShotSearch`: the epoch loop every one-shot algorithm shares. It creates the supernet on the device, runs the
 * driver's epochs (then its `finish`, e.g. SPOS's evolution), records after every epoch the architecture history
 * (each key's distribution, the architecture the algorithm would export, the epoch's metrics and the validation
 * accuracy of that architecture with the shared weights, its BatchNorm statistics re-estimated first), and, given a directory, checkpoints after every epoch:
 * `supernet.safetensors` holds every tensor (weights, BatchNorm statistics, optimizer state) and, in its metadata,
 * the algorithm's state, the generator, the step count and the history — so `resume` continues exactly where an
 * interrupted search stopped. `history.json` is rewritten after every epoch, for plotting.
 *
 * @example
 * const r = await oneShotSearch(graph, { gpu, driver: eraseDriver(dartsDriver()), train, valid, epochs: 5, batchSize: 32, seed: 0 });
 * if (E.isRight(r)) r.right.arch; // the derived architecture; r.right.history per epoch
 */
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { learningRate } from '../../compile/schedule.ts';
import { type Architecture, apply } from '../../ir/apply.ts';
import type { Graph } from '../../ir/graph.ts';
import { type Rng, seedRng } from '../../ir/rng.ts';
import type { HistoryEntry } from '../../search/oneshot/types.ts';
import { rngCodec } from '../../search/strategy.ts';
import { type Dataset, epochBatches } from '../data/batches.ts';
import type { Gpu } from '../device.ts';
import { divergence } from '../divergence.ts';
import { type ProgressSink, silentProgress } from '../progress.ts';
import { readSafetensorsFile, toFloat32, writeSafetensorsFile } from '../safetensors.ts';
import { countMacs } from '../trial-evaluator.ts';
import type { AnyDriver, DriverContext } from './driver.ts';
import { Supernet } from './supernet.ts';

export interface OneShotOptions {
  readonly gpu: Gpu;
  readonly driver: AnyDriver;
  /** Weights train on `train`; the architecture learns from (or is scored on) `valid`. */
  readonly train: Dataset;
  readonly valid: Dataset;
  readonly epochs: number;
  readonly batchSize: number;
  readonly evalBatchSize?: number;
  readonly seed: number;
  /** The weights' base learning rate (default: the algorithm's). */
  readonly lr?: number;
  /** Checkpoints and history.json go here (created if missing). */
  readonly dir?: string;
  /** Continue from `dir`'s checkpoint (refused if it was written by another algorithm or seed). */
  readonly resume?: boolean;
  readonly progress?: ProgressSink;
  /** Called after each epoch with its history entry (the CLI's display). */
  readonly onEpoch?: (entry: HistoryEntry) => void;
  readonly signal?: AbortSignal;
}

export interface OneShotResult {
  readonly arch: Architecture;
  readonly history: readonly HistoryEntry[];
  /** The trained supernet's weights by path (to inherit in a retrain). */
  readonly params: ReadonlyMap<string, Float32Array>;
  readonly seconds: number;
  /** True when `signal` stopped the search early (the checkpoint allows a resume). */
  readonly aborted: boolean;
}

/** 'Diverged': the training loss grew past `DIVERGENCE_FACTOR`× its first value (src/runtime/divergence.ts). */
export type OneShotError = { readonly tag: 'OneShot' | 'Diverged'; readonly message: string };

const err = (message: string): OneShotError => ({ tag: 'OneShot', message });

export const CHECKPOINT = 'supernet.safetensors';
/** Training batches the derived architecture's BatchNorm statistics are re-estimated on before it is scored. */
export const CALIBRATION_BATCHES = 10;
export const HISTORY = 'history.json';

const metaCodec = t.intersection([
  t.type({
    format: t.literal('nasgraph-oneshot/1'),
    algorithm: t.string,
    options: t.string,
    seed: t.number,
    epoch: t.number,
    step: t.number,
    rng: rngCodec,
    state: t.unknown,
    history: t.unknown,
  }),
  // The first step's loss, the divergence check's reference (checkpoints written before it lack it).
  t.partial({ firstLoss: t.number }),
]);

const historyCodec = t.readonlyArray(
  t.type({ epoch: t.number, distribution: t.record(t.string, t.readonlyArray(t.number)), arch: t.record(t.string, t.readonlyArray(t.number)), metrics: t.record(t.string, t.number) }),
);

/** Writes `text` to `file` atomically. */
const writeAtomic = (file: string, text: string): void => {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
};

interface Resumed {
  readonly epoch: number;
  readonly step: number;
  readonly rng: Rng;
  readonly state: unknown;
  readonly history: readonly HistoryEntry[];
  readonly tensors: ReadonlyMap<string, Float32Array>;
  readonly firstLoss?: number;
}

const readResume = (file: string, o: OneShotOptions): E.Either<readonly OneShotError[], Resumed> => {
  const f = readSafetensorsFile(file);
  if (E.isLeft(f)) return E.left(f.left.map((e) => err(e.message)));
  let meta: unknown;
  try {
    meta = JSON.parse(f.right.metadata?.['nasgraph'] ?? 'null');
  } catch {
    meta = null;
  }
  const m = metaCodec.decode(meta);
  if (E.isLeft(m)) return E.left([err(`${file}: not a one-shot search checkpoint (its metadata does not decode)`)]);
  const h = historyCodec.decode(m.right.history);
  if (E.isLeft(h)) return E.left([err(`${file}: its architecture history is malformed`)]);
  const problems: OneShotError[] = [];
  if (m.right.algorithm !== o.driver.name) problems.push(err(`${file} was written by a ${m.right.algorithm} search, not ${o.driver.name}`));
  if (m.right.seed !== o.seed) problems.push(err(`${file} was written with seed ${m.right.seed}, not ${o.seed}`));
  if (m.right.options !== JSON.stringify(o.driver.options)) problems.push(err(`${file} was written with other ${o.driver.name} options (${m.right.options})`));
  if (problems.length > 0) return E.left(problems);
  const tensors = new Map([...f.right.tensors].map(([name, tensor]) => [name, toFloat32(tensor)] as const));
  return E.right({ epoch: m.right.epoch, step: m.right.step, rng: m.right.rng, state: m.right.state, history: h.right, tensors, ...(m.right.firstLoss === undefined ? {} : { firstLoss: m.right.firstLoss }) });
};

/** Runs a one-shot search (see the module comment); every error is collected and named. */
export const oneShotSearch = async (graph: Graph, o: OneShotOptions): Promise<E.Either<readonly OneShotError[], OneShotResult>> => {
  const t0 = performance.now();
  const d = o.driver;
  const problems: OneShotError[] = [];
  if (!(Number.isInteger(o.epochs) && o.epochs >= 1)) problems.push(err(`epochs must be a positive integer, got ${o.epochs}`));
  if (!(Number.isInteger(o.batchSize) && o.batchSize >= 1)) problems.push(err(`batch size must be a positive integer, got ${o.batchSize}`));
  if (o.train.n < o.batchSize) problems.push(err(`the weights' training set has ${o.train.n} samples, fewer than one batch of ${o.batchSize}`));
  if (o.valid.n < o.batchSize) problems.push(err(`the architecture's validation set has ${o.valid.n} samples, fewer than one batch of ${o.batchSize}`));
  if (problems.length > 0) return E.left(problems);

  const ckpt = o.dir === undefined ? undefined : join(o.dir, CHECKPOINT);
  let resumed: Resumed | undefined;
  if (o.resume === true && ckpt !== undefined && existsSync(ckpt)) {
    const r = readResume(ckpt, o);
    if (E.isLeft(r)) return r;
    resumed = r.right;
  }
  const base = o.lr ?? (d.weights.optimizer.kind === 'sgd' ? d.weights.optimizer.lr : d.weights.optimizer.lr ?? 1e-3);
  const optimizer = { ...d.weights.optimizer, lr: base };
  const created = Supernet.create(graph, {
    gpu: o.gpu,
    batchSize: o.batchSize,
    ...(o.evalBatchSize === undefined ? {} : { evalBatchSize: o.evalBatchSize }),
    optimizer,
    ...(d.weights.clipGradNorm === undefined ? {} : { clipGradNorm: d.weights.clipGradNorm }),
    seed: o.seed,
    ...(resumed === undefined ? {} : { init: resumed.tensors }),
  });
  if (E.isLeft(created)) return E.left(created.left.map((e) => err(e.message)));
  const net = created.right;
  const space = net.space;
  const refused = d.check(space);
  if (refused.length > 0) {
    net.destroy();
    return E.left(refused.map((e) => err(e.message)));
  }
  const progress = o.progress ?? silentProgress;
  let firstLoss = resumed?.firstLoss;
  const schedule = d.weights.schedule.kind === 'cosine' ? { ...d.weights.schedule, tMax: o.epochs } : d.weights.schedule;
  const ctx: DriverContext = {
    net,
    graph,
    space,
    train: o.train,
    valid: o.valid,
    batchSize: o.batchSize,
    epochs: o.epochs,
    lr: (epoch) => learningRate(schedule, base, { step: epoch, stepsPerEpoch: 1 }),
    macs: (arch) => {
      const fixed = apply(graph, arch);
      return E.isRight(fixed) ? countMacs(fixed.right) : NaN;
    },
    progress: {
      ...progress,
      step: (done, steps, loss, accuracy) => {
        // The running mean after the first step of the run is that step's loss: the divergence check's reference.
        if (firstLoss === undefined && done === 1 && resumed === undefined) firstLoss = loss; // (a checkpoint without it: no check)
        progress.step(done, steps, loss, accuracy);
      },
    },
    gpu: o.gpu,
  };

  try {
    let state: unknown;
    let rng: Rng;
    let startEpoch = 0;
    const history: HistoryEntry[] = [];
    if (resumed !== undefined) {
      const s = d.decode(space, resumed.state);
      if (E.isLeft(s)) return E.left(s.left.map((e) => err(`${ckpt}: ${e.message}`)));
      state = s.right;
      rng = resumed.rng;
      startEpoch = resumed.epoch;
      net.step = resumed.step;
      history.push(...resumed.history);
      ctx.progress.note(`resuming ${d.name} from ${ckpt} after epoch ${resumed.epoch} of ${o.epochs}`);
    } else {
      [state, rng] = d.init(space, seedRng(o.seed));
    }
    if (o.dir !== undefined) mkdirSync(o.dir, { recursive: true });

    // The derived architecture is scored with the shared weights after its BatchNorm statistics are re-estimated on
    // the first training batches (as SPOS scores candidates): statistics gathered in a mixed supernet, or on other
    // paths, describe other inputs, and without this the score says more about them than about the architecture.
    const calibration = [...epochBatches(o.train, { batchSize: o.batchSize, dropLast: true }).batches]
      .slice(0, CALIBRATION_BATCHES)
      .map((b) => ({ images: b.images.slice(), labels: Array.from(b.labels) }));
    const record = async (epoch: number, metrics: Readonly<Record<string, number>>): Promise<E.Either<readonly OneShotError[], HistoryEntry>> => {
      const arch = d.export(space, state);
      const recal = await net.recalibrate(arch, calibration);
      if (E.isLeft(recal)) return E.left(recal.left.map((e) => err(e.message)));
      const scored = await net.evaluate(o.valid, { arch });
      if (E.isLeft(scored)) return E.left(scored.left.map((e) => err(e.message)));
      const entry: HistoryEntry = { epoch, distribution: d.distribution(space, state), arch, metrics: { ...metrics, validAccuracy: scored.right.accuracy, validLoss: scored.right.loss } };
      history.push(entry);
      o.onEpoch?.(entry);
      return E.right(entry);
    };
    const checkpoint = async (epoch: number, driverState: unknown = state): Promise<E.Either<readonly OneShotError[], void>> => {
      if (o.dir === undefined || ckpt === undefined) return E.right(undefined);
      writeAtomic(join(o.dir, HISTORY), `${JSON.stringify(history, null, 2)}\n`);
      const tensors = await net.readState();
      if (E.isLeft(tensors)) return E.left(tensors.left.map((e) => err(e.message)));
      const meta = { format: 'nasgraph-oneshot/1', algorithm: d.name, options: JSON.stringify(d.options), seed: o.seed, epoch, step: net.step, rng, state: d.encode(driverState), history, ...(firstLoss === undefined ? {} : { firstLoss }) };
      const w = writeSafetensorsFile(ckpt, tensors.right, { nasgraph: JSON.stringify(meta) });
      return E.isLeft(w) ? E.left(w.left.map((e) => err(e.message))) : E.right(undefined);
    };

    // An interrupt (the signal) never cuts an epoch short: the epoch runs to its end, is recorded and checkpointed,
    // and only then does the search stop, so that a resumed search continues exactly where an uninterrupted one
    // would be (a checkpoint is always at an epoch boundary; SIGKILL loses at most the epoch in progress). The
    // finishing phase (SPOS' evolution) gets the signal and stops after the generation in progress, checkpointed.
    let aborted = false;
    const stopped = (): boolean => o.signal?.aborted === true;
    for (let epoch = startEpoch; epoch < o.epochs; epoch++) {
      if (stopped()) {
        aborted = true;
        break;
      }
      const e0 = performance.now();
      const r = await d.epoch(ctx, state, epoch, rng);
      if (E.isLeft(r)) return E.left(r.left.map((e) => err(e.message)));
      // A diverged epoch is not checkpointed: the last checkpoint stays the last sound epoch.
      const trainLoss = r.right.metrics['trainLoss'];
      const diverged = trainLoss === undefined || firstLoss === undefined ? undefined : divergence({ loss: trainLoss, first: firstLoss, epoch: epoch + 1 });
      if (diverged !== undefined) return E.left([{ tag: 'Diverged', message: `${d.name}: ${diverged}` }]);
      state = r.right.state;
      rng = r.right.rng;
      const entry = await record(epoch + 1, { ...r.right.metrics, seconds: (performance.now() - e0) / 1000 });
      if (E.isLeft(entry)) return entry;
      const c = await checkpoint(epoch + 1);
      if (E.isLeft(c)) return c;
      if (stopped()) {
        aborted = epoch + 1 < o.epochs || d.finish !== undefined;
        break;
      }
    }
    if (!aborted && d.finish !== undefined) {
      const finishCtx: DriverContext = {
        ...ctx,
        ...(o.signal === undefined ? {} : { signal: o.signal }),
        checkpoint: async (s) => {
          const c = await checkpoint(o.epochs, s);
          return E.isLeft(c) ? E.left(c.left.map((e) => ({ tag: 'Model', message: e.message }))) : E.right(undefined);
        },
      };
      const f = await d.finish(finishCtx, state, rng);
      if (E.isLeft(f)) return E.left(f.left.map((e) => err(e.message)));
      state = f.right.state;
      if (f.right.aborted === true) aborted = true;
      else {
        const entry = await record(o.epochs + 1, f.right.metrics);
        if (E.isLeft(entry)) return entry;
        if (o.dir !== undefined) writeAtomic(join(o.dir, HISTORY), `${JSON.stringify(history, null, 2)}\n`);
      }
    }
    const params = await net.readParams();
    if (E.isLeft(params)) return E.left(params.left.map((e) => err(e.message)));
    return E.right({ arch: d.export(space, state), history, params: params.right, seconds: (performance.now() - t0) / 1000, aborted });
  } finally {
    net.destroy();
  }
};
