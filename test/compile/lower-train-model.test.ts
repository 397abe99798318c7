/**
 * Whole training steps on the GPU against the reference interpreter: an MNIST-like CNN at tiny size (conv, BN in
 * training, relu, max pool, dropout, linear), and a small mixed DARTS-like supernet (mixGraph): the loss, the
 * logits, every parameter's gradient, ∂L/∂w per choice key and the BatchNorm running statistics.
 * Tolerance: see lower-train-harness.ts (2e-4 relative to each array's scale: several f32 layers deep).
 */
import * as E from 'fp-ts/lib/Either.js';
import { it } from 'vitest';
import {
  avgPool2d,
  batchNorm2d,
  block,
  buildModel,
  conv2d,
  defineModel,
  dropout,
  flatten,
  identity,
  layerChoice,
  linear,
  maxPool2d,
  relu,
  sequential,
  add,
  type Graph,
  type Layer,
} from '../../src/ir/index.ts';
import { trainingGraph } from '../../src/compile/training-graph.ts';
import { mixGraph } from '../../src/compile/mix.ts';
import { describeGpu } from '../gpu.ts';
import { lowerTraining } from '../../src/compile/lower-train.ts';
import { inputChoice, globalAvgPool, zero, sigmoid } from '../../src/ir/index.ts';
import { expect } from 'vitest';
import { checkAgainstReference, closeTo, randomCase, referenceOf, runProgram } from './lower-train-harness.ts';

const build = (layer: Layer, input: readonly number[]): Graph => {
  const g = buildModel(defineModel({ name: 't', input, layer }));
  if (E.isLeft(g)) throw new Error(g.left.map((e) => e.message).join('; '));
  return g.right;
};

const cnn = build(
  sequential({
    conv1: conv2d({ out: 4, kernel: 3 }),
    bn1: batchNorm2d({}),
    act1: relu(),
    conv2: conv2d({ out: 6, kernel: 3, padding: 1 }),
    act2: relu(),
    pool: maxPool2d({ kernel: 2 }),
    drop: dropout(0.25),
    flat: flatten(),
    fc1: linear({ out: 8 }),
    act3: relu(),
    fc2: linear({ out: 5 }),
  }),
  [1, 8, 8],
);

/** A DARTS-like supernet: mixed layer choices (dense, depthwise, pools, skip, none; a strided one) and a summed input choice. */
const supernet = build(
  block((ctx, x) => {
    const stem = ctx.call('stem', sequential({ conv: conv2d({ out: 4, kernel: 3, padding: 1, bias: false }), bn: batchNorm2d({}) }), x);
    const e1 = ctx.call('e1', layerChoice(
      {
        conv3: sequential({ act: relu(), conv: conv2d({ out: 4, kernel: 3, padding: 1, bias: false }), bn: batchNorm2d({ affine: false }) }),
        dil: conv2d({ out: 4, kernel: 3, padding: 2, dilation: 2 }),
        dw: sequential({ dw: conv2d({ out: 4, kernel: 3, padding: 1, groups: 4 }), pw: conv2d({ out: 4, kernel: 1 }) }),
        avg: avgPool2d({ kernel: 3, stride: 1, padding: 1, countIncludePad: false }),
        max: maxPool2d({ kernel: 3, stride: 1, padding: 1 }),
        skip: identity(),
        none: zero(),
      },
      { key: 'e1' },
    ), stem);
    const e2 = ctx.call('e2', layerChoice(
      { conv: conv2d({ out: 4, kernel: 3, padding: 1, groups: 2 }), sig: sigmoid(), skip: identity() },
      { key: 'e2' },
    ), e1);
    const node = ctx.call('in', inputChoice({ key: 'in', nChosen: null, reduction: 'sum' }), [stem, e1, e2]);
    const down = ctx.call('down', layerChoice(
      { conv: conv2d({ out: 4, kernel: 3, stride: 2, padding: 1 }), max: maxPool2d({ kernel: 3, stride: 2, padding: 1 }), avg: avgPool2d({ kernel: 2 }) },
      { key: 'down' },
    ), add(node, stem));
    return ctx.call('head', sequential({ gap: globalAvgPool(), fc: linear({ out: 3 }) }), down);
  }),
  [2, 6, 6],
);

await describeGpu('lowerTraining: whole models vs the reference', (gpu) => {
  it('a tiny MNIST-like CNN: loss, logits, every gradient, running statistics', async () => {
    const step = trainingGraph(cnn, { labelSmoothing: 0.1 });
    const c = { ...randomCase(step.graph.outputs, 3, 7, 5), seed: 12345 };
    await checkAgainstReference(gpu, step.graph, c, 2e-4);
  }, 120_000);

  it('a mixed DARTS-like supernet: every gradient and ∂L/∂w per key, through TrainingProgram.grads/choiceGrads', async () => {
    const mixed = mixGraph(supernet);
    if (E.isLeft(mixed)) throw new Error(mixed.left.map((e) => e.message).join('; '));
    const step = trainingGraph(mixed.right.graph, { extraWrt: () => mixed.right.weights.map((w) => w.leaf) });
    const prog = lowerTraining(step, { mode: 'fixed', batch: 2 });
    if (E.isLeft(prog)) throw new Error(prog.left.map((e) => e.message).join('; '));
    const p = prog.right;
    expect(p.choiceGrads.map((c) => c.key)).toEqual(mixed.right.weights.map((w) => w.key));
    expect(p.grads.map((g) => g.path)).toEqual(step.grads.map((g) => g.path));
    // Softmax-like weights with one exact zero (a skipped candidate must not leak into the sum).
    const choiceWeights = Object.fromEntries(mixed.right.weights.map((w) => [w.key, Array.from({ length: w.n }, (_, i) => (i === 1 ? 0 : (i + 1) / (w.n * 2)))]));
    const c = { ...randomCase(step.graph.outputs, 2, 11, 3), choiceWeights };
    const { outputs } = await runProgram(gpu, p, c);
    const ref = referenceOf(step.graph, c);
    const byBuffer = (b: number): Float32Array => outputs[p.outputs.findIndex((o) => o.buffer === b)]!;
    closeTo(byBuffer(p.loss), ref.outputs[0]!, 'loss', 2e-4);
    p.grads.forEach((g, i) => closeTo(byBuffer(g.grad), ref.outputs[2 + i]!, `∂L/∂${g.path}`, 2e-4));
    p.choiceGrads.forEach((g, j) => closeTo(byBuffer(g.buffer), ref.outputs[2 + p.grads.length + j]!, `∂L/∂w[${g.key}]`, 2e-4));
  }, 300_000);
});
