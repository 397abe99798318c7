/**
 * Shared helpers of the executor tests: random parameters and inputs, one-shot GPU runs of a graph, and the
 * tolerance check against the reference interpreter.
 */
import * as E from 'fp-ts/lib/Either.js';
import { expect } from 'vitest';
import type { Graph } from '../../src/ir/graph.ts';
import { type Rng, nextFloat, seedRng } from '../../src/ir/rng.ts';
import { numel } from '../../src/ir/shape.ts';
import { type LowerOptions, lower } from '../../src/compile/lower.ts';
import type { Gpu } from '../../src/runtime/device.ts';
import { type ChoiceInput, Executable } from '../../src/runtime/execute.ts';
import { type ParamStore, paramSpecs } from '../../src/runtime/params.ts';
import { type ChoiceSemantics, evaluate } from '../../src/reference/evaluate.ts';

const fill = (n: number, rng: Rng, lo: number, hi: number): [Float32Array, Rng] => {
  const out = new Float32Array(n);
  let r = rng;
  for (let i = 0; i < n; i++) {
    const [u, next] = nextFloat(r);
    out[i] = lo + (hi - lo) * u;
    r = next;
  }
  return [out, r];
};

/**
 * Random parameters for every path of `g`: weights in ±1 (scaled by the init bound), BatchNorm running variances
 * in [0.5, 1.5] and means in ±0.5, so that inference-form BatchNorm is not the identity.
 */
export const randomParams = (g: Graph, seed: number): ParamStore => {
  let rng = seedRng(seed);
  const store = new Map<string, Float32Array>();
  for (const p of paramSpecs(g)) {
    const n = numel(p.shape);
    const [lo, hi] = p.path.endsWith('running_var') ? [0.5, 1.5] : p.path.endsWith('running_mean') ? [-0.5, 0.5] : p.init.kind === 'uniform' ? [-p.init.bound, p.init.bound] : [-1, 1];
    const [v, r] = fill(n, rng, lo, hi);
    store.set(p.path, v);
    rng = r;
  }
  return store;
};

/** Random batched inputs in [-2, 2] for every input of `g`, by name. */
export const randomInputs = (g: Graph, batch: number, seed: number): Record<string, Float32Array> => {
  let rng = seedRng(seed ^ 0x5bd1e995);
  const out: Record<string, Float32Array> = {};
  for (const x of g.inputs) {
    if (x.op.kind !== 'input') continue;
    const [v, r] = fill(batch * numel(x.shape), rng, -2, 2);
    out[x.op.name] = v;
    rng = r;
  }
  return out;
};

/** Lowers `g`, instantiates it and runs it once; throws with every error message on failure. */
export const runOnGpu = async (
  gpu: Gpu,
  g: Graph,
  o: LowerOptions,
  params: ParamStore,
  inputs: Record<string, Float32Array>,
  choice?: ChoiceInput,
): Promise<readonly Float32Array[]> => {
  const prog = lower(g, o);
  if (E.isLeft(prog)) throw new Error(`lower failed: ${prog.left.map((e) => e.message).join('; ')}`);
  const exe = await Executable.instantiate(gpu, prog.right, params);
  if (E.isLeft(exe)) throw new Error(`instantiate failed: ${exe.left.map((e) => e.message).join('; ')}`);
  try {
    const out = await exe.right.run({ inputs, ...(choice === undefined ? {} : { choice }) });
    if (E.isLeft(out)) throw new Error(`run failed: ${out.left.map((e) => e.message).join('; ')}`);
    return out.right;
  } finally {
    exe.right.destroy();
  }
};

/** The reference outputs of `g` (eval mode); throws on error. */
export const reference = (g: Graph, batch: number, params: ParamStore, inputs: Record<string, Float32Array>, choices?: ChoiceSemantics): readonly Float64Array[] => {
  const r = evaluate(g, { batch, inputs, params, mode: 'eval', ...(choices === undefined ? {} : { choices }) });
  if (E.isLeft(r)) throw new Error(`reference failed: ${r.left.map((e) => e.message).join('; ')}`);
  return r.right.outputs;
};

/**
 * Elementwise closeness of an f32 GPU result to the f64 reference: |got − ref| ≤ tol·(1 + |ref|), NaN only
 * where the reference is NaN. The default 1e-4 covers f32 rounding of the small sums these tests make
 * (tens of terms of magnitude ≤ a few units: relative error ~1e-6) with margin.
 */
export const expectClose = (got: ArrayLike<number>, ref: ArrayLike<number>, what: string, tol = 1e-4): void => {
  expect(got.length, `${what}: length`).toBe(ref.length);
  for (let i = 0; i < ref.length; i++) {
    const g = got[i]!;
    const r = ref[i]!;
    if (Number.isNaN(r)) {
      expect(Number.isNaN(g), `${what}[${i}]: reference is NaN, got ${g}`).toBe(true);
      continue;
    }
    const ok = Math.abs(g - r) <= tol * (1 + Math.abs(r));
    if (!ok) expect.fail(`${what}[${i}]: got ${g}, reference ${r} (|d| = ${Math.abs(g - r)} > ${tol}·(1+|ref|))`);
  }
};
