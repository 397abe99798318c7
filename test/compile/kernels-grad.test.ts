/**
 * Every backward (and training-forward) kernel on the GPU against the reference interpreter, on fast-check
 * shapes and attributes: each case is a graph whose outputs are the op under test, over batched `input` leaves
 * and unbatched `param` leaves. Tolerance: see lower-train-harness.ts (1e-4 relative to each array's scale).
 *
 * Runs are few per property on purpose: every distinct shape is a new pipeline, and lavapipe takes about a
 * second to compile one the first time (Mesa caches them on disk afterwards).
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import type { Graph } from '../../src/ir/graph.ts';
import { type Node, mkNode } from '../../src/ir/node.ts';
import type { Op } from '../../src/ir/ops.ts';
import { windowOut } from '../../src/ir/shape.ts';
import { describeGpu } from '../gpu.ts';
import { checkAgainstReference, randomCase, referenceOf, runProgram, trainingProgram } from './lower-train-harness.ts';

const input = (name: string, shape: readonly number[]): Node => mkNode({ kind: 'input', name, shape }, [], name);
const param = (path: string, shape: readonly number[]): Node => mkNode({ kind: 'param', path, shape, init: { kind: 'zeros' }, trainable: true }, [], path);
const node = (op: Op, inputs: readonly Node[]): Node => mkNode(op, inputs, op.kind);
const graph = (outputs: readonly Node[]): Graph => ({ inputs: [], outputs });

const convCase = fc
  .record({
    batch: fc.integer({ min: 1, max: 3 }),
    groups: fc.integer({ min: 1, max: 2 }),
    cinG: fc.integer({ min: 1, max: 3 }),
    coutG: fc.integer({ min: 1, max: 3 }),
    h: fc.integer({ min: 3, max: 7 }),
    w: fc.integer({ min: 3, max: 7 }),
    k: fc.integer({ min: 1, max: 3 }),
    stride: fc.integer({ min: 1, max: 2 }),
    padding: fc.integer({ min: 0, max: 1 }),
    dilation: fc.integer({ min: 1, max: 2 }),
    depthwise: fc.boolean(),
    seed: fc.integer({ min: 0, max: 1000 }),
  })
  .filter((c) => windowOut(c.h, c.k, c.stride, c.padding, c.dilation) >= 1 && windowOut(c.w, c.k, c.stride, c.padding, c.dilation) >= 1);

await describeGpu('training kernels vs the reference', (gpu) => {
  it('conv2d ∂L/∂x and ∂L/∂W (stride, padding, dilation, groups, depthwise)', async () => {
    await fc.assert(
      fc.asyncProperty(convCase, async (c) => {
        // Depthwise: one input channel per group (the direct kernels); else dense or grouped (the GEMMs).
        const groups = c.depthwise ? c.cinG + 1 : c.groups;
        const cin = c.depthwise ? groups : groups * c.cinG;
        const cout = groups * c.coutG;
        const attrs = { stride: [c.stride, c.stride] as const, padding: [c.padding, c.padding] as const, dilation: [c.dilation, c.dilation] as const, groups };
        const wShape = [cout, cin / groups, c.k, c.k];
        const oh = windowOut(c.h, c.k, c.stride, c.padding, c.dilation);
        const ow = windowOut(c.w, c.k, c.stride, c.padding, c.dilation);
        const dy = input('dy', [cout, oh, ow]);
        const x = input('x', [cin, c.h, c.w]);
        const dx = node({ kind: 'conv2dGradInput', ...attrs, inputShape: [cin, c.h, c.w] }, [dy, param('w', wShape)]);
        const dw = node({ kind: 'conv2dGradWeight', ...attrs, weightShape: wShape }, [x, dy]);
        const db = node({ kind: 'sumBatch', spatial: true }, [dy]);
        const g = graph([dx, dw, db]);
        await checkAgainstReference(gpu, g, randomCase(g.outputs, c.batch, c.seed));
      }),
      { numRuns: 10 },
    );
  }, 600_000);

  it('a conv2d ∂L/∂W large enough to split its batch (split-K) and a dense ∂L/∂x with vec4 stores', async () => {
    const attrs = { stride: [1, 1] as const, padding: [1, 1] as const, dilation: [1, 1] as const, groups: 1 };
    const dy = input('dy', [8, 8, 8]);
    const x = input('x', [3, 8, 8]);
    const g = graph([
      node({ kind: 'conv2dGradWeight', ...attrs, weightShape: [8, 3, 3, 3] }, [x, dy]),
      node({ kind: 'conv2dGradInput', ...attrs, inputShape: [3, 8, 8] }, [dy, param('w', [8, 3, 3, 3])]),
    ]);
    expect(trainingProgram(g, 6).dispatches.some((d) => d.label.includes('sum of parts'))).toBe(true);
    await checkAgainstReference(gpu, g, randomCase(g.outputs, 6, 3));
  }, 300_000);

  it('linear ∂L/∂x and ∂L/∂W; sumBatch over the batch', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), async (batch, fin, fout) => {
        const dy = input('dy', [fout]);
        const g = graph([
          node({ kind: 'linearGradInput' }, [dy, param('w', [fout, fin])]),
          node({ kind: 'linearGradWeight' }, [input('x', [fin]), dy]),
          node({ kind: 'sumBatch', spatial: false }, [dy]),
        ]);
        await checkAgainstReference(gpu, g, randomCase(g.outputs, batch, fin * 31 + fout));
      }),
      { numRuns: 4 },
    );
  }, 300_000);

  it('max/avg/adaptive/global pooling gradients', async () => {
    const poolCase = fc.record({
      batch: fc.integer({ min: 1, max: 2 }),
      c: fc.integer({ min: 1, max: 3 }),
      h: fc.integer({ min: 3, max: 7 }),
      k: fc.integer({ min: 1, max: 3 }),
      s: fc.integer({ min: 1, max: 3 }),
      pad: fc.boolean(),
      cip: fc.boolean(),
      out: fc.integer({ min: 1, max: 3 }),
    });
    await fc.assert(
      fc.asyncProperty(poolCase, async (p) => {
        const padding = p.pad ? Math.floor(p.k / 2) : 0;
        const win = { kernel: [p.k, p.k] as const, stride: [p.s, p.s] as const, padding: [padding, padding] as const };
        const inShape = [p.c, p.h, p.h];
        const o = windowOut(p.h, p.k, p.s, padding);
        const x = input('x', inShape);
        // Integers in x make ties in max windows likely: the first maximum must take the gradient.
        const g = graph([
          node({ kind: 'maxPool2dGrad', ...win }, [x, input('dyp', [p.c, o, o])]),
          node({ kind: 'avgPool2dGrad', ...win, countIncludePad: p.cip, inputShape: inShape }, [input('dyp', [p.c, o, o])]),
          node({ kind: 'adaptiveAvgPool2dGrad', inputShape: inShape }, [input('dya', [p.c, p.out, p.out])]),
          node({ kind: 'globalAvgPoolGrad', inputShape: inShape }, [input('dyg', [p.c])]),
        ]);
        const c = randomCase(g.outputs, p.batch, p.h * 7 + p.k);
        c.inputs['x'] = c.inputs['x']!.map((v) => Math.round(v));
        await checkAgainstReference(gpu, g, c);
      }),
      { numRuns: 6 },
    );
  }, 600_000);

  it('BatchNorm in training: forward, running statistics, ∂L/∂x, ∂L/∂γ, ∂L/∂β (affine or not)', async () => {
    for (const [affine, batch, c, h] of [[true, 3, 3, 4], [false, 2, 2, 1], [true, 4, 5, 2]] as const) {
      const x = input('x', [c, h, h]);
      const dy = input('dy', [c, h, h]);
      const wb = affine ? [param('bn/weight', [c]), param('bn/bias', [c])] : [];
      const y = node({ kind: 'batchNorm2dTrain', eps: 1e-5, momentum: 0.1, affine }, [x, param('bn/running_mean', [c]), param('bn/running_var', [c]), ...wb]);
      const g = graph([
        y,
        node({ kind: 'batchNorm2dGradInput', eps: 1e-5, affine }, affine ? [x, dy, wb[0]!] : [x, dy]),
        node({ kind: 'batchNorm2dGradWeight', eps: 1e-5 }, [x, dy]),
        node({ kind: 'sumBatch', spatial: true }, [dy]),
      ]);
      const k = randomCase(g.outputs, batch, c * 13 + h);
      // A channel far from zero: the shifted sums must keep the variance accurate.
      k.inputs['x'] = k.inputs['x']!.map((v, i) => (Math.floor(i / (h * h)) % c === 0 ? 100 + v : v));
      await checkAgainstReference(gpu, g, k);
    }
  }, 300_000);

  it('activation gradients (incl. NaN inputs and kinks), softmax/logSoftmax gradients, channel slices', async () => {
    const x = input('x', [3, 2, 2]);
    const dy = input('dy', [3, 2, 2]);
    const fns = ['relu', 'relu6', 'sigmoid', 'tanh', 'gelu'] as const;
    const g = graph([
      ...fns.map((fn) => node({ kind: 'activationGrad', fn }, [x, dy])),
      node({ kind: 'softmaxGrad' }, [x, dy]),
      node({ kind: 'logSoftmaxGrad' }, [x, dy]),
      node({ kind: 'sliceChannels', start: 1, count: 2 }, [x]),
    ]);
    const c = randomCase(g.outputs, 2, 5);
    const xs = c.inputs['x']!;
    xs[0] = 0;
    xs[1] = 6;
    xs[2] = Number.NaN;
    xs[3] = -30;
    xs[4] = 30;
    c.inputs['x'] = xs.map((v, i) => (i < 5 ? v : 4 * v));
    await checkAgainstReference(gpu, g, c);
  }, 300_000);

  it('cross-entropy and its gradient, with and without label smoothing', async () => {
    for (const eps of [0, 0.1]) {
      const logits = input('logits', [7]);
      const labels = input('labels', [1]);
      const one = node({ kind: 'fill', value: 1.5, shape: [1] }, []);
      const g = graph([node({ kind: 'crossEntropy', labelSmoothing: eps }, [logits, labels]), node({ kind: 'crossEntropyGrad', labelSmoothing: eps }, [logits, labels, one])]);
      const c = randomCase(g.outputs, 5, 9, 7);
      c.inputs['logits'] = c.inputs['logits']!.map((v) => 10 * v); // large logits: the log-sum-exp must stay stable
      await checkAgainstReference(gpu, g, c);
    }
  }, 300_000);

  it('weightedSum (a zero weight skips a NaN candidate), weightedScale and weightedSumGrad over two chunks', async () => {
    const n = 8;
    const w = node({ kind: 'choiceWeights', key: 'k', n }, []);
    const cs = Array.from({ length: n }, (_, i) => input(`c${i}`, [2, 3]));
    const unbatched = param('p', [2, 3]);
    const dy = input('dy', [2, 3]);
    const g = graph([
      node({ kind: 'weightedSum' }, [w, ...cs]),
      node({ kind: 'weightedScale', index: 3 }, [w, dy]),
      node({ kind: 'weightedSumGrad' }, [dy, ...cs.slice(0, n - 1), unbatched]),
      node({ kind: 'weightedSum' }, [node({ kind: 'choiceWeights', key: 'k2', n: 2 }, []), cs[0]!, unbatched]),
    ]);
    const c = { ...randomCase(g.outputs, 3, 17), choiceWeights: { k: [0.1, 0, 0.3, -0.2, 0.5, 0.05, 1, 2], k2: [0.25, 0.75] } };
    c.inputs['c1'] = c.inputs['c1']!.map(() => Number.NaN);
    const program = trainingProgram(g, 3);
    const { outputs } = await runProgram(gpu, program, c);
    expect(outputs[0]!.every((v) => Number.isFinite(v))).toBe(true);
    await checkAgainstReference(gpu, { inputs: [], outputs: [g.outputs[0]!, g.outputs[1]!, g.outputs[3]!] }, c);
    // weightedSumGrad over the NaN candidate is NaN there, as the reference: check it on clean inputs.
    const clean = { ...c, inputs: { ...c.inputs, c1: c.inputs['c0']! } };
    await checkAgainstReference(gpu, g, clean);
  }, 300_000);

  it('dropoutTrain: the mask equals the reference bit for bit (elementwise and channelwise), and follows the seed', async () => {
    for (const [channelwise, seed] of [[false, 7], [true, 8], [false, 4_000_000_000]] as const) {
      const x = input('x', [4, 3, 3]);
      const g = graph([node({ kind: 'dropoutTrain', p: 0.4, channelwise, site: 'cell/drop' }, [x])]);
      const c = { ...randomCase(g.outputs, 3, 23), seed };
      c.inputs['x'] = c.inputs['x']!.map((v) => (v === 0 ? 1 : v));
      const { outputs } = await runProgram(gpu, trainingProgram(g, 3), c);
      const ref = referenceOf(g, c).outputs[0]!;
      const gpuMask = Array.from(outputs[0]!, (v) => v !== 0);
      const refMask = Array.from(ref, (v) => v !== 0);
      expect(gpuMask).toEqual(refMask);
      expect(refMask.some((k) => !k) && refMask.some((k) => k)).toBe(true);
      await checkAgainstReference(gpu, g, c);
    }
  }, 300_000);
});
