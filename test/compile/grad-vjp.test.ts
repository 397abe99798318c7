/**
 * Every VJP rule (src/ir/vjp.ts) against central finite differences through the reference interpreter: a small
 * random graph around one op, a smooth random loss of its output (grad-harness.ts `probeLoss`), and grad(L, [x,
 * params…]) compared coordinate by coordinate with a fourth-order central difference, h = 1e-6, float64.
 * Tolerance (grad-harness.ts): |analytic − fd| ≤ 1e-5·max(|analytic|, |fd|) + 1e-8.
 *
 * Kinks are avoided, not tested: relu/relu6 inputs are nudged at least 1e-3 away from 0 and 6, and max-pool
 * inputs are distinct by at least 0.01, so no ±h step crosses a kink or changes a window's maximum.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeCtx } from '../../src/ir/ctx.ts';
import { GraphError } from '../../src/ir/errors.ts';
import {
  adaptiveAvgPool2d, add, avgPool2d, batchNorm2d, concat, conv2d, flatten, gelu, globalAvgPool, identity, input, linear, logSoftmax, maxPool2d,
  mul, param, relu, relu6, reshape, scale, sigmoid, softmax, tanh, zero,
} from '../../src/ir/layers.ts';
import { type Node, mkNode } from '../../src/ir/node.ts';
import { seedRng } from '../../src/ir/rng.ts';
import { type Values, checkGrad, probeLoss, randomValues, run, uniform } from './grad-harness.ts';

const ctx = makeCtx(['op']);
const leaves = (n: Node): readonly Node[] => n.inputs.filter((i) => i.op.kind === 'input' || (i.op.kind === 'param' && i.op.trainable));

/** Values at least `gap` away from each kink. */
const nudge = (v: Float64Array, kinks: readonly number[], gap = 1e-3): Float64Array =>
  v.map((x) => {
    let y = x;
    for (const k of kinks) if (Math.abs(y - k) < gap) y = k + (y >= k ? 2 * gap : -2 * gap);
    return y;
  });

/** `n` distinct values at least 0.01 apart, in random order (max-pool windows without near-ties). */
const distinct = (n: number, seed: number): Float64Array => {
  const [u] = uniform(seedRng(seed), n);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => u[a]! - u[b]!);
  const out = new Float64Array(n);
  order.forEach((i, rank) => {
    out[i] = (rank - n / 2) * 0.05 + (u[i]! + 1) * 0.01;
  });
  return out;
};

/** Checks ∂L/∂(every input and trainable parameter of `y`) (or of `wrt`) for the probe loss of `y`. */
const check = (y: Node, o: { batch: number; seed: number; wrt?: readonly Node[]; edit?: (v: Values) => Values }): number => {
  const loss = probeLoss(y);
  const base = randomValues([loss], o.batch, o.seed);
  const v = o.edit === undefined ? base : o.edit(base);
  const r = checkGrad(loss, o.wrt ?? leaves(y), v, 8, o.seed);
  expect(r.compared).toBeGreaterThan(0);
  return r.compared;
};

const withInput = (v: Values, name: string, f: (x: Float64Array) => Float64Array): Values => ({ ...v, inputs: { ...v.inputs, [name]: f(v.inputs[name]!) } });

/** Builds `f()`; a GraphError (shapes that do not fit) makes the case vacuous rather than failing. */
const tryBuild = (f: () => Node): Node | undefined => {
  try {
    return f();
  } catch (e) {
    if (e instanceof GraphError) return undefined;
    throw e;
  }
};

const arbSeed = fc.integer({ min: 0, max: 2 ** 31 - 1 });
const arbBatch = fc.integer({ min: 1, max: 3 });

