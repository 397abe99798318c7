/**
 * `nasgraph retrain` end to end, as a user runs it (the bin in a child process, then in-process for the rest): a small supernet's architecture
 * retrained on synthetic data writes a loadable weights file whose tensors are the fixed model's parameter
 * paths, a metrics file and a checkpoint, and prints the adapter and the test accuracy; `--resume` continues
 * from the checkpoint; `--init` starts from given weights; errors are one line each with exit 1 (bad
 * architecture, data, weights) or 2 (usage).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { afterAll, expect, it } from 'vitest';
import { apply, buildModel } from '../../src/ir/index.ts';
import { paramShapes } from '../../src/runtime/params.ts';
import { readSafetensorsFile, writeSafetensorsFile } from '../../src/runtime/safetensors.ts';
import { getTestGpu } from '../gpu.ts';
import { runCli } from '../../src/cli/main.ts';
import { type CliResult, irImport, lines, nasgraph, scratch } from './run-cli.ts';

/** The command line run in this process, its output captured. */
const cli = async (...args: string[]): Promise<CliResult> => {
  let stdout = '';
  let stderr = '';
  const code = await runCli(['node', 'nasgraph', ...args], { out: (t) => void (stdout += t), err: (t) => void (stderr += t) });
  return { code, stdout, stderr };
};

const s = scratch();
afterAll(() => s.dispose());

const MODEL = `${irImport('block, conv2d, batchNorm2d, defineModel, flatten, layerChoice, linear, maxPool2d, relu, sequential')}
export default defineModel({
  name: 'tiny',
  input: [1, 8, 8],
  layer: block((ctx, x) => {
    const c = ctx.call('conv1', layerChoice({ conv3x3: conv2d({ out: 4, kernel: 3, padding: 1 }), conv1x1: conv2d({ out: 4, kernel: 1 }) }, { key: 'conv1' }), x);
    return ctx.call('', sequential({ bn: batchNorm2d(), relu: relu(), pool: maxPool2d({ kernel: 2 }), flatten: flatten(), fc: linear({ out: 4 }) }), c);
  }),
});
`;
const model = s.file('tiny.ts', MODEL);
const arch = s.file('arch.json', '{"conv1": "conv3x3"}');
const out = join(model, '..', 'run');
const common = ['--data', 'synthetic', '--batch', '32', '--train-size', '256', '--test-size', '128', '--optimizer', 'adam', '--lr', '0.01', '--seed', '3'];

// GPU tests never skip silently: without an adapter the CLI must fail (exit 1) with the driver help; under CI a
// missing adapter fails the whole run (getTestGpu throws).
const hasGpu = (await getTestGpu()) !== undefined;

