/**
 * ONNX export (src/runtime/onnx/export.ts) checked by running the file in onnxruntime-node (CPU) and comparing its
 * outputs with ours. Tolerance: max |ours − onnxruntime| ≤ 1e-4 absolute, batch 2, random weights (BatchNorm's
 * running statistics random too, so the inference form is really exercised) and random inputs in [-2, 2].
 * - the example spaces (small DARTS, fashion-cells, mnist, NNI's classic-mnist), random architectures, ours computed on the device;
 * - one model holding every op the exporter maps (grouped and dilated convolution, both pools with padding,
 *   count_include_pad off, adaptive pooling with non-dividing sizes, non-affine BatchNorm, every activation, scale,
 *   strided zero, mul, concat, reshape, softmax), against the CPU reference interpreter;
 * - an op without a mapping (an open choice) is one error naming it.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import dartsDefault, { dartsSpace } from '../../../examples/darts.ts';
import fashionCells from '../../../examples/fashion-cells.ts';
import mnist from '../../../examples/mnist.ts';
import classicMnist from '../../../examples/classic-mnist.ts';
import { lower } from '../../../src/compile/lower.ts';
import { randomArchitecture } from '../../../src/ir/architecture.ts';
import {
  type Graph,
  type ModelDef,
  adaptiveAvgPool2d,
  add,
  apply,
  avgPool2d,
  batchNorm2d,
  block,
  buildModel,
  concat,
  conv2d,
  defineModel,
  dropout,
  flatten,
  gelu,
  globalAvgPool,
  identity,
  layerChoice,
  linear,
  logSoftmax,
  maxPool2d,
  mul,
  relu,
  relu6,
  reshape,
  scale,
  searchSpace,
  seedRng,
  sigmoid,
  softmax,
  tanh,
  zero,
} from '../../../src/ir/index.ts';
import { Executable } from '../../../src/runtime/execute.ts';
import { toOnnx } from '../../../src/runtime/onnx/export.ts';
import { evaluate } from '../../../src/runtime/reference.ts';
import { describeGpu } from '../../gpu.ts';
import { randomInputs, randomParams } from '../execute-harness.ts';

const BATCH = 2;
const TOL = 1e-4;

const build = (def: ModelDef): Graph => {
  const g = buildModel(def);
  if (E.isLeft(g)) throw new Error(g.left.map((e) => e.message).join('; '));
  return g.right;
};

/** The fixed graph of a random architecture of `def` (seeded). */
const fixedOf = (def: ModelDef, seed: number): Graph => {
  const g = build(def);
  const [arch] = randomArchitecture(searchSpace(g), seedRng(seed));
  const f = apply(g, arch);
  if (E.isLeft(f)) throw new Error(f.left.map((e) => e.message).join('; '));
  return f.right;
};

/** onnxruntime's outputs for the exported model. */
const runOnnx = async (g: Graph, params: ReadonlyMap<string, Float32Array>, inputs: Record<string, Float32Array>): Promise<Float32Array[]> => {
  const bytes = toOnnx(g, params);
  if (E.isLeft(bytes)) throw new Error(bytes.left.map((e) => e.message).join('; '));
  const session = await ort.InferenceSession.create(bytes.right);
  const feeds: Record<string, ort.Tensor> = {};
  for (const x of g.inputs) {
    if (x.op.kind !== 'input') continue;
    feeds[x.op.name] = new ort.Tensor('float32', inputs[x.op.name]!, [BATCH, ...x.shape]);
  }
  const out = await session.run(feeds);
  const names = g.outputs.length === 1 ? ['output'] : g.outputs.map((_, i) => `output${i}`);
  const result = names.map((n) => out[n]!.data as Float32Array);
  await session.release();
  return result;
};

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

const smallDarts = dartsSpace({ cells: 3, nodes: 2, channels: 4, input: [1, 12, 12], classes: 10 });

await describeGpu('ONNX export vs ours on the device', (gpu) => {
  const cases: readonly (readonly [string, ModelDef, number])[] = [
    ['DARTS (3 cells, 2 nodes, 4 channels, 12×12)', smallDarts, 1],
    ['fashion-cells', fashionCells, 2],
    ['fashion-cells (another architecture)', fashionCells, 3],
    ['mnist', mnist, 4],
    ['mnist (another architecture)', mnist, 5],
    // NNI's classic example: first_conv's candidates differ in output shape, so the fixed graphs differ in shape.
    ['classic-mnist', classicMnist, 6],
    ['classic-mnist (another architecture)', classicMnist, 9],
  ];
  it.each(cases)('%s: onnxruntime logits within 1e-4 of ours', async (_name, def, seed) => {
    const g = fixedOf(def, seed);
    const params = randomParams(g, seed);
    const inputs = randomInputs(g, BATCH, seed);
    const p = lower(g, { mode: 'fixed', batch: BATCH });
    if (E.isLeft(p)) throw new Error(p.left.map((e) => e.message).join('; '));
    const exe = await Executable.instantiate(gpu, p.right, params);
    if (E.isLeft(exe)) throw new Error(exe.left.map((e) => e.message).join('; '));
    let ours: readonly Float32Array[];
    try {
      const r = await exe.right.run({ inputs });
      if (E.isLeft(r)) throw new Error(r.left.map((e) => e.message).join('; '));
      ours = r.right;
    } finally {
      exe.right.destroy();
    }
    const theirs = await runOnnx(g, params, inputs);
    expect(theirs.length).toBe(ours.length);
    expect(ours[0]!.length).toBe(BATCH * 10);
    // Not trivially equal: the logits differ between samples and classes.
    expect(new Set(Array.from(ours[0]!, (v) => v.toFixed(4))).size).toBeGreaterThan(10);
    ours.forEach((o, i) => expect(maxDiff(theirs[i]!, o)).toBeLessThanOrEqual(TOL));
  });
});

