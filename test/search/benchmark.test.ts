/**
 * Strategies against the synthetic tabular benchmark (test/search/tabular.ts), over many seeds: each seed is a
 * fresh objective table AND a fresh strategy seed, so a result cannot rest on one lucky table or one lucky run.
 *
 * The claim tested: at the same budget (40 of 192 architectures), regularized evolution and the REINFORCE
 * controller reach a lower MEAN regret (optimum − best found) than random search. Test: one-sided Welch t at
 * significance level α = 0.01. Welch's degrees of freedom are at least min(n₁, n₂) − 1 = 39, so the critical
 * value used, t(0.99, 30) = 2.457, is conservative.
 *
 * The tables are seeded apart from those used to choose the strategies' defaults (seeds 1000–1049).
 */
import { describe, expect, it } from 'vitest';
import { architectureKey } from '../../src/ir/architecture.ts';
import { type AnyStrategy, erase, gridSearch, randomSearch, regularizedEvolution, reinforce, tpe } from '../../src/search/index.ts';
import { makeTable, optimum, runOnTable, tabularSpace } from './tabular.ts';

const SEEDS = 40;
const BUDGET = 40;
const T_CRITICAL = 2.457; // one-sided α = 0.01, 30 degrees of freedom (conservative for ≥ 30)

const regrets = (s: AnyStrategy, batch = 1): number[] =>
  Array.from({ length: SEEDS }, (_, i) => {
    const table = makeTable(5000 + i);
    return optimum(table) - runOnTable(s, table, BUDGET, 77 + i, batch).best;
  });

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const variance = (xs: readonly number[]): number => {
  const m = mean(xs);
  return xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1);
};

/** Welch's t statistic for "mean(a) < mean(b)" (positive when a's mean is lower). */
const welchT = (a: readonly number[], b: readonly number[]): number =>
  (mean(b) - mean(a)) / Math.sqrt(variance(a) / a.length + variance(b) / b.length);

describe('tabular benchmark', () => {
  const baseline = regrets(erase(randomSearch()));

  it('the benchmark space is the intended 192 architectures, each in the table once', () => {
    expect(tabularSpace.size).toBe(192n);
    const table = makeTable(1);
    expect(table.size).toBe(192);
    expect(makeTable(1)).toEqual(table); // deterministic
    expect(makeTable(2)).not.toEqual(table);
  });

  it('random search has a real regret to beat', () => {
    expect(mean(baseline)).toBeGreaterThan(0.003);
  });

  // Evolution needs a population that fits the budget (NNI's 100 would be all random at 40 trials).
  const contenders: readonly (readonly [string, AnyStrategy, number])[] = [
    ['regularized evolution (P 10, S 5)', erase(regularizedEvolution({ population: 10, sample: 5 })), 1],
    ['regularized evolution, 4 trials in flight', erase(regularizedEvolution({ population: 10, sample: 5 })), 4],
    ['REINFORCE (independent)', erase(reinforce()), 1],
    ['REINFORCE (autoregressive)', erase(reinforce({ autoregressive: true })), 1],
    ['REINFORCE, 4 trials in flight', erase(reinforce()), 4],
    ['TPE', erase(tpe()), 1],
  ];

  it.each(contenders)('%s beats random search on mean regret (one-sided Welch t, α = 0.01)', (_name, s, batch) => {
    const r = regrets(s, batch);
    const t = welchT(r, baseline);
    if (process.env.SEARCH_BENCH_VERBOSE === '1') console.log(`${_name}: mean regret ${mean(r).toFixed(5)} vs random ${mean(baseline).toFixed(5)}, t = ${t.toFixed(2)}`);
    expect(mean(r)).toBeLessThan(mean(baseline));
    expect(t).toBeGreaterThan(T_CRITICAL);
  });

  it('the test can fail: random search with other seeds does not beat random search', () => {
    // A control for the statistic and the critical value: the same strategy must not pass.
    const other = Array.from({ length: SEEDS }, (_, i) => {
      const table = makeTable(5000 + i);
      return optimum(table) - runOnTable(randomSearch(), table, BUDGET, 9000 + i).best;
    });
    expect(welchT(other, baseline)).toBeLessThan(T_CRITICAL);
  });

  it('grid finds the optimum exactly, after exactly the whole space', () => {
    for (let i = 0; i < 5; i++) {
      const table = makeTable(5000 + i);
      const run = runOnTable(gridSearch(), table, 1000, i, 7);
      expect(run.proposed.length).toBe(192);
      expect(new Set(run.proposed.map(architectureKey)).size).toBe(192);
      expect(run.best).toBe(optimum(table));
    }
  });
});
