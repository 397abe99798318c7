/**
 * The one-shot supernet runtime: weight sharing through the parameter pool, checked against programs compiled and
 * run on their own.
 * - A sampled step of architecture A trains exactly what A's own training program trains from the same weights
 *   (same kernels: equal to float32 rounding, tolerance 1e-6 relative), and leaves the other candidates untouched.
 * - The mixed supernet under one-hot weights of A takes the same SGD step on A's weights (different kernels and
 *   summation order: tolerance 1e-4 relative to the largest weight change).
 * - `update: false` changes no weight and returns the same gradients as the updating step.
 * - Evaluation of an architecture and of one-hot weights agree; recalibration resets and re-estimates BatchNorm.
 */
import * as E from 'fp-ts/lib/Either.js';
import { expect, it } from 'vitest';
import { lowerTraining } from '../../../src/compile/lower-train.ts';
import { withOptimizer } from '../../../src/compile/optimizer.ts';
import { stepScalars } from '../../../src/compile/optimizer.ts';
import { trainingGraph } from '../../../src/compile/training-graph.ts';
import { type Architecture, apply } from '../../../src/ir/apply.ts';
import { type Graph, batchNorm2d, buildModel, conv2d, defineModel, flatten, layerChoice, linear, maxPool2d, relu, sequential } from '../../../src/ir/index.ts';
import { seedRng } from '../../../src/ir/rng.ts';
import { syntheticTrainTest } from '../../../src/runtime/data/index.ts';
import { Executable } from '../../../src/runtime/execute.ts';
import { initParams } from '../../../src/runtime/params.ts';
import { Supernet } from '../../../src/runtime/oneshot/supernet.ts';
import { describeGpu } from '../../gpu.ts';

const build = (): Graph => {
  const g = buildModel(
    defineModel({
      name: 'two-choice',
      input: [1, 8, 8],
      layer: sequential({
        conv: layerChoice({ c3: conv2d({ out: 4, kernel: 3, padding: 1 }), c1: conv2d({ out: 4, kernel: 1 }) }),
        bn: batchNorm2d(),
        relu: relu(),
        pool: maxPool2d({ kernel: 2 }),
        flat: flatten(),
        head: layerChoice({ a: linear({ out: 4 }), b: sequential({ fc1: linear({ out: 8 }), r: relu(), fc2: linear({ out: 4 }) }) }),
      }),
    }),
  );
  if (E.isLeft(g)) throw new Error(g.left.map((e) => e.message).join('; '));
  return g.right;
};

const graph = build();
const B = 16;
const { train: data } = syntheticTrainTest({ n: 64, nTest: 16, shape: [1, 8, 8], classes: 4, seed: 5, noise: 1 });
const batch = (i: number) => ({ images: data.images.subarray(i * B * 64, (i + 1) * B * 64), labels: data.labels.subarray(i * B, (i + 1) * B) });
const archA: Architecture = { conv: [0], head: [1] };
const oneHotA = { conv: [1, 0], head: [0, 1] };
const sgd = { kind: 'sgd', lr: 0.1, momentum: 0.9 } as const;

const right = <T>(r: E.Either<readonly { readonly message: string }[], T>): T => {
  if (E.isLeft(r)) throw new Error(r.left.map((e) => e.message).join('\n'));
  return r.right;
};

const maxRelDiff = (a: Float32Array, b: Float32Array, scale: number): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / scale);
  return m;
};