it('retrains an architecture on synthetic data and writes loadable weights named by parameter path', async () => {
  const r = await nasgraph('retrain', model, '--arch', arch, ...common, '--epochs', '2', '--out', out);
  if (!hasGpu) {
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/No WebGPU adapter/);
    return;
  }
  expect(r.stderr.split('\n').filter((l) => l.startsWith('error')), r.stderr).toEqual([]);
  expect(r.code).toBe(0);
  const stdout = lines(r.stdout);
  expect(stdout[0]).toMatch(/^device: /);
  const acc = /^test accuracy: ([\d.]+)%/.exec(stdout.find((l) => l.startsWith('test accuracy')) ?? '');
  expect(Number(acc?.[1])).toBeGreaterThanOrEqual(80);
  // The progress went to stderr as plain lines (not a terminal), one per epoch.
  expect(r.stderr.split('\n').filter((l) => l.startsWith('epoch '))).toHaveLength(2);

  // The weights load and their tensors are exactly the fixed model's parameters, with its shapes.
  const { default: def } = (await import(model)) as { default: Parameters<typeof buildModel>[0] };
  const graph = buildModel(def);
  if (E.isLeft(graph)) throw new Error('model');
  const fixed = apply(graph.right, { conv1: [0] });
  if (E.isLeft(fixed)) throw new Error('apply');
  const want = paramShapes(fixed.right);
  const w = readSafetensorsFile(join(out, 'weights.safetensors'));
  if (E.isLeft(w)) throw new Error(w.left.map((e) => e.message).join('; '));
  expect([...w.right.tensors.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [path, shape] of want) expect(w.right.tensors.get(path)!.shape, path).toEqual(shape);
  expect(w.right.metadata?.['arch']).toBe('{"conv1":"conv3x3"}');

  const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as {
    history: { epoch: number; testTop5Accuracy: number }[];
    testAccuracy: number;
    testTop5Accuracy: number;
    steps: number;
  };
  expect(metrics.history.map((h) => h.epoch)).toEqual([1, 2]);
  expect(metrics.testAccuracy * 100).toBeCloseTo(Number(acc?.[1]), 1);
  // The model has 4 classes: top-5 is clamped to top-4, where every label of a finite row is.
  expect(metrics.testTop5Accuracy).toBe(1);
  expect(metrics.history.map((h) => h.testTop5Accuracy)).toEqual([1, 1]);
  expect(stdout.find((l) => l.startsWith('test accuracy'))).toMatch(/^test accuracy: [\d.]+% \(top-5 100\.00%; loss [\d.]+\)$/);
  expect(r.stderr.split('\n').filter((l) => l.startsWith('epoch ')).every((l) => / test [\d.]+ [\d.]+% top-5 100\.00% /.test(l))).toBe(true);
  expect(metrics.steps).toBe(16);
  expect(existsSync(join(out, 'checkpoint.safetensors'))).toBe(true);

  // --resume with more epochs continues after epoch 2: only epoch 3 runs. (In-process from here on: a child
  // process spends seconds starting up.)
  const resumed = await cli('retrain', model, '--arch', arch, ...common, '--epochs', '3', '--out', out, '--resume');
  expect(resumed.code, resumed.stderr).toBe(0);
  expect(resumed.stderr).toMatch(/resuming from .*checkpoint\.safetensors after epoch 2 \(step 16\)/);
  expect(resumed.stderr.split('\n').filter((l) => l.startsWith('epoch ')).map((l) => l.split('  ')[0])).toEqual(['epoch 3/3']);
  const m3 = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as { history: { epoch: number }[]; steps: number };
  expect(m3.history.map((h) => h.epoch)).toEqual([1, 2, 3]);
  expect(m3.steps).toBe(24);

  // --init: the trained weights as a starting point (PyTorch names accepted): one epoch from them is already good.
  const torchNamed = new Map([...w.right.tensors].map(([k, v]) => [k.split('/').join('.'), { shape: v.shape, data: v.data as Float32Array }]));
  const initFile = join(out, '..', 'init.safetensors');
  writeSafetensorsFile(initFile, torchNamed);
  const fromInit = await cli('retrain', model, '--arch', arch, ...common, '--epochs', '1', '--lr', '0', '--out', join(out, '..', 'run-init'), '--init', initFile);
  expect(fromInit.code, fromInit.stderr).toBe(0);
  expect(fromInit.stdout).toContain(`initial weights: ${initFile} (${want.size} tensors)`);
  // With a learning rate of 0 the weights stay as given, BatchNorm running statistics apart (they keep averaging).
  const w2 = readSafetensorsFile(join(out, '..', 'run-init', 'weights.safetensors'));
  if (E.isLeft(w2)) throw new Error('unreadable');
  expect([...(w2.right.tensors.get('fc/weight')!.data as Float32Array)]).toEqual([...(w.right.tensors.get('fc/weight')!.data as Float32Array)]);
});

