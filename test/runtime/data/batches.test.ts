// Shuffling, splitting and batching. Data sets here encode each sample's index in its values, so that where a
// sample went can be read back from any batch or split.
import * as fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { seedRng } from '../../../src/ir/rng.ts';
import { batchCount, epochBatches, shuffledIndices, splitDataset, subset, type Dataset, type Split } from '../../../src/runtime/data/batches.ts';

const SAMPLE = 3; // values per sample, shape [3]

/** Sample i has values [i, i + 0.25, i + 0.5] and label `label(i)`. */
const indexed = (n: number, classes = 4, label = (i: number) => i % classes): Dataset => {
  const images = new Float32Array(n * SAMPLE);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    images.set([i, i + 0.25, i + 0.5], i * SAMPLE);
    labels[i] = label(i);
  }
  return { images, labels, n, shape: [SAMPLE], classes };
};
const idsOf = (images: Float32Array): number[] => Array.from({ length: images.length / SAMPLE }, (_, j) => images[j * SAMPLE]!);

const ok = (r: E.Either<unknown, Split>): Split => {
  if (E.isLeft(r)) throw new Error(JSON.stringify(r.left));
  return r.right;
};

describe('shuffledIndices', () => {
  it('is a permutation, the same for the same seed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.integer(), (n, seed) => {
        const [a] = shuffledIndices(n, seedRng(seed));
        const [b] = shuffledIndices(n, seedRng(seed));
        expect([...a]).toEqual([...b]);
        expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i));
      }),
    );
  });

  it('is not the identity, and advances the generator', () => {
    const [a, r] = shuffledIndices(100, seedRng(3));
    expect([...a]).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
    const [b] = shuffledIndices(100, r);
    expect([...b]).not.toEqual([...a]);
  });

  it('puts every index in the first position about equally often (2000 draws of n = 5)', () => {
    const counts = new Array(5).fill(0);
    let r = seedRng(11);
    for (let t = 0; t < 2000; t++) {
      const [p, next] = shuffledIndices(5, r);
      r = next;
      counts[p[0]!]++;
    }
    // Expected 400 each; binomial sd ≈ 17.9, so ±90 is a 5-sigma band.
    for (const c of counts) expect(Math.abs(c - 400)).toBeLessThan(90);
  });
});

describe('subset', () => {
  it('gathers the given samples in the given order', () => {
    const s = subset(indexed(10), [7, 2, 2]);
    expect(s.n).toBe(3);
    expect([...s.images]).toEqual([7, 7.25, 7.5, 2, 2.25, 2.5, 2, 2.25, 2.5]);
    expect([...s.labels]).toEqual([3, 2, 2]);
  });
});

