/**
 * One trial of classic NAS on the device: apply the architecture to the supernet, train the fixed model for a
 * few epochs on the search's training split, and score it on the held-out validation split. The objective is
 * the validation accuracy (maximised); the trial also reports its per-epoch curve (through `report`, for the
 * median stopping rule), its parameter count, its multiply-accumulates per image, and its training time.
 *
 * Every trial trains with the search's seed: the same data order and, for parameters two architectures share
 * (same path), the same initial values. Trials then differ only by their architecture, which makes their
 * comparison less noisy than fresh seeds would (common random numbers).
 *
 * Also here: the data a search trains on (`searchData`: a seeded train/valid split of the training set, and the
 * test set for the final retrain) and `retrainArchitecture`, the retrain of the winner from scratch.
 *
 * @example
 * const evaluate = trialEvaluator({ gpu, supernet: graph, data: { train, valid }, epochs: 1, batchSize: 64,
 *   optimizer: { kind: 'adam', lr: 1e-3 }, seed: 1 });
 * const r = await runSearch({ space, strategy, evaluate, trials: 12, seed: 1, logDir: 'runs/exp1' });
 */
import * as E from 'fp-ts/lib/Either.js';
import type { OptimizerSpec } from '../compile/optimizer.ts';
import { type Architecture, apply } from '../ir/apply.ts';
import { type Graph, paramCount } from '../ir/graph.ts';
import { seedRng } from '../ir/rng.ts';
import type { EpochMetrics } from './checkpoint.ts';
import { type Dataset, splitDataset, subset } from './data/batches.ts';
import type { DataError } from './data/idx.ts';
import type { Gpu } from './device.ts';
import { type ProgressSink, silentProgress } from './progress.ts';
import { type TrainResult, train } from './train.ts';
import type { Evaluate, TrialMetrics } from './trials.ts';

// ---------------------------------------------------------------------------------------------------------
// Costs

/** Moved to `src/ir/cost.ts` (a property of the graph); re-exported here for existing importers. */
export { countMacs } from '../ir/cost.ts';
import { countMacs } from '../ir/cost.ts';

// ---------------------------------------------------------------------------------------------------------
// Data

/** The data of a search: trials train on `train` and are scored on `valid`; the retrain trains on `retrain`, tested on `test`. */
export interface SearchData {
  readonly train: Dataset;
  readonly valid: Dataset;
  /** By default `train` and `valid` together; never a test sample. */
  readonly retrain: Dataset;
  readonly test: Dataset;
}

/** How much of each set a search uses (undefined: everything available). */
export interface SearchDataSizes {
  /** Samples held out of the training set for validation. */
  readonly validSize: number;
  /** Training samples per trial (taken after the validation hold-out); default all the rest. */
  readonly trainSize?: number;
  /** Test samples for the final retrain's score; default the whole test set. */
  readonly testSize?: number;
  /**
   * Training samples of the retrain: the trials' train and valid sets first, then (when larger) more of the
   * training set; default `trainSize + validSize`.
   */
  readonly retrainSize?: number;
  readonly seed: number;
}

/**
 * Splits `full.train` into a validation hold-out of `validSize` samples (seeded, stratified by class) and a
 * training part cut to `trainSize`; cuts the test set to `testSize`. Every size problem is reported.
 *
 * @example
 * const d = searchData(loaded.right, { validSize: 1000, trainSize: 4000, testSize: 10000, seed: 1 });
 */
