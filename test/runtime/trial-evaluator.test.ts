/**
 * The trial evaluator: MAC counting (against hand counts and a brute-force count over output positions),
 * the search data split, the per-epoch report, and on the device one trial and the retrain of a tiny synthetic
 * space (report per epoch, stop after the runner says so, failures thrown, the test set never seen by a trial).
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Graph,
  add,
  apply,
  block,
  buildModel,
  conv2d,
  defineModel,
  flatten,
  inputChoice,
  layerChoice,
  linear,
  paramCount,
  relu,
  searchSpace,
} from '../../src/ir/index.ts';
import { syntheticTrainTest } from '../../src/runtime/data/synthetic.ts';
import type { EpochMetrics } from '../../src/runtime/checkpoint.ts';
import { concatDatasets, countMacs, epochReport, retrainArchitecture, searchData, trialEvaluator } from '../../src/runtime/trial-evaluator.ts';
import { describeGpu } from '../gpu.ts';

const build = (def: Parameters<typeof buildModel>[0]): Graph => {
  const g = buildModel(def);
  if (E.isLeft(g)) throw new Error(g.left.map((e) => e.message).join('\n'));
  return g.right;
};

/** A tiny space: a 3x3 or 1x1 convolution, an optional skip, a linear head (4 architectures). */
const tiny = build(
  defineModel({
    name: 'tiny',
    input: [1, 6, 6],
    layer: block((ctx, x) => {
      const c = ctx.call('conv', layerChoice({ k3: conv2d({ out: 4, kernel: 3, padding: 1 }), k1: conv2d({ out: 4, kernel: 1 }) }), x);
      const s = ctx.call('skip', inputChoice({ nChosen: null }), [c]);
      return ctx.call('fc', linear({ out: 3 }), flatten()(ctx, add(ctx.call('relu', relu(), c), s)));
    }),
  }),
);