describe('epochBatches', () => {
  it('yields every sample exactly once, in the drawn order, with the right labels', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 1, max: 16 }), fc.boolean(), fc.integer(), (n, batchSize, dropLast, seed) => {
        const ds = indexed(n);
        const ep = epochBatches(ds, { batchSize, dropLast, rng: seedRng(seed) });
        const seen: number[] = [];
        let count = 0;
        for (const b of ep.batches) {
          expect(b.index).toBe(count);
          expect(b.images).toHaveLength(b.size * SAMPLE);
          expect(b.labels).toHaveLength(b.size);
          const ids = idsOf(b.images);
          ids.forEach((id, j) => {
            expect(b.images[j * SAMPLE + 2]).toBe(id + 0.5);
            expect(b.labels[j]).toBe(id % 4);
          });
          seen.push(...ids);
          count++;
        }
        expect(count).toBe(ep.count);
        expect(count).toBe(dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize));
        expect(seen).toEqual([...ep.order].slice(0, dropLast ? count * batchSize : n));
        expect([...ep.order].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
      }),
    );
  });

  it('keeps the stored order without an rng', () => {
    const ep = epochBatches(indexed(7), { batchSize: 3 });
    expect(ep.rng).toBeUndefined();
    expect([...ep.batches].map((b) => b.size)).toEqual([3, 3, 1]);
    expect([...ep.order]).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('gives different orders in successive epochs and the same order for the same rng', () => {
    const ds = indexed(50);
    const e1 = epochBatches(ds, { batchSize: 8, rng: seedRng(5) });
    const e2 = epochBatches(ds, { batchSize: 8, rng: e1.rng! });
    const again = epochBatches(ds, { batchSize: 8, rng: seedRng(5) });
    expect([...e2.order]).not.toEqual([...e1.order]);
    expect([...again.order]).toEqual([...e1.order]);
  });

  it('reuses its batch buffers: one by default, `buffers` in rotation', () => {
    const ds = indexed(40);
    const one = [...epochBatches(ds, { batchSize: 8 }).batches];
    expect(one[1]!.images.buffer).toBe(one[0]!.images.buffer);
    const two = [...epochBatches(ds, { batchSize: 8, buffers: 2 }).batches];
    expect(two[1]!.images.buffer).not.toBe(two[0]!.images.buffer);
    expect(two[2]!.images.buffer).toBe(two[0]!.images.buffer);
    // With two buffers, batch b is intact while batch b + 1 is gathered.
    const it2 = epochBatches(ds, { batchSize: 8, buffers: 2 }).batches[Symbol.iterator]();
    const first = it2.next().value!;
    const firstIds = idsOf(first.images);
    it2.next();
    expect(idsOf(first.images)).toEqual(firstIds);
    expect(firstIds).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('iterates the same order again', () => {
    const ep = epochBatches(indexed(20), { batchSize: 6, rng: seedRng(9) });
    const a = [...ep.batches].flatMap((b) => idsOf(b.images));
    const b = [...ep.batches].flatMap((x) => idsOf(x.images));
    expect(b).toEqual(a);
  });

  it('rejects a batch size that is not a positive integer', () => {
    expect(() => epochBatches(indexed(4), { batchSize: 0 })).toThrow(/batchSize/);
    expect(() => epochBatches(indexed(4), { batchSize: 2.5 })).toThrow(/batchSize/);
    expect(() => epochBatches(indexed(4), { batchSize: 2, buffers: 0 })).toThrow(/buffers/);
  });

  it('counts batches', () => {
    expect(batchCount(10, 4, false)).toBe(3);
    expect(batchCount(10, 4, true)).toBe(2);
    expect(batchCount(8, 4, true)).toBe(2);
  });
});

describe('splitDataset', () => {
  it('partitions the set: disjoint, covering, the requested validation size, order kept', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 80 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer(), fc.boolean(), (n, f, seed, stratified) => {
        const s = ok(splitDataset(indexed(n), { valid: { fraction: f }, rng: seedRng(seed), stratified }));
        const tr = idsOf(s.train.images);
        const va = idsOf(s.valid.images);
        expect(va).toHaveLength(Math.round(f * n));
        expect([...tr, ...va].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
        expect(tr).toEqual([...tr].sort((a, b) => a - b));
        expect(va).toEqual([...va].sort((a, b) => a - b));
        va.forEach((id, j) => expect(s.valid.labels[j]).toBe(id % 4));
      }),
    );
  });

  it('is deterministic per seed and differs across seeds', () => {
    const ds = indexed(100);
    const a = ok(splitDataset(ds, { valid: { count: 20 }, rng: seedRng(1) }));
    const b = ok(splitDataset(ds, { valid: { count: 20 }, rng: seedRng(1) }));
    const c = ok(splitDataset(ds, { valid: { count: 20 }, rng: seedRng(2) }));
    expect(idsOf(a.valid.images)).toEqual(idsOf(b.valid.images));
    expect(idsOf(a.valid.images)).not.toEqual(idsOf(c.valid.images));
  });

  it('stratified: every class split in the same proportion (within one sample)', () => {
    // Unbalanced classes: 60, 25, 10, 5 samples.
    const sizes = [60, 25, 10, 5];
    const label = (i: number) => (i < 60 ? 0 : i < 85 ? 1 : i < 95 ? 2 : 3);
    const s = ok(splitDataset(indexed(100, 4, label), { valid: { fraction: 0.2 }, rng: seedRng(4), stratified: true }));
    expect(s.valid.n).toBe(20);
    sizes.forEach((size, k) => {
      const got = [...s.valid.labels].filter((l) => l === k).length;
      expect(Math.abs(got - 0.2 * size)).toBeLessThanOrEqual(1);
    });
  });

  it('rejects a fraction outside [0, 1] and a count larger than the set', () => {
    const ds = indexed(10);
    const e1 = splitDataset(ds, { valid: { fraction: 1.5 }, rng: seedRng(0) });
    const e2 = splitDataset(ds, { valid: { count: 11 }, rng: seedRng(0) });
    expect(E.isLeft(e1) && e1.left[0]).toMatchObject({ tag: 'InvalidOption', option: 'valid.fraction' });
    expect(E.isLeft(e2) && e2.left[0]).toMatchObject({ tag: 'InvalidOption', option: 'valid.count' });
  });
});