export const searchData = (full: { readonly train: Dataset; readonly test: Dataset }, s: SearchDataSizes): E.Either<readonly DataError[], SearchData> => {
  const errors: DataError[] = [];
  const bad = (option: string, message: string): void => void errors.push({ tag: 'InvalidOption', option, message });
  const n = full.train.n;
  if (!(Number.isInteger(s.validSize) && s.validSize >= 1 && s.validSize < n)) bad('valid-size', `--valid-size must be an integer in 1..${n - 1} (the training set has ${n} samples), got ${s.validSize}`);
  const left = n - s.validSize;
  if (s.trainSize !== undefined && !(Number.isInteger(s.trainSize) && s.trainSize >= 1 && s.trainSize <= left)) {
    bad('train-size', `--train-size must be an integer in 1..${Math.max(1, left)} (${n} training samples, ${s.validSize} held out for validation), got ${s.trainSize}`);
  }
  if (s.testSize !== undefined && !(Number.isInteger(s.testSize) && s.testSize >= 1 && s.testSize <= full.test.n)) {
    bad('test-size', `--test-size must be an integer in 1..${full.test.n} (the test set's size), got ${s.testSize}`);
  }
  if (s.retrainSize !== undefined && !(Number.isInteger(s.retrainSize) && s.retrainSize >= 1 && s.retrainSize <= n)) {
    bad('retrain-size', `--retrain-size must be an integer in 1..${n} (the training set's size), got ${s.retrainSize}`);
  }
  if (errors.length > 0) return E.left(errors);
  const split = splitDataset(full.train, { valid: { count: s.validSize }, rng: seedRng(s.seed), stratified: true });
  if (E.isLeft(split)) return split;
  const rest = split.right.train;
  const valid = split.right.valid;
  // The split keeps the set's order, and Fashion-MNIST's order is random already: a prefix is a fair sample.
  const range = (ds: Dataset, from: number, to: number): Dataset => (from === 0 && to === ds.n ? ds : subset(ds, Array.from({ length: to - from }, (_, i) => from + i)));
  const trainN = s.trainSize ?? rest.n;
  const train = range(rest, 0, trainN);
  const retrainN = s.retrainSize ?? trainN + s.validSize;
  const both = concatDatasets(train, valid);
  const retrain = retrainN <= both.n ? range(both, 0, retrainN) : concatDatasets(both, range(rest, trainN, trainN + retrainN - both.n));
  return E.right({ train, valid, retrain, test: range(full.test, 0, s.testSize ?? full.test.n) });
};

/** Two data sets of one shape as one (the retrain's training set: the search's train and valid parts). */
export const concatDatasets = (a: Dataset, b: Dataset): Dataset => {
  const images = new Float32Array(a.images.length + b.images.length);
  images.set(a.images, 0);
  images.set(b.images, a.images.length);
  const labels = new Int32Array(a.n + b.n);
  labels.set(a.labels, 0);
  labels.set(b.labels, a.n);
  return { images, labels, n: a.n + b.n, shape: a.shape, classes: Math.max(a.classes, b.classes) };
};

// ---------------------------------------------------------------------------------------------------------
// Training one architecture

/** How every trial (and the retrain) trains. */
export interface TrialTraining {
  readonly gpu: Gpu;
  readonly epochs: number;
  readonly batchSize: number;
  readonly optimizer: OptimizerSpec;
  readonly seed: number;
  readonly evalBatchSize?: number;
}

/** Options of `trialEvaluator`. */
export interface TrialEvaluatorOptions extends TrialTraining {
  /** The model with its choices: each trial applies its architecture to it. */
  readonly supernet: Graph;
  readonly data: { readonly train: Dataset; readonly valid: Dataset };
  /** Where trial `id`'s training reports its steps and epochs (a live display); default nowhere. */
  readonly progress?: (id: number) => ProgressSink;
}

/** Thrown from the training loop's epoch hook to end a trial that the runner stopped (median rule, abort). */
class TrialInterrupted extends Error {}

/** The fixed model of `arch`, or an error naming every problem (thrown: the runner records the trial as failed). */
const fixedModel = (supernet: Graph, arch: Architecture): Graph => {
  const fixed = apply(supernet, arch);
  if (E.isLeft(fixed)) throw new Error(`applying the architecture failed: ${fixed.left.map((e) => e.message).join('; ')}`);
  return fixed.right;
};

/** The metrics of an epoch as a trial reports them, with `objective` (the validation accuracy) for the median rule. */
export const epochReport = (m: EpochMetrics): Readonly<Record<string, number>> => {
  const out: Record<string, number> = { trainLoss: m.trainLoss, trainAccuracy: m.trainAccuracy, seconds: m.seconds };
  if (m.validLoss !== undefined) out['validLoss'] = m.validLoss;
  if (m.validAccuracy !== undefined) {
    out['validAccuracy'] = m.validAccuracy;
    out['objective'] = m.validAccuracy;
  }
  if (m.testLoss !== undefined) out['testLoss'] = m.testLoss;
  if (m.testAccuracy !== undefined) out['testAccuracy'] = m.testAccuracy;
  return out;
};

const trainOrThrow = async (
  graph: Graph,
  data: { readonly train: Dataset; readonly valid?: Dataset; readonly test?: Dataset },
  o: TrialTraining,
  progress: ProgressSink,
): Promise<TrainResult> => {
  const r = await train(graph, data, {
    gpu: o.gpu,
    epochs: o.epochs,
    batchSize: o.batchSize,
    optimizer: o.optimizer,
    seed: o.seed,
    ...(o.evalBatchSize === undefined ? {} : { evalBatchSize: o.evalBatchSize }),
    progress,
  });
  if (E.isLeft(r)) throw new Error(r.left.map((e) => e.message).join('; '));
  return r.right;
};

