/**
 * The training loop on the device: a smoke test on a synthetic 4-class set (loss falls, accuracy far above
 * chance), determinism per seed, checkpoint → resume equal to an uninterrupted run, the non-finite-loss stop
 * (naming the step and the last good checkpoint) and `skipNonFinite`; the option checks (no GPU).
 *
 * One small CNN (conv 3x3 → BatchNorm → relu → maxpool → linear) at batch 32 for every GPU test, so that its
 * pipelines are compiled once per worker.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { afterAll, expect, it } from 'vitest';
import { type Graph, batchNorm2d, buildModel, conv2d, defineModel, flatten, layerChoice, linear, maxPool2d, relu, sequential } from '../../src/ir/index.ts';
import { readCheckpoint } from '../../src/runtime/checkpoint.ts';
import { type Dataset, syntheticTrainTest } from '../../src/runtime/data/index.ts';
import { CHECKPOINT_FILE, type TrainOptions, type TrainResult, train } from '../../src/runtime/train.ts';
import { checkSettings } from '../../src/runtime/train-setup.ts';
import { describeGpu } from '../gpu.ts';

const build = (layer: Parameters<typeof defineModel>[0]['layer']): Graph => {
  const g = buildModel(defineModel({ name: 't', input: [1, 8, 8], layer }));
  if (E.isLeft(g)) throw new Error(g.left.map((e) => e.message).join('; '));
  return g.right;
};

const cnn = build(sequential({ conv: conv2d({ out: 4, kernel: 3, padding: 1 }), bn: batchNorm2d(), relu: relu(), pool: maxPool2d({ kernel: 2 }), flat: flatten(), fc: linear({ out: 4 }) }));
const { train: trainSet, test: testSet } = syntheticTrainTest({ n: 256, nTest: 128, shape: [1, 8, 8], classes: 4, seed: 11, noise: 1 });

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'nasgraph-train-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const unwrap = (r: E.Either<readonly { readonly message: string }[], TrainResult>): TrainResult => {
  if (E.isLeft(r)) throw new Error(r.left.map((e) => e.message).join('; '));
  return r.right;
};

const withoutTimes = (r: TrainResult): unknown => r.history.map(({ seconds: _, ...m }) => m);

await describeGpu('train', (gpu) => {
  const base: Omit<TrainOptions, 'epochs'> = {
    gpu,
    batchSize: 32,
    optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9 },
    schedule: { kind: 'cosine', tMax: 3, etaMin: 0.005 },
    seed: 7,
  };
  let first: TrainResult | undefined;
  let firstDir = '';

  it('learns a separable 4-class set: the loss falls and test accuracy ends ≥ 0.8 (chance 0.25)', async () => {
    firstDir = tempDir();
    first = unwrap(await train(cnn, { train: trainSet, test: testSet }, { ...base, epochs: 3, checkpointDir: firstDir }));
    const h = first.history;
    expect(h.map((m) => m.epoch)).toEqual([1, 2, 3]);
    expect(h[2]!.trainLoss).toBeLessThan(0.5 * h[0]!.trainLoss);
    expect(h[2]!.testAccuracy).toBeGreaterThanOrEqual(0.8);
    expect(h[2]!.trainAccuracy).toBeGreaterThanOrEqual(0.8);
    // Top-5 over 4 classes is clamped to top-4: every label of a finite row is in it. No valid set: no valid top-5.
    expect(h.map((m) => m.testTop5Accuracy)).toEqual([1, 1, 1]);
    expect(h.every((m) => m.validTop5Accuracy === undefined)).toBe(true);
    expect(first.steps).toBe(3 * 8);
    // The trained model holds its parameters and BatchNorm statistics, and no optimizer state.
    expect([...first.params.keys()].sort()).toEqual(['bn/running_mean', 'bn/running_var', 'bn/bias', 'bn/weight', 'conv/bias', 'conv/weight', 'fc/bias', 'fc/weight'].sort());
    // The cosine schedule reached the last epoch's rate: etaMin + (0.05 − etaMin)(1 + cos(2π/3))/2.
    expect(h[2]!.lr).toBeCloseTo(0.005 + (0.045 * (1 + Math.cos((2 * Math.PI) / 3))) / 2, 6);
  });

  it('is deterministic per seed, and another seed trains other weights', async () => {
    if (first === undefined) throw new Error('needs the first test');
    const again = unwrap(await train(cnn, { train: trainSet, test: testSet }, { ...base, epochs: 3 }));
    expect(withoutTimes(again)).toEqual(withoutTimes(first));
    for (const [path, v] of first.params) expect([...again.params.get(path)!], path).toEqual([...v]);
    const other = unwrap(await train(cnn, { train: trainSet, test: testSet }, { ...base, epochs: 1, seed: 8 }));
    expect([...other.params.get('fc/weight')!]).not.toEqual([...first.params.get('fc/weight')!]);
  });

  it('resumes from a checkpoint exactly where an uninterrupted run would be', async () => {
    if (first === undefined) throw new Error('needs the first test');
    const dir = tempDir();
    // "Interrupted" after epoch 1: a run of one epoch leaves the same checkpoint as epoch 1 of a longer run.
    const part = unwrap(await train(cnn, { train: trainSet, test: testSet }, { ...base, epochs: 1, checkpointDir: dir }));
    expect(part.checkpoint).toBe(join(dir, CHECKPOINT_FILE));
    const resumed = unwrap(await train(cnn, { train: trainSet, test: testSet }, { ...base, epochs: 3, checkpointDir: dir, resume: true }));
    expect(withoutTimes(resumed)).toEqual(withoutTimes(first));
    expect(resumed.steps).toBe(first.steps);
    // The same computation in the same order: equal up to float32 rounding (1e-6 relative; in practice bit-equal).
    for (const [path, v] of first.params) {
      const got = resumed.params.get(path)!;
      v.forEach((x, i) => expect(Math.abs(got[i]! - x), `${path}[${i}]`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(x))));
    }
    // Both checkpoints record the same place, optimizer state included.
    const shapes = new Map<string, readonly number[]>();
    const a = readCheckpoint(join(firstDir, CHECKPOINT_FILE), shapes);
    expect(E.isRight(a) && a.right.meta.epoch).toBe(3);
    expect(E.isRight(a) && a.right.meta.step).toBe(24);
    // A resume with another optimizer is refused.
    const mismatch = await train(cnn, { train: trainSet, test: testSet }, { ...base, optimizer: { kind: 'adam' }, epochs: 3, checkpointDir: dir, resume: true });
    expect(E.isLeft(mismatch) && mismatch.left.map((e) => e.tag)).toEqual(['ResumeMismatch']);
  });

  it('stops at a non-finite loss, naming the step and the last good checkpoint', async () => {
    const dir = tempDir();
    // Epoch 1 trains normally; from epoch 2 the rate is 0.05·1e12 and the weights blow up.
    const r = await train(cnn, { train: trainSet, test: testSet }, { ...base, schedule: { kind: 'step', stepSize: 1, gamma: 1e12 }, epochs: 3, checkpointDir: dir });
    if (E.isRight(r)) throw new Error('expected a non-finite loss');
    const e = r.left[0]!;
    if (e.tag !== 'NonFiniteLoss') throw new Error(e.message);
    expect(e.epoch).toBe(2);
    expect(e.step).toBeGreaterThan(8);
    expect(e.checkpoint).toBe(join(dir, CHECKPOINT_FILE));
    expect(e.message).toContain(`step ${e.step}`);
    expect(e.message).toContain(join(dir, CHECKPOINT_FILE));
    // The checkpoint named is the good one, of epoch 1.
    const ck = readCheckpoint(join(dir, CHECKPOINT_FILE), new Map());
    expect(E.isRight(ck) && ck.right.meta.epoch).toBe(1);
  });

  it('stops with a Diverged error when the loss explodes but stays finite, before checkpointing that epoch', async () => {
    // Without BatchNorm, SGD at lr 100 drives the loss from ln 4 to ~1e34 within epoch 1, never to Infinity.
    const plain = build(sequential({ conv: conv2d({ out: 4, kernel: 3, padding: 1 }), relu: relu(), flat: flatten(), fc: linear({ out: 4 }) }));
    const dir = tempDir();
    const r = await train(plain, { train: trainSet, test: testSet }, { ...base, optimizer: { kind: 'sgd', lr: 100 }, schedule: { kind: 'constant' }, epochs: 2, checkpointDir: dir });
    if (E.isRight(r)) throw new Error(`expected divergence; train losses ${r.right.history.map((h) => h.trainLoss).join(', ')}`);
    const e = r.left[0]!;
    if (e.tag !== 'Diverged') throw new Error(e.message);
    expect(e.epoch).toBe(1);
    expect(Number.isFinite(e.loss)).toBe(true);
    expect(e.loss).toBeGreaterThan(10 * e.first);
    expect(e.message).toMatch(/^diverged: the mean training loss of epoch 1 \(.+\) is more than 10× the first step's loss \(1\.\d+\); lower --lr$/);
    expect(existsSync(join(dir, CHECKPOINT_FILE))).toBe(false);
  });

  it('skips steps with a non-finite loss when asked, and still learns', async () => {
    // Two samples are NaN: the one or two batches of an epoch holding them have a NaN loss.
    const images = Float32Array.from(trainSet.images);
    images.fill(NaN, 3 * 64, 4 * 64);
    images.fill(NaN, 100 * 64, 101 * 64);
    const poisoned: Dataset = { ...trainSet, images };
    const opts = { ...base, optimizer: { kind: 'adam', lr: 0.01 } as const, epochs: 2 };
    const stopped = await train(cnn, { train: poisoned, test: testSet }, opts);
    expect(E.isLeft(stopped) && stopped.left[0]!.tag).toBe('NonFiniteLoss');
    // With BatchNorm: a skipped batch's NaN statistics must not reach the running statistics either.
    const r = unwrap(await train(cnn, { train: poisoned, test: testSet }, { ...opts, skipNonFinite: true }));
    expect(r.history.every((m) => m.skippedSteps >= 1 && m.skippedSteps <= 2)).toBe(true);
    expect(r.history.at(-1)!.testAccuracy).toBeGreaterThanOrEqual(0.8);
    for (const [path, v] of r.params) expect(v.every(Number.isFinite), path).toBe(true);
  });

  it('trains a supernet under fixed one-hot choice weights as its chosen architecture', async () => {
    const supernet = build(
      sequential({ op: layerChoice({ lin: sequential({ flat: flatten(), fc: linear({ out: 4 }) }), pool: sequential({ p: maxPool2d({ kernel: 2 }), flat: flatten(), fc: linear({ out: 4 }) }) }, { key: 'op' }) }),
    );
    const opts = { ...base, optimizer: { kind: 'adam', lr: 0.01 } as const, epochs: 1 };
    const mixed = unwrap(await train(supernet, { train: trainSet, test: testSet }, { ...opts, choiceWeights: { op: [1, 0] } }));
    expect(mixed.history[0]!.testAccuracy).toBeGreaterThanOrEqual(0.8);
    const refused = await train(supernet, { train: trainSet }, opts);
    expect(E.isLeft(refused) && refused.left.map((e) => e.tag)).toEqual(['InvalidOption']);
  });
});

it('reports every problem of the options and the data before compiling', () => {
  const small: Dataset = { ...trainSet, n: 10, images: trainSet.images.subarray(0, 640), labels: trainSet.labels.subarray(0, 10) };
  const wrongShape: Dataset = { ...testSet, shape: [1, 4, 16], classes: 6 };
  const errors = checkSettings(cnn, { train: small, test: wrongShape }, {
    epochs: -1,
    batchSize: 32,
    optimizer: { kind: 'sgd', lr: -1 },
    seed: 0.5,
    labelSmoothing: 1,
    schedule: { kind: 'cosine', tMax: 0 },
  });
  expect(errors.map((e) => (e.tag === 'InvalidOption' ? e.option : e.tag))).toEqual([
    'epochs',
    'seed',
    'labelSmoothing',
    'optimizer.lr',
    'schedule.tMax',
    'DataMismatch',
    'DataMismatch',
    'DataMismatch',
  ]);
  expect(errors.map((e) => e.message).join('\n')).toMatch(/test set's samples are \[1, 4, 16\].*\n.*6 classes.*\n.*10 samples, fewer than one batch of 32/);
});
