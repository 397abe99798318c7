/**
 * The tfjs DARTS network of the bench computes the same function as our supernet: with our parameters (a
 * ParamStore, transposed to tfjs's layouts) and the same images, its logits equal our CPU reference
 * interpreter's in mixed mode (uniform weights) and for random architectures in sampled mode, BatchNorm in
 * inference form; and its training step's loss equals the reference's cross-entropy with BatchNorm on batch
 * statistics (the step's forward pass, where dilated convs take the spaceToBatch rewrite), and its running statistics
 * move as the reference's. The size has
 * reduction cells on even maps (the stride-2 dilated convs' even-pixel rewrite) and a cell after them on an odd
 * 3×3 map (the atrous rewrite with padding). tfjs runs on its CPU backend (installed with tfjs-backend-webgpu):
 * the test checks the network's arithmetic, not a device.
 *
 * Tolerance: tfjs computes in float32, the reference in float64; the logits agree within 1e-5·max(0.01, max |logit|)
 * (measured: ≤ 6e-8 relative, float32 rounding through 4 cells; picking the odd instead of the even pixels in one
 * rewrite moves them by 2e-4 to 3e-3 relative, so the bound has 100× headroom and still catches that).
 */
import * as E from 'fp-ts/lib/Either.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { dartsSpace } from '../../examples/darts.ts';
import { dartsNetOptions } from '../../bench/darts-net.ts';
import { normalizeTrain, tfjsDartsInference, tfjsDartsTrainer } from '../../bench/darts-tfjs.ts';
import { registerTfjsGradients } from '../../bench/training-tfjs.ts';
import { type Graph, buildModel, nextFloat, randomArchitecture, searchSpace, seedRng } from '../../src/ir/index.ts';
import { initParams } from '../../src/runtime/params.ts';
import { type Evaluation, evaluate } from '../../src/reference/evaluate.ts';

type Tf = typeof import('@tensorflow/tfjs-core');

const SIZE = { cells: 4, nodes: 2, channels: 4, input: [1, 12, 12] as const, classes: 5 };
const BATCH = 3;

const graph: Graph = (() => {
  const g = buildModel(dartsSpace(SIZE));
  if (E.isLeft(g)) throw new Error(g.left.map((e) => e.message).join('; '));
  return g.right;
})();

/** Our parameters, with running statistics made non-trivial (mean in ±0.5, variance in [0.5, 1.5]). */
const store = (() => {
  let [params, rng] = initParams(graph, seedRng(3));
  const out = new Map(params);
  for (const [path, v] of params) {
    if (!path.endsWith('running_mean') && !path.endsWith('running_var')) continue;
    const w = Float32Array.from(v, () => {
      const [u, next] = nextFloat(rng);
      rng = next;
      return path.endsWith('running_mean') ? u - 0.5 : 0.5 + u;
    });
    out.set(path, w);
  }
  return out;
})();

const images = (() => {
  let rng = seedRng(9);
  return Float32Array.from({ length: BATCH * 144 }, () => {
    const [u, next] = nextFloat(rng);
    rng = next;
    return 2 * u - 1;
  });
})();
const labels = Int32Array.from({ length: BATCH }, (_, i) => (2 * i + 1) % SIZE.classes);

const uniform = Object.fromEntries(searchSpace(graph).decisions.map((d) => [d.key, d.names.map(() => 1 / d.names.length)]));

const evaluation = (choices: Parameters<typeof evaluate>[1]['choices'], mode: 'eval' | 'train'): Evaluation => {
  const r = evaluate(graph, { batch: BATCH, inputs: { x: images }, params: store, mode, ...(choices === undefined ? {} : { choices }) });
  if (E.isLeft(r)) throw new Error(r.left.map((e) => e.message).join('; '));
  return r.right;
};
const reference = (choices: Parameters<typeof evaluate>[1]['choices'], mode: 'eval' | 'train'): Float64Array => evaluation(choices, mode).outputs[0]!;

const expectClose = (got: ArrayLike<number>, want: ArrayLike<number>): void => {
  expect(got.length).toBe(want.length);
  const scale = Math.max(1e-2, ...Array.from(want, Math.abs));
  const worst = Math.max(...Array.from(want, (w, i) => Math.abs(got[i]! - w)));
  expect(worst).toBeLessThanOrEqual(1e-5 * scale);
};

let tf: Tf;
beforeAll(async () => {
  tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-cpu');
  expect(await tf.setBackend('cpu')).toBe(true);
});