describe('ONNX export', () => {
  it('the default DARTS example is a valid space to export (the small one above is the same code, smaller)', () => {
    expect(searchSpace(build(dartsDefault)).decisions.length).toBeGreaterThan(0);
  });

  it('maps every op of an inference model: onnxruntime agrees with the reference interpreter within 1e-4', async () => {
    const everyOp = defineModel({
      name: 'every-op',
      input: [4, 9, 9],
      layer: block((ctx, x) => {
        const g = ctx.call('grouped', conv2d({ out: 8, kernel: 3, padding: 2, dilation: 2, groups: 2 }), x);
        const bn = ctx.call('bn', batchNorm2d({ affine: false }), g);
        const bnA = ctx.call('bnA', batchNorm2d(), ctx.call('relu6', relu6(), bn));
        const mp = ctx.call('mp', maxPool2d({ kernel: 3, stride: 2, padding: 1 }), bnA);
        const ap = ctx.call('ap', avgPool2d({ kernel: 3, stride: 2, padding: 1, countIncludePad: false }), ctx.call('gelu', gelu(), bnA));
        const apIn = ctx.call('apIn', avgPool2d({ kernel: 3, stride: 2, padding: 1 }), ctx.call('tanh', tanh(), bnA));
        const z = ctx.call('zero', zero(2), bnA);
        const m = mul(ctx.call('sig', sigmoid(), mp), ctx.call('scale', scale(0.5), ap));
        const s = add(m, apIn, z, ctx.call('id', identity(), mp));
        const cat = concat([s, ctx.call('drop', dropout(0.3), mp)]);
        const ad = ctx.call('adaptive', adaptiveAvgPool2d(3), ctx.call('relu', relu(), cat)); // 5×5 → 3×3: overlapping cells
        const ad2 = ctx.call('adaptive2', adaptiveAvgPool2d(1), cat); // divides: plain AveragePool
        const gp = ctx.call('gap', globalAvgPool(), cat);
        const flat = ctx.call('flat', flatten(), ad);
        const r = ctx.call('reshape', reshape([16, 9]), flat);
        const sm = ctx.call('softmax', softmax(), r);
        const head = ctx.call('fc', linear({ out: 5 }), ctx.call('flat2', flatten(), sm));
        const head2 = ctx.call('fc2', linear({ out: 5, bias: false }), gp);
        const head3 = ctx.call('fc3', linear({ out: 5 }), ctx.call('flat3', flatten(), ad2));
        return ctx.call('out', logSoftmax(), add(head, head2, head3));
      }),
    });
    const g = build(everyOp);
    const params = randomParams(g, 7);
    const inputs = randomInputs(g, BATCH, 7);
    const ref = evaluate(g, { batch: BATCH, inputs, params });
    if (E.isLeft(ref)) throw new Error(ref.left.map((e) => e.message).join('; '));
    const [theirs] = await runOnnx(g, params, inputs);
    expect(maxDiff(theirs!, ref.right.outputs[0]!)).toBeLessThanOrEqual(TOL);
    // The control: other weights give other outputs (the comparison can fail).
    const [other] = await runOnnx(g, randomParams(g, 8), inputs);
    expect(maxDiff(other!, ref.right.outputs[0]!)).toBeGreaterThan(1e-3);
  });

  it('refuses an op without a mapping with one line naming it, and a missing weight by path', () => {
    const g = build(
      defineModel({
        name: 'open',
        input: [1, 4, 4],
        layer: block((ctx, x) => ctx.call('head', linear({ out: 2 }), ctx.call('f', flatten(), ctx.call('choice', layerChoice({ a: relu(), b: identity() }), x)))),
      }),
    );
    const r = toOnnx(g, randomParams(g, 1));
    expect(E.isLeft(r) && r.left.map((e) => e.message)).toEqual([expect.stringMatching(/^choice: op 'layerChoice' has no ONNX mapping \(choice 'choice' is still open/)]);
    const params = new Map(randomParams(g, 1));
    params.delete('head/weight');
    const fixed = fixedOf(defineModel({ name: 'fixed', input: [1, 4, 4], layer: block((ctx, x) => ctx.call('head', linear({ out: 2 }), ctx.call('f', flatten(), x))) }), 0);
    const missing = toOnnx(fixed, params);
    expect(E.isLeft(missing) && missing.left.map((e) => e.message)).toEqual(['no weights for parameter head/weight']);
  });
});
