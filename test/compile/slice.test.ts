/**
 * The `slice` op (channel and spatial crops, strided samplings) and its gradient `sliceGrad`, on fast-check shapes
 * and bounds:
 * - the reference against an independent oracle (index arithmetic written out per axis here);
 * - ∂L/∂x of the reference's VJP against central finite differences (grad-harness.ts: fourth-order, h = 1e-6,
 *   float64, |analytic − fd| ≤ 1e-5·max(|analytic|, |fd|) + 1e-8), also through a slice used twice;
 * - the GPU kernels (one strided copy kernel, forward and gradient) against the reference, tolerance 1e-4
 *   relative to each array's scale (lower-train-harness.ts); a copy is exact, so any mismatch is a wrong index.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { makeCtx } from '../../src/ir/ctx.ts';
import { concat, flatten, input, slice, tanh } from '../../src/ir/layers.ts';
import { type Node, mkNode } from '../../src/ir/node.ts';
import { numel } from '../../src/ir/shape.ts';
import { evaluate } from '../../src/reference/evaluate.ts';
import { describeGpu } from '../gpu.ts';
import { checkGrad, probeLoss, randomValues } from './grad-harness.ts';
import { checkAgainstReference, randomCase } from './lower-train-harness.ts';

const ctx = makeCtx(['op']);

/** A per-sample shape of 1–3 axes and one in-range slice per axis. */
const arbSlice = fc
  .array(
    fc.integer({ min: 1, max: 7 }).chain((d) =>
      fc.integer({ min: 0, max: d - 1 }).chain((start) =>
        fc.record({ d: fc.constant(d), start: fc.constant(start), stop: fc.integer({ min: start + 1, max: d }), step: fc.integer({ min: 1, max: 3 }) }),
      ),
    ),
    { minLength: 1, maxLength: 3 },
  )
  .map((axes) => ({ shape: axes.map((a) => a.d), axes: axes.map(({ start, stop, step }) => ({ start, stop, step })) }));

const sliceOf = (x: Node, axes: readonly { readonly start: number; readonly stop: number; readonly step: number }[]): Node => slice(axes)(ctx, x);

describe('slice: shape and reference', () => {
  it('the output has ceil((stop − start)/step) elements per axis, and the reference picks x[start + i·step] on each', () => {
    fc.assert(
      fc.property(arbSlice, fc.integer({ min: 1, max: 3 }), (c, batch) => {
        const x = input(c.shape);
        const y = sliceOf(x, c.axes);
        const out = c.axes.map((a) => Math.ceil((a.stop - a.start) / a.step));
        expect(y.shape).toEqual(out);
        const data = Float64Array.from({ length: batch * numel(c.shape) }, (_, i) => i * 1.5 - 7);
        const r = evaluate({ inputs: [x], outputs: [y] }, { batch, inputs: { x: data }, params: new Map() });
        if (E.isLeft(r)) throw new Error(r.left.map((e) => e.message).join('; '));
        const got = r.right.outputs[0]!;
        // The oracle: for every output multi-index, the input's flat index built axis by axis.
        const strides = c.shape.map((_, a) => numel(c.shape.slice(a + 1)));
        for (let b = 0; b < batch; b++) {
          for (let j = 0; j < numel(out); j++) {
            const idx = out.map((_, a) => Math.floor(j / numel(out.slice(a + 1))) % out[a]!);
            const src = idx.reduce((s, i, a) => s + (c.axes[a]!.start + i * c.axes[a]!.step) * strides[a]!, 0);
            expect(got[b * numel(out) + j]).toBe(data[b * numel(c.shape) + src]);
          }
        }
      }),
      { numRuns: 60 },
    );
  });

  it('rejects bounds out of range naming the node, the axis and the shape', () => {
    const x = input([3, 4, 4]);
    expect(() => slice([{}, { start: 2, stop: 6 }])(ctx, x)).toThrow(/op: slice axis 1: 2:6 is not a non-empty range of 0\.\.4 \(input shapes \[3, 4, 4\]\)/);
    expect(() => slice([{}, {}, {}, {}])(ctx, x)).toThrow(/op: slice has 4 axes for an input of 3/);
  });
});

describe('slice: gradient against finite differences', () => {
  it('∂L/∂x of a slice, and of two overlapping slices of one value summed', () => {
    fc.assert(
      fc.property(arbSlice, fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), (c, batch, seed) => {
        const x = input(c.shape);
        const h = tanh()(ctx, x);
        const y = sliceOf(h, c.axes);
        const loss = probeLoss(y);
        const r = checkGrad(loss, [x], randomValues([loss], batch, seed), 8, seed);
        expect(r.compared).toBeGreaterThan(0);
        // The same value sliced twice (from its second element on, and the slice): the gradients add where they overlap.
        const rest = sliceOf(h, c.shape.map((d) => ({ start: d > 1 ? 1 : 0, stop: d, step: 1 })));
        const twice = probeLoss(concat([flatten()(ctx, rest), flatten()(ctx, y)]));
        expect(checkGrad(twice, [x], randomValues([twice], batch, seed), 8, seed).compared).toBeGreaterThan(0);
      }),
      { numRuns: 25 },
    );
  });
});

await describeGpu('slice kernels vs the reference', (gpu) => {
  it('forward slice and its gradient (one strided copy kernel each) on random shapes and bounds', async () => {
    await fc.assert(
      fc.asyncProperty(arbSlice, fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 1000 }), async (c, batch, seed) => {
        const x = input(c.shape, 'x');
        const y = sliceOf(x, c.axes);
        const dy = mkNode({ kind: 'input', name: 'dy', shape: y.shape }, [], 'dy');
        const at = { start: c.axes.map((a) => a.start), stop: c.axes.map((a) => a.stop), step: c.axes.map((a) => a.step) };
        const dx = mkNode({ kind: 'sliceGrad', ...at, inputShape: c.shape }, [dy], 'dx');
        const g = { inputs: [], outputs: [y, dx] };
        await checkAgainstReference(gpu, g, randomCase(g.outputs, batch, seed));
      }),
      { numRuns: 8 },
    );
  }, 600_000);
});