describe('the tfjs DARTS network equals our supernet', () => {
  it('mixed, uniform weights, BatchNorm in inference form', async () => {
    const net = tfjsDartsInference(tf, dartsNetOptions(SIZE), BATCH, { init: store });
    try {
      expectClose(await net.run(images, { kind: 'mixed' }), reference({ kind: 'mix', weights: uniform }, 'eval'));
    } finally {
      net.dispose();
    }
  });

  it('sampled, for random architectures', async () => {
    const net = tfjsDartsInference(tf, dartsNetOptions(SIZE), BATCH, { init: store });
    try {
      let rng = seedRng(17);
      for (let i = 0; i < 6; i++) {
        const [arch, next] = randomArchitecture(searchSpace(graph), rng);
        rng = next;
        expectClose(await net.run(images, { kind: 'sampled', arch }), reference({ kind: 'select', arch }, 'eval'));
      }
    } finally {
      net.dispose();
    }
  });

  it('the training step’s loss is the cross-entropy of the mixed forward pass on batch statistics', async () => {
    await registerTfjsGradients();
    const trainer = tfjsDartsTrainer(tf, dartsNetOptions(SIZE), BATCH, { init: store });
    try {
      const ev = evaluation({ kind: 'mix', weights: uniform }, 'train');
      const logits = ev.outputs[0]!;
      const K = SIZE.classes;
      let ce = 0;
      for (let r = 0; r < BATCH; r++) {
        const row = Array.from(logits.subarray(r * K, (r + 1) * K));
        const m = Math.max(...row);
        ce += m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0)) - row[labels[r]!]!;
      }
      const first = await trainer.step(images, labels);
      // The loss is a mean of 3 cross-entropies of logits that agree within the tolerance above.
      expect(Math.abs(first - ce / BATCH)).toBeLessThanOrEqual(1e-5 * Math.max(1, ce / BATCH));
      // Every BatchNorm's running statistics moved as PyTorch's (momentum 0.1, unbiased variance), as the reference's.
      const running = await trainer.runningStats();
      const want = ev.updatedStats!;
      expect([...running.keys()].sort()).toEqual([...want.keys()].sort());
      for (const [path, v] of want) expectClose(running.get(path)!, v);
      // The step trained: the same batch again has a lower loss (SGD momentum, lr 0.01, on the batch itself).
      expect(await trainer.step(images, labels)).toBeLessThan(first);
    } finally {
      trainer.dispose();
    }
  });
});

describe('normalizeTrain', () => {
  it('has tfjs’s own gradient (through tf.moments and tf.batchNorm), values and batch statistics', () => {
    const shape: [number, number, number, number] = [3, 4, 5, 6];
    const n = shape.reduce((a, b) => a * b, 1);
    let rng = seedRng(21);
    const draw = (scale: number, shift: number): Float32Array =>
      Float32Array.from({ length: n }, () => {
        const [u, next] = nextFloat(rng);
        rng = next;
        return scale * u + shift;
      });
    const x = tf.tensor4d(draw(4, -1), shape);
    const r = tf.tensor4d(draw(2, -1), shape); // a random cotangent: the gradient of Σ r·y
    const eps = tf.scalar(1e-5);
    const ours = normalizeTrain(tf, x, eps);
    const theirs = tf.moments(x, [0, 1, 2]);
    const want = tf.batchNorm(x, theirs.mean, theirs.variance, undefined, undefined, 1e-5);
    const gOurs = tf.grad((v) => tf.sum(tf.mul(normalizeTrain(tf, v, eps).y, r)))(x);
    const gTheirs = tf.grad((v) => {
      const m = tf.moments(v, [0, 1, 2]);
      return tf.sum(tf.mul(tf.batchNorm(v, m.mean, m.variance, tf.zeros([6]), tf.ones([6]), 1e-5), r));
    })(x);
    // float32 on both sides, different summation orders: values O(1), gradients O(1); 1e-5 of the largest.
    expectClose(ours.y.dataSync(), want.dataSync());
    expectClose(ours.mean.dataSync(), theirs.mean.dataSync());
    expectClose(ours.variance.dataSync(), theirs.variance.dataSync());
    expectClose(gOurs.dataSync(), gTheirs.dataSync());
    tf.dispose([x, r, eps, ours.y, ours.mean, ours.variance, theirs.mean, theirs.variance, want, gOurs, gTheirs]);
  });
});
