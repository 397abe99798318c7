/**
 * `train(graph, data, options)`: trains a fixed graph (or a supernet under fixed choice weights, as its mixed
 * graph) on the device, one compiled Program per step — forward, backward and optimizer in one submit — and
 * evaluates it every epoch with the eval-form forward Program (BatchNorm running statistics, no dropout).
 *
 * - Steps: each batch is gathered on the CPU while the previous step runs; the step after it is queued before the
 *   previous one's loss is read back, so the device never waits for a batch (double-buffered batch memory).
 * - Metrics per epoch: train loss and accuracy (running over the epoch's steps, from each step's loss and logits),
 *   valid/test loss, accuracy and top-5 accuracy.
 * - Divergence that stays finite (an epoch's mean loss above 10× the first step's, src/runtime/divergence.ts) stops
 *   training with a `Diverged` error, before that epoch is checkpointed.
 * - A non-finite loss stops training with an error naming the step and the last good checkpoint (the optimizer
 *   skips that step's update on the device), unless `skipNonFinite`: then the step is skipped and counted (its
 *   update skipped on the device, its changes to BatchNorm running statistics undone).
 * - Checkpoints: with `checkpointDir`, `DIR/checkpoint.safetensors` after every epoch (parameters, running
 *   statistics, optimizer state; metadata: epoch, step, seed, data-order RNG, architecture, metrics); `resume`
 *   continues from it, the same as a run that was never interrupted.
 * - Deterministic per seed: initial weights, data order and dropout masks all derive from `seed`.
 *
 * @example
 * const r = await train(fixed, { train, test }, { gpu, epochs: 3, batchSize: 64, optimizer: { kind: 'adam', lr: 1e-3 }, seed: 1 });
 * if (E.isRight(r)) console.log(r.right.history.at(-1)?.testAccuracy);
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { OPTIMIZER_PREFIX, stepScalars } from '../compile/optimizer.ts';
import { learningRate } from '../compile/schedule.ts';
import { adapterKind } from '../compile/kernels/tiles.ts';
import { hash3 } from '../ir/counter-rng.ts';
import type { Graph } from '../ir/graph.ts';
import { seedRng } from '../ir/rng.ts';
import { type CheckpointError, type CheckpointMeta, type EpochMetrics, readCheckpoint, readCheckpointMeta, writeCheckpoint } from './checkpoint.ts';
import { epochBatches } from './data/batches.ts';
import type { Gpu } from './device.ts';
import { divergence } from './divergence.ts';
import { type ChoiceInput, type ExecError, Executable } from './execute.ts';
import type { ParamStore } from './params.ts';
import { type ProgressSink, silentProgress } from './progress.ts';
import { batchStats, evaluateDataset } from './train-eval.ts';
import { type Compiled, type TrainData, type TrainError, type TrainSettings, checkSettings, compileFor, execErrors, initialStore, programShapes } from './train-setup.ts';

export type { TrainData, TrainError } from './train-setup.ts';
export type { EpochMetrics } from './checkpoint.ts';

export interface TrainOptions extends TrainSettings {
  readonly gpu: Gpu;
  /** Write `checkpoint.safetensors` here after every epoch (the directory is created). */
  readonly checkpointDir?: string;
  /** Continue from `checkpointDir`'s checkpoint when there is one. */
  readonly resume?: boolean;
  /** Starting values for parameters by path (e.g. supernet weights); the others are drawn by their init. */
  readonly init?: ParamStore;
  /** The architecture (NNI JSON), recorded in checkpoints. */
  readonly arch?: string;
  readonly progress?: ProgressSink;
}

export interface TrainResult {
  /** The trained model's parameters and BatchNorm running statistics, by path (no optimizer state). */
  readonly params: ParamStore;
  /** One entry per epoch, including epochs completed before a resume. */
  readonly history: readonly EpochMetrics[];
  /** Optimizer steps taken in all. */
  readonly steps: number;
  /** The last checkpoint written, if any. */
  readonly checkpoint?: string;
}

