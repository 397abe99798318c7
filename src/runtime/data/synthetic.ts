/**
 * Synthetic classification sets for tests: each class has a fixed spatial pattern (its prototype) and a
 * sample is its class's prototype plus Gaussian noise. Prototypes are smoothed random fields (a 3×3 box blur of
 * white noise per channel, then standardised to mean 0, std 1), so they have local structure that a
 * convolution picks up, and two classes' prototypes are far apart relative to the noise: with noise σ and D
 * values per sample the class means are ~√(2D') apart (D' the effective dimension after smoothing), so the set
 * is linearly separable with high probability for σ up to ~1 and a small CNN learns it in a few steps.
 *
 * Deterministic per seed (src/ir/rng.ts); no `Math.random`.
 */
import { nextNormal, nextU32, seedRng, type Rng } from '../../ir/rng.ts';
import { numel, type Shape } from '../../ir/shape.ts';
import { shuffledIndices, type Dataset } from './batches.ts';

export interface SyntheticOptions {
  /** Number of samples; labels are balanced (counts differ by at most one). */
  readonly n: number;
  /** Per-sample shape: [C, H, W] for images, [F] for feature vectors. */
  readonly shape: Shape;
  readonly classes: number;
  readonly seed: number;
  /** Standard deviation of the per-value Gaussian noise (prototypes have std 1). Default 0.5. */
  readonly noise?: number;
}

/** The spatial extent of `shape`: [channels, height, width] with 1 for missing leading axes. */
const chw = (shape: Shape): [number, number, number] => {
  if (shape.length === 0) return [1, 1, 1];
  if (shape.length === 1) return [1, 1, shape[0]!];
  if (shape.length === 2) return [1, shape[0]!, shape[1]!];
  const [h, w] = shape.slice(-2) as [number, number];
  return [numel(shape.slice(0, -2)), h, w];
};

/** One standardised smoothed-noise prototype per class, concatenated: [classes, ...shape]. */
const prototypes = (shape: Shape, classes: number, rng: Rng): [Float32Array, Rng] => {
  const [c, h, w] = chw(shape);
  const size = c * h * w;
  const out = new Float32Array(classes * size);
  const white = new Float64Array(size);
  let r = rng;
  for (let k = 0; k < classes; k++) {
    for (let i = 0; i < size; i++) {
      const [z, next] = nextNormal(r);
      white[i] = z;
      r = next;
    }
    // 3×3 box blur within each channel (clamped at borders), then standardise the whole prototype.
    const proto = new Float64Array(size);
    for (let ch = 0; ch < c; ch++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          let s = 0;
          let m = 0;
          for (let dy = -1; dy <= 1; dy++) {
            for (let dx = -1; dx <= 1; dx++) {
              const yy = y + dy;
              const xx = x + dx;
              if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
              s += white[(ch * h + yy) * w + xx]!;
              m++;
            }
          }
          proto[(ch * h + y) * w + x] = s / m;
        }
      }
    }
    let mean = 0;
    for (let i = 0; i < size; i++) mean += proto[i]!;
    mean /= size;
    let v = 0;
    for (let i = 0; i < size; i++) v += (proto[i]! - mean) ** 2;
    const std = Math.sqrt(v / size) || 1;
    for (let i = 0; i < size; i++) out[k * size + i] = (proto[i]! - mean) / std;
  }
  return [out, r];
};

const checkOptions = (o: SyntheticOptions, n: number): void => {
  if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`synthetic data: n must be a non-negative integer, got ${n}`);
  if (!(Number.isInteger(o.classes) && o.classes >= 1)) throw new RangeError(`synthetic data: classes must be a positive integer, got ${o.classes}`);
  if (!o.shape.every((d) => Number.isInteger(d) && d >= 1)) throw new RangeError(`synthetic data: shape must have positive integer dimensions, got [${o.shape.join(', ')}]`);
  const noise = o.noise ?? 0.5;
  if (!(Number.isFinite(noise) && noise >= 0)) throw new RangeError(`synthetic data: noise must be a finite non-negative number, got ${noise}`);
};

/** `n` samples around `protos`: balanced labels in a seeded random order, prototype + noise·N(0, 1). */
const samples = (protos: Float32Array, o: SyntheticOptions, n: number, rng: Rng): Dataset => {
  const size = numel(o.shape);
  const noise = o.noise ?? 0.5;
  const [order, r0] = shuffledIndices(n, rng);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = order[i]! % o.classes;
  const images = new Float32Array(n * size);
  let r = r0;
  for (let i = 0; i < n; i++) {
    const base = labels[i]! * size;
    for (let j = 0; j < size; j++) {
      const [z, next] = nextNormal(r);
      r = next;
      images[i * size + j] = protos[base + j]! + noise * z;
    }
  }
  return { images, labels, n, shape: o.shape, classes: o.classes };
};

/** Prototypes for `o` and the seeds of two independent sample streams (train, test). */
const setup = (o: SyntheticOptions): { protos: Float32Array; trainSeed: number; testSeed: number } => {
  const [protos, r] = prototypes(o.shape, o.classes, seedRng(o.seed));
  const [trainSeed, r2] = nextU32(r);
  const [testSeed] = nextU32(r2);
  return { protos, trainSeed, testSeed };
};

/**
 * A synthetic, nearly linearly separable classification set (see the module comment). The same options give
 * the same set; sets with the same `seed`, `shape` and `classes` share their class prototypes, whatever `n`.
 *
 * @example
 * const ds = syntheticClassification({ n: 256, shape: [1, 8, 8], classes: 4, seed: 7, noise: 0.5 });
 */
export const syntheticClassification = (o: SyntheticOptions): Dataset => {
  checkOptions(o, o.n);
  const { protos, trainSeed } = setup(o);
  return samples(protos, o, o.n, seedRng(trainSeed));
};

/**
 * A train set (as `syntheticClassification` with `n`) and a test set of `nTest` samples drawn from the same
 * class prototypes with independent noise.
 *
 * @example
 * const { train, test } = syntheticTrainTest({ n: 512, nTest: 128, shape: [1, 8, 8], classes: 4, seed: 1 });
 */
export const syntheticTrainTest = (o: SyntheticOptions & { readonly nTest: number }): { readonly train: Dataset; readonly test: Dataset } => {
  checkOptions(o, o.n);
  checkOptions(o, o.nTest);
  const { protos, trainSeed, testSeed } = setup(o);
  return { train: samples(protos, o, o.n, seedRng(trainSeed)), test: samples(protos, o, o.nTest, seedRng(testSeed)) };
};
