/**
 * The structure of `grad`: zeros for what does not influence the loss, shapes and batchedness of the gradients,
 * shared parameters summed over their uses, and the errors (a non-scalar loss, a choice, evaluation-form BatchNorm),
 * each naming the node at fault. Numerical agreement is grad-vjp.test.ts's; tolerance here is stated per check.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { grad } from '../../src/compile/grad.ts';
import { layerChoice } from '../../src/ir/choice.ts';
import { makeCtx } from '../../src/ir/ctx.ts';
import { GraphError } from '../../src/ir/errors.ts';
import { type Graph, buildModel, defineModel } from '../../src/ir/graph.ts';
import { batchNorm2d, block, flatten, input, linear, param, relu, tanh, zero } from '../../src/ir/layers.ts';
import { mkNode } from '../../src/ir/node.ts';
import { numel } from '../../src/ir/shape.ts';
import { checkGrad, probeLoss, randomValues, run } from './grad-harness.ts';

const ctx = makeCtx(['g']);

const thrown = (f: () => unknown): GraphError => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(GraphError);
    return e as GraphError;
  }
  throw new Error('expected a GraphError, nothing was thrown');
};

describe('grad', () => {
  it('parameters and inputs that do not influence the loss get zeros of their shape (unbatched / batched as they are)', () => {
    const x = input([3]);
    const unused = param(ctx, 'unused', [2, 2], { kind: 'normal', std: 1 });
    const other = input([4], 'other');
    const h = linear({ out: 3 })(makeCtx(['l1']), x);
    // l2's output only reaches the loss through zero(): its parameters influence nothing.
    const dead = zero()(ctx, linear({ out: 3 })(makeCtx(['l2']), x));
    const loss = probeLoss(tanh()(ctx, mkNode({ kind: 'add' }, [h, dead], 'sum')));
    const l2w = dead.inputs[0]!.inputs[1]!;
    const [gUnused, gOther, gL2, gX] = grad(loss, [unused, other, l2w, x]);
    expect([gUnused!.shape, gOther!.shape, gL2!.shape]).toEqual([[2, 2], [4], [3, 3]]);
    expect([gUnused!.batched, gOther!.batched, gL2!.batched, gX!.batched]).toEqual([false, true, false, true]);
    const v = randomValues([loss, unused, other], 2, 4);
    const e = run([loss, gUnused!, gOther!, gL2!, gX!], { ...v, params: new Map([...v.params, ['g/unused', new Float64Array(4).fill(1)]]) });
    expect(Array.from(e.outputs[1]!)).toEqual([0, 0, 0, 0]); // unbatched: the parameter's 4 values
    expect(Array.from(e.outputs[2]!)).toEqual(new Array(8).fill(0)); // batched: 2 samples × 4
    expect(Array.from(e.outputs[3]!)).toEqual(new Array(9).fill(0));
    expect(Array.from(e.outputs[4]!).some((g) => g !== 0)).toBe(true);
  });

  it('a parameter used at two sites gets the sum of both contributions (finite differences agree, 1e-5 relative)', () => {
    const x = input([3]);
    const shared = linear({ out: 3 });
    const l = makeCtx(['shared']);
    const y = shared(l, tanh()(ctx, shared(l, x)));
    const loss = probeLoss(y);
    const [w, b] = [y.inputs[1]!, y.inputs[2]!];
    expect(y.inputs[0]!.inputs[0]!.inputs[1]!.id).toBe(w.id); // hash-consing: one parameter value
    const r = checkGrad(loss, [w, b, x], randomValues([loss], 3, 9));
    expect(r.compared).toBe(8 + 3 + 8); // up to 8 coordinates per leaf
  });

  it('gradients have their value’s shape and batchedness', () => {
    const x = input([2, 3, 3]);
    const y = flatten()(ctx, relu()(ctx, x));
    const loss = probeLoss(y);
    const w = loss.inputs[0]!.inputs[1]!;
    const [gx, gw] = grad(loss, [x, w]);
    expect([gx!.shape, gx!.batched]).toEqual([[2, 3, 3], true]);
    expect([gw!.shape, gw!.batched]).toEqual([[2, 18], false]);
    const v = randomValues([loss], 2, 1);
    const e = run([gx!, gw!], v);
    expect(e.outputs.map((o) => o.length)).toEqual([2 * 18, numel([2, 18])]);
  });

  it('a non-scalar loss is an error naming it (batched, or unbatched with more than one element)', () => {
    const x = input([3]);
    const y = tanh()(makeCtx(['net', 'act']), x);
    const e1 = thrown(() => grad(y, [x]));
    expect(e1.detail).toMatchObject({ tag: 'ShapeMismatch', node: 'net/act' });
    expect(e1.message).toContain('net/act');
    expect(e1.message).toContain('batched');
    const p = param(makeCtx(['net']), 'vec', [3], { kind: 'zeros' });
    const e2 = thrown(() => grad(p, [p]));
    expect(e2.message).toContain('net/vec');
    expect(e2.message).toContain('[3]');
  });

  it('a choice, or BatchNorm in evaluation form, on the path is an error naming the node', () => {
    const g: Graph = (() => {
      const r = buildModel(defineModel({ name: 'c', input: [2], layer: block((c, x) => c.call('pick', layerChoice([relu(), tanh()]), x)) }));
      if (E.isLeft(r)) throw new Error('build failed');
      return r.right;
    })();
    const choice = g.outputs[0]!;
    const e1 = thrown(() => grad(probeLoss(choice), [g.inputs[0]!]));
    expect(e1.message).toContain('pick');
    expect(e1.message).toContain('mixGraph');
    const bn = batchNorm2d()(makeCtx(['net', 'bn']), input([2, 2, 2]));
    const e2 = thrown(() => grad(probeLoss(bn), [bn.inputs[0]!]));
    expect(e2.message).toContain('net/bn');
    expect(e2.message).toContain('trainingGraph');
  });
});
