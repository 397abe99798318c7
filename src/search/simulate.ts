/**
 * The search-strategy simulator of issue 15 (pure): runs a classic strategy against a tabular benchmark with the
 * noise of the seeds modelled — every trial of an architecture returns ONE of that architecture's recorded seed
 * values, drawn uniformly (a re-proposed architecture draws again) — and reports the regret after every trial.
 *
 * Regret after n trials = the best true value of the space − the true value of the incumbent, where an
 * architecture's true value is the mean over its seeds, and the incumbent is the architecture with the best
 * OBSERVED value so far (what the search would return). A noisy lucky draw therefore costs regret, as it would in
 * a real search.
 *
 * @example
 * const r = simulate(erase(tpe({ startup: 5 })), space, table, 100, 7);
 * r.regret[19]; // regret after 20 trials
 * const c = regretCurve(Array.from({ length: 100 }, (_, s) => simulate(strategy, space, table, 100, s).regret));
 */
import type { Architecture } from '../ir/apply.ts';
import { architectureKey } from '../ir/architecture.ts';
import { type Rng, nextInt, seedRng } from '../ir/rng.ts';
import type { SearchSpace } from '../ir/space.ts';
import { mean, quantile, variance } from './stats.ts';
import type { Strategy } from './strategy.ts';
import { type ArchEntry, type SeedTable, meanValid } from './table.ts';

/** One simulated search. */
export interface Simulation {
  /** regret[n − 1]: the regret after n trials (held after the strategy runs out of proposals). */
  readonly regret: readonly number[];
  /** Every trial: the architecture's key, the seed index drawn and the value it returned. */
  readonly trials: readonly { readonly key: string; readonly draw: number; readonly value: number }[];
}

/** The best true (seed-mean) value of a table. */
export const tableOptimum = (table: SeedTable): number => Math.max(...[...table.values()].map(meanValid));

/**
 * One draw of an architecture's value: seed index uniform in [0, seeds) from `rng`, and its value.
 *
 * @example
 * drawValue(entry, seedRng(1)); // [{ draw: 2, value: 0.81 }, rng']
 */
export const drawValue = (e: ArchEntry, rng: Rng): [{ readonly draw: number; readonly value: number }, Rng] => {
  const [draw, r] = nextInt(rng, e.valid.length);
  return [{ draw, value: e.valid[draw]! }, r];
};

/**
 * Runs `strategy` on `table` for `budget` trials, one at a time, with strategy seed `seed` (the noise draws use a
 * separate generator derived from the same seed). Throws (a programming error, not user input) if the strategy
 * proposes an architecture the table lacks: simulate only on a complete table.
 */
export const simulate = <S>(strategy: Strategy<S>, space: SearchSpace, table: SeedTable, budget: number, seed: number): Simulation => {
  const optimum = tableOptimum(table);
  let state = strategy.init(space);
  let rng = seedRng(seed);
  let noise = seedRng((seed ^ 0x5eed5eed) >>> 0);
  const regret: number[] = [];
  const trials: { key: string; draw: number; value: number }[] = [];
  let bestObserved = -Infinity;
  let incumbentTrue = NaN;
  while (regret.length < budget) {
    const p = strategy.propose(space, state, 1, rng);
    rng = p.rng;
    if (p.archs.length === 0) break;
    const results = p.archs.map((arch: Architecture) => {
      const key = architectureKey(arch);
      const e = table.get(key);
      if (e === undefined) throw new Error(`simulate: the strategy proposed ${key}, which the table lacks (simulate on a complete table)`);
      const [d, next] = drawValue(e, noise);
      noise = next;
      trials.push({ key, draw: d.draw, value: d.value });
      if (d.value > bestObserved) {
        bestObserved = d.value;
        incumbentTrue = meanValid(e);
      }
      regret.push(optimum - incumbentTrue);
      return { arch, objective: d.value };
    });
    state = strategy.observe(space, p.state, results);
    if (p.exhausted) break;
  }
  while (regret.length < budget && regret.length > 0) regret.push(regret.at(-1)!);
  return { regret, trials };
};

/** Regret statistics per budget over many simulated searches. */
export interface RegretCurve {
  /** budgets[i] = i + 1 trials. */
  readonly mean: readonly number[];
  /** The 95 % confidence interval of the mean (mean ± 1.96 standard errors). */
  readonly ciLo: readonly number[];
  readonly ciHi: readonly number[];
  /** The 2.5 % and 97.5 % quantiles of the runs (the spread of single searches). */
  readonly q025: readonly number[];
  readonly q975: readonly number[];
  readonly runs: number;
}

/**
 * Aggregates regret trajectories of equal length (one per strategy seed) budget by budget.
 *
 * @example
 * regretCurve([[0.1, 0.05], [0.2, 0]]).mean; // [0.15, 0.025]
 */
export const regretCurve = (runs: readonly (readonly number[])[]): RegretCurve => {
  const n = runs[0]?.length ?? 0;
  const at = (i: number): number[] => runs.map((r) => r[i]!);
  const cols = Array.from({ length: n }, (_, i) => at(i));
  const se = (xs: readonly number[]): number => (xs.length < 2 ? 0 : Math.sqrt(variance(xs) / xs.length));
  return {
    mean: cols.map(mean),
    ciLo: cols.map((c) => mean(c) - 1.96 * se(c)),
    ciHi: cols.map((c) => mean(c) + 1.96 * se(c)),
    q025: cols.map((c) => quantile(c, 0.025)),
    q975: cols.map((c) => quantile(c, 0.975)),
    runs: runs.length,
  };
};