/**
 * The `evaluate` of `runSearch` for training on the device (see the module comment). A trial whose training
 * fails (a non-finite loss, a device or compile error) throws, and the runner records it as failed. When the
 * runner stops a trial (median rule) or the search is aborted, training ends after the current epoch (the
 * training loop is interrupted only between epochs, where nothing is in flight on the device) and the trial
 * returns what it reached.
 */
export const trialEvaluator =
  (o: TrialEvaluatorOptions): Evaluate =>
  async ({ id, arch, signal, report }): Promise<TrialMetrics> => {
    const t0 = performance.now();
    const fixed = fixedModel(o.supernet, arch);
    const costs = { params: paramCount(fixed), flops: countMacs(fixed) };
    const sink = o.progress?.(id) ?? silentProgress;
    let last: EpochMetrics | undefined;
    const progress: ProgressSink = {
      ...sink,
      epochStart: (epoch, epochs, steps) => {
        if (signal.aborted) throw new TrialInterrupted(`trial ${id} interrupted before epoch ${epoch}`);
        sink.epochStart(epoch, epochs, steps);
      },
      epochEnd: (m, epochs) => {
        sink.epochEnd(m, epochs);
        last = m;
        if (report(m.epoch, epochReport(m)) === 'stop' || signal.aborted) throw new TrialInterrupted(`trial ${id} stopped after epoch ${m.epoch}`);
      },
    };
    try {
      // Only the train and valid sets: a trial never sees test data, whatever else `o.data` holds.
      await trainOrThrow(fixed, { train: o.data.train, valid: o.data.valid }, o, progress);
    } catch (e) {
      if (!(e instanceof TrialInterrupted)) throw e;
    }
    const final = last?.validAccuracy;
    if (last === undefined || final === undefined) throw new Error(`trial ${id} ended before its first validation`);
    return {
      objective: final,
      metrics: { ...epochReport(last), epochs: last.epoch, macs: costs.flops, trainSeconds: (performance.now() - t0) / 1000 },
      ...costs,
    };
  };

/** What the retrain of the best architecture gives. */
export interface RetrainResult {
  readonly graph: Graph;
  readonly params: number;
  readonly macs: number;
  readonly history: readonly EpochMetrics[];
  readonly testAccuracy: number;
  readonly testLoss: number;
  readonly seconds: number;
  readonly trained: TrainResult;
}

/**
 * Retrains `arch` from scratch (fresh weights from `o.seed`, or `o.init`'s where it has the path) on `data.train` and scores it on `data.test` after
 * every epoch; the last epoch's test accuracy is the result. Left with every error (apply, training).
 *
 * @example
 * const r = await retrainArchitecture(supernet, best.arch, { train: trainAndValid, test }, { gpu, epochs: 3, batchSize: 64, optimizer, seed: 1 });
 */
export const retrainArchitecture = async (
  supernet: Graph,
  arch: Architecture,
  data: { readonly train: Dataset; readonly test: Dataset },
  o: TrialTraining & {
    readonly progress?: ProgressSink;
    /** Start from these weights where the fixed model has the path (a one-shot supernet's: `--inherit`). */
    readonly init?: ReadonlyMap<string, Float32Array>;
  },
): Promise<E.Either<readonly string[], RetrainResult>> => {
  const t0 = performance.now();
  const fixed = apply(supernet, arch);
  if (E.isLeft(fixed)) return E.left(fixed.left.map((e) => `applying the architecture failed: ${e.message}`));
  const r = await train(fixed.right, data, {
    gpu: o.gpu,
    epochs: o.epochs,
    batchSize: o.batchSize,
    optimizer: o.optimizer,
    seed: o.seed,
    ...(o.evalBatchSize === undefined ? {} : { evalBatchSize: o.evalBatchSize }),
    progress: o.progress ?? silentProgress,
    ...(o.init === undefined ? {} : { init: o.init }),
  });
  if (E.isLeft(r)) return E.left(r.left.map((e) => e.message));
  const last = r.right.history.at(-1);
  if (last?.testAccuracy === undefined || last.testLoss === undefined) return E.left(['the retrain ran no epoch, so there is no test accuracy (use at least one epoch)']);
  return E.right({
    graph: fixed.right,
    params: paramCount(fixed.right),
    macs: countMacs(fixed.right),
    history: r.right.history,
    testAccuracy: last.testAccuracy,
    testLoss: last.testLoss,
    seconds: (performance.now() - t0) / 1000,
    trained: r.right,
  });
};