/** The file name of the checkpoint in `checkpointDir`. */
export const CHECKPOINT_FILE = 'checkpoint.safetensors';

/** The dropout seed of global step `step` (0-based) of a run seeded `seed`. */
export const dropoutSeed = (seed: number, step: number): number => hash3(seed >>> 0, step >>> 0, 0x64726f70 /* "drop" */) >>> 0;

/** The optimizer as recorded in checkpoints (a resume with another one is refused). */
const optimizerJson = (o: TrainOptions): string => JSON.stringify({ optimizer: o.optimizer, clipGradNorm: o.clipGradNorm ?? null, batchSize: o.batchSize });

const modelParams = (store: ReadonlyMap<string, Float32Array>): Map<string, Float32Array> =>
  new Map([...store].filter(([path]) => !path.startsWith(OPTIMIZER_PREFIX)));

interface StepOutcome {
  readonly loss: number;
  readonly logits: Float32Array;
}

/**
 * Trains `graph` on `data`; returns the trained parameters and the per-epoch metrics, or every error (bad
 * options, data that does not fit the model, compile or device errors, a checkpoint that cannot be read or
 * written, a non-finite loss).
 */
export const train = async (graph: Graph, data: TrainData, o: TrainOptions): Promise<E.Either<readonly TrainError[], TrainResult>> => {
  const problems = checkSettings(graph, data, o);
  if (problems.length > 0) return E.left(problems);
  const compiled = compileFor(graph, o, adapterKind(o.gpu.adapterInfo));
  if (E.isLeft(compiled)) return compiled;
  const c = compiled.right;
  const shapes = programShapes(c.train);
  const progress = o.progress ?? silentProgress;

  let [store, rng] = initialStore(c, seedRng(o.seed), o.init);
  let startEpoch = 0;
  let step = 0;
  let history: EpochMetrics[] = [];
  let firstLoss: number | undefined;
  const ckptFile = o.checkpointDir === undefined ? undefined : join(o.checkpointDir, CHECKPOINT_FILE);
  let lastCheckpoint: string | undefined;
  if (o.resume === true && ckptFile !== undefined && existsSync(ckptFile)) {
    const checkpointErrors = (es: readonly CheckpointError[]): readonly TrainError[] => es.map((error) => ({ tag: 'Checkpoint', error, message: error.message }));
    // The metadata first: a checkpoint of another run is refused as such, before its tensors fail to match.
    const head = readCheckpointMeta(ckptFile);
    if (E.isLeft(head)) return E.left(checkpointErrors(head.left));
    const mismatch: string[] = [];
    if (head.right.seed !== o.seed) mismatch.push(`seed ${head.right.seed} (this run: ${o.seed})`);
    if (head.right.optimizer !== optimizerJson(o)) mismatch.push(`optimizer ${head.right.optimizer} (this run: ${optimizerJson(o)})`);
    if (mismatch.length > 0) return E.left([{ tag: 'ResumeMismatch', message: `${ckptFile} was written by another run: ${mismatch.join('; ')}` }]);
    const ck = readCheckpoint(ckptFile, shapes);
    if (E.isLeft(ck)) return E.left(checkpointErrors(ck.left));
    const m = ck.right.meta;
    store = new Map(ck.right.tensors);
    startEpoch = m.epoch;
    step = m.step;
    rng = m.rng;
    history = [...m.history];
    firstLoss = m.firstLoss;
    lastCheckpoint = ckptFile;
    progress.note(`resuming from ${ckptFile} after epoch ${m.epoch} (step ${m.step})`);
  }

  const exe = await Executable.instantiate(o.gpu, c.train, store);
  if (E.isLeft(exe)) return E.left(execErrors(exe.left));
  const evalExe = await Executable.instantiate(o.gpu, c.eval, new Map(c.eval.params.map((q) => [q.path, store.get(q.path)!])));
  if (E.isLeft(evalExe)) {
    exe.right.destroy();
    return E.left(execErrors(evalExe.left));
  }
  try {
    return await loop(c, data, o, exe.right, evalExe.right, { startEpoch, step, rng, history, lastCheckpoint, ckptFile, shapes, progress, firstLoss });
  } finally {
    exe.right.destroy();
    evalExe.right.destroy();
  }
};

