/**
 * Regret curves of the classic strategies on the tabular benchmarks (issue 15), by the pure simulator
 * (src/search/simulate.ts: a trial returns one of the architecture's seed values). Every strategy of the registry
 * (`strategyNames`: random, grid, evolution, REINFORCE, TPE — and PPO once it is registered), budgets 1..100,
 * 100 strategy seeds each: mean regret with the 95 % interval of the mean and the 2.5–97.5 % spread of single
 * searches. Also Welch's t of each strategy against random at the pre-registered budget (20).
 *
 * Tables: fashion-small = the 3-seed rows so far, completed by the old one-seed table's seed-0 rows; fashion-cells
 * only when its table covers all 343 architectures. Writes bench/quality/regret-<table>.json.
 *
 * @example
 * $ npx tsx bench/quality/regret.ts
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as E from 'fp-ts/lib/Either.js';
import fashionCells from '../../examples/fashion-cells.ts';
import fashionSmall from '../../examples/fashion-small.ts';
import { buildModel } from '../../src/ir/graph.ts';
import { type SearchSpace, searchSpace } from '../../src/ir/space.ts';
import { createStrategy, strategyNames } from '../../src/search/index.ts';
import { regretCurve, simulate, tableOptimum } from '../../src/search/simulate.ts';
import { welch } from '../../src/search/stats.ts';
import { type SeedTable, decodeSeedTable, unionTables } from '../../src/search/table.ts';

const Q = dirname(fileURLToPath(import.meta.url));
const T = join(Q, '../tabular');
const BUDGET = 100;
const SEEDS = 100;
const PREREGISTERED = 20;
/** Options per strategy (the others take their defaults): those of the pre-registered test. */
const OPTIONS: Readonly<Record<string, unknown>> = { evolution: { population: 6, sample: 3 }, tpe: { startup: 5 } };

const load = (f: string): SeedTable | undefined => {
  if (!existsSync(join(T, f))) return undefined;
  const r = decodeSeedTable(readFileSync(join(T, f), 'utf8'));
  if (E.isLeft(r)) throw new Error(`${f}: ${r.left.join('; ')}`);
  return r.right;
};
const spaceOf = (def: Parameters<typeof buildModel>[0]): SearchSpace => {
  const b = buildModel(def);
  if (E.isLeft(b)) throw new Error(b.left.map((e) => e.message).join('; '));
  return searchSpace(b.right);
};

const cases: { name: string; space: SearchSpace; table: SeedTable | undefined; composition: string }[] = [];
const small3 = load('fashion-small.jsonl') ?? new Map();
const small1 = load('fashion-small-1seed.jsonl') ?? new Map();
const seedsOf = (t: SeedTable): number => [...t.values()].reduce((a, e) => a + e.valid.length, 0);
cases.push({ name: 'fashion-small', space: spaceOf(fashionSmall), table: unionTables(small3, small1), composition: `${seedsOf(small3)} 3-seed-recipe trainings over ${small3.size} architectures + the one-seed table's seed-0 rows where missing` });
const cells = load('fashion-cells.jsonl');
cases.push({ name: 'fashion-cells', space: spaceOf(fashionCells), table: cells, composition: cells === undefined ? 'no table' : `${seedsOf(cells)} trainings over ${cells.size} architectures` });

for (const c of cases) {
  if (c.table === undefined || BigInt(c.table.size) !== c.space.size) {
    console.log(`${c.name}: table incomplete (${c.table?.size ?? 0} of ${c.space.size} architectures): skipped`);
    continue;
  }
  const table = c.table;
  const curves: Record<string, unknown> = {};
  const finals: Record<string, number[]> = {};
  for (const name of strategyNames) {
    const s = createStrategy(name, OPTIONS[name] ?? {});
    if (E.isLeft(s)) throw new Error(s.left.map((e) => e.message).join('; '));
    const runs = Array.from({ length: SEEDS }, (_, seed) => simulate(s.right, c.space, table, BUDGET, seed).regret);
    curves[name] = { options: s.right.options, ...regretCurve(runs) };
    finals[name] = runs.map((r) => r[PREREGISTERED - 1]!);
  }
  const tests = Object.fromEntries(
    Object.entries(finals)
      .filter(([n]) => n !== 'random')
      .map(([n, r]) => [n, welch(r, finals['random']!)] as const),
  );
  const out = { table: c.name, composition: c.composition, architectures: table.size, optimum: tableOptimum(table), seeds: SEEDS, budget: BUDGET, preregisteredBudget: PREREGISTERED, curves, welchVsRandomAtPreregistered: tests };
  writeFileSync(join(Q, `regret-${c.name}.json`), `${JSON.stringify(out)}\n`);
  console.log(`${c.name} (${c.composition}); optimum ${tableOptimum(table).toFixed(4)}`);
  console.log('| strategy | regret @10 | @20 | @50 | @100 | Welch t vs random @20 | one-sided p |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const [n, cv] of Object.entries(curves) as [string, { mean: number[] }][]) {
    const w = tests[n];
    console.log(`| ${n} | ${[10, 20, 50, 100].map((b) => (100 * cv.mean[b - 1]!).toFixed(2) + ' pp').join(' | ')} | ${w === undefined ? '—' : w.t.toFixed(2)} | ${w === undefined ? '—' : w.pLess.toExponential(1)} |`);
  }
}
