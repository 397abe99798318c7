/**
 * Sampled one-shot search on a space whose layer choice has candidates of different output shapes (NNI's classic
 * MNIST example, `first_conv`: [20, 24, 24] or [20, 26, 26]): ENAS and SPOS train the shared weights through
 * each architecture's own subnet and evaluate each architecture with its own fixed program, on the device. Mixed
 * mode (DARTS) is refused before the supernet trains, naming the key and the shapes.
 */
import * as E from 'fp-ts/lib/Either.js';
import { expect, it } from 'vitest';
import { classicMnist } from '../../../examples/classic-mnist.ts';
import { type Architecture, buildModel } from '../../../src/ir/index.ts';
import { syntheticTrainTest } from '../../../src/runtime/data/index.ts';
import { dartsDriver } from '../../../src/runtime/oneshot/darts-driver.ts';
import { eraseDriver } from '../../../src/runtime/oneshot/driver.ts';
import { enasDriver } from '../../../src/runtime/oneshot/enas-driver.ts';
import { oneShotSearch } from '../../../src/runtime/oneshot/search.ts';
import { sposDriver } from '../../../src/runtime/oneshot/spos-driver.ts';
import { Supernet } from '../../../src/runtime/oneshot/supernet.ts';
import { describeGpu } from '../../gpu.ts';

const built = buildModel(classicMnist(16));
if (E.isLeft(built)) throw new Error(built.left.map((e) => e.message).join('\n'));
const graph = built.right;
const { train, test: valid } = syntheticTrainTest({ n: 64, nTest: 32, shape: [1, 28, 28], classes: 10, seed: 3, noise: 0.5 });
const B = 16;
const batch = (i: number) => ({ images: train.images.subarray(i * B * 784, (i + 1) * B * 784), labels: train.labels.subarray(i * B, (i + 1) * B) });

const right = <T>(r: E.Either<readonly { readonly message: string }[], T>): T => {
  if (E.isLeft(r)) throw new Error(r.left.map((e) => e.message).join('\n'));
  return r.right;
};

await describeGpu('one-shot search over candidates of different shapes', (gpu) => {
  it('a sampled step of each first_conv candidate trains the shared weights; each architecture evaluates with its own shapes', async () => {
    const net = right(Supernet.create(graph, { gpu, batchSize: B, optimizer: { kind: 'sgd', lr: 0.05 }, seed: 1 }));
    try {
      const a5: Architecture = { first_conv: [0], mid_conv: [0], skip: [1] };
      const a3: Architecture = { first_conv: [1], mid_conv: [0], skip: [1] };
      right(await net.sampledStep(batch(0), a5, { lr: 0.05 }));
      right(await net.sampledStep(batch(0), a3, { lr: 0.05, update: false })); // binds the 3x3 candidate's weights
      const before = right(await net.readParams());
      const step = right(await net.sampledStep(batch(1), a3, { lr: 0.05 }));
      expect(Number.isFinite(step.loss)).toBe(true);
      const after = right(await net.readParams());
      // The 3x3 step moved the 3x3 candidate and the shared layers (conv2: the same [50, 20, 5, 5] for both), not the 5x5.
      const moved = (p: string): boolean => before.get(p)!.some((v, i) => v !== after.get(p)![i]);
      expect(moved('conv1/1/weight')).toBe(true);
      expect(moved('conv2/weight')).toBe(true);
      expect(moved('conv1/0/weight')).toBe(false);
      for (const arch of [a5, a3]) {
        const ev = right(await net.evaluate(valid, { arch }));
        expect(Number.isFinite(ev.loss)).toBe(true);
        expect(ev.accuracy).toBeGreaterThanOrEqual(0);
        expect(ev.accuracy).toBeLessThanOrEqual(1);
      }
      // Different first_conv candidates give different logits on the same data (not one program reused).
      const e5 = right(await net.evaluate(valid, { arch: a5 }));
      const e3 = right(await net.evaluate(valid, { arch: a3 }));
      expect(e5.loss).not.toBe(e3.loss);
    } finally {
      net.destroy();
    }
  });

  it('enas and spos search it end to end; darts refuses it naming first_conv and the shapes', async () => {
    const enas = right(
      await oneShotSearch(graph, { gpu, driver: eraseDriver(enasDriver({ samplesPerStep: 2 }, { controllerSamples: 4 })), train, valid, epochs: 1, batchSize: B, seed: 1, lr: 0.05 }),
    );
    expect(Object.keys(enas.arch).sort()).toEqual(['first_conv', 'mid_conv', 'skip']);
    expect(Number.isFinite(enas.history.at(-1)!.metrics['validAccuracy']!)).toBe(true);
    const spos = right(
      await oneShotSearch(graph, {
        gpu,
        driver: eraseDriver(sposDriver({ generations: 1, population: 3, topK: 2, mutations: 1, crossovers: 1 }, { recalibrationBatches: 1 })),
        train,
        valid,
        epochs: 1,
        batchSize: B,
        seed: 1,
        lr: 0.05,
      }),
    );
    expect(spos.arch['first_conv']).toHaveLength(1);
    const darts = await oneShotSearch(graph, { gpu, driver: eraseDriver(dartsDriver({})), train, valid, epochs: 1, batchSize: B, seed: 1 });
    expect(E.isLeft(darts) && darts.left.map((e) => e.message).join('\n')).toContain("darts cannot search 'first_conv' (0 → [20, 24, 24], 1 → [20, 26, 26])");
  });
});
