// Synthetic sets: deterministic, balanced, and separable by a simple linear rule (nearest class mean,
// estimated here from the training samples, evaluated on held-out samples).
import { describe, expect, it } from 'vitest';
import type { Dataset } from '../../../src/runtime/data/batches.ts';
import { syntheticClassification, syntheticTrainTest } from '../../../src/runtime/data/synthetic.ts';

const classMeans = (ds: Dataset): Float64Array[] => {
  const size = ds.images.length / ds.n;
  const sums = Array.from({ length: ds.classes }, () => new Float64Array(size));
  const counts = new Array(ds.classes).fill(0);
  for (let i = 0; i < ds.n; i++) {
    const k = ds.labels[i]!;
    counts[k]++;
    for (let j = 0; j < size; j++) sums[k]![j]! += ds.images[i * size + j]!;
  }
  return sums.map((s, k) => s.map((v) => v / Math.max(1, counts[k])));
};

const nearestMeanAccuracy = (means: readonly Float64Array[], ds: Dataset): number => {
  const size = ds.images.length / ds.n;
  let right = 0;
  for (let i = 0; i < ds.n; i++) {
    let best = -1;
    let bestD = Infinity;
    means.forEach((m, k) => {
      let d = 0;
      for (let j = 0; j < size; j++) d += (ds.images[i * size + j]! - m[j]!) ** 2;
      if (d < bestD) {
        bestD = d;
        best = k;
      }
    });
    if (best === ds.labels[i]) right++;
  }
  return right / ds.n;
};

describe('syntheticClassification', () => {
  const opts = { n: 200, shape: [1, 8, 8], classes: 4, seed: 7, noise: 0.5 } as const;

  it('has the requested size, shape and balanced labels', () => {
    const ds = syntheticClassification(opts);
    expect(ds).toMatchObject({ n: 200, shape: [1, 8, 8], classes: 4 });
    expect(ds.images).toHaveLength(200 * 64);
    expect([0, 1, 2, 3].map((k) => [...ds.labels].filter((l) => l === k).length)).toEqual([50, 50, 50, 50]);
    expect([...ds.labels.slice(0, 12)]).not.toEqual([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]); // labels are shuffled
  });

  it('is deterministic per seed', () => {
    const a = syntheticClassification(opts);
    const b = syntheticClassification(opts);
    const c = syntheticClassification({ ...opts, seed: 8 });
    expect(a.images).toEqual(b.images);
    expect(a.labels).toEqual(b.labels);
    expect(c.images).not.toEqual(a.images);
  });

  it('without noise, every sample is its class prototype, standardised (mean 0, std 1)', () => {
    const ds = syntheticClassification({ ...opts, n: 12, noise: 0 });
    for (let i = 0; i < ds.n; i++) {
      const x = ds.images.subarray(i * 64, (i + 1) * 64);
      const mean = x.reduce((a, b) => a + b, 0) / 64;
      const std = Math.sqrt(x.reduce((a, b) => a + (b - mean) ** 2, 0) / 64);
      // Tolerance 1e-5: float32 rounding of 64 values of magnitude < 4.
      expect(Math.abs(mean)).toBeLessThan(1e-5);
      expect(Math.abs(std - 1)).toBeLessThan(1e-5);
      for (let j = 0; j < ds.n; j++) {
        const same = ds.labels[i] === ds.labels[j];
        const y = ds.images.subarray(j * 64, (j + 1) * 64);
        expect(x.every((v, k) => v === y[k])).toBe(same);
      }
    }
  });

  it('is separable by nearest class mean on held-out samples (accuracy >= 0.95 at noise 0.5 and 1.0)', () => {
    for (const noise of [0.5, 1.0]) {
      const { train, test } = syntheticTrainTest({ ...opts, n: 400, nTest: 200, noise, classes: 10 });
      expect(nearestMeanAccuracy(classMeans(train), test)).toBeGreaterThanOrEqual(0.95);
    }
  });

  it('train and test share prototypes but not noise; feature-vector shapes work', () => {
    const { train, test } = syntheticTrainTest({ n: 100, nTest: 100, shape: [16], classes: 2, seed: 3, noise: 0.3 });
    expect(train.images).not.toEqual(test.images);
    const a = classMeans(train);
    const b = classMeans(test);
    // Class means of 50 samples with noise 0.3 differ by about 0.3·√(2/50) ≈ 0.06 per value; allow 0.25.
    a.forEach((m, k) => m.forEach((v, j) => expect(Math.abs(v - b[k]![j]!)).toBeLessThan(0.25)));
    expect(syntheticClassification({ n: 100, shape: [16], classes: 2, seed: 3, noise: 0.3 }).images).toEqual(train.images);
  });

  it('rejects invalid options', () => {
    expect(() => syntheticClassification({ ...opts, n: -1 })).toThrow(/n must/);
    expect(() => syntheticClassification({ ...opts, classes: 0 })).toThrow(/classes/);
    expect(() => syntheticClassification({ ...opts, shape: [1, 0, 8] })).toThrow(/shape/);
    expect(() => syntheticClassification({ ...opts, noise: -1 })).toThrow(/noise/);
  });
});
