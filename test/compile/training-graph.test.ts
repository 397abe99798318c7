/**
 * `trainingGraph` of whole models: every parameter gradient it outputs equals central finite differences of its
 * loss (float64 through the reference interpreter; tolerance in grad-harness.ts: |analytic − fd| ≤
 * 1e-5·max(|analytic|, |fd|) + 1e-8), for random fixed models (arbitraries.ts supernets + apply; those with a
 * BatchNorm over a constant channel are skipped and counted, see grad-harness.ts) and a hand-built net with every
 * layer kind (strided/dilated/grouped conv, BatchNorm, dropout, pools, concat, logSoftmax).
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toTrainingForm, trainingGraph } from '../../src/compile/training-graph.ts';
import { apply } from '../../src/ir/apply.ts';
import { type Graph, buildModel, defineModel, nodes } from '../../src/ir/graph.ts';
import {
  adaptiveAvgPool2d, avgPool2d, batchNorm2d, block, concat, conv2d, dropout, flatten, gelu, linear, logSoftmax, maxPool2d, relu6, sigmoid,
} from '../../src/ir/layers.ts';
import { numel } from '../../src/ir/shape.ts';
import { arbSupernet, arbValidArchitecture } from '../ir/arbitraries.ts';
import { checkGrad, constantBatchNormChannel, randomValues, run } from './grad-harness.ts';

const right = <T>(r: E.Either<readonly { readonly message: string }[], T>): T => {
  if (E.isLeft(r)) throw new Error(r.left.map((e) => e.message).join('\n'));
  return r.right;
};

/** A small net using every trainable layer kind and both training-form ops. */
const everyLayer = (): Graph =>
  right(
    buildModel(
      defineModel({
        name: 'every',
        input: [2, 6, 6],
        layer: block((ctx, x) => {
          const a = ctx.call('a', conv2d({ out: 4, kernel: 3, stride: 2, padding: 1, groups: 2 }), x);
          const b = ctx.call('b', conv2d({ out: 2, kernel: 2, dilation: 2, padding: 1, bias: false }), x);
          const bn = ctx.call('bn', batchNorm2d(), a);
          const dw = ctx.call('dw', conv2d({ out: 4, kernel: 3, padding: 1, groups: 4 }), ctx.call('act', gelu(), bn));
          const bnb = ctx.call('bnb', batchNorm2d({ affine: false }), ctx.call('pool', maxPool2d({ kernel: 2, stride: 2 }), b));
          const drop = ctx.call('drop', dropout(0.3), ctx.call('sig', sigmoid(), dw));
          const avg = ctx.call('avg', avgPool2d({ kernel: 3, stride: 1, padding: 1, countIncludePad: false }), drop);
          const cat = concat([ctx.call('ad', adaptiveAvgPool2d(2), avg), ctx.call('ad2', adaptiveAvgPool2d(2), ctx.call('r6', relu6(), bnb))]);
          const flat = ctx.call('flat', dropout(0.2), cat);
          return ctx.call('out', logSoftmax(), ctx.call('fc', linear({ out: 3 }), ctx.call('f', flatten(), flat)));
        }),
      }),
    ),
  );

describe('trainingGraph', () => {
  it('outputs [loss, logits, one gradient per trainable parameter in path order]; training form replaces BN and dropout', () => {
    const g = everyLayer();
    const t = trainingGraph(g, { labelSmoothing: 0.1 });
    expect(t.graph.outputs[0]).toBe(t.loss);
    expect(t.graph.outputs[1]).toBe(t.logits);
    expect(t.graph.outputs.slice(2).map((n) => n.id)).toEqual(t.grads.map((x) => x.grad.id));
    const trainable = nodes(g).flatMap((n) => (n.op.kind === 'param' && n.op.trainable ? [n.op.path] : []));
    expect(t.grads.map((x) => x.path)).toEqual([...new Set(trainable)].sort());
    for (const { param, grad } of t.grads) {
      expect(grad.shape).toEqual(param.shape);
      expect(grad.batched).toBe(false);
    }
    const kinds = new Set(nodes(toTrainingForm(g)).map((n) => n.op.kind));
    expect(kinds.has('batchNorm2d') || kinds.has('dropout')).toBe(false);
    expect(kinds.has('batchNorm2dTrain') && kinds.has('dropoutTrain')).toBe(true);
    expect(t.graph.inputs.map((n) => (n.op.kind === 'input' ? n.op.name : '?'))).toEqual(['x', 'labels']);
  });

  it('every parameter gradient of a net with every layer kind equals finite differences (label smoothing, dropout seed fixed)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 3 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.double({ min: 0, max: 0.3, noNaN: true }), (batch, seed, eps) => {
        const t = trainingGraph(everyLayer(), { labelSmoothing: eps });
        const v = { ...randomValues([t.loss], batch, seed, 3), seed: seed % 1000 };
        const r = checkGrad(t.loss, t.grads.map((x) => x.param), v, 3, seed, t.grads.map((x) => x.grad));
        expect(r.compared).toBeGreaterThan(20);
        // Gradients are stored without the batch; the BatchNorm statistics the step updated are reported by path.
        const e = run(t.graph.outputs, v);
        expect(e.outputs.slice(2).map((a) => a.length)).toEqual(t.grads.map((x) => numel(x.param.shape)));
        expect([...e.updatedStats!.keys()].sort()).toEqual(['bn/running_mean', 'bn/running_var', 'bnb/running_mean', 'bnb/running_var']);
      }),
      { numRuns: 6 },
    );
  });

  it('random fixed models: every parameter gradient equals finite differences of the loss', () => {
    let compared = 0;
    let checked = 0;
    let skipped = 0; // BatchNorm over a constant channel: out of reach of finite differences (grad-harness.ts)
    fc.assert(
      fc.property(
        arbSupernet.chain((s) => fc.record({ s: fc.constant(s), arch: arbValidArchitecture(s.space), seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }), batch: fc.integer({ min: 2, max: 3 }) })),
        ({ s, arch, seed, batch }) => {
          const fixed = apply(s.graph, arch);
          if (E.isLeft(fixed)) return;
          const t = trainingGraph(fixed.right, { labelSmoothing: 0.05 });
          const v = randomValues([t.loss], batch, seed);
          if (constantBatchNormChannel(t.loss, v) !== undefined) {
            skipped++;
            return;
          }
          checked++;
          compared += checkGrad(t.loss, t.grads.map((x) => x.param), v, 2, seed, t.grads.map((x) => x.grad)).compared;
        },
      ),
      { numRuns: 40 },
    );
    expect(compared).toBeGreaterThan(200);
    expect(checked).toBeGreaterThan(skipped);
  });
});
