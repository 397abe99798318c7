/**
 * In-memory labelled data sets and how training consumes them: seeded shuffling, train/valid splits and
 * mini-batches.
 *
 * Randomness is an explicit `Rng` (src/ir/rng.ts) passed in and handed back, so a run is reproducible from
 * its seed and a resumed run can continue the same stream.
 *
 * Batching never copies the whole set per epoch: an epoch is a permutation of sample indices (one Uint32Array
 * of n entries) and each batch is gathered into a reusable buffer allocated once per epoch iterator.
 */
import * as E from 'fp-ts/lib/Either.js';
import { nextInt, type Rng } from '../../ir/rng.ts';
import { numel, type Shape } from '../../ir/shape.ts';
import type { DataError } from './idx.ts';

/**
 * A labelled set of samples held in memory. Sample `i` is `images[i * numel(shape) .. (i + 1) * numel(shape))`
 * in C order (CHW for images, so `images` is [n, C, H, W]); its label is `labels[i]`, in 0..classes-1.
 */
export interface Dataset {
  readonly images: Float32Array;
  readonly labels: Int32Array;
  readonly n: number;
  /** Per-sample shape (no batch dimension), e.g. [1, 28, 28]. */
  readonly shape: Shape;
  readonly classes: number;
}

/** One mini-batch: `size` samples, `images` is [size, ...shape] and `labels` is [size]. */
export interface Batch {
  readonly images: Float32Array;
  readonly labels: Int32Array;
  readonly size: number;
  /** Position of the batch in its epoch, from 0. */
  readonly index: number;
}

/**
 * `n` indices 0..n-1 in a uniformly random order (Fisher–Yates), and the advanced generator.
 *
 * @example
 * const [order, rng2] = shuffledIndices(10, seedRng(1));
 */
export const shuffledIndices = (n: number, rng: Rng): [Uint32Array, Rng] => {
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  let r = rng;
  for (let i = n - 1; i > 0; i--) {
    const [j, next] = nextInt(r, i + 1);
    r = next;
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
  }
  return [idx, r];
};

/** The samples of `ds` at `indices`, in that order, copied into a new data set. */
export const subset = (ds: Dataset, indices: ArrayLike<number>): Dataset => {
  const size = numel(ds.shape);
  const images = new Float32Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const src = indices[i]!;
    images.set(ds.images.subarray(src * size, (src + 1) * size), i * size);
    labels[i] = ds.labels[src]!;
  }
  return { images, labels, n: indices.length, shape: ds.shape, classes: ds.classes };
};

/** How much of a data set goes to validation: a fraction of it (in [0, 1]) or a number of samples. */
export type ValidSize = { readonly fraction: number } | { readonly count: number };

export interface SplitOptions {
  readonly valid: ValidSize;
  readonly rng: Rng;
  /** Keep each class's share the same in both parts (largest-remainder rounding). Default false. */
  readonly stratified?: boolean;
}

/** A data set split in two, and the advanced generator. */
export interface Split {
  readonly train: Dataset;
  readonly valid: Dataset;
  readonly rng: Rng;
}

const validCount = (n: number, valid: ValidSize): E.Either<readonly DataError[], number> => {
  if ('fraction' in valid) {
    const f = valid.fraction;
    return Number.isFinite(f) && f >= 0 && f <= 1
      ? E.right(Math.round(f * n))
      : E.left([{ tag: 'InvalidOption', option: 'valid.fraction', message: `valid.fraction must be in [0, 1], got ${f}` }]);
  }
  const c = valid.count;
  return Number.isInteger(c) && c >= 0 && c <= n
    ? E.right(c)
    : E.left([{ tag: 'InvalidOption', option: 'valid.count', message: `valid.count must be an integer in 0..${n} (the set has ${n} samples), got ${c}` }]);
};

/** Per-class validation quotas summing to `total`, proportional to the class sizes (largest remainder). */
const apportion = (classSizes: readonly number[], n: number, total: number): number[] => {
  const exact = classSizes.map((c) => (n === 0 ? 0 : (total * c) / n));
  const quota = exact.map(Math.floor);
  let left = total - quota.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((x, k) => ({ k, r: x - Math.floor(x) })).sort((a, b) => b.r - a.r || a.k - b.k);
  for (const { k } of byRemainder) {
    if (left === 0) break;
    if (quota[k]! < classSizes[k]!) {
      quota[k]! += 1;
      left -= 1;
    }
  }
  return quota;
};

/**
 * Splits `ds` into train and validation parts, at random (seeded). Both parts keep the original sample order
 * (shuffling is the batcher's job). With `stratified`, every class is split in the same proportion.
 *
 * @example
 * const r = splitDataset(full, { valid: { fraction: 0.1 }, rng: seedRng(0), stratified: true });
 * if (E.isRight(r)) train(r.right.train, r.right.valid);
 */
