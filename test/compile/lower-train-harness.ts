/**
 * Shared helpers of the training-lowering GPU tests: lower a graph that holds training/gradient ops, run it once
 * on the device, evaluate it with the reference interpreter, and compare.
 *
 * Tolerance (`closeTo`): |gpu − ref| ≤ tol·(scale + |ref|), where `scale` is the largest |ref| of the array (at
 * least 1). Gradients are sums of many products of mixed sign; f32 accumulation error scales with the magnitude
 * of the terms, not of the (possibly cancelled) result, so an elementwise relative bound would flag correct
 * kernels. A wrong index or a missing term moves a value by O(scale), far outside tol = 1e-4 (2e-4 for whole
 * models, whose gradients pass through several f32 layers).
 */
import * as E from 'fp-ts/lib/Either.js';
import { expect } from 'vitest';
import type { Graph } from '../../src/ir/graph.ts';
import { type Node, topoOrder } from '../../src/ir/node.ts';
import { type Rng, nextFloat, nextInt, seedRng } from '../../src/ir/rng.ts';
import { numel } from '../../src/ir/shape.ts';
import { trainingSchedule } from '../../src/compile/lower.ts';
import { planMemory } from '../../src/compile/memory.ts';
import type { Program } from '../../src/compile/program.ts';
import type { Gpu } from '../../src/runtime/device.ts';
import { Executable } from '../../src/runtime/execute.ts';
import type { ParamStore } from '../../src/runtime/params.ts';
import { type Evaluation, evaluate } from '../../src/reference/evaluate.ts';

export interface Case {
  readonly batch: number;
  readonly inputs: Record<string, Float32Array>;
  readonly params: ParamStore;
  readonly choiceWeights?: Readonly<Record<string, readonly number[]>>;
  readonly seed?: number;
}

const uniform = (rng: Rng, n: number, lo: number, hi: number): [Float32Array, Rng] => {
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
 * Random values for every input and parameter under `roots`: inputs uniform ±2 (labels: class indices in
 * 0..classes−1), parameters ±1 (running variances in [0.5, 1.5]).
 */
export const randomCase = (roots: readonly Node[], batch: number, seed: number, classes = 2): Case => {
  let rng = seedRng(seed);
  const inputs: Record<string, Float32Array> = {};
  const params = new Map<string, Float32Array>();
  for (const n of topoOrder(roots)) {
    const op = n.op;
    if (op.kind === 'input' && inputs[op.name] === undefined) {
      if (op.name === 'labels') {
        const ls = new Float32Array(batch);
        for (let i = 0; i < batch; i++) {
          const [k, next] = nextInt(rng, classes);
          ls[i] = k;
          rng = next;
        }
        inputs[op.name] = ls;
      } else {
        const [v, next] = uniform(rng, batch * numel(op.shape), -2, 2);
        inputs[op.name] = v;
        rng = next;
      }
    } else if (op.kind === 'param' && !params.has(op.path)) {
      const [v, next] = op.path.endsWith('running_var') ? uniform(rng, numel(op.shape), 0.5, 1.5) : uniform(rng, numel(op.shape), -1, 1);
      params.set(op.path, v);
      rng = next;
    }
  }
  return { batch, inputs, params };
};

/** The Program of a graph with training ops (fixed mode); throws with every error message. */
export const trainingProgram = (g: Graph, batch: number): Program => {
  const s = trainingSchedule(g, { mode: 'fixed', batch });
  if (E.isLeft(s)) throw new Error(`lowering failed: ${s.left.map((e) => e.message).join('; ')}`);
  return planMemory(s.right);
};

/** Runs `program` once; returns its outputs and the parameters after the run (BatchNorm running statistics). */
export const runProgram = async (gpu: Gpu, program: Program, c: Case): Promise<{ readonly outputs: readonly Float32Array[]; readonly params: ReadonlyMap<string, Float32Array> }> => {
  const exe = await Executable.instantiate(gpu, program, c.params);
  if (E.isLeft(exe)) throw new Error(`instantiate failed: ${exe.left.map((e) => e.message).join('; ')}`);
  try {
    const inputs = Object.fromEntries(program.inputs.map((i) => [i.name, c.inputs[i.name]!]));
    const out = await exe.right.run({
      inputs,
      ...(c.choiceWeights === undefined ? {} : { choice: { kind: 'mix', weights: c.choiceWeights } }),
      ...(program.scalars.some((s) => s.name === 'seed') ? { scalars: { seed: c.seed ?? 0 } } : {}),
    });
    if (E.isLeft(out)) throw new Error(`run failed: ${out.left.map((e) => e.message).join('; ')}`);
    const params = await exe.right.readParams();
    if (E.isLeft(params)) throw new Error(`readParams failed: ${params.left.map((e) => e.message).join('; ')}`);
    return { outputs: out.right, params: params.right };
  } finally {
    exe.right.destroy();
  }
};

/** The reference evaluation of `g` on `c`; throws on error. */
export const referenceOf = (g: Graph, c: Case): Evaluation => {
  const r = evaluate(g, {
    batch: c.batch,
    inputs: c.inputs,
    params: c.params,
    ...(c.choiceWeights === undefined ? {} : { choiceWeights: c.choiceWeights }),
    ...(c.seed === undefined ? {} : { seed: c.seed }),
  });
  if (E.isLeft(r)) throw new Error(`reference failed: ${r.left.map((e) => e.message).join('; ')}`);
  return r.right;
};

/** See the module comment for the tolerance. */
export const closeTo = (got: ArrayLike<number>, ref: ArrayLike<number>, what: string, tol = 1e-4): void => {
  expect(got.length, `${what}: length`).toBe(ref.length);
  let scale = 1;
  for (let i = 0; i < ref.length; i++) if (Number.isFinite(ref[i]!)) scale = Math.max(scale, Math.abs(ref[i]!));
  for (let i = 0; i < ref.length; i++) {
    const g = got[i]!;
    const r = ref[i]!;
    if (Number.isNaN(r)) {
      expect(Number.isNaN(g), `${what}[${i}]: reference is NaN, got ${g}`).toBe(true);
      continue;
    }
    if (!(Math.abs(g - r) <= tol * (scale + Math.abs(r)))) {
      expect.fail(`${what}[${i}]: got ${g}, reference ${r} (|d| = ${Math.abs(g - r)} > ${tol}·(${scale} + |ref|))`);
    }
  }
};

/**
 * Lowers `g` (whose outputs may be any training/gradient ops), runs it on the GPU and checks every output against
 * the reference interpreter, and every BatchNorm running statistic the reference updated.
 */
export const checkAgainstReference = async (gpu: Gpu, g: Graph, c: Case, tol = 1e-4): Promise<void> => {
  const program = trainingProgram(g, c.batch);
  const { outputs, params } = await runProgram(gpu, program, c);
  const ref = referenceOf(g, c);
  ref.outputs.forEach((r, i) => closeTo(outputs[i]!, r, `output ${i} (${g.outputs[i]!.op.kind} at ${g.outputs[i]!.name})`, tol));
  for (const [path, v] of ref.updatedStats ?? new Map<string, Float32Array>()) closeTo(params.get(path)!, v, `running statistic ${path}`, tol);
};
