/**
 * Summarizes scripts/oneshot-quality.sh's runs (bench/quality/runs, logs): per one-shot algorithm its search time,
 * derived architecture and retrained test accuracy; the random architectures' mean ± sample standard deviation
 * (n − 1) under the same retrain. Writes bench/quality/summary.json and prints a Markdown table.
 *
 * @example
 * $ npx tsx bench/quality/summarize.ts
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const Q = dirname(fileURLToPath(import.meta.url));
const json = (file: string): Record<string, unknown> | undefined => (existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : undefined);
const text = (file: string): string => (existsSync(file) ? readFileSync(file, 'utf8') : '');

/** The wall seconds and the load averages a run's log recorded ("# exit 0 after 212 s wall", "# … load 5.1 4.9 4.7"). */
const logFacts = (file: string): { readonly wallS: number | null; readonly exit: number | null; readonly loads: readonly string[] } => {
  const t = text(file);
  const m = /# exit (\d+) after (\d+) s wall/.exec(t);
  return { wallS: m === null ? null : Number(m[2]), exit: m === null ? null : Number(m[1]), loads: [...t.matchAll(/load ([\d.]+ [\d.]+ [\d.]+)/g)].map((x) => x[1]!) };
};

const retrainOf = (name: string) => {
  const m = json(join(Q, 'runs', `retrain-${name}`, 'metrics.json'));
  const log = logFacts(join(Q, 'logs', `retrain-${name}.txt`));
  return { testAccuracy: (m?.['testAccuracy'] as number | null | undefined) ?? null, arch: m?.['arch'] ?? json(join(Q, 'archs', `${name}.json`)) ?? null, seconds: (m?.['seconds'] as number | undefined) ?? null, log };
};

// enas-8epochs: ENAS at a longer budget (the first calibration), kept to show its time/quality curve.
const algos = ['darts', 'enas', 'spos', 'enas-8epochs'].map((name) => {
  const r = json(join(Q, 'runs', `search-${name}`, 'result.json'));
  return {
    algorithm: name,
    searchSeconds: (r?.['searchSeconds'] as number | undefined) ?? null,
    searchLog: logFacts(join(Q, 'logs', `search-${name}.txt`)),
    epochs: r?.['epochs'] ?? null,
    strategyOptions: r?.['strategyOptions'] ?? null,
    validAccuracyWithSupernetWeights: r?.['validAccuracy'] ?? null,
    params: r?.['params'] ?? null,
    macs: r?.['macs'] ?? null,
    retrain: retrainOf(name),
  };
});
const randoms = [1, 2, 3, 4, 5].map((i) => ({ name: `random-${i}`, retrain: retrainOf(`random-${i}`) }));
const accs = randoms.map((r) => r.retrain.testAccuracy).filter((a): a is number => typeof a === 'number');
const mean = accs.reduce((a, b) => a + b, 0) / accs.length;
const std = accs.length < 2 ? NaN : Math.sqrt(accs.reduce((a, b) => a + (b - mean) ** 2, 0) / (accs.length - 1));
const summary = { algos, randoms, random: { n: accs.length, mean, std } };
writeFileSync(join(Q, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);

const pct = (x: number | null): string => (x === null ? '—' : `${(100 * x).toFixed(2)} %`);
const arch = (a: unknown): string => (a === null || a === undefined ? '—' : Object.entries(a as Record<string, unknown>).map(([k, v]) => `${k}=${String(v)}`).join(' '));
console.log('| algorithm | search time (s) | derived architecture | retrained test accuracy | vs random mean ± std |');
console.log('|---|---:|---|---:|---:|');
for (const a of algos) {
  const acc = a.retrain.testAccuracy;
  const vs = acc === null || accs.length === 0 ? '—' : `${((acc - mean) * 100).toFixed(2)} pp (${((acc - mean) / std).toFixed(1)} σ)`;
  console.log(`| ${a.algorithm} | ${a.searchSeconds?.toFixed(0) ?? '—'} (wall ${a.searchLog.wallS ?? '—'}) | ${arch(a.retrain.arch)} | ${pct(acc)} | ${vs} |`);
}
for (const r of randoms) console.log(`| ${r.name} | — | ${arch(r.retrain.arch)} | ${pct(r.retrain.testAccuracy)} | |`);
console.log(`| random (n=${accs.length}) | — | — | ${pct(mean)} ± ${(100 * std).toFixed(2)} pp | |`);
