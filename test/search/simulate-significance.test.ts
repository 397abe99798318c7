/**
 * PRE-REGISTERED significance tests of issue 15 (written at 04:08 UTC on 2026-12-04, before any simulation of these
 * strategies on this table was run; the numbers below were fixed then and are not to be tuned after looking):
 *
 * - Table: fashion-small as committed — the 3-seed rows of bench/tabular/fashion-small.jsonl done so far, completed
 *   per (architecture, seed) by the old one-seed table (bench/tabular/fashion-small-1seed.jsonl: seed 0 of the same
 *   recipe). Architectures with one seed then have no seed noise in the simulation; the table is resumable and
 *   these tests keep their hypotheses as it fills up.
 * - Noise model: a trial returns one of the architecture's seed values, uniformly (src/search/simulate.ts).
 * - Budget: 20 trials (of 72). Seeds: 0..99 (100 searches per strategy).
 * - H1: mean regret of regularized evolution (population 6, sample 3) < that of random search; the same for TPE
 *   (5 random start-up trials). One-sided Welch's t, α = 0.01: pass iff p < 0.01.
 *
 * Honest caveat: budget 20 on the old one-seed table was chosen by an earlier session after looking at budgets 10
 * and 15 (test/search/fashion-benchmark.test.ts); the pre-registration here fixes the seeds, the test and α before
 * running on the new (noisy, 3-seed) table, not the budget from nothing.
 *
 * OUTCOME (2026-12-04 15:35 UTC, the 3-seed table complete: 72 architectures × 3 seeds): H1 is NOT supported for
 * either strategy. Both have a lower mean regret than random search, but neither significantly so at α = 0.01:
 * evolution 0.0171 vs random 0.0191 (p = 0.077), TPE 0.0159 vs 0.0191 (p = 0.0126). (On the partial table of 147
 * rows the evolution test gave p = 0.018, already failing.) Once the seed noise is in, 20 trials of 72 do not
 * separate these strategies from random search here. The assertions below now pin that reported outcome: the
 * direction (mean regret below random's) and the verdict (p ≥ α); the hypotheses and numbers above are unchanged.
 * If the table or the simulator changes and a verdict flips, this test fails and BENCHMARKS.md's "Search quality"
 * text must be revisited with it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { type AnyStrategy, erase, randomSearch, regularizedEvolution, tpe } from '../../src/search/index.ts';
import { simulate } from '../../src/search/simulate.ts';
import { welch } from '../../src/search/stats.ts';
import { decodeSeedTable, unionTables } from '../../src/search/table.ts';
import { fashionSpace } from './fashion-table.ts';

const BUDGET = 20;
const SEEDS = 100;
const ALPHA = 0.01;

const dir = join(import.meta.dirname, '../../bench/tabular');
const load = (f: string) => {
  const r = decodeSeedTable(readFileSync(join(dir, f), 'utf8'));
  if (E.isLeft(r)) throw new Error(`${f}: ${r.left.join('; ')}`);
  return r.right;
};
const table = unionTables(load('fashion-small.jsonl'), load('fashion-small-1seed.jsonl'));

const regrets = (s: AnyStrategy): number[] => Array.from({ length: SEEDS }, (_, seed) => simulate(s, fashionSpace, table, BUDGET, seed).regret[BUDGET - 1]!);

describe(`pre-registered (outcome: not supported): strategies beat random search at ${BUDGET} trials on fashion-small (Welch, α = ${ALPHA}, ${SEEDS} seeds)`, () => {
  it('the table covers the whole space', () => {
    expect(BigInt(table.size)).toBe(fashionSpace.size);
  });
  const random = regrets(erase(randomSearch()));
  for (const [name, s] of [
    ['regularized evolution (population 6, sample 3)', erase(regularizedEvolution({ population: 6, sample: 3 }))],
    ['TPE (5 start-up trials)', erase(tpe({ startup: 5 }))],
  ] as const) {
    it(`${name} has a lower mean regret than random search, but not significantly at α = ${ALPHA} (H1 not supported)`, () => {
      const w = welch(regrets(s), random);
      expect(w.meanA).toBeLessThan(w.meanB);
      expect(w.pLess).toBeGreaterThanOrEqual(ALPHA);
    });
  }
});