await describeGpu('one-shot supernet runtime', (gpu) => {
  it('a sampled step trains what the architecture trains alone, and nothing else', async () => {
    const net = right(Supernet.create(graph, { gpu, batchSize: B, optimizer: sgd, seed: 3 }));
    try {
      const before = right(await net.evaluate(data, { arch: archA })); // binds every parameter of the supernet
      // Untrained: the evaluation ran on every sample (a finite loss near ln 4, not a diverged or empty one).
      expect(before.loss).toBeGreaterThan(0.5 * Math.log(4));
      expect(before.loss).toBeLessThan(3 * Math.log(4));
      const initial = right(await net.readParams());
      for (let i = 0; i < 3; i++) right(await net.sampledStep(batch(i), archA, { lr: 0.1 }));
      const after = right(await net.readParams());

      // The same three steps by A's own program, from the same weights, on its own buffers.
      const fixed = right(apply(graph, archA));
      const prog = right(withOptimizer(right(lowerTraining(trainingGraph(fixed), { mode: 'fixed', batch: B })), { optimizer: sgd }));
      const init = new Map(initial);
      for (const q of prog.program.params) if (!init.has(q.path)) init.set(q.path, new Float32Array(q.shape.reduce((a, b) => a * b, 1)));
      const exe = right(await Executable.instantiate(gpu, prog.program, init));
      for (let i = 0; i < 3; i++) {
        const b = batch(i);
        right(await exe.run({ inputs: { x: b.images, labels: Float32Array.from(b.labels) }, scalars: stepScalars(prog.layout.resolved.rule, i + 1, 0.1), readback: [0] }));
      }
      const alone = right(await exe.readParams());
      exe.destroy();
      for (const [path, v] of alone) {
        if (path.startsWith('__optimizer__/')) continue;
        const scale = Math.max(1e-3, ...Array.from(v, Math.abs));
        expect(maxRelDiff(after.get(path)!, v, scale), path).toBeLessThan(1e-6);
      }
      for (const path of ['conv/c3/weight', 'head/b/fc1/weight', 'head/b/fc2/weight', 'bn/weight']) {
        expect(maxRelDiff(after.get(path)!, initial.get(path)!, 1), `${path} was trained`).toBeGreaterThan(0);
      }
      // Candidates A does not use are untouched.
      for (const path of ['conv/c1/weight', 'head/a/weight']) expect(after.get(path)).toEqual(initial.get(path));
      expect(net.step).toBe(3);
    } finally {
      net.destroy();
    }
  });

  it('the mixed supernet under one-hot weights takes the sampled step; update: false changes nothing', async () => {
    const mixed = right(Supernet.create(graph, { gpu, batchSize: B, optimizer: { kind: 'sgd', lr: 0.1 }, seed: 4 }));
    const sampled = right(Supernet.create(graph, { gpu, batchSize: B, optimizer: { kind: 'sgd', lr: 0.1 }, seed: 4 }));
    try {
      right(await mixed.evaluate(data, { weights: oneHotA }));
      right(await sampled.evaluate(data, { arch: archA }));
      const w0 = right(await mixed.readParams());
      const probe = right(await mixed.mixedStep(batch(0), oneHotA, { lr: 0.1, update: false, paramGrads: true }));
      const same = right(await mixed.readParams());
      for (const [path, v] of w0) if (!/running_/.test(path)) expect(same.get(path), path).toEqual(v);
      expect(mixed.step).toBe(0);
      const stepped = right(await mixed.mixedStep(batch(0), oneHotA, { lr: 0.1, paramGrads: true }));
      expect(stepped.loss).toBeCloseTo(probe.loss, 5);
      for (const [path, g] of probe.paramGrads!) expect(maxRelDiff(stepped.paramGrads!.get(path)!, g, Math.max(1e-6, ...Array.from(g, Math.abs))), path).toBeLessThan(1e-5);
      // ∂L/∂w has one entry per candidate of every key.
      expect(Object.keys(stepped.choiceGrads).sort()).toEqual(['conv', 'head']);
      expect(stepped.choiceGrads['conv']).toHaveLength(2);

      right(await sampled.sampledStep(batch(0), archA, { lr: 0.1 }));
      const m = right(await mixed.readParams());
      const s = right(await sampled.readParams());
      for (const path of ['conv/c3/weight', 'conv/c3/bias', 'bn/weight', 'head/b/fc1/weight', 'head/b/fc2/weight']) {
        const d0 = w0.get(path)!;
        const scale = Math.max(1e-6, ...Array.from(s.get(path)!, (x, i) => Math.abs(x - d0[i]!)));
        expect(maxRelDiff(m.get(path)!, s.get(path)!, scale), path).toBeLessThan(1e-4);
      }
      // Under one-hot weights the unchosen candidates get zero gradient: plain SGD leaves them.
      expect(m.get('conv/c1/weight')).toEqual(w0.get('conv/c1/weight'));
    } finally {
      mixed.destroy();
      sampled.destroy();
    }
  });

  it('evaluates an architecture as its one-hot weights; recalibration re-estimates BatchNorm', async () => {
    const net = right(Supernet.create(graph, { gpu, batchSize: B, optimizer: sgd, seed: 6 }));
    try {
      for (let i = 0; i < 4; i++) right(await net.sampledStep(batch(i), archA, { lr: 0.05 }));
      const byArch = right(await net.evaluate(data, { arch: archA }));
      const byWeights = right(await net.evaluate(data, { weights: oneHotA }));
      expect(byArch.accuracy).toBe(byWeights.accuracy);
      expect(byArch.loss).toBeCloseTo(byWeights.loss, 4);
      const before = right(await net.readParams());
      right(await net.recalibrate(archA, [batch(0)]));
      const after = right(await net.readParams());
      // One batch after the reset (mean 0, variance 1): running = 0.9·reset + 0.1·the batch's statistics (the
      // unbiased variance, as PyTorch), whatever they were before. The batch statistics computed here on the CPU:
      // A's conv (3x3, padding 1, 1 → 4 channels, with bias) on batch 0, per channel over its 16·8·8 values.
      const rv = after.get('bn/running_var')!;
      const rm = after.get('bn/running_mean')!;
      expect(rv.some((v, i) => v !== before.get('bn/running_var')![i])).toBe(true);
      const w = after.get('conv/c3/weight')!;
      const bias = after.get('conv/c3/bias');
      const { images } = batch(0);
      const n = B * 64;
      for (let c = 0; c < 4; c++) {
        const out: number[] = [];
        for (let s = 0; s < B; s++)
          for (let y = 0; y < 8; y++)
            for (let x = 0; x < 8; x++) {
              let v = bias?.[c] ?? 0;
              for (let dy = -1; dy <= 1; dy++)
                for (let dx = -1; dx <= 1; dx++) {
                  const yy = y + dy;
                  const xx = x + dx;
                  if (yy >= 0 && yy < 8 && xx >= 0 && xx < 8) v += w[c * 9 + (dy + 1) * 3 + (dx + 1)]! * images[s * 64 + yy * 8 + xx]!;
                }
              out.push(v);
            }
        const mean = out.reduce((a, b) => a + b, 0) / n;
        const unbiased = out.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
        expect(rm[c]).toBeCloseTo(0.1 * mean, 5);
        expect(Math.abs(rv[c]! - (0.9 + 0.1 * unbiased)) / (0.9 + 0.1 * unbiased)).toBeLessThan(1e-5);
      }
      // Weights are not touched by recalibration.
      expect(after.get('conv/c3/weight')).toEqual(before.get('conv/c3/weight'));
    } finally {
      net.destroy();
    }
  });

  it('refuses a model without choices and a bad architecture, naming them', () => {
    const fixed = right(apply(graph, archA));
    const r = Supernet.create(fixed, { gpu, batchSize: B, optimizer: sgd, seed: 1 });
    expect(E.isLeft(r) && r.left[0]!.message).toMatch(/no choices/);
    void initParams(graph, seedRng(1));
  });
});
