/**
 * Checkpoint files: a round trip keeps every tensor and the metadata (non-finite metrics included); the
 * metadata, the tensors and their shapes are checked with every problem reported; weights files carry the
 * parameters under their paths and load by PyTorch name too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { afterAll, expect, it } from 'vitest';
import { type CheckpointMeta, type EpochMetrics, readCheckpoint, readCheckpointMeta, writeCheckpoint, writeWeights } from '../../src/runtime/checkpoint.ts';
import { matchParameters, readSafetensorsFile, writeSafetensorsFile } from '../../src/runtime/safetensors.ts';

const dir = mkdtempSync(join(tmpdir(), 'nasgraph-ckpt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const shapes = new Map<string, readonly number[]>([
  ['conv/weight', [2, 1, 3, 3]],
  ['conv/bias', [2]],
  ['__optimizer__/exp_avg/conv/weight', [2, 1, 3, 3]],
]);

const metricsArb: fc.Arbitrary<EpochMetrics> = fc.record(
  {
    epoch: fc.integer({ min: 1, max: 100 }),
    // JSON has no −0: a loss of −0 would come back as 0, a difference no metric cares about.
    trainLoss: fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => x + 0), fc.constantFrom(NaN, Infinity, -Infinity)),
    trainAccuracy: fc.double({ min: 0, max: 1, noNaN: true }),
    testLoss: fc.double({ min: 0, max: 10, noNaN: true }),
    testAccuracy: fc.double({ min: 0, max: 1, noNaN: true }),
    validTop5Accuracy: fc.double({ min: 0, max: 1, noNaN: true }),
    testTop5Accuracy: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constant(NaN)),
    lr: fc.double({ min: 0, max: 1, noNaN: true }),
    skippedSteps: fc.nat(),
    seconds: fc.double({ min: 0, max: 1e4, noNaN: true }),
  },
  { requiredKeys: ['epoch', 'trainLoss', 'trainAccuracy', 'lr', 'skippedSteps', 'seconds'] },
);

it('round-trips tensors and metadata, non-finite metrics included', () => {
  const file = join(dir, 'rt.safetensors');
  fc.assert(
    fc.property(
      fc.array(metricsArb, { maxLength: 4 }),
      fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.nat()).map((s) => s.map((x) => x >>> 0) as [number, number, number, number]),
      fc.integer({ min: -1000, max: 1000 }),
      fc.option(fc.constant('{"conv1":"conv3x3"}'), { nil: undefined }),
      (history, rng, seed, arch) => {
        const store = new Map([...shapes].map(([p, s]) => [p, Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, (_, i) => i * 0.5 - seed)]));
        const meta: CheckpointMeta = { epoch: history.length, step: history.length * 10, seed, rng: { s: rng }, optimizer: '{"kind":"adam"}', history, ...(arch === undefined ? {} : { arch }) };
        expect(E.isRight(writeCheckpoint(file, store, shapes, meta))).toBe(true);
        const back = readCheckpoint(file, shapes);
        if (E.isLeft(back)) throw new Error(back.left.map((e) => e.message).join('; '));
        expect(back.right.meta).toEqual(meta);
        for (const [p, v] of store) expect([...back.right.tensors.get(p)!]).toEqual([...v]);
      },
    ),
    { numRuns: 30 },
  );
});

it('reads checkpoints written before the top-5 metrics existed', () => {
  // The history exactly as the previous version wrote it: no validTop5Accuracy / testTop5Accuracy.
  const file = join(dir, 'old.safetensors');
  const history = '[{"epoch":1,"trainLoss":0.9,"trainAccuracy":0.7,"validLoss":0.8,"validAccuracy":0.75,"testLoss":"NaN","testAccuracy":0.7,"lr":0.01,"skippedSteps":0,"seconds":2}]';
  writeSafetensorsFile(file, new Map([['conv/weight', { shape: [2, 1, 3, 3], data: new Float32Array(18) }]]), {
    format: 'nasgraph-checkpoint/1', epoch: '1', step: '10', seed: '3', rng: '[1,2,3,4]', optimizer: '{}', history,
  });
  const m = readCheckpointMeta(file);
  if (E.isLeft(m)) throw new Error(m.left.map((e) => e.message).join('; '));
  expect(m.right.history).toEqual([{ epoch: 1, trainLoss: 0.9, trainAccuracy: 0.7, validLoss: 0.8, validAccuracy: 0.75, testLoss: NaN, testAccuracy: 0.7, lr: 0.01, skippedSteps: 0, seconds: 2 }]);
  expect('validTop5Accuracy' in m.right.history[0]!).toBe(false);
});

it('reports every missing or mis-shaped tensor and every bad metadata field', () => {
  const file = join(dir, 'bad.safetensors');
  writeSafetensorsFile(file, new Map([['conv/weight', { shape: [2, 9], data: new Float32Array(18) }]]), { format: 'nasgraph-checkpoint/1', epoch: 'two', step: '3', seed: '0', rng: '[1,2,3]', optimizer: '{}', history: '[]' });
  const r = readCheckpoint(file, shapes);
  if (E.isRight(r)) throw new Error('expected errors');
  const text = r.left.map((e) => e.message).join('\n');
  expect(text).toContain('epoch must be integers');
  expect(text).toContain('tensor "conv/weight" has shape [2, 9], parameter conv/weight needs [2, 1, 3, 3]');
  expect(text).toContain('no tensor for parameter conv/bias');
  expect(text).toContain('no tensor for parameter __optimizer__/exp_avg/conv/weight');
  // A weights file (or any safetensors file) is not a checkpoint.
  const plain = join(dir, 'plain.safetensors');
  writeSafetensorsFile(plain, new Map([['w', { shape: [1], data: new Float32Array(1) }]]), { format: 'pt' });
  const m = readCheckpointMeta(plain);
  expect(E.isLeft(m) && m.left[0]!.message).toMatch(/not a nasgraph training checkpoint \(missing or invalid metadata: format, epoch, step, seed, rng, optimizer, history\)/);
  const missing = readCheckpointMeta(join(dir, 'nope.safetensors'));
  expect(E.isLeft(missing) && missing.left[0]!.message).toContain('no such file');
});

it('writes weights under their parameter paths, loadable by path or PyTorch name', () => {
  const file = join(dir, 'weights.safetensors');
  const store = new Map([
    ['conv/weight', Float32Array.from({ length: 18 }, (_, i) => i)],
    ['conv/bias', Float32Array.of(1, 2)],
  ]);
  expect(E.isRight(writeWeights(file, store, shapes, { arch: '{}' }))).toBe(true);
  const f = readSafetensorsFile(file);
  if (E.isLeft(f)) throw new Error('unreadable');
  expect([...f.right.tensors.keys()].sort()).toEqual(['conv/bias', 'conv/weight']);
  expect(f.right.metadata).toEqual({ format: 'pt', arch: '{}' });
  expect(f.right.tensors.get('conv/weight')!.shape).toEqual([2, 1, 3, 3]);
  const m = matchParameters(f.right, new Map([['conv/weight', [2, 1, 3, 3]]]), file);
  expect(E.isRight(m) && [...m.right.values.get('conv/weight')!]).toEqual([...store.get('conv/weight')!]);
});
