import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { apply } from '../../src/ir/apply.ts';
import { type Graph, buildModel, defineModel } from '../../src/ir/graph.ts';
import { batchNorm2d, conv2d, flatten, globalAvgPool, linear, relu, sequential } from '../../src/ir/layers.ts';
import { layerChoice } from '../../src/ir/choice.ts';
import { nextU32, seedRng } from '../../src/ir/rng.ts';
import { checkParams, initParams, paramShapes, sampleInit } from '../../src/runtime/params.ts';
import { arbSupernet, arbValidArchitecture } from '../ir/arbitraries.ts';

const build = (g: E.Either<unknown, Graph>): Graph => {
  if (E.isLeft(g)) throw new Error(JSON.stringify(g.left));
  return g.right;
};

const net = build(
  buildModel(
    defineModel({
      name: 'p',
      input: [2, 6, 6],
      layer: sequential({
        conv: conv2d({ out: 4, kernel: 3 }),
        bn: batchNorm2d(),
        act: relu(),
        pool: globalAvgPool(),
        fc: linear({ out: 3 }),
      }),
    }),
  ),
);

it('paramShapes lists every parameter with its shape', () => {
  expect(Object.fromEntries(paramShapes(net))).toEqual({
    'conv/weight': [4, 2, 3, 3],
    'conv/bias': [4],
    'bn/running_mean': [4],
    'bn/running_var': [4],
    'bn/weight': [4],
    'bn/bias': [4],
    'fc/weight': [3, 4],
    'fc/bias': [3],
  });
});

it('initParams follows each init scheme (PyTorch defaults) and is deterministic per seed', () => {
  const [a, rngA] = initParams(net, seedRng(1));
  const [b] = initParams(net, seedRng(1));
  const [c] = initParams(net, seedRng(2));
  expect([...a.keys()].sort()).toEqual([...paramShapes(net).keys()].sort());
  for (const [path, v] of a) expect(Array.from(v)).toEqual(Array.from(b.get(path)!));
  expect(Array.from(a.get('conv/weight')!)).not.toEqual(Array.from(c.get('conv/weight')!));
  // Kaiming-uniform(a=√5): U(±1/√fan_in), fan_in = 2·3·3 for the conv and 4 for the linear layer.
  expect(a.get('conv/weight')!.every((v) => Math.abs(v) <= 1 / Math.sqrt(18))).toBe(true);
  expect(a.get('fc/weight')!.every((v) => Math.abs(v) <= 0.5)).toBe(true);
  expect(Array.from(a.get('bn/running_mean')!)).toEqual([0, 0, 0, 0]);
  expect(Array.from(a.get('bn/running_var')!)).toEqual([1, 1, 1, 1]);
  expect(Array.from(a.get('bn/weight')!)).toEqual([1, 1, 1, 1]);
  expect(Array.from(a.get('bn/bias')!)).toEqual([0, 0, 0, 0]);
  // The returned generator has moved on.
  expect(nextU32(rngA)[0]).not.toBe(nextU32(seedRng(1))[0]);
});

it('uniform and normal samples have the right moments', () => {
  const n = 40_000;
  const [u] = sampleInit({ kind: 'uniform', bound: 2 }, n, seedRng(5));
  const mean = (v: Float32Array): number => v.reduce((s, x) => s + x, 0) / v.length;
  const variance = (v: Float32Array): number => v.reduce((s, x) => s + x * x, 0) / v.length - mean(v) ** 2;
  // U(−2, 2): mean 0 (sd of the mean 2/√(3n) ≈ 0.006), variance 4/3; 5 sd / 2% tolerances.
  expect(Math.abs(mean(u))).toBeLessThan(0.03);
  expect(Math.abs(variance(u) - 4 / 3)).toBeLessThan(0.03);
  expect(u.every((x) => x >= -2 && x <= 2)).toBe(true);
  const [z] = sampleInit({ kind: 'normal', std: 0.5 }, n, seedRng(6));
  // N(0, 0.25): mean sd 0.0025, variance within 3%.
  expect(Math.abs(mean(z))).toBeLessThan(0.0125);
  expect(Math.abs(variance(z) - 0.25)).toBeLessThan(0.0075);
});

it('a parameter gets the same initial value in a supernet and in any fixed graph applied from it', () => {
  fc.assert(
    fc.property(
      arbSupernet.chain((s) => arbValidArchitecture(s.space).map((arch) => ({ s, arch }))),
      fc.integer(),
      ({ s, arch }, seed) => {
        const fixed = apply(s.graph, arch);
        if (E.isLeft(fixed)) return; // an architecture apply rejects (absent value): not this property's concern
        const [sup] = initParams(s.graph, seedRng(seed));
        const [fix] = initParams(fixed.right, seedRng(seed));
        for (const [path, v] of fix) expect(Array.from(v)).toEqual(Array.from(sup.get(path)!));
      },
    ),
    { numRuns: 100 },
  );
});

it('checkParams names every missing or mis-sized parameter', () => {
  const [store] = initParams(net, seedRng(0));
  const broken = new Map(store);
  broken.delete('fc/bias');
  broken.set('conv/weight', new Float32Array(3));
  const errors = checkParams(net, broken);
  expect(errors.map((e) => [e.tag, e.path])).toEqual([
    ['ParamSize', 'conv/weight'],
    ['MissingParam', 'fc/bias'],
  ]);
  expect(errors[0]!.message).toContain('72');
  expect(checkParams(net, store)).toEqual([]);
});

it('works on a graph with choices (all candidates’ parameters)', () => {
  const g = build(
    buildModel(
      defineModel({
        name: 'c',
        input: [1, 4, 4],
        layer: sequential({ op: layerChoice({ a: conv2d({ out: 2, kernel: 1 }), b: conv2d({ out: 2, kernel: 3, padding: 1 }) }), flat: flatten() }),
      }),
    ),
  );
  const [store] = initParams(g, seedRng(3));
  expect([...store.keys()].sort()).toEqual(['op/a/bias', 'op/a/weight', 'op/b/bias', 'op/b/weight']);
});
