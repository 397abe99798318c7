import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { type Architecture, apply } from '../../src/ir/apply.ts';
import { inputChoice, layerChoice } from '../../src/ir/choice.ts';
import { type Graph, buildModel, defineModel } from '../../src/ir/graph.ts';
import { add, batchNorm2d, block, conv2d, dropout, flatten, globalAvgPool, linear, maxPool2d, relu, sequential } from '../../src/ir/layers.ts';
import { type Rng, nextFloat, seedRng } from '../../src/ir/rng.ts';
import { numel } from '../../src/ir/shape.ts';
import type { SearchSpace } from '../../src/ir/space.ts';
import { type ParamStore, initParams } from '../../src/runtime/params.ts';
import { conv2dRef, linearRef } from '../../src/reference/dense.ts';
import { globalAvgPoolRef } from '../../src/reference/pool.ts';
import { type EvaluateOptions, type RefError, evaluate } from '../../src/reference/evaluate.ts';
import { arbSupernet, arbValidArchitecture } from '../ir/arbitraries.ts';

const build = (g: E.Either<unknown, Graph>): Graph => {
  if (E.isLeft(g)) throw new Error(JSON.stringify(g.left));
  return g.right;
};

const randomInput = (g: Graph, batch: number, rng: Rng): Float64Array => {
  const out = new Float64Array(batch * numel(g.inputs[0]!.shape));
  let r = rng;
  for (let i = 0; i < out.length; i++) {
    const [u, next] = nextFloat(r);
    out[i] = 4 * u - 2;
    r = next;
  }
  return out;
};

const run = (g: Graph, o: Partial<EvaluateOptions> & { params: ParamStore }): readonly Float64Array[] => {
  const r = evaluate(g, { batch: 2, inputs: { x: randomInput(g, o.batch ?? 2, seedRng(7)) }, mode: 'eval', ...o });
  if (E.isLeft(r)) throw new Error(r.left.map((e) => e.message).join('\n'));
  return r.right.outputs;
};

const errorsOf = (r: E.Either<readonly RefError[], unknown>): readonly RefError[] => (E.isLeft(r) ? r.left : []);

/** Equal numbers (−0 = +0, as ===) or both NaN. */
const sameNumbers = (a: ArrayLike<number>, b: ArrayLike<number>): boolean =>
  a.length === b.length && Array.from(a).every((v, i) => v === b[i] || (Number.isNaN(v) && Number.isNaN(b[i]!)));

/** The 0/1 weights of an architecture (one-hot for layer choices, multi-hot for input choices). */
const oneHot = (space: SearchSpace, arch: Architecture): Record<string, number[]> =>
  Object.fromEntries(space.decisions.map((d) => [d.key, d.names.map((_, i) => (arch[d.key]!.includes(i) ? 1 : 0))]));

const arbCase = arbSupernet.chain((s) => fc.record({ s: fc.constant(s), arch: arbValidArchitecture(s.space), seed: fc.integer() }));

it('select semantics equals evaluating the applied fixed graph (eval and train, running statistics too)', () => {
  fc.assert(
    fc.property(arbCase, ({ s, arch, seed }) => {
      const fixed = apply(s.graph, arch);
      if (E.isLeft(fixed)) return; // apply rejected it (an absent value outside add): not this property's concern
      const [params] = initParams(s.graph, seedRng(seed));
      const x = randomInput(s.graph, 2, seedRng(seed ^ 1));
      for (const mode of ['eval', 'train'] as const) {
        const viaSelect = evaluate(s.graph, { batch: 2, inputs: { x }, params, mode, choices: { kind: 'select', arch } });
        const viaApply = evaluate(fixed.right, { batch: 2, inputs: { x }, params, mode });
        expect(errorsOf(viaSelect)).toEqual([]);
        expect(errorsOf(viaApply)).toEqual([]);
        if (E.isLeft(viaSelect) || E.isLeft(viaApply)) return;
        expect(sameNumbers(viaSelect.right.outputs[0]!, viaApply.right.outputs[0]!)).toBe(true);
        if (mode === 'train') {
          const a = viaSelect.right.updatedStats!;
          const b = viaApply.right.updatedStats!;
          expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
          for (const [k, v] of a) expect(sameNumbers(v, b.get(k)!)).toBe(true);
        } else expect(viaSelect.right.updatedStats).toBeUndefined();
      }
    }),
    { numRuns: 150 },
  );
});