interface LoopState {
  readonly startEpoch: number;
  readonly step: number;
  readonly rng: ReturnType<typeof seedRng>;
  readonly history: EpochMetrics[];
  readonly lastCheckpoint: string | undefined;
  readonly ckptFile: string | undefined;
  readonly shapes: ReadonlyMap<string, readonly number[]>;
  readonly progress: ProgressSink;
  readonly firstLoss: number | undefined;
}

const loop = async (c: Compiled, data: TrainData, o: TrainOptions, exe: Executable, evalExe: Executable, s: LoopState): Promise<E.Either<readonly TrainError[], TrainResult>> => {
  const B = o.batchSize;
  const schedule = o.schedule ?? { kind: 'constant' };
  const rule = c.layout.resolved.rule;
  const hasSeed = c.train.scalars.some((x) => x.name === 'seed');
  const choice: ChoiceInput | undefined = o.choiceWeights === undefined ? undefined : { kind: 'mix', weights: o.choiceWeights };
  const labelName = 'labels';
  // One label buffer per batch buffer: a queued step reads its labels when it runs, after the next batch is gathered.
  const labelBufs = [new Float32Array(B), new Float32Array(B)];
  let { step, rng, lastCheckpoint, firstLoss } = s;
  const history = s.history;
  const stepsPerEpoch = Math.floor(data.train.n / B);

  for (let epoch = s.startEpoch; epoch < o.epochs; epoch++) {
    const t0 = performance.now();
    const ep = epochBatches(data.train, { batchSize: B, dropLast: true, rng, buffers: 2 });
    rng = ep.rng!;
    s.progress.epochStart(epoch + 1, o.epochs, ep.count);
    let lossSum = 0;
    let correct = 0;
    let seen = 0;
    let skipped = 0;
    let lr = 0;
    let pending: { readonly run: Promise<E.Either<readonly ExecError[], readonly Float32Array[]>>; readonly labels: Float32Array; readonly step: number; readonly batch: number } | undefined;
    let failure: readonly TrainError[] | undefined;
    /** Accounts for a finished step; returns errors to stop with. */
    const settle = async (p: NonNullable<typeof pending>): Promise<readonly TrainError[] | undefined> => {
      const r = await p.run;
      if (E.isLeft(r)) return execErrors(r.left);
      const out: StepOutcome = { loss: r.right[0]![0]!, logits: r.right[1]! };
      if (!Number.isFinite(out.loss)) {
        if (o.skipNonFinite === true) {
          skipped++;
          return undefined;
        }
        const where = lastCheckpoint === undefined ? 'no checkpoint was written before it' : `the last good checkpoint is ${lastCheckpoint}`;
        return [{
          tag: 'NonFiniteLoss',
          step: p.step + 1,
          epoch: epoch + 1,
          batch: p.batch + 1,
          loss: out.loss,
          checkpoint: lastCheckpoint,
          message: `the loss of step ${p.step + 1} (epoch ${epoch + 1}, batch ${p.batch + 1}) is ${out.loss}; training stopped (${where}; lower the learning rate)`,
        }];
      }
      // The run's first step (a resumed run takes it from its checkpoint; one written without it: no check).
      if (firstLoss === undefined && p.step === 0) firstLoss = out.loss;
      const st = batchStats(out.logits, p.labels, B, c.classes);
      lossSum += out.loss * B;
      correct += st.correct;
      seen += B;
      s.progress.step(p.batch + 1, ep.count, lossSum / seen, correct / seen);
      return undefined;
    };
    for (const b of ep.batches) {
      const labels = labelBufs[b.index % 2]!;
      for (let i = 0; i < B; i++) labels[i] = b.labels[i]!;
      lr = learningRate(schedule, c.layout.resolved.lr, { step, stepsPerEpoch });
      const scalars: Record<string, number> = { ...stepScalars(rule, step + 1, lr) };
      if (hasSeed) scalars['seed'] = dropoutSeed(o.seed, step);
      const run = exe.run({ inputs: { [c.input]: b.images, [labelName]: labels }, scalars, readback: [0, c.train.logits], ...(choice === undefined ? {} : { choice }) });
      const previous = pending;
      pending = { run, labels, step, batch: b.index };
      step++;
      if (previous !== undefined) {
        failure = await settle(previous);
        if (failure !== undefined) break;
      }
    }
    if (failure === undefined && pending !== undefined) failure = await settle(pending);
    else if (pending !== undefined) await pending.run; // let the queued step finish before the executable goes
    if (failure !== undefined) return E.left(failure);

    // Divergence that stays finite stops the run before the epoch is evaluated or checkpointed.
    const trainLoss = seen === 0 ? NaN : lossSum / seen;
    const diverged = firstLoss === undefined ? undefined : divergence({ loss: trainLoss, first: firstLoss, epoch: epoch + 1 });
    if (diverged !== undefined && firstLoss !== undefined) {
      const where = lastCheckpoint === undefined ? '' : ` (the last sound checkpoint is ${lastCheckpoint})`;
      return E.left([{ tag: 'Diverged', epoch: epoch + 1, loss: trainLoss, first: firstLoss, message: `${diverged}${where}` }]);
    }
    const params = await exe.readParams();
    if (E.isLeft(params)) return E.left(execErrors(params.left));
    const wrote = await evalExe.writeParams(new Map(c.eval.params.map((q) => [q.path, params.right.get(q.path)!])));
    if (E.isLeft(wrote)) return E.left(execErrors(wrote.left));
    // topK 5: the metrics are named validTop5Accuracy/testTop5Accuracy (clamped to the class count).
    const evalOpts = { input: c.input, topK: 5, ...(choice === undefined ? {} : { choice }) };
    const valid = data.valid === undefined ? undefined : await evaluateDataset(evalExe, data.valid, evalOpts);
    const test = data.test === undefined ? undefined : await evaluateDataset(evalExe, data.test, evalOpts);
    for (const r of [valid, test]) if (r !== undefined && E.isLeft(r)) return E.left(execErrors(r.left));
    const metrics: EpochMetrics = {
      epoch: epoch + 1,
      trainLoss,
      trainAccuracy: seen === 0 ? NaN : correct / seen,
      ...(valid !== undefined && E.isRight(valid) ? { validLoss: valid.right.loss, validAccuracy: valid.right.accuracy, validTop5Accuracy: valid.right.topKAccuracy } : {}),
      ...(test !== undefined && E.isRight(test) ? { testLoss: test.right.loss, testAccuracy: test.right.accuracy, testTop5Accuracy: test.right.topKAccuracy } : {}),
      lr,
      skippedSteps: skipped,
      seconds: (performance.now() - t0) / 1000,
    };
    history.push(metrics);
    s.progress.epochEnd(metrics, o.epochs);
    if (s.ckptFile !== undefined && o.checkpointDir !== undefined) {
      const meta: CheckpointMeta = { epoch: epoch + 1, step, seed: o.seed, rng, optimizer: optimizerJson(o), history, ...(firstLoss === undefined ? {} : { firstLoss }), ...(o.arch === undefined ? {} : { arch: o.arch }) };
      try {
        mkdirSync(o.checkpointDir, { recursive: true });
      } catch {
        // writeCheckpoint reports the directory problem with the file name.
      }
      const w = writeCheckpoint(s.ckptFile, params.right, s.shapes, meta);
      if (E.isLeft(w)) return E.left(w.left.map((error) => ({ tag: 'Checkpoint', error, message: error.message })));
      lastCheckpoint = s.ckptFile;
    }
  }
  const final = await exe.readParams();
  if (E.isLeft(final)) return E.left(execErrors(final.left));
  return E.right({ params: modelParams(final.right), history, steps: step, ...(lastCheckpoint === undefined ? {} : { checkpoint: lastCheckpoint }) });
};