describe('countMacs', () => {
  it('counts a convolution and a linear layer by hand', () => {
    const fixed = apply(tiny, { conv: [0], skip: [] });
    if (E.isLeft(fixed)) throw new Error('apply');
    // conv 3x3, 1 → 4 channels, 6x6 output: 4·6·6 outputs × 1·3·3 weights = 1296; fc 144 → 3 = 432.
    expect(countMacs(fixed.right)).toBe(1296 + 432);
    const k1 = apply(tiny, { conv: [1], skip: [0] });
    if (E.isLeft(k1)) throw new Error('apply');
    // conv 1x1: 144 outputs × 1 weight; the skip's add costs no MAC.
    expect(countMacs(k1.right)).toBe(144 + 432);
  });

  it('equals a brute-force count of the multiply-adds of every output value (grouped, strided, dilated, padded)', () => {
    fc.assert(
      fc.property(
        fc.record({
          groups: fc.integer({ min: 1, max: 3 }),
          perGroupIn: fc.integer({ min: 1, max: 3 }),
          perGroupOut: fc.integer({ min: 1, max: 3 }),
          kernel: fc.integer({ min: 1, max: 3 }),
          stride: fc.integer({ min: 1, max: 2 }),
          padding: fc.integer({ min: 0, max: 2 }),
          dilation: fc.integer({ min: 1, max: 2 }),
          size: fc.integer({ min: 5, max: 9 }),
        }),
        (p) => {
          const cin = p.groups * p.perGroupIn;
          const out = p.groups * p.perGroupOut;
          const g = build(
            defineModel({
              name: 'conv',
              input: [cin, p.size, p.size],
              layer: conv2d({ out, kernel: p.kernel, stride: p.stride, padding: p.padding, dilation: p.dilation, groups: p.groups }),
            }),
          );
          // PyTorch's output size; every output value of channel o reads the (cin / groups) channels of its group
          // through every kernel tap (padded taps included, as MAC counters count them).
          const span = p.dilation * (p.kernel - 1) + 1;
          const side = Math.floor((p.size + 2 * p.padding - span) / p.stride) + 1;
          let macs = 0;
          for (let o = 0; o < out; o++) for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) macs += p.perGroupIn * p.kernel * p.kernel;
          expect(countMacs(g)).toBe(macs);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('searchData', () => {
  const full = syntheticTrainTest({ n: 100, nTest: 40, shape: [1, 4, 4], classes: 3, seed: 5 });

  it('holds out a validation set, cuts train and test, and retrains on train and valid together', () => {
    const d = searchData(full, { validSize: 20, trainSize: 50, testSize: 30, seed: 1 });
    if (E.isLeft(d)) throw new Error(d.left.map((e) => e.message).join('\n'));
    expect([d.right.train.n, d.right.valid.n, d.right.test.n, d.right.retrain.n]).toEqual([50, 20, 30, 70]);
    expect(d.right.retrain.images.subarray(0, d.right.train.images.length)).toEqual(d.right.train.images);
    expect(d.right.retrain.images.subarray(d.right.train.images.length)).toEqual(d.right.valid.images);
    // Stratified: 20 of 100 over 3 balanced classes (34, 33, 33) → 7, 7, 6 in some order.
    const counts = [0, 1, 2].map((k) => d.right.valid.labels.filter((l) => l === k).length).sort();
    expect(counts).toEqual([6, 7, 7]);
    // Every training sample is either held out or in the rest: no sample in both parts (images are distinct).
    const key = (ds: typeof full.train, i: number): string => Array.from(ds.images.subarray(i * 16, (i + 1) * 16)).join(',');
    const validKeys = new Set(Array.from({ length: 20 }, (_, i) => key(d.right.valid, i)));
    for (let i = 0; i < d.right.train.n; i++) expect(validKeys.has(key(d.right.train, i))).toBe(false);
  });

  it('takes more of the training set when the retrain is bigger than train + valid', () => {
    const d = searchData(full, { validSize: 20, trainSize: 30, retrainSize: 90, seed: 1 });
    if (E.isLeft(d)) throw new Error('split');
    expect(d.right.retrain.n).toBe(90);
    expect(d.right.test.n).toBe(40);
  });

  it('reports every bad size at once, naming its flag', () => {
    const d = searchData(full, { validSize: 100, trainSize: 0, testSize: 41, retrainSize: 101, seed: 1 });
    expect(E.isLeft(d) && d.left.map((e) => (e.tag === 'InvalidOption' ? e.option : e.tag))).toEqual(['valid-size', 'train-size', 'test-size', 'retrain-size']);
  });

  it('concatDatasets keeps both sets in order', () => {
    const c = concatDatasets(full.train, full.test);
    expect(c.n).toBe(140);
    expect(Array.from(c.labels.subarray(100))).toEqual(Array.from(full.test.labels));
  });
});

describe('epochReport', () => {
  it('makes the validation accuracy the objective the median rule compares', () => {
    const m: EpochMetrics = { epoch: 2, trainLoss: 0.5, trainAccuracy: 0.8, validLoss: 0.6, validAccuracy: 0.75, lr: 1e-3, skippedSteps: 0, seconds: 1 };
    expect(epochReport(m)).toEqual({ trainLoss: 0.5, trainAccuracy: 0.8, validLoss: 0.6, validAccuracy: 0.75, objective: 0.75, seconds: 1 });
    expect('objective' in epochReport({ ...m, validAccuracy: undefined as unknown as number })).toBe(false);
  });
});

await describeGpu('trial evaluator on the device', (gpu) => {
  const full = syntheticTrainTest({ n: 160, nTest: 64, shape: [1, 6, 6], classes: 3, seed: 2, noise: 0.3 });
  const data = searchData(full, { validSize: 32, seed: 1 });
  if (E.isLeft(data)) throw new Error('split');
  const options = { gpu, supernet: tiny, data: data.right, batchSize: 16, optimizer: { kind: 'adam', lr: 1e-2 } as const, seed: 3 };
  const space = searchSpace(tiny);

  it('trains a trial, reports every epoch, and returns validation accuracy, params and MACs', async () => {
    const reports: [number, Readonly<Record<string, number>>][] = [];
    const evaluate = trialEvaluator({ ...options, epochs: 2 });
    const arch = { conv: [0], skip: [0] };
    const r = await evaluate({ id: 0, arch, signal: new AbortController().signal, report: (e, m) => (reports.push([e, m]), 'continue') });
    const fixed = apply(tiny, arch);
    if (E.isLeft(fixed)) throw new Error('apply');
    expect(reports.map(([e]) => e)).toEqual([1, 2]);
    expect(r.objective).toBe(reports[1]![1]['validAccuracy']);
    // The trial learns the separable synthetic set (chance 1/3): its validation accuracy rises to far above it.
    expect(r.objective).toBeGreaterThanOrEqual(0.8);
    expect(reports[1]![1]['trainLoss']).toBeLessThan(reports[0]![1]['trainLoss']!);
    expect(r.params).toBe(paramCount(fixed.right));
    expect(r.flops).toBe(countMacs(fixed.right));
    // The test set is the retrain's: a trial never evaluates on it.
    expect(Object.keys(reports[0]![1]).some((k) => k.startsWith('test'))).toBe(false);
    expect(space.size).toBe(4n);
  });

  it('ends training after the epoch the runner stops it at', async () => {
    const evaluate = trialEvaluator({ ...options, epochs: 3 });
    let calls = 0;
    const r = await evaluate({ id: 1, arch: { conv: [1], skip: [] }, signal: new AbortController().signal, report: () => (++calls, 'stop') });
    expect(calls).toBe(1);
    expect(r.metrics['epochs']).toBe(1);
  });

  it('throws for an architecture that does not apply, naming the key', async () => {
    const evaluate = trialEvaluator({ ...options, epochs: 1 });
    await expect(evaluate({ id: 2, arch: { conv: [7], skip: [] }, signal: new AbortController().signal, report: () => 'continue' })).rejects.toThrow(/conv/);
  });

  it('retrains an architecture from scratch and scores it on the test set', async () => {
    const r = await retrainArchitecture(tiny, { conv: [0], skip: [] }, { train: data.right.retrain, test: data.right.test }, { ...options, epochs: 2 });
    if (E.isLeft(r)) throw new Error(r.left.join('\n'));
    expect(r.right.history.length).toBe(2);
    expect(r.right.testAccuracy).toBe(r.right.history[1]!.testAccuracy);
    // A separable synthetic set with low noise: two epochs beat chance (1/3) by a wide margin.
    expect(r.right.testAccuracy).toBeGreaterThan(0.5);
  });
});