it('mix with 0/1 weights equals select', () => {
  fc.assert(
    fc.property(arbCase, ({ s, arch, seed }) => {
      const [params] = initParams(s.graph, seedRng(seed));
      const x = randomInput(s.graph, 2, seedRng(seed ^ 1));
      for (const mode of ['eval', 'train'] as const) {
        const sel = evaluate(s.graph, { batch: 2, inputs: { x }, params, mode, choices: { kind: 'select', arch } });
        const mix = evaluate(s.graph, { batch: 2, inputs: { x }, params, mode, choices: { kind: 'mix', weights: oneHot(s.space, arch) } });
        if (E.isLeft(sel)) {
          // Select can only fail where an empty selection meets an op other than add; mix then sees zeros.
          expect(sel.left.every((e) => e.tag === 'AbsentValue')).toBe(true);
          continue;
        }
        expect(errorsOf(mix)).toEqual([]);
        if (E.isRight(mix)) expect(sameNumbers(sel.right.outputs[0]!, mix.right.outputs[0]!)).toBe(true);
      }
    }),
    { numRuns: 150 },
  );
});

const choiceNet = build(
  buildModel(
    defineModel({
      name: 'choice',
      input: [2, 5, 5],
      layer: sequential({
        op: layerChoice({ c1: conv2d({ out: 3, kernel: 1 }), c3: conv2d({ out: 3, kernel: 3, padding: 1 }) }),
        mixin: block((ctx, x) => {
          const a = ctx.call('a', relu(), x);
          const b = ctx.call('b', conv2d({ out: 3, kernel: 1 }), x);
          return ctx.call('pick', inputChoice({ nChosen: null, reduction: 'mean' }), [a, b]);
        }),
        pool: globalAvgPool(),
        fc: linear({ out: 2 }),
      }),
    }),
  ),
);
const [choiceParams] = initParams(choiceNet, seedRng(11));
const fixedOut = (arch: Architecture): Float64Array => {
  const g = apply(choiceNet, arch);
  if (E.isLeft(g)) throw new Error('apply failed');
  return run(g.right, { params: choiceParams })[0]!;
};

it('mix semantics: layer choice Σ wᵢ·candidateᵢ, input choice mean Σ wᵢxᵢ / Σ wᵢ', () => {
  // Everything after the layer choice is affine when the input choice takes only the conv branch b
  // (conv b, global pool, fc), and affine maps commute with weighted sums whose weights sum to 1:
  // fc(pool(b(0.3·c1 + 0.7·c3))) = 0.3·A + 0.7·B.
  const mixed = run(choiceNet, { params: choiceParams, choices: { kind: 'mix', weights: { op: [0.3, 0.7], 'mixin/pick': [0, 1] } } })[0]!;
  const A = fixedOut({ op: [0], 'mixin/pick': [1] });
  const B = fixedOut({ op: [1], 'mixin/pick': [1] });
  // float64 with different summation orders: 1e-12.
  mixed.forEach((v, i) => expect(Math.abs(v - (0.3 * A[i]! + 0.7 * B[i]!))).toBeLessThan(1e-12));

  // Input choice mean with weights (0.2, 0.6): (0.2·a + 0.6·b)/0.8, again through affine maps (pool, fc) with
  // coefficients 0.25 and 0.75 summing to 1.
  const mixedIn = run(choiceNet, { params: choiceParams, choices: { kind: 'mix', weights: { op: [1, 0], 'mixin/pick': [0.2, 0.6] } } })[0]!;
  const Pa = fixedOut({ op: [0], 'mixin/pick': [0] });
  const Pb = fixedOut({ op: [0], 'mixin/pick': [1] });
  mixedIn.forEach((v, i) => expect(Math.abs(v - (0.25 * Pa[i]! + 0.75 * Pb[i]!))).toBeLessThan(1e-12));
});

it('evaluates only what is chosen: unchosen (or weight-0) candidates need no parameters and leak no NaN', () => {
  const params = new Map(choiceParams);
  params.delete('op/c3/weight');
  params.set('mixin/b/weight', new Float32Array(9).fill(NaN));
  const sel = evaluate(choiceNet, { batch: 2, inputs: { x: randomInput(choiceNet, 2, seedRng(1)) }, params, mode: 'eval', choices: { kind: 'select', arch: { op: [0], 'mixin/pick': [0] } } });
  expect(errorsOf(sel)).toEqual([]);
  if (E.isRight(sel)) expect(sel.right.outputs[0]!.every(Number.isFinite)).toBe(true);
  const mix = evaluate(choiceNet, { batch: 2, inputs: { x: randomInput(choiceNet, 2, seedRng(1)) }, params, mode: 'eval', choices: { kind: 'mix', weights: { op: [1, 0], 'mixin/pick': [0.5, 0] } } });
  expect(errorsOf(mix)).toEqual([]);
  if (E.isRight(mix)) expect(mix.right.outputs[0]!.every(Number.isFinite)).toBe(true);
  // Give the deleted candidate a weight: now its parameter is needed, and named.
  const needs = evaluate(choiceNet, { batch: 2, inputs: { x: randomInput(choiceNet, 2, seedRng(1)) }, params, mode: 'eval', choices: { kind: 'mix', weights: { op: [0.5, 0.5], 'mixin/pick': [1, 0] } } });
  expect(errorsOf(needs).map((e) => e.tag === 'MissingParam' && e.path)).toEqual(['op/c3/weight']);
});

