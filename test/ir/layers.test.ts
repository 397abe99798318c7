/**
 * Layers: parameter paths, shapes, PyTorch's default initialisation, trainable flags, parameter counts of
 * small models against counts done by hand, and the naming done by `sequential` and `scope`.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { choiceNodes, type Graph, buildModel, defineModel, paramCount, params } from '../../src/ir/graph.ts';
import { makeCtx, type Layer } from '../../src/ir/ctx.ts';
import { layerChoice, scope } from '../../src/ir/choice.ts';
import {
  avgPool2d, batchNorm2d, block, conv2d, dropout, flatten, input, linear, maxPool2d, relu, residual, sequential,
} from '../../src/ir/layers.ts';
import type { Init } from '../../src/ir/ops.ts';
import type { Shape } from '../../src/ir/shape.ts';

const build = (inputShape: Shape, layer: Layer): Graph => {
  const g = buildModel(defineModel({ name: 't', input: inputShape, layer }));
  if (E.isLeft(g)) throw new Error(g.left.map((e) => e.message).join('\n'));
  return g.right;
};

interface ParamInfo {
  readonly shape: Shape;
  readonly init: Init;
  readonly trainable: boolean;
}

const paramTable = (g: Graph): Readonly<Record<string, ParamInfo>> =>
  Object.fromEntries(
    params(g).flatMap((p) => (p.op.kind === 'param' ? [[p.op.path, { shape: p.shape, init: p.op.init, trainable: p.op.trainable }]] : [])),
  );

/** PyTorch's kaiming_uniform_(w, a=√5): gain = √(2 / (1 + a²)), bound = gain · √3 / √fan_in. */
const kaimingBound = (fanIn: number): number => (Math.sqrt(2 / (1 + 5)) * Math.sqrt(3)) / Math.sqrt(fanIn);

const boundOf = (i: ParamInfo | undefined): number => {
  if (i?.init.kind !== 'uniform') throw new Error(`expected a uniform init, got ${JSON.stringify(i?.init)}`);
  return i.init.bound;
};

describe('conv2d', () => {
  it('has weight [out, in/groups, kh, kw] and bias [out], Kaiming-uniform(a=√5) with bound 1/√fan_in', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        (groups, inPer, out, kh, kw) => {
          const cin = groups * inPer;
          const g = build([cin, 6, 6], sequential({ conv1: conv2d({ out: out * groups, kernel: [kh, kw], groups }) }));
          const t = paramTable(g);
          expect(Object.keys(t).sort()).toEqual(['conv1/bias', 'conv1/weight']);
          expect(t['conv1/weight']!.shape).toEqual([out * groups, inPer, kh, kw]);
          expect(t['conv1/bias']!.shape).toEqual([out * groups]);
          const fanIn = inPer * kh * kw;
          // 1e-12 relative: the two sides compute the same real number through different float operations
          expect(boundOf(t['conv1/weight'])).toBeCloseTo(kaimingBound(fanIn), 12);
          expect(boundOf(t['conv1/bias'])).toBeCloseTo(1 / Math.sqrt(fanIn), 12);
          expect(t['conv1/weight']!.trainable && t['conv1/bias']!.trainable).toBe(true);
          expect(paramCount(g)).toBe(out * groups * inPer * kh * kw + out * groups);
        },
      ),
    );
  });

  it('depthwise (groups = channels): weight [C, 1, k, k], fan_in k·k', () => {
    const g = build([8, 5, 5], sequential({ dw: conv2d({ out: 8, kernel: 3, padding: 1, groups: 8, bias: false }) }));
    const t = paramTable(g);
    expect(Object.keys(t)).toEqual(['dw/weight']);
    expect(t['dw/weight']!.shape).toEqual([8, 1, 3, 3]);
    expect(boundOf(t['dw/weight'])).toBeCloseTo(1 / 3, 12); // 1e-12: fan_in 9
    expect(g.outputs[0]!.shape).toEqual([8, 5, 5]);
    expect(paramCount(g)).toBe(72);
  });

  it('refuses groups that do not divide the input channels, naming the layer', () => {
    const r = buildModel(defineModel({ name: 't', input: [3, 5, 5], layer: sequential({ c: conv2d({ out: 4, kernel: 1, groups: 2 }) }) }));
    expect(E.isLeft(r) && r.left[0]).toMatchObject({ tag: 'InvalidAttribute', node: 'c', op: 'conv2d' });
  });
});

