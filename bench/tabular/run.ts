/**
 * The resumable tabular-benchmark runner (issue 15): trains every architecture of a model's space standalone,
 * once per seed, with one fixed recipe (`RECIPE`), and appends one JSON line per finished training to
 * `bench/tabular/<table>.jsonl`; the recipe, the commit, the adapter and the order live in `<table>.meta.json`.
 *
 * - Resumable: a killed run loses at most the training in flight. On start the runner drops a torn last line,
 *   reads which (architecture, seed) pairs are done and trains the others, in the same order as before.
 * - Order: seed round by seed round (all architectures with seed 0, then all with seed 1, …), architectures shuffled
 *   within a round by a fixed seeded permutation: a partial table is a uniform sample of the space, and every
 *   architecture gets its first seed before any gets its second.
 * - A refusal, never a silent mix: a meta file whose recipe or space size differs from this run's stops the runner.
 * - `--max N` ends the process after N trainings (scripts/tabular-benchmark.sh restarts it: a fresh process every
 *   N trainings bounds the memory a long run can accumulate). Exit code 0: the table is complete; 3: more to do.
 *
 * Per record: the architecture (indices and names), the seed, per epoch train/valid/test loss and accuracy, the
 * parameters, the MACs per image, the inference latency of the trained eval Program on the device (median of 5
 * timed runs of one batch of `evalBatch` images after a warm-up run), the train time, and the 1-minute load.
 *
 * @example
 * $ nice -n 10 npx tsx bench/tabular/run.ts fashion-small --max 20
 */
