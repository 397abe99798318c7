/**
 * The contract between `oneShotSearch` (the epoch loop: history, checkpoints, resume, progress) and one one-shot
 * algorithm's driver (what an epoch of that algorithm runs on the supernet). A driver's state is the pure state of
 * its algorithm (src/search/oneshot), plain JSON; its `epoch` is the only effectful part, and it touches the device
 * only through the `Supernet` in its context.
 *
 * @example
 * const d = dartsDriver({ order: 1 });
 * const [s0, rng] = d.init(space, seedRng(0));
 * const r = await d.epoch(ctx, s0, 0, rng); // Either<SupernetError[], { state, rng, metrics }>
 * d.export(space, r.right.state);           // the architecture it would pick now
 */
import type * as E from 'fp-ts/lib/Either.js';
import type { LrSchedule } from '../../compile/schedule.ts';
import type { OptimizerSpec } from '../../compile/optimizer.ts';
import type { Architecture } from '../../ir/apply.ts';
import type { Graph } from '../../ir/graph.ts';
import type { Rng } from '../../ir/rng.ts';
import type { SearchSpace } from '../../ir/space.ts';
import type { OneShotName, KeyVectors } from '../../search/oneshot/types.ts';
import type { ChoiceKind, StrategyError } from '../../search/strategy.ts';
import { type Dataset, epochBatches } from '../data/batches.ts';
import type { Gpu } from '../device.ts';
import type { ProgressSink } from '../progress.ts';
import type { StepBatch, Supernet, SupernetError } from './supernet.ts';

/** What a driver's epoch may use. */
export interface DriverContext {
  readonly net: Supernet;
  readonly graph: Graph;
  readonly space: SearchSpace;
  /** Weights are trained on `train`; architecture parameters learn from (or candidates are scored on) `valid`. */
  readonly train: Dataset;
  readonly valid: Dataset;
  readonly batchSize: number;
  readonly epochs: number;
  /** The weights' learning rate during `epoch` (0-based). */
  readonly lr: (epoch: number) => number;
  /** Multiply-accumulates per image of an architecture (its fixed subnet). */
  readonly macs: (arch: Architecture) => number;
  readonly progress: ProgressSink;
  /**
   * Only `finish` gets it (an epoch always runs to its end, so that checkpoints are at epoch boundaries and a resumed
   * search is the uninterrupted one): when it is aborted, `finish` stops after the unit in progress (SPOS: the
   * generation), checkpoints, and answers `aborted`.
   */
  readonly signal?: AbortSignal;
  /** Only in `finish`: checkpoints the supernet with this driver state (SPOS: after every generation of its evolution). */
  readonly checkpoint?: (state: unknown) => Promise<E.Either<readonly SupernetError[], void>>;
  /** The device the supernet runs on (FBNet measures its latency table there). */
  readonly gpu?: Gpu;
}

/** What an epoch leaves: the algorithm's next state and generator, and numbers for the history and the display. */
export interface EpochOutcome<S> {
  readonly state: S;
  readonly rng: Rng;
  /** e.g. { trainLoss, trainAccuracy, archLoss }. */
  readonly metrics: Readonly<Record<string, number>>;
  /** `finish` only: true when the signal stopped it before its end (its state is checkpointed; no result yet). */
  readonly aborted?: boolean;
}

/** The weights' training settings an algorithm defaults to (the paper's or NNI's). */
export interface WeightTraining {
  readonly optimizer: OptimizerSpec;
  readonly clipGradNorm?: number;
  readonly schedule: LrSchedule;
}

