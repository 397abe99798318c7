/**
 * `npm run bench [-- --only matmul,conv] [--no-tfjs] [--profile]`: runs the bench sections on the default WebGPU adapter,
 * prints a table (ours vs tfjs-webgpu on the same device) and writes bench/results/<date>-<adapter>.json.
 * Not a test: figures depend on the machine and its load. On lavapipe they are CPU figures, not GPU ones.
 *
 * To add a section (inference throughput, training steps, …): write a `BenchSection` (bench/section.ts) and
 * append it to `sections` below.
 */
import * as E from 'fp-ts/lib/Either.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { acquireDevice } from '../src/runtime/device.ts';
import { convSection } from './conv.ts';
import { inferenceSection } from './inference.ts';
import { mainJobSection } from './main-job.ts';
import { matmulSection } from './matmul.ts';
import { oneshotSection } from './oneshot.ts';
import { profileSection } from './profile.ts';
import { queueSection } from './queue.ts';
import { trainingDartsSection, trainingSection } from './training.ts';
import type { BenchSection, Row } from './section.ts';
import { type Tfjs, setupTfjs } from './tfjs.ts';

// training-darts (the 8-cell mixed supernet) takes ~4 min on lavapipe with a warm shader cache, ~11 min cold.
const sections: readonly BenchSection[] = [matmulSection, convSection, inferenceSection, trainingSection, trainingDartsSection, oneshotSection, mainJobSection, queueSection, profileSection];

const args = process.argv.slice(2);
const onlyArg = args.find((a, i) => a.startsWith('--only=') || args[i - 1] === '--only');
const only = onlyArg === undefined ? undefined : (onlyArg.startsWith('--only=') ? onlyArg.slice(7) : onlyArg).split(',');
const withTfjs = !args.includes('--no-tfjs');
// --profile: the per-kernel-family profile of the DARTS step (section `profile`), beside any --only sections.
const withProfile = args.includes('--profile');
const unknown = (only ?? []).filter((n) => !sections.some((s) => s.name === n));
if (unknown.length > 0) {
  console.error(`unknown section(s): ${unknown.join(', ')}; known: ${sections.map((s) => s.name).join(', ')}`);
  process.exit(2);
}

const log = (line: string): void => void process.stderr.write(`${line}\n`);

const gpuR = await acquireDevice();
if (E.isLeft(gpuR)) {
  console.error(gpuR.left.message);
  process.exit(1);
}
const gpu = gpuR.right;
const tfjs: Tfjs | undefined = withTfjs ? await setupTfjs(gpu) : undefined;

const rows: Row[] = [];
const started = new Date();
const chosen = sections.filter((s) => (only === undefined ? s !== profileSection || withProfile : only.includes(s.name) || (withProfile && s === profileSection)));
for (const s of chosen) {
  log(`== ${s.name}: ${s.description}`);
  rows.push(...(await s.run({ gpu, tfjs, log })));
}

const fmt = (g: number | null, ms: number): string => (g === null ? `${ms.toFixed(1)} ms` : `${g.toFixed(2)} (${ms.toFixed(0)} ms)`);
const table = [
  '| section | case | ours GFLOP/s (ms) | tfjs-webgpu GFLOP/s (ms) | ours / tfjs |',
  '|---|---|---:|---:|---:|',
  ...rows.map((r) => {
    const ratio = r.tfjs === null ? '—' : `${(r.tfjs.ms / r.ours.ms).toFixed(2)}×`;
    return `| ${r.section} | ${r.name} | ${fmt(r.ours.gflops, r.ours.ms)} | ${r.tfjs === null ? 'not run' : fmt(r.tfjs.gflops, r.tfjs.ms)} | ${ratio} |`;
  }),
].join('\n');
const machine = {
  adapter: gpu.adapterInfo.name,
  software: gpu.isSoftware,
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  loadavg: os.loadavg(),
  node: process.version,
};
console.log(`adapter: ${machine.adapter}${machine.software ? ' (software: CPU figures, not GPU figures)' : ''}`);
console.log(`cpu: ${machine.cpu} × ${machine.cores}; load average at the end: ${machine.loadavg.map((l) => l.toFixed(1)).join(' ')}`);
console.log(table);

const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
mkdirSync(dir, { recursive: true });
const slug = machine.adapter.replace(/[^A-Za-z0-9.]+/g, '-').replace(/^-|-$/g, '').slice(0, 60);
const file = join(dir, `${started.toISOString().slice(0, 19).replace(/:/g, '')}-${slug}.json`);
writeFileSync(file, `${JSON.stringify({ started: started.toISOString(), machine, rows }, null, 2)}\n`);
console.log(`results: ${file}`);
gpu.destroy();
process.exit(0);