describe('linear', () => {
  it('has weight [out, in] and bias [out] with bound 1/√in; no bias when asked', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 50 }), fc.boolean(), (fin, out, bias) => {
        const g = build([fin], sequential({ fc: linear({ out, bias }) }));
        const t = paramTable(g);
        expect(t['fc/weight']!.shape).toEqual([out, fin]);
        expect(boundOf(t['fc/weight'])).toBeCloseTo(kaimingBound(fin), 12); // 1e-12, as above
        if (bias) expect(t['fc/bias']).toMatchObject({ shape: [out], trainable: true, init: { kind: 'uniform' } });
        else expect(t['fc/bias']).toBeUndefined();
        expect(paramCount(g)).toBe(out * fin + (bias ? out : 0));
      }),
    );
  });
});

describe('batchNorm2d', () => {
  it('affine: weight ones, bias zeros (trainable); running_mean zeros, running_var ones (not trainable)', () => {
    const g = build([6, 4, 4], sequential({ bn: batchNorm2d() }));
    expect(paramTable(g)).toEqual({
      'bn/running_mean': { shape: [6], init: { kind: 'zeros' }, trainable: false },
      'bn/running_var': { shape: [6], init: { kind: 'ones' }, trainable: false },
      'bn/weight': { shape: [6], init: { kind: 'ones' }, trainable: true },
      'bn/bias': { shape: [6], init: { kind: 'zeros' }, trainable: true },
    });
    expect(paramCount(g)).toBe(12); // running statistics are buffers, as PyTorch's parameters()
    const op = g.outputs[0]!.op;
    expect(op).toMatchObject({ kind: 'batchNorm2d', eps: 1e-5, momentum: 0.1, affine: true });
  });

  it('non-affine: only the running statistics, no trainable parameters', () => {
    const g = build([6, 4, 4], sequential({ bn: batchNorm2d({ affine: false, eps: 1e-3, momentum: 0.01 }) }));
    expect(Object.keys(paramTable(g)).sort()).toEqual(['bn/running_mean', 'bn/running_var']);
    expect(paramCount(g)).toBe(0);
    expect(g.outputs[0]!.op).toMatchObject({ eps: 1e-3, momentum: 0.01, affine: false });
  });
});

describe('parameter counts of small models', () => {
  it("PyTorch's MNIST example CNN has 1,199,882 parameters", () => {
    const g = build(
      [1, 28, 28],
      sequential({
        conv1: conv2d({ out: 32, kernel: 3 }),
        relu1: relu(),
        conv2: conv2d({ out: 64, kernel: 3 }),
        relu2: relu(),
        pool: maxPool2d({ kernel: 2 }),
        dropout1: dropout(0.25),
        flatten: flatten(),
        fc1: linear({ out: 128 }),
        relu3: relu(),
        dropout2: dropout(0.5),
        fc2: linear({ out: 10 }),
      }),
    );
    // By hand: conv1 32·1·9 + 32 = 320; conv2 64·32·9 + 64 = 18,496; fc1 128·9216 + 128 = 1,179,776; fc2 128·10 + 10 = 1,290.
    expect(paramCount(g)).toBe(320 + 18_496 + 1_179_776 + 1_290);
    expect(paramCount(g)).toBe(1_199_882);
    expect(paramTable(g)['fc1/weight']!.shape).toEqual([128, 9216]);
    expect(g.outputs[0]!.shape).toEqual([10]);
  });

  it('LeNet-5 (conv 6/16 5x5, avg pools, fc 120/84/10) has 61,706 parameters', () => {
    const g = build(
      [1, 32, 32],
      sequential([
        conv2d({ out: 6, kernel: 5 }), relu(), avgPool2d({ kernel: 2 }),
        conv2d({ out: 16, kernel: 5 }), relu(), avgPool2d({ kernel: 2 }),
        flatten(), linear({ out: 120 }), relu(), linear({ out: 84 }), relu(), linear({ out: 10 }),
      ]),
    );
    // 156 + 2,416 + 48,120 + 10,164 + 850
    expect(paramCount(g)).toBe(61_706);
  });

  it('a conv-bn block counts weight, bn weight and bias, but not running statistics', () => {
    const g = build([3, 8, 8], sequential({ conv: conv2d({ out: 16, kernel: 3, bias: false }), bn: batchNorm2d() }));
    expect(paramCount(g)).toBe(16 * 3 * 9 + 16 + 16);
    expect(params(g)).toHaveLength(5);
  });
});

