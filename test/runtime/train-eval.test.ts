/**
 * Metrics from logits: the top-k count of `batchStats` / `evaluateDataset` against a direct sort-based definition
 * (label in the top k ⟺ its logit is at least the k-th largest; any NaN in the row ⟹ wrong), with rows drawn
 * from a few values so that ties are common; top-1 and the loss against plain float64 formulas; evaluateDataset's
 * batching (the last batch padded, the padding ignored) through a stand-in Executable that returns its input
 * as the logits, so no device is needed.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/runtime/data/batches.ts';
import type { Executable, RunRequest } from '../../src/runtime/execute.ts';
import { DEFAULT_TOP_K, batchStats, effectiveTopK, evaluateDataset, inTopK } from '../../src/runtime/train-eval.ts';

/** The oracle: sort a copy descending, compare with the k-th largest value. */
const topKBySort = (row: readonly number[], label: number, k: number): boolean => {
  if (row.some(Number.isNaN)) return false;
  const sorted = [...row].sort((a, b) => b - a);
  const kth = sorted[Math.min(k, row.length) - 1]!;
  return row[label]! >= kth;
};

/** Logit values with many ties (a handful of levels), infinities and NaN. */
const logit = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: -3, max: 3 }).map((x) => x / 2) },
  { weight: 2, arbitrary: fc.float({ noNaN: true, noDefaultInfinity: true, min: -50, max: 50 }) },
  { weight: 1, arbitrary: fc.constantFrom(Infinity, -Infinity, NaN) },
);

/** A batch: classes, rows of logits (float32-representable) and a label per row. */
const batchArb = fc.integer({ min: 1, max: 12 }).chain((classes) =>
  fc.record({
    classes: fc.constant(classes),
    rows: fc.array(fc.tuple(fc.array(logit, { minLength: classes, maxLength: classes }), fc.nat({ max: classes - 1 })), { minLength: 1, maxLength: 20 }),
    k: fc.integer({ min: 1, max: 14 }),
  }),
);

const flat = (rows: readonly (readonly [readonly number[], number])[]): { readonly logits: Float32Array; readonly labels: Int32Array } => ({
  logits: Float32Array.from(rows.flatMap(([r]) => r)),
  labels: Int32Array.from(rows.map(([, l]) => l)),
});

describe('top-k', () => {
  it('counts a label in the top k exactly as the sort-based definition does (ties for the label, NaN rows wrong)', () => {
    fc.assert(
      fc.property(batchArb, ({ classes, rows, k }) => {
        const { logits, labels } = flat(rows);
        const s = batchStats(logits, labels, rows.length, classes, k);
        const kk = Math.min(k, classes);
        expect(s.topK).toBe(kk);
        expect(s.correctTopK).toBe(rows.filter(([r, l]) => topKBySort(r.map(Math.fround), l, kk)).length);
        rows.forEach(([r, l]) => expect(inTopK(Float32Array.from(r), l, kk)).toBe(topKBySort(r.map(Math.fround), l, kk)));
      }),
    );
  });

  it('is monotone in k and reaches every finite row at k = classes', () => {
    fc.assert(
      fc.property(batchArb, ({ classes, rows }) => {
        const { logits, labels } = flat(rows);
        const counts = Array.from({ length: classes }, (_, i) => batchStats(logits, labels, rows.length, classes, i + 1).correctTopK);
        for (let i = 1; i < counts.length; i++) expect(counts[i]!).toBeGreaterThanOrEqual(counts[i - 1]!);
        expect(counts.at(-1)).toBe(rows.filter(([r]) => !r.some(Number.isNaN)).length);
      }),
    );
  });

  it('defaults to k = 5, clamped to the class count and to at least 1', () => {
    expect(DEFAULT_TOP_K).toBe(5);
    expect(effectiveTopK(5, 10)).toBe(5);
    expect(effectiveTopK(5, 3)).toBe(3);
    expect(effectiveTopK(0, 3)).toBe(1);
    // Ten classes, label 0 ranked sixth: outside the default top 5, inside the top 6.
    const row = Float32Array.of(4, 9, 8, 7, 6, 5, 3, 2, 1, 0);
    expect(batchStats(row, [0], 1, 10).correctTopK).toBe(0);
    expect(batchStats(row, [0], 1, 10, 6).correctTopK).toBe(1);
    // A tie at the boundary counts for the label: 5 and 5 share fifth place.
    expect(inTopK(Float32Array.of(5, 9, 8, 7, 6, 5), 0, 5)).toBe(true);
    expect(inTopK(Float32Array.of(5, 9, 8, 7, 6, 5), 5, 5)).toBe(true);
    expect(inTopK(Float32Array.of(1, 2, NaN), 1, 3)).toBe(false);
  });

  it('keeps top-1 as the first maximum and the loss as float64 log-sum-exp', () => {
    fc.assert(
      fc.property(batchArb, ({ classes, rows }) => {
        const { logits, labels } = flat(rows);
        const s = batchStats(logits, labels, rows.length, classes);
        const rows32 = rows.map(([r, l]) => [r.map(Math.fround), l] as const);
        const firstMax = (r: readonly number[]): number => r.reduce((b, v, j) => (v > r[b]! ? j : b), 0);
        expect(s.correct).toBe(rows32.filter(([r, l]) => !r.some(Number.isNaN) && firstMax(r) === l).length);
        const finite = rows32.every(([r]) => r.every(Number.isFinite));
        if (finite) {
          const want = rows32.reduce((acc, [r, l]) => {
            const m = Math.max(...r);
            return acc + m + Math.log(r.reduce((t, v) => t + Math.exp(v - m), 0)) - r[l]!;
          }, 0);
          // Same formula, same float64 arithmetic up to summation order: 1e-9 relative.
          expect(Math.abs(s.lossSum - want)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(want)));
        }
      }),
    );
  });
});

