/**
 * Evaluation and metrics of the training loop: a data set through the eval-form forward Program (BatchNorm with
 * running statistics, dropout off) in batches — the last one padded, the padding ignored — with the mean
 * cross-entropy, the top-1 accuracy and the top-k accuracy (k = 5 by default) computed on the CPU from the
 * logits (float64). The next batch is queued before the previous one is read back, so the device does not wait
 * for the CPU between batches.
 *
 * @example
 * const m = await evaluateDataset(evalExe, test, { input: 'x', choice }); // Either<…, { loss, accuracy, topKAccuracy, topK }>
 */
import * as E from 'fp-ts/lib/Either.js';
import { numel } from '../ir/shape.ts';
import type { Dataset } from './data/batches.ts';
import type { ChoiceInput, ExecError, Executable } from './execute.ts';

/** The k of the top-k accuracy when none is given: 5, as ImageNet's "top-5". */
export const DEFAULT_TOP_K = 5;

/** What `batchStats` counts over a batch. */
export interface BatchStats {
  /** Σ of the rows' cross-entropies (NaN when a row has a NaN). */
  readonly lossSum: number;
  /** Rows whose argmax (the first maximum) is the label. */
  readonly correct: number;
  /** Rows whose label is among the top `topK` logits (see `inTopK` for ties and NaN). */
  readonly correctTopK: number;
  /** The k used: the asked k clamped to [1, classes]. */
  readonly topK: number;
}

/** `k` clamped to [1, classes]: a top-5 accuracy over 3 classes is the top-3 one (always 1 for a finite row). */
export const effectiveTopK = (k: number, classes: number): number => Math.max(1, Math.min(Math.floor(k), classes));

/**
 * Whether `label` is among the top `k` entries of `row`. Ties count in the label's favour: it is in the top k
 * exactly when fewer than k entries are strictly greater than its own, so with k = 1 a label tied for the
 * maximum counts (unlike the top-1 accuracy of `batchStats`, which takes the first maximum). A row with a NaN
 * anywhere, or a label outside the row, counts as wrong: a diverged model must not score.
 *
 * @example
 * inTopK(Float32Array.of(3, 1, 2, 2), 2, 2); // true: only 3 is strictly greater than 2
 * inTopK(Float32Array.of(3, 1, 2, 2), 1, 3); // false: 3, 2 and 2 are all greater than 1
 */
export const inTopK = (row: ArrayLike<number>, label: number, k: number): boolean => {
  const own = row[label];
  if (own === undefined || Number.isNaN(own)) return false;
  let greater = 0;
  for (let j = 0; j < row.length; j++) {
    const v = row[j]!;
    if (Number.isNaN(v)) return false;
    if (v > own) greater++;
  }
  return greater < k;
};

/**
 * Σ over the first `size` rows of `logits` ([size, classes]) of the cross-entropy −log softmax(row)[label], the
 * number of rows whose argmax (the first maximum) is the label, and the number whose label is in the top `topK`
 * (default 5, clamped to the class count; ties as `inTopK`). The same for logits and log-probabilities (log
 * softmax is idempotent and keeps the order). A NaN row counts as wrong in both and makes the sum NaN.
 *
 * @example
 * batchStats(Float32Array.of(2, 0, 0, 3), Int32Array.of(0, 0), 2, 2); // { lossSum: 0.127 + 3.049, correct: 1, correctTopK: 2, topK: 2 }
 */
export const batchStats = (logits: Float32Array, labels: ArrayLike<number>, size: number, classes: number, topK: number = DEFAULT_TOP_K): BatchStats => {
  const k = effectiveTopK(topK, classes);
  let lossSum = 0;
  let correct = 0;
  let correctTopK = 0;
  for (let r = 0; r < size; r++) {
    const row = logits.subarray(r * classes, (r + 1) * classes);
    let best = 0;
    let max = row[0]!;
    for (let j = 1; j < classes; j++) {
      if (row[j]! > max) {
        max = row[j]!;
        best = j;
      }
    }
    let sum = 0;
    // A NaN after the maximum is skipped by the comparisons above: look for one explicitly.
    let nan = Number.isNaN(max);
    for (let j = 0; j < classes; j++) {
      sum += Math.exp(row[j]! - max);
      nan ||= Number.isNaN(row[j]!);
    }
    const label = labels[r]!;
    lossSum += max + Math.log(sum) - row[label]!;
    if (best === label && !nan) correct++;
    if (inTopK(row, label, k)) correctTopK++;
  }
  return { lossSum, correct, correctTopK, topK: k };
};

export interface EvalOptions {
  /** The name of the Program's image input. */
  readonly input: string;
  /** Choice weights, for a Program with choices. */
  readonly choice?: ChoiceInput;
  /** The index of the logits among the Program's outputs (default 0). */
  readonly output?: number;
  /** The k of the top-k accuracy (default 5; clamped to the class count). */
  readonly topK?: number;
}

/** The metrics of a data set: mean cross-entropy, top-1 and top-k accuracy (NaN for an empty set). */
export interface EvalMetrics {
  readonly loss: number;
  readonly accuracy: number;
  /** The fraction of images whose label is among the top `topK` logits (ties as `inTopK`). */
  readonly topKAccuracy: number;
  /** The k used: `EvalOptions.topK` (default 5) clamped to the class count. */
  readonly topK: number;
}

/**
 * The mean loss, top-1 and top-k accuracy of `exe` (an eval-form Program compiled for some batch) over all of `ds`.
 *
 * @example
 * const r = await evaluateDataset(evalExe, test, { input: 'x' });
 * if (E.isRight(r)) console.log(`top-1 ${r.right.accuracy}, top-${r.right.topK} ${r.right.topKAccuracy}`);
 */
export const evaluateDataset = async (exe: Executable, ds: Dataset, o: EvalOptions): Promise<E.Either<readonly ExecError[], EvalMetrics>> => {
  const p = exe.program;
  const B = p.batch;
  const size = numel(ds.shape);
  const classes = numel(p.outputs[o.output ?? 0]!.shape);
  const count = Math.ceil(ds.n / B);
  let lossSum = 0;
  let correct = 0;
  let correctTopK = 0;
  const topK = effectiveTopK(o.topK ?? DEFAULT_TOP_K, classes);
  const runBatch = (b: number): Promise<E.Either<readonly ExecError[], readonly Float32Array[]>> => {
    const start = b * B;
    const end = Math.min(ds.n, start + B);
    let x = ds.images.subarray(start * size, end * size);
    if (end - start < B) {
      // The Program's batch is fixed: pad the last batch with zeros (its rows are ignored below).
      const padded = new Float32Array(B * size);
      padded.set(x);
      x = padded;
    }
    return exe.run({ inputs: { [o.input]: x }, readback: [o.output ?? 0], ...(o.choice === undefined ? {} : { choice: o.choice }) });
  };
  let next = count > 0 ? runBatch(0) : undefined;
  for (let b = 0; b < count; b++) {
    const current = next!;
    next = b + 1 < count ? runBatch(b + 1) : undefined;
    const r = await current;
    if (E.isLeft(r)) {
      if (next !== undefined) await next;
      return r;
    }
    const start = b * B;
    const n = Math.min(ds.n, start + B) - start;
    const s = batchStats(r.right[0]!, ds.labels.subarray(start, start + n), n, classes, topK);
    lossSum += s.lossSum;
    correct += s.correct;
    correctTopK += s.correctTopK;
  }
  const mean = (x: number): number => (ds.n === 0 ? NaN : x / ds.n);
  return E.right({ loss: mean(lossSum), accuracy: mean(correct), topKAccuracy: mean(correctTopK), topK });
};
