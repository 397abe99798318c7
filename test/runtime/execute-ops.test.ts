/**
 * Every op on the GPU against the reference interpreter, on fast-check-generated shapes, attributes and
 * inputs (fixed mode, batch 1–3). Tolerance: |gpu − ref| ≤ 1e-4·(1 + |ref|) (f32 kernels vs the f64 reference on
 * sums of at most a few hundred terms of magnitude ≲ 2; see execute-harness.ts).
 *
 * Shapes are drawn from small ranges on purpose: every distinct shape is a new pipeline, and lavapipe compiles
 * a pipeline with loops in seconds the first time (Mesa caches it on disk afterwards).
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { it } from 'vitest';
import {
  type Layer,
  adaptiveAvgPool2d,
  add,
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
  linear,
  logSoftmax,
  maxPool2d,
  mul,
  relu,
  relu6,
  reshape,
  scale,
  sequential,
  sigmoid,
  softmax,
  tanh,
  zero,
} from '../../src/ir/index.ts';
import { describeGpu } from '../gpu.ts';
import { expectClose, randomInputs, randomParams, reference, runOnGpu } from './execute-harness.ts';

const TIMEOUT = 600_000;

await describeGpu('ops vs the reference interpreter', (gpu) => {
  const check = async (input: readonly number[], layer: Layer, batch: number, seed: number): Promise<void> => {
    const g = buildModel(defineModel({ name: 'op', input, layer }));
    if (E.isLeft(g)) throw new Error(g.left.map((e) => e.message).join('; '));
    const params = randomParams(g.right, seed);
    const inputs = randomInputs(g.right, batch, seed);
    const got = await runOnGpu(gpu, g.right, { mode: 'fixed', batch }, params, inputs);
    const ref = reference(g.right, batch, params, inputs);
    ref.forEach((r, i) => expectClose(got[i]!, r, `output ${i}`));
  };
  const arbBatch = fc.integer({ min: 1, max: 3 });
  const arbSeed = fc.integer();

  it('conv2d: stride, padding, dilation, groups (dense, grouped, depthwise), bias, fused relu and residual', async () => {
    const arbConv = fc
      .record({
        cin: fc.constantFrom(2, 4),
        mult: fc.constantFrom(1, 2),
        hw: fc.constantFrom(5, 6),
        k: fc.constantFrom(1, 3),
        stride: fc.constantFrom(1, 2),
        pad: fc.constantFrom(0, 1),
        dil: fc.constantFrom(1, 2),
        grouping: fc.constantFrom('dense', 'grouped', 'depthwise'),
        bias: fc.boolean(),
        epilogue: fc.constantFrom('none', 'relu', 'relu+residual'),
      })
      .filter((c) => c.dil * (c.k - 1) + 1 <= c.hw + 2 * c.pad);
    await fc.assert(
      fc.asyncProperty(arbConv, arbBatch, arbSeed, async (c, batch, seed) => {
        const groups = c.grouping === 'dense' ? 1 : c.grouping === 'grouped' ? 2 : c.cin;
        const out = c.cin * c.mult;
        const conv = conv2d({ out, kernel: c.k, stride: c.stride, padding: c.pad, dilation: c.dil, groups, bias: c.bias });
        const layer: Layer =
          c.epilogue === 'none'
            ? conv
            : c.epilogue === 'relu'
              ? sequential({ c: conv, r: relu() })
              : block((ctx, x) => {
                  const y = ctx.call('r', relu(), ctx.call('c', conv, x));
                  return add(y, ctx.call('s', conv2d({ out, kernel: c.k, stride: c.stride, padding: c.pad, dilation: c.dil }), x));
                });
        await check([c.cin, c.hw, c.hw], layer, batch, seed);
      }),
      { numRuns: 10 },
    );
  }, TIMEOUT);

  it('linear (with and without bias, fused activation) after flatten', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(3, 8), fc.constantFrom(1, 5), fc.boolean(), fc.constantFrom<'none' | 'gelu' | 'sigmoid'>('none', 'gelu', 'sigmoid'), arbBatch, arbSeed, async (f, o, bias, act, batch, seed) => {
          const l = linear({ out: o, bias });
          const layer = act === 'none' ? sequential({ f: flatten(), l }) : sequential({ f: flatten(), l, a: act === 'gelu' ? gelu() : sigmoid() });
          await check([f, 1, 1], layer, batch, seed);
        }),
      { numRuns: 8 },
    );
  }, TIMEOUT);

  it('batchNorm2d (inference form, affine or not), with a fused activation', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(1, 3), fc.boolean(), fc.boolean(), arbBatch, arbSeed, async (c, affine, act, batch, seed) => {
        const bn = batchNorm2d({ affine });
        await check([c, 3, 2], act ? sequential({ bn, r: relu6() }) : bn, batch, seed);
      }),
      { numRuns: 6 },
    );
  }, TIMEOUT);

  it('activations, scale, identity, dropout (identity at inference), zero, mul', async () => {
    const ops: Record<string, Layer> = {
      relu: relu(), relu6: relu6(), sigmoid: sigmoid(), tanh: tanh(), gelu: gelu(), identity: identity(),
      scale: scale(-0.75), dropout: dropout(0.5), zero: zero(1), zero2: zero(2),
      mul: block((ctx, x) => mul(x, ctx.call('t', tanh(), x))),
    };
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...Object.keys(ops)), arbBatch, arbSeed, async (name, batch, seed) => {
        await check([2, 3, 3], ops[name]!, batch, seed);
      }),
      { numRuns: 16 },
    );
  }, TIMEOUT);

  it('add (2 to 8 inputs, chunked above 5) and concat', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 8 }), fc.boolean(), arbBatch, arbSeed, async (n, cat, batch, seed) => {
        const layer = block((ctx, x) => {
          const xs = Array.from({ length: n }, (_, i) => ctx.call(`s${i}`, scale(i + 1), x));
          return cat ? concat(xs) : add(...xs);
        });
        await check([2, 2, 2], layer, batch, seed);
      }),
      { numRuns: 8 },
    );
  }, TIMEOUT);

  it('max/avg pooling (padding, stride, count_include_pad), global and adaptive average pooling', async () => {
    const arbPool = fc.record({
      kind: fc.constantFrom('max', 'avg', 'avgNoPad', 'global', 'adaptive'),
      k: fc.constantFrom(2, 3),
      stride: fc.constantFrom(1, 2),
      pad: fc.constantFrom(0, 1),
      hw: fc.constantFrom(4, 5),
      out: fc.constantFrom(1, 2, 3),
    });
    await fc.assert(
      fc.asyncProperty(arbPool, arbBatch, arbSeed, async (p, batch, seed) => {
        const layer =
          p.kind === 'max'
            ? maxPool2d({ kernel: p.k, stride: p.stride, padding: p.pad })
            : p.kind === 'avg' || p.kind === 'avgNoPad'
              ? avgPool2d({ kernel: p.k, stride: p.stride, padding: p.pad, countIncludePad: p.kind === 'avg' })
              : p.kind === 'global'
                ? globalAvgPool()
                : adaptiveAvgPool2d(p.out);
        await check([2, p.hw, p.hw], layer, batch, seed);
      }),
      { numRuns: 12 },
    );
  }, TIMEOUT);

  it('softmax and logSoftmax over channels (flat, spatial, and more than 64 channels), reshape', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom<readonly number[]>([10], [3, 2, 2], [70]), fc.boolean(), arbBatch, arbSeed, async (shape, log, batch, seed) => {
        const layer = sequential({ s: log ? logSoftmax() : softmax(), r: reshape([shape.reduce((a, b) => a * b, 1)]) });
        await check(shape, layer, batch, seed);
      }),
      { numRuns: 8 },
    );
  }, TIMEOUT);
});
