/**
 * Evaluation and metrics of the training loop: a data set through the eval-form forward Program (BatchNorm with
 * running statistics, dropout off) in batches — the last one padded, the padding ignored — with the mean
 * cross-entropy and the accuracy computed on the CPU from the logits (float64). The next batch is queued before
 * the previous one is read back, so the device does not wait for the CPU between batches.
 *
 * @example
 * const m = await evaluateDataset(evalExe, test, { input: 'x', choice }); // Either<…, { loss, accuracy }>
 */
import * as E from 'fp-ts/lib/Either.js';
import { numel } from '../ir/shape.ts';
import type { Dataset } from './data/batches.ts';
import type { ChoiceInput, ExecError, Executable } from './execute.ts';

/**
 * Σ over the first `size` rows of `logits` ([size, k]) of the cross-entropy −log softmax(row)[label], and the
 * number of rows whose argmax (the first maximum) is the label. The same for logits and log-probabilities (log
 * softmax is idempotent). A NaN row counts as wrong and makes the sum NaN.
 *
 * @example
 * batchStats(Float32Array.of(2, 0, 0, 3), Int32Array.of(0, 0), 2, 2); // { lossSum: 0.127 + 3.049, correct: 1 }
 */
export const batchStats = (logits: Float32Array, labels: ArrayLike<number>, size: number, k: number): { readonly lossSum: number; readonly correct: number } => {
  let lossSum = 0;
  let correct = 0;
  for (let r = 0; r < size; r++) {
    const row = logits.subarray(r * k, (r + 1) * k);
    let best = 0;
    let max = row[0]!;
    for (let j = 1; j < k; j++) {
      if (row[j]! > max) {
        max = row[j]!;
        best = j;
      }
    }
    let sum = 0;
    for (let j = 0; j < k; j++) sum += Math.exp(row[j]! - max);
    const label = labels[r]!;
    lossSum += max + Math.log(sum) - row[label]!;
    if (best === label && !Number.isNaN(max)) correct++;
  }
  return { lossSum, correct };
};

export interface EvalOptions {
  /** The name of the Program's image input. */
  readonly input: string;
  /** Choice weights, for a Program with choices. */
  readonly choice?: ChoiceInput;
  /** The index of the logits among the Program's outputs (default 0). */
  readonly output?: number;
}

/** The mean loss and accuracy of `exe` (an eval-form Program compiled for some batch) over all of `ds`. */
export const evaluateDataset = async (
  exe: Executable,
  ds: Dataset,
  o: EvalOptions,
): Promise<E.Either<readonly ExecError[], { readonly loss: number; readonly accuracy: number }>> => {
  const p = exe.program;
  const B = p.batch;
  const size = numel(ds.shape);
  const k = numel(p.outputs[o.output ?? 0]!.shape);
  const count = Math.ceil(ds.n / B);
  let lossSum = 0;
  let correct = 0;
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
    const s = batchStats(r.right[0]!, ds.labels.subarray(start, start + n), n, k);
    lossSum += s.lossSum;
    correct += s.correct;
  }
  return E.right({ loss: ds.n === 0 ? NaN : lossSum / ds.n, accuracy: ds.n === 0 ? NaN : correct / ds.n });
};
