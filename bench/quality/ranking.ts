/**
 * Supernet ranking quality (issue 15): does a one-shot supernet rank architectures as standalone training does?
 * For each algorithm given (darts, gdas, proxyless, enas, spos), train its supernet with the algorithm's real driver
 * (`oneShotSearch`, as `nasgraph oneshot` does) on the tabular benchmark's own data (the recipe's 3,000 training
 * images; the 1,000-image validation hold-out for the architecture side and for scoring), then score every
 * architecture that has standalone rows in the table with the shared weights:
 *
 * - `shared (no recal)`: validation accuracy with the supernet's BatchNorm running statistics as trained;
 * - `shared (recal)`: the same after re-estimating that architecture's BatchNorm statistics on 10 training batches
 *   (`Supernet.recalibrate`, what SPOS does) — every no-recal score is taken first, as recalibration changes them;
 * - `own score` (DARTS, GDAS, ProxylessNAS, ENAS): Σ log p(choice) under the final distribution (softmax of α, or
 *   the controller's probabilities).
 *
 * Against the standalone seed-mean validation accuracy: Kendall τ-b and Spearman ρ with 95 % percentile bootstrap
 * intervals (1,000 resamples of architectures), and the regret of the derived architecture when the table has it.
 * Writes bench/quality/ranking.json (rows appended per run, keyed by algorithm and table).
 *
 * @example
 * $ nice -n 10 npx tsx bench/quality/ranking.ts --table fashion-cells --algorithms darts,spos --epochs 2 --limit 60
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as E from 'fp-ts/lib/Either.js';
import fashionCells from '../../examples/fashion-cells.ts';
import fashionSmall from '../../examples/fashion-small.ts';
import { architectureKey } from '../../src/ir/architecture.ts';
import { buildModel } from '../../src/ir/graph.ts';
import { seedRng } from '../../src/ir/rng.ts';
import { bootstrapPaired, kendallTau, spearmanRho } from '../../src/search/stats.ts';
import { tableOptimum } from '../../src/search/simulate.ts';
import { type SeedTable, decodeSeedTable, meanValid } from '../../src/search/table.ts';
import { epochBatches } from '../../src/runtime/data/batches.ts';
import { loadFashionMnist } from '../../src/runtime/data/fashion-mnist.ts';
import { acquireDevice } from '../../src/runtime/device.ts';
import { createDriver } from '../../src/runtime/oneshot/registry.ts';
import { CALIBRATION_BATCHES, oneShotSearch } from '../../src/runtime/oneshot/search.ts';
import { Supernet } from '../../src/runtime/oneshot/supernet.ts';
import { searchData } from '../../src/runtime/trial-evaluator.ts';
import { RECIPE } from '../tabular/recipe.ts';

const Q = dirname(fileURLToPath(import.meta.url));
const fail = (m: string): never => {
  console.error(`ranking: ${m}`);
  process.exit(1);
};
const opt = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? dflt : (process.argv[i + 1] ?? fail(`--${name} needs a value`));
};
const tableName = opt('table', 'fashion-cells');
const algorithms = opt('algorithms', 'darts,gdas,proxyless,enas,spos').split(',');
const epochs = Number(opt('epochs', '2'));
const limit = Number(opt('limit', '1000000'));
const def = tableName === 'fashion-cells' ? fashionCells : tableName === 'fashion-small' ? fashionSmall : fail(`--table must be fashion-cells or fashion-small, got ${tableName}`);

const decoded = decodeSeedTable(readFileSync(join(Q, '../tabular', `${tableName}.jsonl`), 'utf8'));
const full: SeedTable = E.isRight(decoded) ? decoded.right : fail(decoded.left.join('; '));
if (full.size < 3) fail(`the ${tableName} table has ${full.size} architectures with standalone rows: too few to rank`);
const entries = [...full.values()].slice(0, limit);
const built = buildModel(def);
const graph = E.isRight(built) ? built.right : fail(built.left.map((e) => e.message).join('; '));

const gpuE = await acquireDevice();
const gpu = E.isRight(gpuE) ? gpuE.right : fail(gpuE.left.message);
const loaded = loadFashionMnist();
const all = E.isRight(loaded) ? loaded.right : fail(loaded.left.map((e) => e.message).join('; '));
const split = searchData(all, { validSize: RECIPE.validSize, trainSize: RECIPE.trainSize, testSize: RECIPE.testSize, seed: RECIPE.splitSeed });
const data = E.isRight(split) ? split.right : fail(split.left.map((e) => e.message).join('; '));
const calibration = [...epochBatches(data.train, { batchSize: RECIPE.batchSize, dropLast: true }).batches].slice(0, CALIBRATION_BATCHES).map((b) => ({ images: b.images.slice(), labels: Array.from(b.labels) }));

const standalone = entries.map(meanValid);
const interval = (est: readonly number[], seed: number) => ({
  tau: bootstrapPaired(est, standalone, kendallTau, seedRng(seed), 1000)[0],
  rho: bootstrapPaired(est, standalone, spearmanRho, seedRng(seed + 1), 1000)[0],
});

const out = join(Q, 'ranking.json');
const previous = existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as { rows: { algorithm: string; table: string }[] }).rows : [];
const rows: unknown[] = [];
for (const name of algorithms) {
  const driver = createDriver(name as 'darts', {});
  if (E.isLeft(driver)) fail(`${name}: ${driver.left.join('; ')}`);
  const t0 = performance.now();
  const r = await oneShotSearch(graph, { gpu, driver: E.isRight(driver) ? driver.right : fail('unreachable'), train: data.train, valid: data.valid, epochs, batchSize: RECIPE.batchSize, evalBatchSize: RECIPE.evalBatch, seed: 0 });
  if (E.isLeft(r)) {
    console.log(`${name}: refused or failed: ${r.left.map((e) => e.message).join('; ')}`);
    rows.push({ algorithm: name, table: tableName, error: r.left.map((e) => e.message).join('; ') });
    continue;
  }
  const searchSeconds = (performance.now() - t0) / 1000;
  const netE = Supernet.create(graph, { gpu, batchSize: RECIPE.batchSize, evalBatchSize: RECIPE.evalBatch, optimizer: { kind: 'sgd', lr: 0 }, seed: 0, init: r.right.params });
  const net = E.isRight(netE) ? netE.right : fail(netE.left.map((e) => e.message).join('; '));
  const score = async (recal: boolean): Promise<number[]> => {
    const xs: number[] = [];
    for (const e of entries) {
      if (recal) {
        const c = await net.recalibrate(e.arch, calibration);
        if (E.isLeft(c)) fail(c.left.map((x) => x.message).join('; '));
      }
      const v = await net.evaluate(data.valid, { arch: e.arch });
      xs.push(E.isRight(v) ? v.right.accuracy : fail(v.left.map((x) => x.message).join('; ')));
    }
    return xs;
  };
  const noRecal = await score(false);
  const recal = await score(true);
  net.destroy();
  const dist = r.right.history.at(-1)?.distribution ?? {};
  const own = Object.keys(dist).length === 0 || name === 'spos' ? undefined : entries.map((e) => Object.entries(e.arch).reduce((s, [k, v]) => s + v.reduce((a, i) => a + Math.log(Math.max(1e-12, dist[k]?.[i] ?? 1)), 0), 0));
  const derived = full.get(architectureKey(r.right.arch));
  const row = {
    algorithm: name,
    table: tableName,
    n: entries.length,
    epochs,
    searchSeconds,
    load1: +loadavg()[0]!.toFixed(2),
    derived: architectureKey(r.right.arch),
    derivedRegret: derived === undefined ? null : tableOptimum(full) - meanValid(derived),
    tau: interval(recal, 11).tau,
    estimates: {
      'shared (recal)': interval(recal, 11),
      'shared (no recal)': interval(noRecal, 21),
      ...(own === undefined ? {} : { 'own score': interval(own, 31) }),
    },
  };
  rows.push(row);
  console.log(JSON.stringify(row));
}
const keep = previous.filter((p) => !rows.some((r) => (r as { algorithm: string }).algorithm === p.algorithm && p.table === tableName));
writeFileSync(out, `${JSON.stringify({ rows: [...keep, ...rows] }, null, 1)}\n`);
gpu.destroy();
