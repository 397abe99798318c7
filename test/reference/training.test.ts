/**
 * The reference interpreter on training and gradient ops: values checked against formulas written out here
 * (closed forms, hand-worked examples) or against the existing train-mode ops, and the errors (choice weights,
 * labels), each naming what is at fault. That every gradient op is the derivative of its forward op is
 * test/compile/grad-vjp.test.ts's business (finite differences).
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toTrainingForm } from '../../src/compile/training-graph.ts';
import { makeCtx } from '../../src/ir/ctx.ts';
import { type Graph, buildModel, defineModel } from '../../src/ir/graph.ts';
import { batchNorm2d, dropout, input, mul, param, sequential } from '../../src/ir/layers.ts';
import { type Node, mkNode } from '../../src/ir/node.ts';
import type { Op } from '../../src/ir/ops.ts';
import { nextFloat, seedRng } from '../../src/ir/rng.ts';
import { initParams } from '../../src/runtime/params.ts';
import { type EvaluateOptions, type RefError, evaluate } from '../../src/reference/evaluate.ts';

const graphOf = (...outputs: Node[]): Graph => ({ inputs: [], outputs });
const errorsOf = (r: E.Either<readonly RefError[], unknown>): readonly RefError[] => (E.isLeft(r) ? r.left : []);
const outputs = (g: Graph, o: Partial<EvaluateOptions>): readonly Float64Array[] => {
  const r = evaluate(g, { batch: 1, inputs: {}, params: new Map(), ...o });
  if (E.isLeft(r)) throw new Error(r.left.map((e) => e.message).join('\n'));
  return r.right.outputs;
};
const randoms = (n: number, seed: number, scale = 2): Float64Array => {
  const out = new Float64Array(n);
  let r = seedRng(seed);
  for (let i = 0; i < n; i++) {
    const [u, next] = nextFloat(r);
    out[i] = scale * (2 * u - 1);
    r = next;
  }
  return out;
};

describe('choiceWeights and weightedSum', () => {
  const w = (key: string, n: number): Node => mkNode({ kind: 'choiceWeights', key, n }, [], `weights:${key}`);

  it('a weights leaf evaluates to its run-time weights; missing and mis-sized keys are all reported by key', () => {
    expect(Array.from(outputs(graphOf(w('a', 3)), { choiceWeights: { a: [0.5, 0.25, 0.25] } })[0]!)).toEqual([0.5, 0.25, 0.25]);
    const r = evaluate(graphOf(w('a', 3), w('b', 2)), { batch: 1, inputs: {}, params: new Map(), choiceWeights: { a: [1, 0] } });
    const es = errorsOf(r);
    expect(es.map((e) => [e.tag, 'key' in e ? e.key : ''])).toEqual([
      ['MissingChoice', 'b'],
      ['BadChoice', 'a'],
    ]);
    expect(es[0]!.message).toContain("'b'");
    expect(es[1]!.message).toContain('2 values');
  });

  it('Σ wᵢ·cᵢ; a candidate of weight 0 is not evaluated (its parameters may be missing, its NaN does not leak)', () => {
    const x = input([2]);
    const bad = mul(x, param(makeCtx(['c1']), 'scale', [2], { kind: 'ones' }));
    const y = mkNode({ kind: 'weightedSum' }, [w('k', 3), x, bad, mkNode({ kind: 'scale', factor: 3 }, [x], 's')], 'mix');
    const g: Graph = { inputs: [x], outputs: [y] };
    const xs = Float64Array.of(1, 2, -1, NaN);
    const ok = evaluate(g, { batch: 2, inputs: { x: xs }, params: new Map(), choiceWeights: { k: [2, 0, 0.5] } });
    expect(E.isRight(ok) && Array.from(ok.right.outputs[0]!)).toEqual([2 + 1.5, 4 + 3, -2 - 1.5, NaN]);
    const missing = evaluate(g, { batch: 2, inputs: { x: xs }, params: new Map(), choiceWeights: { k: [2, 1, 0.5] } });
    expect(errorsOf(missing)).toEqual([expect.objectContaining({ tag: 'MissingParam', path: 'c1/scale' })]);
  });

  it('an unbatched parameter meets batched values by repetition over the batch (mul, add)', () => {
    const x = input([2]);
    const p = param(makeCtx([]), 'p', [2], { kind: 'ones' });
    const g: Graph = { inputs: [x], outputs: [mul(x, p), mkNode({ kind: 'add' }, [x, p], 'add')] };
    const r = evaluate(g, { batch: 2, inputs: { x: Float64Array.of(1, 2, 3, 4) }, params: new Map([['p', Float32Array.of(10, 100)]]) });
    expect(E.isRight(r) && r.right.outputs.map((o) => Array.from(o))).toEqual([
      [10, 200, 30, 400],
      [11, 102, 13, 104],
    ]);
  });
});

describe('crossEntropy', () => {
  const ce = (K: number, eps: number): { g: Graph; logits: Node; labels: Node; loss: Node } => {
    const logits = input([K], 'x');
    const labels = input([1], 'labels');
    const loss = mkNode({ kind: 'crossEntropy', labelSmoothing: eps }, [logits, labels], 'loss');
    return { g: { inputs: [logits, labels], outputs: [loss] }, logits, labels, loss };
  };

  it('is the batch mean of logsumexp(z) − (1 − ε)·z_label − ε·mean(z) (PyTorch, label smoothing), unbatched [1]', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 6 }), fc.integer({ min: 1, max: 4 }), fc.double({ min: 0, max: 0.9, noNaN: true }), fc.nat(), (K, batch, eps, seed) => {
        const z = randoms(batch * K, seed, 5);
        const labels = Float64Array.from({ length: batch }, (_, n) => (n * 7 + seed) % K);
        const [loss] = outputs(ce(K, eps).g, { batch, inputs: { x: z, labels } });
        let want = 0;
        for (let n = 0; n < batch; n++) {
          const row = Array.from(z.slice(n * K, (n + 1) * K));
          const lse = Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
          want += lse - (1 - eps) * row[labels[n]!]! - (eps * row.reduce((s, v) => s + v, 0)) / K;
        }
        expect(loss!.length).toBe(1);
        // Same float64 quantities in another order: 1e-12 relative.
        expect(Math.abs(loss![0]! - want / batch)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(want)));
      }),
    );
  });

  it('its gradient is dLoss·(softmax(z) − target)/batch', () => {
    const { logits, labels, loss } = ce(3, 0.3);
    const dLoss = mkNode({ kind: 'fill', value: 2, shape: [1] }, [], 'dl');
    const dz = mkNode({ kind: 'crossEntropyGrad', labelSmoothing: 0.3 }, [logits, labels, dLoss], 'dz');
    const z = Float64Array.of(0, Math.log(2), Math.log(5), 1, 1, 1);
    const [got] = outputs({ inputs: [logits, labels], outputs: [dz, loss] }, { batch: 2, inputs: { x: z, labels: Float64Array.of(2, 0) } });
    // softmax rows: [1, 2, 5]/8 and [1, 1, 1]/3; targets (ε = 0.3, K = 3): 0.1 + 0.7 at the label.
    const want = [1 / 8 - 0.1, 2 / 8 - 0.1, 5 / 8 - 0.8, 1 / 3 - 0.8, 1 / 3 - 0.1, 1 / 3 - 0.1].map((v) => (2 * v) / 2);
    got!.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThan(1e-15));
  });

  it('a label that is not a class index is an error naming the node and the sample', () => {
    const { g } = ce(3, 0);
    for (const [bad, label] of [[3, '3'], [-1, '-1'], [1.5, '1.5'], [NaN, 'NaN']] as const) {
      const r = evaluate(g, { batch: 3, inputs: { x: new Float64Array(9), labels: Float64Array.of(0, 2, bad) }, params: new Map() });
      const es = errorsOf(r);
      expect(es).toEqual([expect.objectContaining({ tag: 'BadLabel', node: 'loss', sample: 2 })]);
      expect(es[0]!.message).toContain('sample 2');
      expect(es[0]!.message).toContain(`label ${label}`);
    }
  });
});

describe('training-form ops need no mode', () => {
  const net = (): Graph => {
    const r = buildModel(defineModel({ name: 't', input: [2, 2, 3], layer: sequential({ bn: batchNorm2d(), drop: dropout(0.4), bn2: batchNorm2d({ affine: false }), cd: dropout(0.3, true) }) }));
    if (E.isLeft(r)) throw new Error('build failed');
    return r.right;
  };

  it('batchNorm2dTrain and dropoutTrain compute what batchNorm2d and dropout compute in train mode, updated statistics included', () => {
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 2, max: 4 }), fc.nat({ max: 1000 }), (seed, batch, step) => {
        const g = net();
        const [params] = initParams(g, seedRng(seed));
        const x = randoms(batch * 12, seed);
        const plain = evaluate(g, { batch, inputs: { x }, params, mode: 'train', seed: step });
        const explicit = evaluate(toTrainingForm(g), { batch, inputs: { x }, params, seed: step });
        if (E.isLeft(plain) || E.isLeft(explicit)) throw new Error('evaluation failed');
        expect(Array.from(explicit.right.outputs[0]!)).toEqual(Array.from(plain.right.outputs[0]!));
        const [a, b] = [plain.right.updatedStats!, explicit.right.updatedStats!];
        expect([...b.keys()].sort()).toEqual(['bn/running_mean', 'bn/running_var', 'bn2/running_mean', 'bn2/running_var']);
        for (const [k, v] of a) expect(Array.from(b.get(k)!)).toEqual(Array.from(v));
      }),
      { numRuns: 30 },
    );
  });

  it('batchNorm2dTrain refuses one value per channel, naming the node', () => {
    const c = makeCtx(['one']);
    const stats = [param(c, 'running_mean', [2], { kind: 'zeros' }, false), param(c, 'running_var', [2], { kind: 'ones' }, false)];
    const x = input([2, 1, 1]);
    const y = mkNode({ kind: 'batchNorm2dTrain', eps: 1e-5, momentum: 0.1, affine: false }, [x, ...stats], 'one');
    const params = new Map([['one/running_mean', new Float32Array(2)], ['one/running_var', new Float32Array(2).fill(1)]]);
    expect(errorsOf(evaluate({ inputs: [x], outputs: [y] }, { batch: 1, inputs: { x: new Float64Array(2) }, params }))).toEqual([
      expect.objectContaining({ tag: 'BatchNormSingleValue', node: 'one' }),
    ]);
    expect(E.isRight(evaluate({ inputs: [x], outputs: [y] }, { batch: 2, inputs: { x: new Float64Array(4) }, params }))).toBe(true);
  });
});

describe('gradient ops on hand-worked examples', () => {
  const dyOf = (shape: readonly number[]): Node => input(shape, 'dy');
  const grad1 = (op: Op, inputs: readonly Node[], batch: number, values: Record<string, Float64Array>): number[] =>
    Array.from(outputs({ inputs: [], outputs: [mkNode(op, inputs, 'g')] }, { batch, inputs: values })[0]!);

  it('maxPool2dGrad routes each window to its FIRST maximum (PyTorch), overlapping windows accumulate', () => {
    const x = input([1, 2, 3]);
    // Windows 2×2, stride 1: [[5, 5], [5, 1]] and [[5, 2], [1, 5]] (a tie in each).
    const op: Op = { kind: 'maxPool2dGrad', kernel: [2, 2], stride: [1, 1], padding: [0, 0] };
    const got = grad1(op, [x, dyOf([1, 1, 2])], 1, { x: Float64Array.of(5, 5, 2, 5, 1, 5), dy: Float64Array.of(10, 100) });
    expect(got).toEqual([10, 100, 0, 0, 0, 0]);
  });

  it('avgPool2dGrad divides by the padded window or by the real elements (countIncludePad)', () => {
    // A 1×1 input, kernel 2, padding 1, stride 1: four 2×2 windows, each holding the one real element.
    const dy = dyOf([1, 2, 2]);
    const dys = Float64Array.of(1, 2, 3, 4);
    const withPad = grad1({ kind: 'avgPool2dGrad', kernel: [2, 2], stride: [1, 1], padding: [1, 1], countIncludePad: true, inputShape: [1, 1, 1] }, [dy], 1, { dy: dys });
    const without = grad1({ kind: 'avgPool2dGrad', kernel: [2, 2], stride: [1, 1], padding: [1, 1], countIncludePad: false, inputShape: [1, 1, 1] }, [dy], 1, { dy: dys });
    expect(withPad).toEqual([10 / 4]);
    expect(without).toEqual([10]);
  });

  it('sumBatch, weightedSumGrad and parameter gradients are unbatched: one tensor of the parameter’s shape', () => {
    const dy = dyOf([2, 1, 2]);
    const dys = Float64Array.of(1, 2, 3, 4, 10, 20, 30, 40);
    expect(grad1({ kind: 'sumBatch', spatial: true }, [dy], 2, { dy: dys })).toEqual([1 + 2 + 10 + 20, 3 + 4 + 30 + 40]);
    expect(grad1({ kind: 'sumBatch', spatial: false }, [dy], 2, { dy: dys })).toEqual([11, 22, 33, 44]);
    const c = input([2, 1, 2], 'c');
    expect(grad1({ kind: 'weightedSumGrad' }, [dy, c, dy], 2, { dy: dys, c: new Float64Array(8).fill(1) })).toEqual([110, 1 + 4 + 9 + 16 + 100 + 400 + 900 + 1600]);
    const x = input([3], 'x');
    const dw = grad1({ kind: 'linearGradWeight' }, [x, input([2], 'dy')], 2, { x: Float64Array.of(1, 2, 3, 4, 5, 6), dy: Float64Array.of(1, 0, 0, 1) });
    expect(dw).toEqual([1, 2, 3, 4, 5, 6]); // [out 2, in 3], Σ_n dyₙ ⊗ xₙ
    expect(grad1({ kind: 'fill', value: 0.5, shape: [2, 2] }, [], 7, {})).toEqual([0.5, 0.5, 0.5, 0.5]);
  });

  it('sliceChannels takes channels [start, start + count) of every sample', () => {
    const x = input([3, 2], 'x');
    expect(grad1({ kind: 'sliceChannels', start: 1, count: 2 }, [x], 2, { x: Float64Array.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11) })).toEqual([2, 3, 4, 5, 8, 9, 10, 11]);
  });

  it('activationGrad at the kinks follows PyTorch: relu′(0) = 0, relu6′(0) = relu6′(6) = 0', () => {
    const x = input([4], 'x');
    const dy = dyOf([4]);
    const v = { x: Float64Array.of(0, 6, 3, -1), dy: Float64Array.of(1, 1, 1, 1) };
    expect(grad1({ kind: 'activationGrad', fn: 'relu' }, [x, dy], 1, v)).toEqual([0, 1, 1, 0]);
    expect(grad1({ kind: 'activationGrad', fn: 'relu6' }, [x, dy], 1, v)).toEqual([0, 0, 1, 0]);
  });
});
