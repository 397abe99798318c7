/**
 * Statistics for the search-quality benchmark (issue 15), pure (randomness only through a seeded `Rng`):
 * mean, sample variance, quantiles, Welch's t test (t, Welch–Satterthwaite degrees of freedom, one-sided p from
 * Student's t distribution through the regularized incomplete beta function), Kendall's τ-b and Spearman's ρ (with
 * ties: average ranks), and a percentile bootstrap interval of a paired statistic.
 *
 * @example
 * const w = welch(evolutionRegrets, randomRegrets); // w.t < 0 when the first sample's mean is lower
 * w.pLess; // P(T ≤ t): the one-sided p that mean(a) < mean(b)
 * kendallTau([1, 2, 3], [1, 3, 2]); // 1/3
 */
import { type Rng, nextInt } from '../ir/rng.ts';

/** The arithmetic mean (NaN for an empty sample). */
export const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The sample variance (n − 1 in the denominator; NaN below 2 values). */
export const variance = (xs: readonly number[]): number => {
  if (xs.length < 2) return NaN;
  const m = mean(xs);
  return xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1);
};

/** The q-quantile (0 ≤ q ≤ 1) with linear interpolation between order statistics (R's type 7, numpy's default). */
export const quantile = (xs: readonly number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const h = (s.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo]! + (h - lo) * (s[hi]! - s[lo]!);
};

/** ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; relative error below 1e-14). */
export const logGamma = (x: number): number => {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0]!;
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
};

/** The continued fraction of the incomplete beta function (modified Lentz). */
const betaCf = (a: number, b: number, x: number): number => {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return h;
};

/** The regularized incomplete beta function I_x(a, b), 0 ≤ x ≤ 1. */
export const incompleteBeta = (x: number, a: number, b: number): number => {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2) ? (front * betaCf(a, b, x)) / a : 1 - (front * betaCf(b, a, 1 - x)) / b;
};

/** P(T ≤ t) for Student's t distribution with `df` degrees of freedom (df may be fractional: Welch). */
export const studentTCdf = (t: number, df: number): number => {
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
};

/** Welch's unequal-variance t test of mean(a) against mean(b). */
export interface Welch {
  /** (mean(a) − mean(b)) / √(s²a/na + s²b/nb). */
  readonly t: number;
  /** Welch–Satterthwaite degrees of freedom. */
  readonly df: number;
  /** One-sided p for "mean(a) < mean(b)": P(T ≤ t). */
  readonly pLess: number;
  /** One-sided p for "mean(a) > mean(b)": P(T ≥ t). */
  readonly pGreater: number;
  readonly meanA: number;
  readonly meanB: number;
}

/**
 * Welch's t test (two samples, unequal variances, each of at least 2 values).
 *
 * @example
 * welch([1, 2, 3, 4], [3, 4, 5, 6, 7]).t; // ≈ −2.63 (df ≈ 6.97)
 */
export const welch = (a: readonly number[], b: readonly number[]): Welch => {
  const va = variance(a) / a.length;
  const vb = variance(b) / b.length;
  const se = Math.sqrt(va + vb);
  const t = (mean(a) - mean(b)) / se;
  const df = (va + vb) ** 2 / (va ** 2 / (a.length - 1) + vb ** 2 / (b.length - 1));
  const cdf = studentTCdf(t, df);
  return { t, df, pLess: cdf, pGreater: 1 - cdf, meanA: mean(a), meanB: mean(b) };
};

/** Ranks 1..n, ties sharing their average rank. */
export const ranks = (xs: readonly number[]): number[] => {
  const idx = xs.map((_, i) => i).sort((i, j) => xs[i]! - xs[j]!);
  const r = new Array<number>(xs.length);
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && xs[idx[j + 1]!] === xs[idx[i]!]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) r[idx[k]!] = avg;
    i = j + 1;
  }
  return r;
};

/** Pearson's correlation (NaN when a sample is constant). */
export const pearson = (x: readonly number[], y: readonly number[]): number => {
  const mx = mean(x);
  const my = mean(y);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < x.length; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
    syy += (y[i]! - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
};

/** Spearman's ρ: Pearson's correlation of the average ranks. */
export const spearmanRho = (x: readonly number[], y: readonly number[]): number => pearson(ranks(x), ranks(y));

/**
 * Kendall's τ-b (ties in either sample corrected for), O(n²): (concordant − discordant) / √((n0 − n1)(n0 − n2)).
 *
 * @example
 * kendallTau([1, 2, 3, 4], [1, 2, 4, 3]); // 2/3
 */
export const kendallTau = (x: readonly number[], y: readonly number[]): number => {
  let s = 0;
  let tx = 0;
  let ty = 0;
  let n0 = 0;
  for (let i = 0; i < x.length; i++) {
    for (let j = i + 1; j < x.length; j++) {
      const dx = Math.sign(x[i]! - x[j]!);
      const dy = Math.sign(y[i]! - y[j]!);
      n0++;
      if (dx === 0) tx++;
      if (dy === 0) ty++;
      s += dx * dy;
    }
  }
  return s / Math.sqrt((n0 - tx) * (n0 - ty));
};

/** A point estimate with a percentile bootstrap interval. */
export interface Interval {
  readonly estimate: number;
  readonly lo: number;
  readonly hi: number;
}

/**
 * The percentile bootstrap interval (level 1 − alpha) of a paired statistic: resamples the pairs (x_i, y_i) with
 * replacement `resamples` times. Resamples where the statistic is undefined (NaN: e.g. a constant resample) are
 * dropped. Returns the interval and the generator after the draws.
 *
 * @example
 * const [ci] = bootstrapPaired(x, y, kendallTau, seedRng(1), 1000); // { estimate, lo, hi }
 */
export const bootstrapPaired = (
  x: readonly number[],
  y: readonly number[],
  stat: (x: readonly number[], y: readonly number[]) => number,
  rng: Rng,
  resamples = 1000,
  alpha = 0.05,
): [Interval, Rng] => {
  let r = rng;
  const vals: number[] = [];
  for (let b = 0; b < resamples; b++) {
    const xs: number[] = [];
    const ys: number[] = [];
    for (let i = 0; i < x.length; i++) {
      const [k, next] = nextInt(r, x.length);
      r = next;
      xs.push(x[k]!);
      ys.push(y[k]!);
    }
    const v = stat(xs, ys);
    if (Number.isFinite(v)) vals.push(v);
  }
  return [{ estimate: stat(x, y), lo: quantile(vals, alpha / 2), hi: quantile(vals, 1 - alpha / 2) }, r];
};