describe('evaluateDataset', () => {
  /** A stand-in Executable of batch `batch` whose output is its input: the "images" are the logits. */
  const echo = (batch: number, classes: number, seen: number[]): Executable =>
    ({
      program: { batch, outputs: [{ shape: [classes] }] },
      run: async (req: RunRequest) => {
        const x = Array.isArray(req.inputs) ? req.inputs[0]! : (req.inputs as Readonly<Record<string, Float32Array>>)['x']!;
        seen.push(x.length);
        return E.right([Float32Array.from(x)]);
      },
    }) as unknown as Executable;

  it('averages loss, top-1 and top-k over the whole set in padded batches', async () => {
    await fc.assert(
      fc.asyncProperty(batchArb, fc.integer({ min: 1, max: 7 }), fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }), async ({ classes, rows }, batch, topK) => {
        const { logits, labels } = flat(rows);
        const ds: Dataset = { images: logits, labels, n: rows.length, shape: [classes], classes };
        const seen: number[] = [];
        const r = await evaluateDataset(echo(batch, classes, seen), ds, { input: 'x', ...(topK === undefined ? {} : { topK }) });
        if (E.isLeft(r)) throw new Error('the stand-in never fails');
        // Every batch was a full one (the last padded) and the set was covered once.
        expect(seen).toEqual(Array.from({ length: Math.ceil(rows.length / batch) }, () => batch * classes));
        const k = Math.min(topK ?? 5, classes);
        expect(r.right.topK).toBe(k);
        const whole = batchStats(logits, labels, rows.length, classes, k);
        expect(r.right.topKAccuracy).toBeCloseTo(rows.filter(([row, l]) => topKBySort(row.map(Math.fround), l, k)).length / rows.length, 12);
        expect(r.right.accuracy).toBeCloseTo(whole.correct / rows.length, 12);
        if (Number.isFinite(whole.lossSum)) expect(Math.abs(r.right.loss - whole.lossSum / rows.length)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(whole.lossSum)));
      }),
      { numRuns: 60 },
    );
  });

  it('gives NaN metrics for an empty set', async () => {
    const r = await evaluateDataset(echo(4, 3, []), { images: new Float32Array(0), labels: new Int32Array(0), n: 0, shape: [3], classes: 3 }, { input: 'x' });
    expect(E.isRight(r) && [r.right.loss, r.right.accuracy, r.right.topKAccuracy].every(Number.isNaN)).toBe(true);
  });
});
