/**
 * Finite-difference checks of `grad` through the reference interpreter (float64 throughout).
 *
 * A case is a scalar loss node over some leaves (inputs, float64 parameters, choice weights) with their values.
 * `checkGrad` evaluates grad(loss, wrt) once, then for sampled coordinates of every `wrt` leaf compares it with the
 * fourth-order central difference fd = (4·fd(h) − fd(2h))/3, fd(s) = (L(v + s) − L(v − s))/2s, h = 1e-6, each L a
 * fresh evaluation of the forward graph. The plain two-point difference (L(v + h) − L(v − h))/2h was not enough:
 * its truncation error h²·L‴/6 broke the tolerance once in ~500 random supernets (a BatchNorm over a channel of
 * near-zero variance has L‴ ~ 1/σ³ with σ² ≈ eps), by 1.03e-5 relative; the four-point stencil's error is
 * O(h⁴·L⁽⁵⁾), which closed that case.
 *
 * Tolerance: |analytic − fd| ≤ 1e-5·max(|analytic|, |fd|) + 1e-8. Rounding error is ≈ ε·|L|/h ≈ 1e-10 for
 * |L| ≈ 1, so an agreeing rule lands far inside (the per-op checks use under 10% of the tolerance); a wrong rule
 * (a missing term, a wrong index; a 1% error in one rule was caught) is off by O(|gradient|).
 *
 * One case is out of reach of any finite difference and is detected instead (`constantBatchNormChannel`): a
 * BatchNorm over a channel that is constant up to rounding (after a `zero` op, or a dead relu, in a random model).
 * There x − mean is rounding residue, and BatchNorm amplifies it by 1/√eps ≈ 316 per layer on both sides: the
 * loss jumped between rounding levels ±8e-14 as a parameter moved by 1e-6 (a "gradient" of ±1e-7 where the true
 * one is 0), and stacked such layers made intermediate gradients of 4e10 whose sum kept a residue of 4e-6.
 * Whole-model tests skip such cases and count them.
 */
import * as E from 'fp-ts/lib/Either.js';
import { expect } from 'vitest';
import { grad } from '../../src/compile/grad.ts';
import type { Graph } from '../../src/ir/graph.ts';
import { makeCtx } from '../../src/ir/ctx.ts';
import { flatten, input, linear } from '../../src/ir/layers.ts';
import { type Node, mkNode, topoOrder } from '../../src/ir/node.ts';
import { type Rng, nextFloat, nextInt, seedRng } from '../../src/ir/rng.ts';
import { numel } from '../../src/ir/shape.ts';
import { type Evaluation, type RefParams, evaluate } from '../../src/reference/evaluate.ts';

export const H = 1e-6;
export const RTOL = 1e-5;
export const ATOL = 1e-8;

export interface Values {
  readonly batch: number;
  readonly inputs: Readonly<Record<string, Float64Array>>;
  readonly params: ReadonlyMap<string, Float64Array>;
  readonly choiceWeights?: Readonly<Record<string, readonly number[]>>;
  readonly seed?: number;
}

/** Uniform values in [lo, hi) from `rng`. */
export const uniform = (rng: Rng, n: number, lo = -1, hi = 1): [Float64Array, Rng] => {
  const out = new Float64Array(n);
  let r = rng;
  for (let i = 0; i < n; i++) {
    const [u, next] = nextFloat(r);
    out[i] = lo + (hi - lo) * u;
    r = next;
  }
  return [out, r];
};

/** Every input node under `roots`. */
const inputNodes = (roots: readonly Node[]): readonly Node[] => topoOrder(roots).filter((n) => n.op.kind === 'input');

/** Random values for every input (uniform ±2, labels in 0..K−1 when `classes` is given) and parameter. */
export const randomValues = (roots: readonly Node[], batch: number, seed: number, classes = 2): Values => {
  let rng = seedRng(seed);
  const inputs: Record<string, Float64Array> = {};
  const params = new Map<string, Float64Array>();
  for (const n of topoOrder(roots)) {
    if (n.op.kind === 'input') {
      if (n.op.name === 'labels') {
        const ls = new Float64Array(batch);
        for (let i = 0; i < batch; i++) {
          const [k, next] = nextInt(rng, classes);
          ls[i] = k;
          rng = next;
        }
        inputs['labels'] = ls;
      } else {
        const [v, next] = uniform(rng, batch * numel(n.shape), -2, 2);
        inputs[n.op.name] = v;
        rng = next;
      }
    } else if (n.op.kind === 'param' && !params.has(n.op.path)) {
      // Running variances must stay positive; everything else is a generic value.
      const [v, next] = n.op.path.endsWith('running_var') ? uniform(rng, numel(n.shape), 0.5, 1.5) : uniform(rng, numel(n.shape), -1, 1);
      params.set(n.op.path, v);
      rng = next;
    }
  }
  return { batch, inputs, params };
};

/**
 * A smooth random functional of `y`: L = crossEntropy(R·flatten(y), labels) with a fixed random R [2, numel(y)]
 * (the parameter `probe/weight`) and random labels. crossEntropy is the IR's only differentiable op that
 * reduces over the batch, so it closes every probe; any smooth L checks a VJP as well as Σ r ⊙ y would.
 */
export const probeLoss = (y: Node): Node => {
  const ctx = makeCtx(['probe']);
  const flat = y.shape.length === 1 ? y : flatten()(ctx, y);
  const logits = linear({ out: 2, bias: false })(ctx, flat);
  const labels = input([1], 'labels');
  return mkNode({ kind: 'crossEntropy', labelSmoothing: 0 }, [logits, labels], 'probe/loss');
};