describe('VJP rules agree with finite differences', () => {
  it('conv2d: stride, padding, dilation, groups (depthwise included), bias', () => {
    let checked = 0;
    fc.assert(
      fc.property(
        fc.record({
          groups: fc.integer({ min: 1, max: 3 }),
          inPer: fc.integer({ min: 1, max: 2 }),
          outPer: fc.integer({ min: 1, max: 2 }),
          depthwise: fc.boolean(),
          h: fc.integer({ min: 1, max: 5 }),
          w: fc.integer({ min: 1, max: 5 }),
          kh: fc.integer({ min: 1, max: 3 }),
          kw: fc.integer({ min: 1, max: 3 }),
          s: fc.integer({ min: 1, max: 2 }),
          p: fc.integer({ min: 0, max: 1 }),
          d: fc.integer({ min: 1, max: 2 }),
          bias: fc.boolean(),
        }),
        arbBatch,
        arbSeed,
        (r, batch, seed) => {
          const cin = r.groups * r.inPer;
          const x = input([cin, r.h, r.w]);
          const y = tryBuild(() =>
            conv2d({ out: r.depthwise ? cin : r.groups * r.outPer, kernel: [r.kh, r.kw], stride: r.s, padding: r.p, dilation: r.d, groups: r.depthwise ? cin : r.groups, bias: r.bias })(ctx, x),
          );
          if (y === undefined) return;
          checked += check(y, { batch, seed });
        },
      ),
      { numRuns: 40 },
    );
    expect(checked).toBeGreaterThan(200);
  });

  it('linear, with and without bias', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 5 }), fc.boolean(), arbBatch, arbSeed, (i, o, bias, batch, seed) => {
        check(linear({ out: o, bias })(ctx, input([i])), { batch, seed });
      }),
      { numRuns: 20 },
    );
  });

  it('batchNorm2dTrain, affine and not (batch statistics: every sample’s gradient goes through the mean and variance)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.boolean(),
        fc.integer({ min: 2, max: 3 }),
        arbSeed,
        (c, h, w, affine, batch, seed) => {
          const bn = batchNorm2d({ affine })(ctx, input([c, h, w]));
          const op = bn.op.kind === 'batchNorm2d' ? bn.op : undefined;
          const y = mkNode({ kind: 'batchNorm2dTrain', eps: op!.eps, momentum: op!.momentum, affine }, bn.inputs, bn.name);
          check(y, { batch, seed });
        },
      ),
      { numRuns: 25 },
    );
  });

  it('every activation (inputs away from the kinks of relu and relu6)', () => {
    const acts = { relu, relu6, sigmoid, tanh, gelu, identity };
    fc.assert(
      fc.property(fc.constantFrom(...(Object.keys(acts) as (keyof typeof acts)[])), fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }), arbBatch, arbSeed, (name, shape, batch, seed) => {
        const y = acts[name]()(ctx, input(shape));
        // Spread inputs over [−8, 8] so relu6's upper kink and the saturated tails are reached.
        check(y, { batch, seed, edit: (v) => withInput(v, 'x', (x) => nudge(x.map((t) => 4 * t), [0, 6])) });
      }),
      { numRuns: 40 },
    );
  });

  it('scale, flatten and reshape', () => {
    fc.assert(
      fc.property(fc.double({ min: -3, max: 3, noNaN: true }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), arbBatch, arbSeed, (f, a, b, batch, seed) => {
        const x = input([a, b, 2]);
        check(scale(f)(ctx, x), { batch, seed });
        check(flatten()(ctx, tanh()(ctx, x)), { batch, seed, wrt: [x] });
        check(reshape([b, 2 * a])(ctx, tanh()(ctx, x)), { batch, seed, wrt: [x] });
      }),
      { numRuns: 15 },
    );
  });

  it('add (n-ary, with a value used twice), mul (also x·x), concat (also of one value twice)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 3 }), arbBatch, arbSeed, (shape, c2, batch, seed) => {
        const a = input(shape, 'a');
        const b = input(shape, 'b');
        const t = tanh()(ctx, a);
        check(add(a, t, b, a), { batch, seed, wrt: [a, b] });
        check(mul(a, b), { batch, seed });
        check(mul(t, t), { batch, seed, wrt: [a] });
        const img = input([2, 2, 2], 'a');
        const other = input([c2, 2, 2], 'b');
        check(concat([img, other, img]), { batch, seed, wrt: [img, other] });
      }),
      { numRuns: 15 },
    );
  });

  it('add and mul of an activation and a parameter (the parameter’s gradient is summed over the batch)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), arbBatch, arbSeed, (c, h, batch, seed) => {
        const x = input([c, h, 2]);
        const p = param(ctx, 'emb', [c, h, 2], { kind: 'normal', std: 1 });
        check(mul(x, p), { batch, seed, wrt: [x, p] });
        check(add(tanh()(ctx, x), p), { batch, seed, wrt: [x, p] });
      }),
      { numRuns: 10 },
    );
  });

  it('maxPool2d (distinct inputs: no window has a near-tie)', () => {
    fc.assert(
      fc.property(
        fc.record({ c: fc.integer({ min: 1, max: 2 }), h: fc.integer({ min: 1, max: 5 }), w: fc.integer({ min: 1, max: 5 }), k: fc.integer({ min: 1, max: 3 }), s: fc.integer({ min: 1, max: 2 }), p: fc.boolean() }),
        arbBatch,
        arbSeed,
        (r, batch, seed) => {
          const x = input([r.c, r.h, r.w]);
          const y = tryBuild(() => maxPool2d({ kernel: r.k, stride: r.s, padding: r.p ? Math.floor(r.k / 2) : 0 })(ctx, x));
          if (y === undefined) return;
          check(y, { batch, seed, edit: (v) => withInput(v, 'x', (t) => distinct(t.length, seed)) });
        },
      ),
      { numRuns: 30 },
    );
  });

  it('avgPool2d with and without countIncludePad, globalAvgPool, adaptiveAvgPool2d (overlapping windows too)', () => {
    fc.assert(
      fc.property(
        fc.record({
          c: fc.integer({ min: 1, max: 2 }), h: fc.integer({ min: 1, max: 5 }), w: fc.integer({ min: 1, max: 5 }), k: fc.integer({ min: 1, max: 3 }),
          s: fc.integer({ min: 1, max: 2 }), incl: fc.boolean(), oh: fc.integer({ min: 1, max: 6 }), ow: fc.integer({ min: 1, max: 6 }),
        }),
        arbBatch,
        arbSeed,
        (r, batch, seed) => {
          const x = input([r.c, r.h, r.w]);
          const y = tryBuild(() => avgPool2d({ kernel: r.k, stride: r.s, padding: Math.floor(r.k / 2), countIncludePad: r.incl })(ctx, x));
          if (y !== undefined) check(y, { batch, seed });
          check(globalAvgPool()(ctx, x), { batch, seed });
          check(adaptiveAvgPool2d([r.oh, r.ow])(ctx, x), { batch, seed });
        },
      ),
      { numRuns: 25 },
    );
  });

  it('softmax and logSoftmax over channels, of flat and image values', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }), arbBatch, arbSeed, (shape, batch, seed) => {
        const x = input(shape);
        check(softmax()(ctx, x), { batch, seed });
        check(logSoftmax()(ctx, x), { batch, seed });
      }),
      { numRuns: 20 },
    );
  });

  it('crossEntropy with label smoothing, on logits and on log-probabilities (NLL)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 6 }), fc.double({ min: 0, max: 0.5, noNaN: true }), arbBatch, arbSeed, (K, eps, batch, seed) => {
        const x = input([K]);
        const labels = input([1], 'labels');
        for (const logits of [x, logSoftmax()(ctx, x)]) {
          const loss = mkNode({ kind: 'crossEntropy', labelSmoothing: eps }, [logits, labels], 'loss');
          const v = randomValues([loss], batch, seed, K);
          checkGrad(loss, [x], v, 8, seed);
        }
      }),
      { numRuns: 20 },
    );
  });

  it('weightedSum: the gradient to the weights AND to every candidate', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }), arbBatch, arbSeed, (n, shape, batch, seed) => {
        const cands = Array.from({ length: n }, (_, i) => input(shape, `c${i}`));
        const w = mkNode({ kind: 'choiceWeights', key: 'k', n }, [], 'weights:k');
        // One candidate through tanh, so the weights' gradient is not linear in the inputs.
        const y = mkNode({ kind: 'weightedSum' }, [w, tanh()(ctx, cands[0]!), ...cands.slice(1)], 'mix');
        const [ws] = uniform(seedRng(seed ^ 5), n, -1, 1);
        check(y, { batch, seed, wrt: [w, ...cands], edit: (v) => ({ ...v, choiceWeights: { k: [...ws] } }) });
      }),
      { numRuns: 20 },
    );
  });

  it('zero has no gradient: grad gives exact zeros, and so do finite differences', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), arbBatch, arbSeed, (c, h, s, batch, seed) => {
        const x = input([c, h, h]);
        const loss = probeLoss(zero(s)(ctx, x));
        const r = checkGrad(loss, [x], randomValues([loss], batch, seed), 8, seed);
        expect(Array.from(r.grads[0]!).every((g) => g === 0)).toBe(true);
      }),
      { numRuns: 10 },
    );
  });

  it('dropoutTrain: the same seed drops the same elements forward and backward (plain and channelwise)', () => {
    let dropped = 0;
    fc.assert(
      fc.property(fc.double({ min: 0.1, max: 0.7, noNaN: true }), fc.boolean(), fc.integer({ min: 1, max: 3 }), arbBatch, arbSeed, fc.nat(), (p, channelwise, c, batch, seed, step) => {
        const x = input([c, 2, 3]);
        const y = mkNode({ kind: 'dropoutTrain', p, channelwise, site: 'op/drop' }, [tanh()(ctx, x)], 'op/drop');
        const loss = probeLoss(y);
        const v = { ...randomValues([loss], batch, seed), seed: step };
        const r = checkGrad(loss, [x], v, 8, seed);
        // Exactly the elements the forward pass dropped (output 0 where tanh(x) is not) get a zero gradient.
        const fwd = run([y, loss], v).outputs[0]!;
        const xs = v.inputs['x']!;
        fwd.forEach((out, i) => {
          const wasDropped = out === 0 && xs[i] !== 0;
          expect(wasDropped).toBe(r.grads[0]![i] === 0);
          if (wasDropped) dropped++;
        });
      }),
      { numRuns: 20 },
    );
    expect(dropped).toBeGreaterThan(10);
  });
});
