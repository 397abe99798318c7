/**
 * Reference kernels for elementwise ops and the structural ones that only move data: activations (relu, relu6,
 * sigmoid, tanh, gelu with the exact erf), scale, zero, add, mul and channel concatenation.
 *
 * NaN rule: every activation maps NaN to NaN (relu(NaN) = NaN, as PyTorch; Math.max/min propagate NaN). The
 * one exception is `zero` (DARTS' "none"), whose value is the constant 0 whatever its input holds: the op
 * stands for a missing edge, and the compiler never reads its input.
 */
import type { Shape } from '../ir/shape.ts';
import { numel } from '../ir/shape.ts';

const TWO_OVER_SQRT_PI = 1.1283791670955126; // 2/√π
const ONE_OVER_SQRT_PI = 0.5641895835477563; // 1/√π

/** erf(a) for 0 ≤ a < 3 by the series 2/√π·e^{−a²}·Σ 2ⁿa^{2n+1}/(1·3···(2n+1)): positive terms, no cancellation. */
const erfSeries = (a: number): number => {
  let term = a;
  let sum = a;
  const a2 = 2 * a * a;
  for (let n = 1; n < 200 && term > 1e-17 * sum; n++) {
    term *= a2 / (2 * n + 1);
    sum += term;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-a * a) * sum;
};

/** erfc(a) for a ≥ 3 by Laplace's continued fraction e^{−a²}/√π · 1/(a + ½/(a + 1/(a + 3/2/(a + …)))). */
const erfcFraction = (a: number): number => {
  let k = a;
  for (let n = 60; n >= 1; n--) k = a + n / 2 / k;
  return (ONE_OVER_SQRT_PI * Math.exp(-a * a)) / k;
};

/**
 * The error function, to within a few ulps (|error| < 1e-15; tested against an independent implementation).
 *
 * @example
 * erf(1); // 0.8427007929497149
 */
export const erf = (x: number): number => {
  if (Number.isNaN(x)) return x;
  const a = Math.abs(x);
  const r = a < 3 ? erfSeries(a) : 1 - erfcFraction(a);
  return x < 0 ? -r : r;
};

/** The complementary error function 1 − erf(x), accurate in the tail (x ≥ 3) where 1 − erf(x) would cancel. */
export const erfc = (x: number): number => (x >= 3 ? erfcFraction(x) : 1 - erf(x));

/** GELU, exact form x·Φ(x) = ½·x·erfc(−x/√2) (PyTorch's default, approximate='none'). */
export const gelu = (x: number): number => 0.5 * x * erfc(-x * Math.SQRT1_2);

/** The logistic function, without overflow for large |x|. */
export const sigmoid = (x: number): number => {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
};

export type UnaryKind = 'relu' | 'relu6' | 'sigmoid' | 'tanh' | 'gelu' | 'identity';

/** The scalar function of a unary activation. */
export const unaryFn = (kind: UnaryKind): ((x: number) => number) => {
  switch (kind) {
    case 'relu':
      return (x) => Math.max(x, 0);
    case 'relu6':
      return (x) => Math.min(Math.max(x, 0), 6);
    case 'sigmoid':
      return sigmoid;
    case 'tanh':
      return Math.tanh;
    case 'gelu':
      return gelu;
    case 'identity':
      return (x) => x;
    default: {
      const never: never = kind;
      throw new Error(`unknown activation ${String(never)}`);
    }
  }
};

/** `f` applied to every element. */
export const mapRef = (x: ArrayLike<number>, f: (v: number) => number): Float64Array => {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f(x[i]!);
  return out;
};

/**
 * Elementwise sum of one or more arrays of one length, left to right starting from the first array (not from 0,
 * so that a sum of one array is that array, −0 included).
 */
export const addRef = (xs: readonly ArrayLike<number>[]): Float64Array => {
  const out = Float64Array.from(xs[0] ?? []);
  for (const x of xs.slice(1)) for (let i = 0; i < out.length; i++) out[i]! += x[i]!;
  return out;
};

/** Elementwise product. */
export const mulRef = (a: ArrayLike<number>, b: ArrayLike<number>): Float64Array => {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! * b[i]!;
  return out;
};

/**
 * Concatenation along the first per-sample axis (channels): each sample's output is the inputs' samples one
 * after another, since a sample of shape [C, …] is C contiguous blocks.
 */
export const concatRef = (xs: readonly { readonly data: ArrayLike<number>; readonly shape: Shape }[], batch: number): Float64Array => {
  const sizes = xs.map((x) => numel(x.shape));
  const total = sizes.reduce((s, n) => s + n, 0);
  const out = new Float64Array(batch * total);
  for (let n = 0; n < batch; n++) {
    let at = n * total;
    xs.forEach((x, k) => {
      const size = sizes[k]!;
      for (let i = 0; i < size; i++) out[at + i] = x.data[n * size + i]!;
      at += size;
    });
  }
  return out;
};

/** DARTS' "none": zeros of the per-sample output shape (spatially strided by the op's stride). */
export const zeroRef = (batch: number, outShape: Shape): Float64Array => new Float64Array(batch * numel(outShape));