/** Evaluates `outputs` (with every input they reach) at `v`; throws on an evaluation error. */
export const run = (outputs: readonly Node[], v: Values): Evaluation => {
  const r = evaluate({ inputs: inputNodes(outputs), outputs } as Graph, {
    batch: v.batch,
    inputs: v.inputs,
    params: v.params as RefParams,
    ...(v.choiceWeights === undefined ? {} : { choiceWeights: v.choiceWeights }),
    ...(v.seed === undefined ? {} : { seed: v.seed }),
  });
  if (E.isLeft(r)) throw new Error(r.left.map((e) => e.message).join('\n'));
  return r.right;
};

/** The loss at `v`. */
export const lossAt = (loss: Node, v: Values): number => run([loss], v).outputs[0]![0]!;

/** The storage of leaf `w` in `v`, and a way to rebuild `v` with that storage replaced. */
const slot = (w: Node, v: Values): { readonly data: Float64Array; readonly with: (d: Float64Array) => Values } => {
  const op = w.op;
  switch (op.kind) {
    case 'input':
      return { data: v.inputs[op.name]!, with: (d) => ({ ...v, inputs: { ...v.inputs, [op.name]: d } }) };
    case 'param':
      return { data: v.params.get(op.path)!, with: (d) => ({ ...v, params: new Map([...v.params, [op.path, d]]) }) };
    case 'choiceWeights':
      return { data: Float64Array.from(v.choiceWeights![op.key]!), with: (d) => ({ ...v, choiceWeights: { ...v.choiceWeights, [op.key]: [...d] } }) };
    default:
      throw new Error(`cannot perturb a ${op.kind}`);
  }
};

/** Up to `k` distinct coordinates of 0..n−1 (all of them when n ≤ k). */
const coords = (n: number, k: number, seed: number): readonly number[] => {
  if (n <= k) return Array.from({ length: n }, (_, i) => i);
  const picked = new Set<number>();
  let rng = seedRng(seed);
  while (picked.size < k) {
    const [i, next] = nextInt(rng, n);
    picked.add(i);
    rng = next;
  }
  return [...picked];
};

export interface GradCheck {
  /** Analytic gradients, one per `wrt`, as evaluated by the reference. */
  readonly grads: readonly Float64Array[];
  /** How many coordinates were compared. */
  readonly compared: number;
  /** The largest |analytic − fd| / tolerance seen (≤ 1 when the check passes), for the record. */
  readonly worst: number;
}

/**
 * Compares grad(loss, wrt) (or the `given` gradient nodes, one per `wrt`) with central differences on up to `perLeaf` coordinates of each `wrt` leaf, and checks
 * that each analytic gradient is stored like its leaf (unbatched leaves without the batch).
 */
export const checkGrad = (loss: Node, wrt: readonly Node[], v: Values, perLeaf = 8, seed = 1, given?: readonly Node[]): GradCheck => {
  const gs = given ?? grad(loss, wrt);
  const e = run([loss, ...gs], v);
  const grads = e.outputs.slice(1);
  let compared = 0;
  let worst = 0;
  wrt.forEach((w, k) => {
    const g = grads[k]!;
    const s = slot(w, v);
    expect(g.length, `gradient of ${w.name} has the leaf's size`).toBe(s.data.length);
    for (const i of coords(s.data.length, perLeaf, seed + k)) {
      const at = (step: number): number => {
        const d = Float64Array.from(s.data);
        d[i]! += step;
        return lossAt(loss, s.with(d));
      };
      const fd = (4 * ((at(H) - at(-H)) / (2 * H)) - (at(2 * H) - at(-2 * H)) / (4 * H)) / 3;
      const err = Math.abs(g[i]! - fd);
      const tol = RTOL * Math.max(Math.abs(g[i]!), Math.abs(fd)) + ATOL;
      worst = Math.max(worst, err / tol);
      expect(err, `∂L/∂${w.name}[${i}]: analytic ${g[i]}, finite difference ${fd}`).toBeLessThanOrEqual(tol);
      compared++;
    }
  });
  if (process.env['FD_LOG']) console.log(`worst ${worst.toExponential(2)} over ${compared} (${wrt.map((w) => w.name).join(', ')})`);
  return { grads, compared, worst };
};

/**
 * The name of a BatchNorm (training form) under `loss` with an input channel that is constant over the batch up to
 * rounding (standard deviation below 1e-7·(|mean| + 1)) at `v`, if any: finite differences cannot check gradients
 * through it (see the header).
 */
export const constantBatchNormChannel = (loss: Node, v: Values): string | undefined => {
  const bns = topoOrder([loss]).filter((n) => n.op.kind === 'batchNorm2dTrain');
  if (bns.length === 0) return undefined;
  const e = run([loss, ...bns.map((n) => n.inputs[0]!)], v);
  for (const [k, n] of bns.entries()) {
    const x = e.outputs[k + 1]!;
    const [C] = n.shape as readonly [number];
    const per = numel(n.shape) / C;
    for (let c = 0; c < C; c++) {
      let s = 0;
      let q = 0;
      for (let b = 0; b < v.batch; b++) for (let j = 0; j < per; j++) s += x[(b * C + c) * per + j]!;
      const mean = s / (v.batch * per);
      for (let b = 0; b < v.batch; b++) for (let j = 0; j < per; j++) q += (x[(b * C + c) * per + j]! - mean) ** 2;
      if (Math.sqrt(q / (v.batch * per)) < 1e-7 * (Math.abs(mean) + 1)) return n.name;
    }
  }
  return undefined;
};
