/**
 * `npx tsx bench/tabular/regret.ts`: mean regret (optimum − best found) at equal trials of the classic strategies
 * on the real tabular benchmark (every architecture of examples/fashion-small.ts trained once on Fashion-MNIST,
 * bench/tabular/fashion-small.jsonl), 40 strategy seeds, budget 20 of 72 trials, one trial at a time; the same
 * protocol as test/search/fashion-benchmark.test.ts. Pure (no device): the figures do not depend on the machine.
 * Prints a Markdown table with Welch's t against random search (positive: lower regret than random).
 */
import { type AnyStrategy, erase, ppo, randomSearch, reinforce } from '../../src/search/index.ts';
import { fashionSpace, fashionTable } from '../../test/search/fashion-table.ts';
import { optimum, runOnTable } from '../../test/search/tabular.ts';

const SEEDS = 40;
const BUDGET = Number(process.argv[2] ?? 20);

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const variance = (xs: readonly number[]): number => {
  const m = mean(xs);
  return xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1);
};
const welchT = (a: readonly number[], b: readonly number[]): number => (mean(b) - mean(a)) / Math.sqrt(variance(a) / a.length + variance(b) / b.length);
const regrets = (s: AnyStrategy): number[] =>
  Array.from({ length: SEEDS }, (_, i) => optimum(fashionTable) - runOnTable(s, fashionTable, BUDGET, 77 + i, 1, fashionSpace).best);

const rows: readonly (readonly [string, AnyStrategy])[] = [
  ['random', erase(randomSearch())],
  ['REINFORCE (defaults)', erase(reinforce())],
  ["PPO (NNI's defaults: 20 trials/update, lr 3e-4)", erase(ppo())],
  ['PPO (5 trials/update, 1 minibatch, lr 0.05)', erase(ppo({ trialsPerUpdate: 5, minibatches: 1, learningRate: 0.05 }))],
];
const base = regrets(rows[0]![1]);
console.log(`budget ${BUDGET} of ${fashionTable.size} trials, ${SEEDS} seeds\n`);
console.log('| strategy | mean regret | std | Welch t vs random |\n|---|---:|---:|---:|');
for (const [name, s] of rows) {
  const r = name === 'random' ? base : regrets(s);
  console.log(`| ${name} | ${mean(r).toFixed(4)} | ${Math.sqrt(variance(r)).toFixed(4)} | ${name === 'random' ? '—' : welchT(r, base).toFixed(2)} |`);
}