describe('naming', () => {
  it('sequential names list members "0", "1", … and record members by key', () => {
    const g = build([3, 8, 8], sequential([conv2d({ out: 4, kernel: 3 }), relu(), sequential({ inner: conv2d({ out: 2, kernel: 1 }) })]));
    expect(Object.keys(paramTable(g)).sort()).toEqual(['0/bias', '0/weight', '2/inner/bias', '2/inner/weight']);
    expect(g.outputs[0]!.name).toBe('2/inner');
  });

  it('scope prefixes parameter paths and default choice keys, and records itself on choices', () => {
    const cell = sequential({ op: layerChoice({ a: conv2d({ out: 4, kernel: 3, padding: 1 }), b: conv2d({ out: 4, kernel: 1 }) }) });
    const g = build([4, 6, 6], sequential({ cell1: scope('c1', cell), cell2: scope('c2', cell) }));
    const paths = Object.keys(paramTable(g)).sort();
    expect(paths).toEqual([
      'cell1/c1/op/a/bias', 'cell1/c1/op/a/weight', 'cell1/c1/op/b/bias', 'cell1/c1/op/b/weight',
      'cell2/c2/op/a/bias', 'cell2/c2/op/a/weight', 'cell2/c2/op/b/bias', 'cell2/c2/op/b/weight',
    ]);
    const choices = choiceNodes(g).map((n) => n.op);
    expect(choices.map((op) => [op.key, op.scope])).toEqual([
      ['cell1/c1/op', ['c1']],
      ['cell2/c2/op', ['c2']],
    ]);
  });

  it('the same layer value at two paths has two sets of parameters; at one path, one', () => {
    const c = conv2d({ out: 3, kernel: 1 });
    const two = build([3, 4, 4], sequential({ a: c, b: c }));
    expect(Object.keys(paramTable(two)).sort()).toEqual(['a/bias', 'a/weight', 'b/bias', 'b/weight']);
    // Calling one sub-module name twice shares its weights (a tied layer), as reusing an nn.Module does.
    const tied = build([3, 4, 4], block((ctx, x) => ctx.call('c', c, ctx.call('c', c, x))));
    expect(Object.keys(paramTable(tied)).sort()).toEqual(['c/bias', 'c/weight']);
    expect(paramCount(tied)).toBe(12);
  });

  it('residual adds the input to the block output', () => {
    const g = build([4, 5, 5], residual(sequential({ conv: conv2d({ out: 4, kernel: 3, padding: 1 }) })));
    const out = g.outputs[0]!;
    expect(out.op.kind).toBe('add');
    expect(out.inputs[0]!.op.kind).toBe('input');
    expect(out.inputs[1]!.name).toBe('conv');
  });

  it('dropout records its site, so two dropouts are two nodes', () => {
    const g = build([4], sequential({ d1: dropout(0.5), d2: dropout(0.5) }));
    const out = g.outputs[0]!;
    expect(out.op).toEqual({ kind: 'dropout', p: 0.5, channelwise: false, site: 'd2' });
    expect(out.inputs[0]!.op).toEqual({ kind: 'dropout', p: 0.5, channelwise: false, site: 'd1' });
  });

  it('a layer built in a context takes its module path as name', () => {
    const x = input([2, 4, 4]);
    const y = conv2d({ out: 2, kernel: 1 })(makeCtx(['net', 'stem']), x);
    expect(y.name).toBe('net/stem');
    expect(y.inputs.slice(1).map((p) => (p.op.kind === 'param' ? p.op.path : ''))).toEqual(['net/stem/weight', 'net/stem/bias']);
  });
});
