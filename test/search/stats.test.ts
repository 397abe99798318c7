/**
 * src/search/stats.ts against known values (SciPy 1.x: scipy.stats.ttest_ind(equal_var=False), t.cdf, kendalltau
 * (τ-b), spearmanr), to 1e-9 unless said; and properties of the bootstrap interval and the rank statistics.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seedRng } from '../../src/ir/rng.ts';
import { bootstrapPaired, kendallTau, quantile, ranks, spearmanRho, studentTCdf, variance, welch } from '../../src/search/stats.ts';

describe('stats', () => {
  it("Welch's t, df and one-sided p match SciPy", () => {
    const w = welch([1, 2, 3, 4], [3, 4, 5, 6, 7]);
    expect(w.t).toBeCloseTo(-2.6111648393354674, 9);
    expect(w.df).toBeCloseTo(6.980769230769231, 9);
    // SciPy's two-sided p 0.03493878235996401, halved for the one-sided test.
    expect(w.pLess).toBeCloseTo(0.03493878235996401 / 2, 9);
    expect(w.pGreater).toBeCloseTo(1 - 0.03493878235996401 / 2, 9);
  });

  it("Student's t CDF matches closed forms and SciPy", () => {
    expect(studentTCdf(1, 1)).toBeCloseTo(0.75, 12); // Cauchy
    expect(studentTCdf(1, 2)).toBeCloseTo(0.5 + 1 / (2 * Math.sqrt(3)), 12);
    expect(studentTCdf(2.228139, 10)).toBeCloseTo(0.9750000062735588, 9);
    expect(studentTCdf(-1.5, 3.7)).toBeCloseTo(0.10679908460100675, 9);
    expect(studentTCdf(0.3, 150)).toBeCloseTo(0.6177037528058207, 9);
  });

  it("Kendall's τ-b and Spearman's ρ match SciPy, ties included", () => {
    expect(kendallTau([1, 2, 3, 4], [1, 2, 4, 3])).toBeCloseTo(2 / 3, 12);
    expect(kendallTau([1, 2, 2, 3], [1, 2, 3, 3])).toBeCloseTo(0.8, 12);
    expect(spearmanRho([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])).toBeCloseTo(0.8207826816681233, 12);
    const x = [3, 1, 4, 1, 5, 9, 2, 6];
    const y = [2, 7, 1, 8, 2, 8, 1, 8];
    expect(kendallTau(x, y)).toBeCloseTo(0.16051447078102563, 12);
    expect(spearmanRho(x, y)).toBeCloseTo(0.19885368120992467, 12);
  });

  it('ranks average ties; variance and quantile are the sample ones', () => {
    expect(ranks([10, 20, 20, 5])).toEqual([2, 3.5, 3.5, 1]);
    expect(variance([1, 2, 3, 4])).toBeCloseTo(5 / 3, 12);
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([1, 2, 3, 4], 0.25)).toBe(1.75);
  });

  it('τ and ρ are 1 for a strictly increasing map, −1 for a decreasing one, in [−1, 1] always', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: -1000, max: 1000 }), { minLength: 3, maxLength: 30 }), (xs) => {
        const up = xs.map((v) => v * v * v + 7);
        const down = xs.map((v) => -2 * v);
        expect(kendallTau(xs, up)).toBeCloseTo(1, 12);
        expect(spearmanRho(xs, up)).toBeCloseTo(1, 12);
        expect(kendallTau(xs, down)).toBeCloseTo(-1, 12);
        expect(spearmanRho(xs, down)).toBeCloseTo(-1, 12);
        const shuffled = [...xs].reverse().map((v, i) => (i % 2 === 0 ? v : -v));
        expect(Math.abs(kendallTau(xs, shuffled))).toBeLessThanOrEqual(1 + 1e-12);
      }),
    );
  });

  it('the bootstrap interval contains its estimate and is deterministic per seed', () => {
    const x = Array.from({ length: 40 }, (_, i) => i);
    const y = x.map((v) => v + 15 * Math.sin(v * 1.7));
    const [a] = bootstrapPaired(x, y, kendallTau, seedRng(3), 400);
    const [b] = bootstrapPaired(x, y, kendallTau, seedRng(3), 400);
    expect(a).toEqual(b);
    expect(a.lo).toBeLessThanOrEqual(a.estimate);
    expect(a.hi).toBeGreaterThanOrEqual(a.estimate);
    expect(a.hi - a.lo).toBeGreaterThan(0);
    expect(a.hi).toBeLessThanOrEqual(1);
  });
});