import { appendFileSync, existsSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as E from 'fp-ts/lib/Either.js';
import { adapterKind } from '../../src/compile/kernels/tiles.ts';
import { lower } from '../../src/compile/lower.ts';
import { apply } from '../../src/ir/apply.ts';
import type { Architecture } from '../../src/ir/apply.ts';
import { architectureKey, enumerateArchitectures, exportArchitecture } from '../../src/ir/architecture.ts';
import { buildModel, paramCount } from '../../src/ir/graph.ts';
import { nextInt, seedRng } from '../../src/ir/rng.ts';
import { searchSpace } from '../../src/ir/space.ts';
import { loadFashionMnist } from '../../src/runtime/data/fashion-mnist.ts';
import { acquireDevice } from '../../src/runtime/device.ts';
import { Executable } from '../../src/runtime/execute.ts';
import { countMacs, searchData } from '../../src/runtime/trial-evaluator.ts';
import { train } from '../../src/runtime/train.ts';
import fashionCells from '../../examples/fashion-cells.ts';
import fashionSmall from '../../examples/fashion-small.ts';
import { type TableRecord, recordKey } from '../../src/search/table.ts';
import { RECIPE } from './recipe.ts';

const HERE = dirname(fileURLToPath(import.meta.url));

export { RECIPE } from './recipe.ts';

const MODELS = { 'fashion-small': { def: fashionSmall, file: 'examples/fashion-small.ts' }, 'fashion-cells': { def: fashionCells, file: 'examples/fashion-cells.ts' } } as const;
type ModelName = keyof typeof MODELS;

const fail = (message: string): never => {
  console.error(`tabular: ${message}`);
  process.exit(1);
};

const args = process.argv.slice(2);
const name = args[0] as ModelName | undefined;
if (name === undefined || !(name in MODELS)) fail(`usage: run.ts fashion-small|fashion-cells [--max N] (got ${String(args[0])})`);
const maxArg = args.indexOf('--max');
const max = maxArg < 0 ? Infinity : Number(args[maxArg + 1]);
if (!(max > 0)) fail(`--max must be a positive number, got ${args[maxArg + 1]}`);

const model = MODELS[name!];
const built = buildModel(model.def);
if (E.isLeft(built)) fail(built.left.map((e) => e.message).join('; '));
const supernet = E.isRight(built) ? built.right : fail('unreachable');
const space = searchSpace(supernet);
const archs = [...enumerateArchitectures(space)];

/** The seeded permutation of the architectures (Fisher–Yates). */
const order = (() => {
  const idx = archs.map((_, i) => i);
  let rng = seedRng(RECIPE.orderSeed);
  for (let i = idx.length - 1; i > 0; i--) {
    const [j, next] = nextInt(rng, i + 1);
    rng = next;
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx;
})();
const jobs: readonly { readonly arch: Architecture; readonly seed: number }[] = RECIPE.seeds.flatMap((seed) => order.map((i) => ({ arch: archs[i]!, seed })));

const table = join(HERE, `${name}.jsonl`);
const metaFile = join(HERE, `${name}.meta.json`);

// Drop a torn last line (the process was killed while appending), then read what is done.
if (existsSync(table)) {
  const text = readFileSync(table, 'utf8');
  if (text.length > 0 && !text.endsWith('\n')) truncateSync(table, Buffer.byteLength(text.slice(0, text.lastIndexOf('\n') + 1)));
}
const done = new Set(
  existsSync(table)
    ? readFileSync(table, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => {
          const r = JSON.parse(l) as TableRecord;
          return recordKey(r.arch, r.seed);
        })
    : [],
);
const todo = jobs.filter((j) => !done.has(recordKey(j.arch, j.seed)));
console.log(`tabular ${name}: ${space.size} architectures × ${RECIPE.seeds.length} seeds = ${jobs.length} trainings, ${done.size} done, ${todo.length} to do`);
if (todo.length === 0) process.exit(0);

const gpuE = await acquireDevice();
if (E.isLeft(gpuE)) fail(`no device: ${gpuE.left.message}`);
const gpu = E.isRight(gpuE) ? gpuE.right : fail('unreachable');

const commit = (() => {
  try {
    return execSync('git rev-parse HEAD', { cwd: HERE, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
})();
const meta = {
  table: name,
  model: model.file,
  architectures: Number(space.size),
  recipe: RECIPE,
  order: 'seed rounds; architectures in a seeded Fisher–Yates permutation (orderSeed) within each round',
  metric: 'validAccuracy/testAccuracy after each epoch; latency: median ms of one eval batch (evalBatch images) on the device',
};
if (existsSync(metaFile)) {
  const old = JSON.parse(readFileSync(metaFile, 'utf8')) as { recipe?: unknown; architectures?: unknown; runs?: unknown[] };
  if (JSON.stringify(old.recipe) !== JSON.stringify(RECIPE) || old.architectures !== meta.architectures) {
    fail(`${metaFile} was made with another recipe or space: move the table away to start a new one`);
  }
}
const previousRuns = existsSync(metaFile) ? ((JSON.parse(readFileSync(metaFile, 'utf8')) as { runs?: unknown[] }).runs ?? []) : [];
const run = { startedAt: new Date().toISOString(), commit, adapter: gpu.adapterInfo.name, software: gpu.isSoftware, load: loadavg().map((x) => +x.toFixed(2)) };
writeFileSync(metaFile, `${JSON.stringify({ ...meta, runs: [...previousRuns, run] }, null, 2)}\n`);

const loaded = loadFashionMnist();
if (E.isLeft(loaded)) fail(loaded.left.map((e) => e.message).join('; '));
const split = E.isRight(loaded)
  ? searchData(loaded.right, { validSize: RECIPE.validSize, trainSize: RECIPE.trainSize, testSize: RECIPE.testSize, seed: RECIPE.splitSeed })
  : fail('unreachable');
if (E.isLeft(split)) fail(split.left.map((e) => e.message).join('; '));
const data = E.isRight(split) ? split.right : fail('unreachable');

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

let trained = 0;
for (const job of todo) {
  if (trained >= max) break;
  const t0 = performance.now();
  const fixed = apply(supernet, job.arch);
  if (E.isLeft(fixed)) fail(`applying ${architectureKey(job.arch)}: ${fixed.left.map((e) => e.message).join('; ')}`);
  const g = E.isRight(fixed) ? fixed.right : fail('unreachable');
  const r = await train(g, { train: data.train, valid: data.valid, test: data.test }, {
    gpu,
    epochs: RECIPE.epochs,
    batchSize: RECIPE.batchSize,
    evalBatchSize: RECIPE.evalBatch,
    optimizer: RECIPE.optimizer,
    seed: job.seed,
  });
  const trainSeconds = (performance.now() - t0) / 1000;
  let record: TableRecord;
  if (E.isLeft(r)) {
    // A failed training (e.g. a non-finite loss) is a result too: recorded, never retried forever.
    record = { arch: job.arch, key: architectureKey(job.arch), names: exportArchitecture(space, job.arch), seed: job.seed, error: r.left.map((e) => e.message).join('; '), epochs: [], params: paramCount(g), macs: countMacs(g), latencyMs: null, trainSeconds, load1: +loadavg()[0]!.toFixed(2), finishedAt: new Date().toISOString() };
  } else {
    // Latency: the trained eval Program (the pipelines train compiled, so nothing new to compile).
    const program = lower(g, { mode: 'fixed', batch: RECIPE.evalBatch, adapter: adapterKind(gpu.adapterInfo) });
    let latencyMs: number | null = null;
    if (E.isRight(program)) {
      const exe = await Executable.instantiate(gpu, program.right, new Map(program.right.params.map((q) => [q.path, r.right.params.get(q.path)!])));
      if (E.isRight(exe)) {
        const x = data.valid.images.subarray(0, RECIPE.evalBatch * data.valid.images.length / data.valid.n);
        const once = async (): Promise<number> => {
          const s = performance.now();
          const out = await exe.right.run({ inputs: [x], readback: [0] });
          if (E.isLeft(out)) throw new Error(out.left.map((e) => e.message).join('; '));
          return performance.now() - s;
        };
        await once();
        const times: number[] = [];
        for (let i = 0; i < 5; i++) times.push(await once());
        latencyMs = +median(times).toFixed(3);
        exe.right.destroy();
      }
    }
    record = {
      arch: job.arch,
      key: architectureKey(job.arch),
      names: exportArchitecture(space, job.arch),
      seed: job.seed,
      error: null,
      epochs: r.right.history.map((m) => ({ epoch: m.epoch, trainLoss: m.trainLoss, trainAccuracy: m.trainAccuracy, validLoss: m.validLoss ?? null, validAccuracy: m.validAccuracy ?? null, testLoss: m.testLoss ?? null, testAccuracy: m.testAccuracy ?? null, seconds: m.seconds })),
      params: paramCount(g),
      macs: countMacs(g),
      latencyMs,
      trainSeconds: +trainSeconds.toFixed(3),
      load1: +loadavg()[0]!.toFixed(2),
      finishedAt: new Date().toISOString(),
    };
  }
  appendFileSync(table, `${JSON.stringify(record)}\n`);
  trained += 1;
  const last = record.epochs.at(-1);
  console.log(`[${done.size + trained}/${jobs.length}] ${record.key} seed ${job.seed}: valid ${last?.validAccuracy ?? '—'} test ${last?.testAccuracy ?? '—'} (${trainSeconds.toFixed(1)} s, load ${record.load1})${record.error === null ? '' : ` FAILED: ${record.error}`}`);
}
gpu.destroy();
process.exit(done.size + trained >= jobs.length ? 0 : 3);