it('collects every error at once, each naming the thing at fault', () => {
  const params = new Map(choiceParams);
  params.delete('fc/weight');
  params.set('fc/bias', new Float32Array(5));
  const r = evaluate(choiceNet, { batch: 2, inputs: { x: new Float64Array(7), y: new Float64Array(1) }, params, mode: 'eval', choices: { kind: 'select', arch: { op: [2] } } });
  const errs = errorsOf(r);
  const tags = errs.map((e) => e.tag).sort();
  expect(tags).toEqual(['BadChoice', 'InputSize', 'MissingChoice', 'MissingParam', 'ParamSize', 'UnexpectedInput']);
  const text = errs.map((e) => e.message).join('\n');
  for (const s of ["input 'x'", '100', "'y'", "'fc/weight'", "'fc/bias'", "'op'", "'mixin/pick'"]) expect(text).toContain(s);
});

it('reports a missing input, a bad batch, and choices missing for a graph with choices', () => {
  expect(errorsOf(evaluate(choiceNet, { batch: 1, inputs: {}, params: choiceParams, mode: 'eval', choices: { kind: 'select', arch: { op: [0], 'mixin/pick': [0] } } })).map((e) => e.tag)).toEqual(['MissingInput']);
  expect(errorsOf(evaluate(choiceNet, { batch: 0, inputs: { x: new Float64Array(0) }, params: choiceParams, mode: 'eval' })).map((e) => e.tag)).toEqual(['BadBatch']);
  const noChoices = errorsOf(evaluate(choiceNet, { batch: 1, inputs: { x: new Float64Array(50) }, params: choiceParams, mode: 'eval' }));
  expect(noChoices.map((e) => e.tag)).toEqual(['MissingChoice', 'MissingChoice']);
  expect(noChoices[0]!.message).toContain('pass choices');
});

const skipNet = (consumer: 'add' | 'relu'): Graph =>
  build(
    buildModel(
      defineModel({
        name: 'skip',
        input: [1, 2, 2],
        layer: block((ctx, x) => {
          const h = ctx.call('conv', conv2d({ out: 1, kernel: 1 }), x);
          const y = ctx.call('skip', inputChoice({ nChosen: null }), [x]);
          return consumer === 'add' ? add(h, y) : ctx.call('act', relu(), y);
        }),
      }),
    ),
  );

it('an empty selection is absent: add ignores it, any other consumer is an error naming the key', () => {
  const g = skipNet('add');
  const [params] = initParams(g, seedRng(2));
  const withSkip = run(g, { params, choices: { kind: 'select', arch: { skip: [0] } } })[0]!;
  const without = run(g, { params, choices: { kind: 'select', arch: { skip: [] } } })[0]!;
  const x = randomInput(g, 2, seedRng(7));
  without.forEach((v, i) => expect(withSkip[i]).toBe(v + x[i]!));
  const bad = skipNet('relu');
  const r = evaluate(bad, { batch: 2, inputs: { x }, params, mode: 'eval', choices: { kind: 'select', arch: { skip: [] } } });
  const errs = errorsOf(r);
  expect(errs.map((e) => e.tag)).toEqual(['AbsentValue']);
  expect(errs[0]!.message).toContain("'skip'");
});

it('wires a fixed model as its kernels composed by hand (conv → relu → global pool → linear)', () => {
  const g = build(
    buildModel(defineModel({ name: 'w', input: [2, 4, 4], layer: sequential({ conv: conv2d({ out: 3, kernel: 3, padding: 1 }), act: relu(), pool: globalAvgPool(), fc: linear({ out: 2 }) }) })),
  );
  const [p] = initParams(g, seedRng(4));
  const x = randomInput(g, 3, seedRng(5));
  const got = evaluate(g, { batch: 3, inputs: { x }, params: p, mode: 'eval' });
  const c = conv2dRef(x, 3, [2, 4, 4], p.get('conv/weight')!, [3, 2, 3, 3], p.get('conv/bias')!, { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 });
  const h = globalAvgPoolRef(c.out.map((v) => Math.max(v, 0)), 3, [3, 4, 4]);
  const want = linearRef(h, 3, 3, p.get('fc/weight')!, 2, p.get('fc/bias')!);
  expect(E.isRight(got) && Array.from(got.right.outputs[0]!)).toEqual(Array.from(want));
});