it('reports errors in one line each: exit 1 for a bad architecture or weights, 2 for usage', async () => {
  const badArch = s.file('bad-arch.json', '{"conv1": "conv7x7"}');
  const badInit = s.file('bad-init.safetensors', '');
  writeSafetensorsFile(badInit, new Map([['fc/weight', { shape: [4, 3], data: new Float32Array(12) }]]));
  const x = join(out, '..', 'x');
  const r1 = await cli('retrain', model, '--arch', badArch, ...common, '--out', x);
  const noArch = await cli('retrain', model, ...common, '--out', x);
  const r2 = await cli('retrain', model, '--arch', arch, ...common, '--out', x, '--init', badInit);
  const usage = await cli('retrain', model, '--arch', arch, '--data', 'cifar', '--out', x);
  const noData = await cli('retrain', model, '--arch', arch, '--data', 'fashion-mnist', '--data-dir', join(out, '..', 'nowhere'), '--out', x);
  expect(r1.code).toBe(1);
  expect(lines(r1.stderr).filter((l) => l.startsWith('error:'))).toHaveLength(1);
  expect(r1.stderr).toMatch(/error: .*bad-arch\.json: .*conv7x7/);
  expect(noArch.code).toBe(2);
  expect(noArch.stderr).toMatch(/has choices \(conv1\): pass --arch/);
  expect(r2.code).toBe(1);
  expect(r2.stderr).toMatch(/tensor "fc\/weight" has shape \[4, 3\], parameter fc\/weight needs \[4, 64\]/);
  expect(usage.code).toBe(2);
  expect(usage.stderr).toMatch(/cifar/);
  expect(noData.code).toBe(1);
  expect(noData.stderr).toMatch(/dataset-fashion-mnist/);
});

it("--from RUN (or an arch.json inside a run directory) takes the search's retrain settings from search.json and says so; flags given win", async () => {
  // A finished one-shot search's directory: its settings and arch.json (the retrain settings are what matter).
  const run = join(out, '..', 'search-run');
  mkdirSync(run, { recursive: true });
  writeFileSync(join(run, 'search.json'), JSON.stringify({ kind: 'oneshot', strategy: 'darts', strategyOptions: {}, data: 'synthetic', dataDir: null, trainSize: 96, validSize: 96, epochs: 3, batch: 16, lr: null, seed: 5, testSize: 64, retrainSize: null, retrainEpochs: 2, inherit: false, device: null }));
  writeFileSync(join(run, 'arch.json'), '{"conv1": "conv3x3"}');
  const a = join(out, '..', 'from-a');
  const r = await nasgraph('retrain', model, '--from', run, '--epochs', '1', '--out', a);
  if (!hasGpu) {
    expect(r.code).toBe(1);
    return;
  }
  expect(r.stderr.split('\n').filter((l) => l.startsWith('error')), r.stderr).toEqual([]);
  expect(r.code).toBe(0);
  expect(lines(r.stderr)).toContain(`settings from ${join(run, 'search.json')}: adam lr 0.003, batch 16, 2 epochs, synthetic (192 training samples), seed 5, arch ${join(run, 'arch.json')}; given on the command line: --epochs`);
  const m = JSON.parse(readFileSync(join(a, 'metrics.json'), 'utf8')) as { optimizer: { kind: string; lr: number }; batch: number; epochs: number; seed: number; data: string };
  expect({ optimizer: m.optimizer, batch: m.batch, epochs: m.epochs, seed: m.seed, data: m.data }).toEqual({ optimizer: { kind: 'adam', lr: 0.003 }, batch: 16, epochs: 1, seed: 5, data: 'synthetic' });
  // --arch RUN/arch.json does the same; --data is not required (defaulted as in search).
  const b = join(out, '..', 'from-b');
  const viaArch = await nasgraph('retrain', model, '--arch', join(run, 'arch.json'), '--epochs', '1', '--batch', '32', '--out', b);
  expect(viaArch.code).toBe(0);
  expect(viaArch.stderr).toMatch(/settings from .*search\.json: adam lr 0\.003, .*; given on the command line: --batch, --epochs/);
  const mb = JSON.parse(readFileSync(join(b, 'metrics.json'), 'utf8')) as { batch: number; optimizer: { kind: string } };
  expect([mb.batch, mb.optimizer.kind]).toEqual([32, 'adam']);
  // Not a search directory: one usage error.
  const none = await nasgraph('retrain', model, '--from', join(out, '..', 'nowhere'), '--out', join(out, '..', 'from-c'));
  expect(none.code).toBe(2);
  expect(lines(none.stderr).filter((l) => l.startsWith('error:'))).toEqual([expect.stringMatching(/^error: --from .*nowhere: .*search\.json: no such file \(is this a search directory\?\)$/)]);
});