export interface Driver<S> {
  readonly name: OneShotName;
  /** The algorithm's resolved options, as JSON (logged, and compared on resume). */
  readonly options: Readonly<Record<string, unknown>>;
  readonly weights: WeightTraining;
  /** The decision kinds it can search ('input-any': input choices of any number of inputs). */
  readonly supports: readonly ChoiceKind[];
  /** Every reason this algorithm cannot search `space` (a choice kind it does not support, naming the key). */
  check(space: SearchSpace): readonly StrategyError[];
  init(space: SearchSpace, rng: Rng): [S, Rng];
  /** One epoch of search (0-based `epoch`). */
  epoch(ctx: DriverContext, state: S, epoch: number, rng: Rng): Promise<E.Either<readonly SupernetError[], EpochOutcome<S>>>;
  /** After the last epoch (SPOS: the evolutionary search over the trained supernet). */
  finish?(ctx: DriverContext, state: S, rng: Rng): Promise<E.Either<readonly SupernetError[], EpochOutcome<S>>>;
  /** Per key, the distribution the algorithm now samples or weights by (for `history.json`). */
  distribution(space: SearchSpace, state: S): KeyVectors;
  /** The architecture it would pick now. */
  export(space: SearchSpace, state: S): Architecture;
  encode(state: S): unknown;
  decode(space: SearchSpace, json: unknown): E.Either<readonly StrategyError[], S>;
}

/** A driver whose state type is forgotten, so that the CLI can hold any of them. */
export type AnyDriver = Driver<unknown>;

/** Forgets a driver's state type. */
export const eraseDriver = <S>(d: Driver<S>): AnyDriver => d as unknown as AnyDriver;

/** The batches of one epoch of `ds` in a seeded order (last short batch dropped: programs have a fixed batch). */
export const shuffledBatches = (ds: Dataset, batchSize: number, rng: Rng): { readonly batches: Iterable<StepBatch & { readonly index: number }>; readonly count: number; readonly rng: Rng } => {
  const ep = epochBatches(ds, { batchSize, dropLast: true, rng, buffers: 2 });
  return { batches: ep.batches, count: ep.count, rng: ep.rng! };
};

/**
 * Pairs of (train, valid) batches for an epoch of bilevel search (DARTS' arch step on a valid batch, then the
 * weight step on a train batch): as many pairs as the smaller set has batches, each set in its own seeded order.
 */
export function* pairedBatches(train: Iterable<StepBatch>, valid: Iterable<StepBatch>): Generator<readonly [StepBatch, StepBatch]> {
  const v = valid[Symbol.iterator]();
  for (const t of train) {
    const n = v.next();
    if (n.done === true) return;
    yield [t, n.value];
  }
}

/** Number of correct argmax predictions among the first `n` rows of `logits` ([n, k]). */
export const correctCount = (logits: Float32Array, labels: ArrayLike<number>, n: number, k: number): number => {
  let c = 0;
  for (let r = 0; r < n; r++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (logits[r * k + j]! > logits[r * k + best]!) best = j;
    if (best === labels[r] && !Number.isNaN(logits[r * k + best]!)) c++;
  }
  return c;
};

/** A running mean of loss and accuracy over an epoch's steps, reported to the progress sink. */
export class EpochMeter {
  #loss = 0;
  #correct = 0;
  #seen = 0;
  #steps = 0;
  readonly #classes: number;
  readonly #count: number;
  readonly #progress: ProgressSink;

  constructor(classes: number, count: number, progress: ProgressSink) {
    this.#classes = classes;
    this.#count = count;
    this.#progress = progress;
  }

  add(loss: number, logits: Float32Array, labels: ArrayLike<number>, n: number): void {
    this.#loss += loss * n;
    this.#correct += correctCount(logits, labels, n, this.#classes);
    this.#seen += n;
    this.#steps++;
    this.#progress.step(this.#steps, this.#count, this.loss, this.accuracy);
  }

  get loss(): number {
    return this.#seen === 0 ? NaN : this.#loss / this.#seen;
  }

  get accuracy(): number {
    return this.#seen === 0 ? NaN : this.#correct / this.#seen;
  }
}

/** A non-finite loss as a driver error (the search stops; the last epoch's checkpoint is kept). */
export const nonFinite = (what: string, loss: number): SupernetError => ({
  tag: 'Model',
  message: `the ${what} loss became ${loss}: the search diverged (lower --lr)`,
});
