/**
 * Pure tests of the lowering: errors, fusion, sampled-mode guards and aliasing, kernel deduplication.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import {
  type Graph,
  type Layer,
  add,
  block,
  buildModel,
  conv2d,
  defineModel,
  flatten,
  identity,
  inputChoice,
  layerChoice,
  linear,
  relu,
  sequential,
  tanh,
} from '../../src/ir/index.ts';
import { lower } from '../../src/compile/lower.ts';
import { type Program, guardHolds } from '../../src/compile/program.ts';

const build = (layer: Layer, input: readonly number[] = [2, 4, 4]): Graph => {
  const g = buildModel(defineModel({ name: 't', input, layer }));
  if (E.isLeft(g)) throw new Error(g.left.map((e) => e.message).join('; '));
  return g.right;
};

const prog = (g: Graph, mode: 'fixed' | 'mixed' | 'sampled', batch = 2): Program => {
  const p = lower(g, { mode, batch });
  if (E.isLeft(p)) throw new Error(p.left.map((e) => e.message).join('; '));
  return p.right;
};

const choiceNet = build(
  sequential({
    stem: conv2d({ out: 2, kernel: 1 }),
    op: layerChoice({ c3: conv2d({ out: 2, kernel: 3, padding: 1 }), c1: conv2d({ out: 2, kernel: 1 }), skip: identity() }),
    act: relu(),
  }),
);

describe('lower: errors', () => {
  it('rejects a choice in fixed mode, naming the key', () => {
    const r = lower(choiceNet, { mode: 'fixed', batch: 1 });
    expect(E.isLeft(r)).toBe(true);
    if (E.isLeft(r)) {
      expect(r.left.map((e) => e.tag)).toEqual(['ChoiceInFixedMode']);
      expect(r.left[0]!.message).toContain("'op'");
    }
  });

  it('rejects an op outside the forward vocabulary, naming the node', async () => {
    const { mkNode } = await import('../../src/ir/index.ts');
    const x = choiceNet.inputs[0]!;
    const w = mkNode({ kind: 'fill', value: 1, shape: [3] }, [], 'ones');
    const r = lower({ inputs: [x], outputs: [w] }, { mode: 'fixed', batch: 1 });
    expect(E.isLeft(r) && r.left.map((e) => [e.tag, e.message.startsWith('ones: fill')])).toEqual([['UnsupportedOp', true]]);
  });

  it('rejects a non-positive or fractional batch, with every error', () => {
    const r = lower(choiceNet, { mode: 'fixed', batch: 0.5 });
    expect(E.isLeft(r) && r.left.map((e) => e.tag).sort()).toEqual(['ChoiceInFixedMode', 'InvalidBatch']);
  });
});

describe('lower: fusion', () => {
  it('fuses bias, activation and a residual add into the producing conv', () => {
    const g = build(block((ctx, x) => add(ctx.call('r', tanh(), ctx.call('c', conv2d({ out: 2, kernel: 3, padding: 1 }), x)), x)));
    const p = prog(g, 'fixed');
    expect(p.dispatches.map((d) => d.label)).toEqual(['conv2d+tanh+add at c']);
  });

  it('keeps relu out of the GEMM epilogue (NaN), but fuses the residual add into the relu kernel', () => {
    const g = build(block((ctx, x) => add(ctx.call('r', relu(), ctx.call('c', conv2d({ out: 2, kernel: 3, padding: 1 }), x)), x)));
    expect(prog(g, 'fixed').dispatches.map((d) => d.label)).toEqual(['conv2d at c', 'relu+add at r']);
  });

  it('does not fuse when the intermediate has another user', () => {
    const g = build(
      block((ctx, x) => {
        const c = ctx.call('c', conv2d({ out: 2, kernel: 1 }), x);
        return add(ctx.call('r', relu(), c), c);
      }),
    );
    const labels = prog(g, 'fixed').dispatches.map((d) => d.label);
    expect(labels).toHaveLength(2);
    expect(labels[0]).toBe('conv2d at c');
  });

  it('fuses an activation chain into an elementwise head, and flatten is a view', () => {
    const g = build(sequential({ a: relu(), b: tanh(), f: flatten(), l: linear({ out: 3 }) }));
    expect(prog(g, 'fixed').dispatches.map((d) => d.label)).toEqual(['relu+tanh at a', 'linear at l']);
  });
});

describe('lower: sampled mode', () => {
  const p = prog(choiceNet, 'sampled');

  it('guards each candidate by its literal; shared parts always run', () => {
    const byLabel = new Map(p.dispatches.map((d) => [d.label, d]));
    expect(byLabel.get('conv2d at stem')!.group).toBeUndefined();
    expect(byLabel.get('conv2d at op/c3')!.group).toEqual([[{ key: 'op', index: 0 }]]);
    expect(byLabel.get('conv2d at op/c1')!.group).toEqual([[{ key: 'op', index: 1 }]]);
  });

  it('candidates write the choice buffer (no copy); a view candidate is copied under its guard', () => {
    const c3 = p.dispatches.find((d) => d.label === 'conv2d at op/c3')!;
    const c1 = p.dispatches.find((d) => d.label === 'conv2d at op/c1')!;
    const out = (d: Program['dispatches'][number]): number => d.buffers[d.buffers.length - 1]!;
    expect(out(c3)).toBe(out(c1));
    const copies = p.dispatches.filter((d) => d.label.startsWith('copy'));
    expect(copies.map((d) => d.group)).toEqual([[[{ key: 'op', index: 2 }]]]);
    expect(out(copies[0]!)).toBe(out(c3));
  });

  it('exactly one writer of the choice buffer runs per architecture', () => {
    const writer = p.dispatches.find((d) => d.label === 'conv2d at op/c3')!;
    const buf = writer.buffers[writer.buffers.length - 1]!;
    for (const i of [0, 1, 2]) {
      const writers = p.dispatches.filter((d) => guardHolds(d.group, { op: [i] }) && d.buffers[d.buffers.length - 1] === buf);
      expect(writers).toHaveLength(1);
    }
  });

  it('nested choices give conjunctions', () => {
    const g = build(layerChoice({ a: layerChoice({ x: conv2d({ out: 2, kernel: 1 }), y: relu() }, { key: 'inner' }), b: tanh() }, { key: 'outer' }));
    const q = prog(g, 'sampled');
    const conv = q.dispatches.find((d) => d.label.startsWith('conv2d'))!;
    expect(conv.group).toEqual([[{ key: 'inner', index: 0 }, { key: 'outer', index: 0 }]]);
  });

  it('input choices read a mask buffer; their inputs run only when selected', () => {
    const g = build(
      block((ctx, x) => {
        const a = ctx.call('a', conv2d({ out: 2, kernel: 1 }), x);
        const b = ctx.call('b', relu(), x);
        return add(x, ctx.call('pick', inputChoice({ nChosen: null }), [a, b]));
      }),
    );
    const q = prog(g, 'sampled');
    expect(q.choices).toEqual([{ key: 'pick', kind: 'input', buffer: expect.any(Number), count: 2, nChosen: null }]);
    expect(q.dispatches.find((d) => d.label === 'conv2d at a')!.group).toEqual([[{ key: 'pick', index: 0 }]]);
  });
});

describe('lower: kernels', () => {
  it('deduplicates kernels by source: two equal convs share one', () => {
    const g = build(sequential({ a: conv2d({ out: 2, kernel: 3, padding: 1 }), b: conv2d({ out: 2, kernel: 3, padding: 1 }) }));
    const p = prog(g, 'fixed');
    expect(p.dispatches).toHaveLength(2);
    expect(p.kernels).toHaveLength(1);
  });

  it('mixed mode: one weighted sum per layer choice over every candidate, with a weights buffer', () => {
    const p = prog(choiceNet, 'mixed');
    const mix = p.dispatches.filter((d) => d.label.startsWith('layerChoice'));
    expect(mix).toHaveLength(1);
    expect(mix[0]!.buffers).toHaveLength(5); // weights, 3 candidates, out
    expect(p.choices.map((c) => [c.key, c.count])).toEqual([['op', 3]]);
    expect(p.dispatches.every((d) => d.group === undefined)).toBe(true);
  });
});