export const splitDataset = (ds: Dataset, opts: SplitOptions): E.Either<readonly DataError[], Split> => {
  const m = validCount(ds.n, opts.valid);
  if (E.isLeft(m)) return m;
  const isValid = new Uint8Array(ds.n);
  let rng = opts.rng;
  if (opts.stratified === true) {
    const members: number[][] = Array.from({ length: ds.classes }, () => []);
    for (let i = 0; i < ds.n; i++) members[ds.labels[i]!]?.push(i);
    const quota = apportion(members.map((c) => c.length), ds.n, m.right);
    members.forEach((idx, k) => {
      const [order, next] = shuffledIndices(idx.length, rng);
      rng = next;
      for (let j = 0; j < quota[k]!; j++) isValid[idx[order[j]!]!] = 1;
    });
  } else {
    const [order, next] = shuffledIndices(ds.n, rng);
    rng = next;
    for (let j = 0; j < m.right; j++) isValid[order[j]!] = 1;
  }
  const trainIdx: number[] = [];
  const validIdx: number[] = [];
  for (let i = 0; i < ds.n; i++) (isValid[i] === 1 ? validIdx : trainIdx).push(i);
  return E.right({ train: subset(ds, trainIdx), valid: subset(ds, validIdx), rng });
};

/** Number of batches of an epoch of `n` samples. */
export const batchCount = (n: number, batchSize: number, dropLast: boolean): number =>
  dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);

export interface BatchOptions {
  readonly batchSize: number;
  /** Leave out the last batch when it is smaller than `batchSize`. Default false. */
  readonly dropLast?: boolean;
  /** Shuffle the epoch with this generator; without one, samples come in their stored order. */
  readonly rng?: Rng;
  /**
   * How many batch buffers to rotate through (default 1). A yielded batch stays valid until `buffers` more
   * batches have been yielded, so with 2 one batch can be uploading while the next is gathered.
   */
  readonly buffers?: number;
}

/** One epoch of batches, its length and the generator advanced past the shuffle (undefined when unshuffled). */
export interface Epoch {
  readonly batches: Iterable<Batch>;
  readonly count: number;
  readonly order: Uint32Array;
  readonly rng: Rng | undefined;
}

/**
 * The batches of one epoch over `ds`. The permutation is drawn up front (so `rng` comes back at once); the
 * batches are gathered lazily into reusable buffers: a yielded `Batch` aliases memory that a later batch
 * overwrites (after `buffers` more batches), so upload or copy it before moving on. A final short batch is a
 * view of the first `size` samples of a buffer. Each iteration of `batches` walks the same order again.
 *
 * @example
 * let rng = seedRng(1);
 * for (let epoch = 0; epoch < 3; epoch++) {
 *   const ep = epochBatches(train, { batchSize: 64, rng });
 *   rng = ep.rng!;
 *   for (const b of ep.batches) step(b.images, b.labels, b.size);
 * }
 */
export const epochBatches = (ds: Dataset, opts: BatchOptions): Epoch => {
  const { batchSize } = opts;
  const buffers = opts.buffers ?? 1;
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new RangeError(`epochBatches: batchSize must be a positive integer, got ${batchSize}`);
  if (!(Number.isInteger(buffers) && buffers > 0)) throw new RangeError(`epochBatches: buffers must be a positive integer, got ${buffers}`);
  const dropLast = opts.dropLast ?? false;
  let order: Uint32Array;
  let rng: Rng | undefined;
  if (opts.rng === undefined) {
    order = new Uint32Array(ds.n);
    for (let i = 0; i < ds.n; i++) order[i] = i;
    rng = undefined;
  } else {
    [order, rng] = shuffledIndices(ds.n, opts.rng);
  }
  const count = batchCount(ds.n, batchSize, dropLast);
  const size = numel(ds.shape);
  const batches: Iterable<Batch> = {
    *[Symbol.iterator]() {
      // Allocated per iteration, not per batch: `buffers` image buffers and label buffers.
      const imageBufs = Array.from({ length: Math.min(buffers, count) }, () => new Float32Array(batchSize * size));
      const labelBufs = Array.from({ length: Math.min(buffers, count) }, () => new Int32Array(batchSize));
      for (let b = 0; b < count; b++) {
        const start = b * batchSize;
        const bsize = Math.min(batchSize, ds.n - start);
        const images = imageBufs[b % imageBufs.length]!;
        const labels = labelBufs[b % labelBufs.length]!;
        for (let j = 0; j < bsize; j++) {
          const src = order[start + j]!;
          images.set(ds.images.subarray(src * size, (src + 1) * size), j * size);
          labels[j] = ds.labels[src]!;
        }
        yield bsize === batchSize
          ? { images, labels, size: bsize, index: b }
          : { images: images.subarray(0, bsize * size), labels: labels.subarray(0, bsize), size: bsize, index: b };
      }
    },
  };
  return { batches, count, order, rng };
};