it('NaN inputs propagate through conv, relu and max pool to the outputs they reach', () => {
  const g = build(buildModel(defineModel({ name: 'n', input: [1, 4, 4], layer: sequential({ conv: conv2d({ out: 1, kernel: 1 }), act: relu(), pool: maxPool2d({ kernel: 2 }), flat: flatten() }) })));
  const [p] = initParams(g, seedRng(0));
  const x = new Float64Array(16).fill(1);
  x[0] = NaN; // top-left pooling window only
  const r = evaluate(g, { batch: 1, inputs: { x }, params: p, mode: 'eval' });
  expect(E.isRight(r)).toBe(true);
  if (E.isRight(r)) {
    const y = r.right.outputs[0]!;
    expect(Number.isNaN(y[0]!)).toBe(true);
    expect(Array.from(y.slice(1)).every(Number.isFinite)).toBe(true);
  }
});

it('train mode: dropout follows the seed, BatchNorm reports updated running statistics by path', () => {
  const g = build(buildModel(defineModel({ name: 't', input: [2, 3, 3], layer: sequential({ bn: batchNorm2d(), drop: dropout(0.5), flat: flatten() }) })));
  const [p] = initParams(g, seedRng(0));
  const x = randomInput(g, 4, seedRng(3));
  const go = (mode: 'eval' | 'train', seed: number) => evaluate(g, { batch: 4, inputs: { x }, params: p, mode, seed });
  const a = go('train', 1);
  const b = go('train', 1);
  const c = go('train', 2);
  const e = go('eval', 1);
  if (E.isLeft(a) || E.isLeft(b) || E.isLeft(c) || E.isLeft(e)) throw new Error('evaluation failed');
  expect(Array.from(a.right.outputs[0]!)).toEqual(Array.from(b.right.outputs[0]!));
  expect(Array.from(a.right.outputs[0]!)).not.toEqual(Array.from(c.right.outputs[0]!));
  expect([...a.right.updatedStats!.keys()].sort()).toEqual(['bn/running_mean', 'bn/running_var']);
  expect(e.right.updatedStats).toBeUndefined();
  // Eval: running stats (0, 1), identity dropout: y = x/√(1 + eps); 1e-12 relative.
  e.right.outputs[0]!.forEach((v, i) => expect(Math.abs(v - x[i]! / Math.sqrt(1 + 1e-5))).toBeLessThan(1e-12));
  // Training on one value per channel is refused, naming the node.
  const one = evaluate(build(buildModel(defineModel({ name: 'o', input: [2, 1, 1], layer: batchNorm2d() }))), { batch: 1, inputs: { x: new Float64Array(2) }, params: new Map([['running_mean', new Float32Array(2)], ['running_var', new Float32Array(2)], ['weight', new Float32Array(2)], ['bias', new Float32Array(2)]]), mode: 'train' });
  expect(errorsOf(one).map((er) => er.tag)).toEqual(['BatchNormSingleValue']);
});

it('mix: all-zero weights give zeros (not absent); concat/none need nChosen non-zero weights; values are kept', () => {
  const g = skipNet('relu');
  const [params] = initParams(g, seedRng(2));
  const x = randomInput(g, 2, seedRng(7));
  const zeroW = evaluate(g, { batch: 2, inputs: { x }, params, mode: 'eval', choices: { kind: 'mix', weights: { skip: [0] } } });
  expect(E.isRight(zeroW) && Array.from(zeroW.right.outputs[0]!)).toEqual(new Array(8).fill(0));
  const cat = build(
    buildModel(
      defineModel({
        name: 'cat',
        input: [1, 2, 2],
        layer: block((ctx, x0) => ctx.call('pick', inputChoice({ nChosen: 2, reduction: 'concat' }), [x0, ctx.call('r', relu(), x0), ctx.call('c', conv2d({ out: 1, kernel: 1 }), x0)])),
      }),
    ),
  );
  const [cp] = initParams(cat, seedRng(1));
  const bad = evaluate(cat, { batch: 2, inputs: { x }, params: cp, mode: 'eval', choices: { kind: 'mix', weights: { pick: [1, 1, 1] } } });
  expect(errorsOf(bad).map((e) => e.tag)).toEqual(['BadChoice']);
  const good = evaluate(cat, { batch: 2, inputs: { x }, params: cp, mode: 'eval', choices: { kind: 'mix', weights: { pick: [2, 0, 1] } } });
  expect(E.isRight(good)).toBe(true);
  if (E.isRight(good)) {
    // Per sample: 2·x then the conv output, each 4 values.
    expect(Array.from(good.right.outputs[0]!.slice(0, 4))).toEqual(Array.from(x.slice(0, 4), (v) => 2 * v));
    expect(good.right.values.size).toBeGreaterThanOrEqual(3); // input, conv, choice
  }
});
