/**
 * Graphs: buildModel's error values, parameter and key conflicts, hash-consing, topological order, and
 * deep graphs (no recursion that a 5,000-layer chain could overflow).
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { apply } from '../../src/ir/apply.ts';
import { layerChoice } from '../../src/ir/choice.ts';
import { GraphError } from '../../src/ir/errors.ts';
import { type Graph, buildModel, defineModel, graphEq, nodes } from '../../src/ir/graph.ts';
import { add, block, conv2d, dropout, identity, input, linear, relu, sequential, tanh } from '../../src/ir/layers.ts';
import { type Node, mkNode, topoOrder } from '../../src/ir/node.ts';
import { decodeGraph, encodeGraph } from '../../src/ir/serialize.ts';
import type { Layer } from '../../src/ir/ctx.ts';

const model = (layer: Layer, shape = [3, 8, 8]) => buildModel(defineModel({ name: 't', input: shape, layer }));

const right = <T>(r: E.Either<readonly { readonly message: string }[], T>): T => {
  if (E.isLeft(r)) throw new Error(r.left.map((e) => e.message).join('\n'));
  return r.right;
};

describe('buildModel', () => {
  it('returns the build error as a value, not a throw', () => {
    const r = model(sequential({ fc: linear({ out: 10 }) })); // linear on an image: flatten is missing
    expect(E.isLeft(r)).toBe(true);
    if (E.isRight(r)) return;
    expect(r.left).toHaveLength(1);
    expect(r.left[0]).toMatchObject({ tag: 'ShapeMismatch', node: 'fc', op: 'linear', shapes: [[3, 8, 8], [10, 1], [10]] });
  });

  it('turns a plain exception in user code into BuildFailed', () => {
    const r = model(() => {
      throw new TypeError('oops in user code');
    });
    expect(r).toEqual(E.left([{ tag: 'BuildFailed', message: 'oops in user code' }]));
  });

  it('reports a parameter path used with two shapes (ParamConflict), naming the path', () => {
    const r = model(block((ctx, x) => ctx.call('conv', conv2d({ out: 5, kernel: 3 }), ctx.call('conv', conv2d({ out: 3, kernel: 1 }), x))));
    expect(E.isLeft(r)).toBe(true);
    if (E.isRight(r)) return;
    const paths = r.left.map((e) => (e.tag === 'ParamConflict' ? e.path : e.tag)).sort();
    expect(paths).toEqual(['conv/bias', 'conv/weight']);
    expect(r.left.find((e) => e.tag === 'ParamConflict' && e.path === 'conv/weight')?.message).toContain('[5, 3, 3, 3]');
  });

  it('reports equal keys with different candidates (KeyConflict), naming both sites', () => {
    const a = layerChoice({ c1: conv2d({ out: 3, kernel: 1 }), c3: conv2d({ out: 3, kernel: 3, padding: 1 }) }, { key: 'op' });
    const b = layerChoice({ c1: conv2d({ out: 3, kernel: 1 }), id: identity() }, { key: 'op' });
    const r = model(sequential({ first: a, second: b }));
    expect(E.isLeft(r)).toBe(true);
    if (E.isRight(r)) return;
    expect(r.left).toHaveLength(1);
    expect(r.left[0]).toMatchObject({ tag: 'KeyConflict', key: 'op', sites: ['first', 'second'] });
    expect(r.left[0]!.message).toContain('c3');
  });

  it('accepts equal keys with equal candidates (one shared decision)', () => {
    const c = (): Layer => layerChoice({ c1: conv2d({ out: 3, kernel: 1 }), id: identity() }, { key: 'op' });
    expect(E.isRight(model(sequential({ first: c(), second: c() })))).toBe(true);
  });
});

describe('hash-consing', () => {
  it('building the same sub-graph twice yields equal ids', () => {
    const layer = sequential({ conv: conv2d({ out: 4, kernel: 3 }), act: relu(), fc: sequential([]) });
    const g1 = right(model(layer));
    const g2 = right(model(layer));
    expect(g1.outputs[0]).not.toBe(g2.outputs[0]);
    expect(graphEq(g1, g2)).toBe(true);
    expect(nodes(g1).map((n) => n.id)).toEqual(nodes(g2).map((n) => n.id));
  });

  it('relu(x) built twice, at different paths, is one value (CSE)', () => {
    const g = right(model(block((ctx, x) => add(ctx.call('a', relu(), x), ctx.call('b', relu(), x)))));
    const [l, r] = g.outputs[0]!.inputs;
    expect(l!.id).toBe(r!.id);
    expect(nodes(g).filter((n) => n.op.kind === 'relu')).toHaveLength(1);
  });

  it('two dropouts at different sites stay two nodes', () => {
    const g = right(model(block((ctx, x) => add(ctx.call('d1', dropout(0.5), x), ctx.call('d2', dropout(0.5), x)))));
    const [l, r] = g.outputs[0]!.inputs;
    expect(l!.id).not.toBe(r!.id);
    expect(nodes(g).filter((n) => n.op.kind === 'dropout')).toHaveLength(2);
  });

  it('different attributes or inputs give different ids; names do not matter', () => {
    const x = input([4]);
    const y = input([4], 'y');
    expect(mkNode({ kind: 'scale', factor: 2 }, [x], 'a').id).toBe(mkNode({ kind: 'scale', factor: 2 }, [x], 'b').id);
    expect(mkNode({ kind: 'scale', factor: 2 }, [x], 'a').id).not.toBe(mkNode({ kind: 'scale', factor: 3 }, [x], 'a').id);
    expect(mkNode({ kind: 'relu' }, [x], 'a').id).not.toBe(mkNode({ kind: 'relu' }, [y], 'a').id);
    expect(mkNode({ kind: 'add' }, [x, y], 'a').id).not.toBe(mkNode({ kind: 'add' }, [y, x], 'a').id);
  });
});

/** A random DAG of nodes of shape [2]: a few inputs, then nodes over earlier nodes, and a few roots. */
const arbDag = fc
  .record({
    leaves: fc.integer({ min: 1, max: 4 }),
    steps: fc.array(
      fc.record({ kind: fc.constantFrom('add', 'mul', 'relu', 'tanh', 'scale'), picks: fc.array(fc.nat(), { minLength: 2, maxLength: 3 }), factor: fc.integer({ min: 1, max: 3 }) }),
      { maxLength: 30 },
    ),
    roots: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
  })
  .map(({ leaves, steps, roots }) => {
    const all: Node[] = Array.from({ length: leaves }, (_, i) => input([2], `x${i}`));
    steps.forEach((s, i) => {
      const pick = (k: number): Node => all[s.picks[k]! % all.length]!;
      const name = `n${i}`;
      const node =
        s.kind === 'add' ? mkNode({ kind: 'add' }, s.picks.map((_, k) => pick(k)), name)
        : s.kind === 'mul' ? mkNode({ kind: 'mul' }, [pick(0), pick(1)], name)
        : s.kind === 'scale' ? mkNode({ kind: 'scale', factor: s.factor }, [pick(0)], name)
        : mkNode({ kind: s.kind }, [pick(0)], name);
      all.push(node);
    });
    return { all, roots: roots.map((r) => all[r % all.length]!) };
  });

/** Reachable ids by plain recursion (fine for these small DAGs): the reference for topoOrder. */
const reachable = (roots: readonly Node[]): Set<string> => {
  const seen = new Set<string>();
  const go = (n: Node): void => {
    if (seen.has(n.id)) return;
    seen.add(n.id);
    n.inputs.forEach(go);
  };
  roots.forEach(go);
  return seen;
};

describe('topoOrder', () => {
  it('visits every reachable node once, inputs before users', () => {
    fc.assert(
      fc.property(arbDag, ({ roots }) => {
        const order = topoOrder(roots);
        const ids = order.map((n) => n.id);
        expect(new Set(ids).size).toBe(ids.length);
        expect(new Set(ids)).toEqual(reachable(roots));
        const pos = new Map(ids.map((id, i) => [id, i]));
        for (const n of order) for (const i of n.inputs) expect(pos.get(i.id)!).toBeLessThan(pos.get(n.id)!);
        for (const r of roots) expect(pos.has(r.id)).toBe(true);
      }),
    );
  });

  it('depends only on the structure (two builds, one order)', () => {
    fc.assert(
      fc.property(arbDag, ({ roots }) => {
        expect(topoOrder(roots).map((n) => n.id)).toEqual(topoOrder([...roots]).map((n) => n.id));
      }),
    );
  });
});

describe('deep graphs', () => {
  const DEPTH = 5000;
  // relu/tanh/identity in turn, with a layer choice at the end: 5,000 ops on one path.
  const chain = (): Graph =>
    right(
      model(
        sequential([
          ...Array.from({ length: DEPTH }, (_, i) => (i % 3 === 0 ? relu() : i % 3 === 1 ? tanh() : identity())),
          layerChoice({ a: relu(), b: identity() }, { key: 'last' }),
        ]),
        [4],
      ),
    );

  it(`a ${DEPTH}-layer chain goes through topoOrder and encode/decode without overflowing the stack`, () => {
    const g = chain();
    expect(topoOrder(g.outputs)).toHaveLength(DEPTH + 4); // input, DEPTH ops, two candidates, the choice
    const json = encodeGraph(g);
    expect(json.nodes).toHaveLength(DEPTH + 4);
    const back = right(decodeGraph(json));
    expect(graphEq(back, g)).toBe(true);
  });

  // apply walks the chosen path with an explicit stack: a recursive walk overflowed here.
  it(`apply on a ${DEPTH}-layer chain does not overflow the stack`, () => {
    const fixed = right(apply(chain(), { last: [0] }));
    expect(fixed.outputs[0]!.op.kind).toBe('relu');
    expect(topoOrder(fixed.outputs)).toHaveLength(DEPTH + 2);
  });

  it('a chain built by hand with mkNode is not limited by the recursion depth either', () => {
    let x: Node = input([3]);
    for (let i = 0; i < 20_000; i++) x = mkNode({ kind: 'scale', factor: (i % 7) + 1 }, [x], `s${i}`);
    expect(topoOrder([x])).toHaveLength(20_001);
    expect(() => encodeGraph({ inputs: [], outputs: [x] })).not.toThrow();
  });

  it('mkNode errors thrown while building are GraphErrors', () => {
    expect(() => mkNode({ kind: 'relu' }, [], 'r')).toThrow(GraphError);
  });
});
