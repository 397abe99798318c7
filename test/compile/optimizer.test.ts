/**
 * Optimizer steps on the GPU vs the float64 reference of the published update rules (SGD with momentum,
 * dampening, Nesterov and weight decay; Adam; AdamW; Adadelta; gradient-norm clipping), over several steps with
 * fast-check hyperparameters; the non-finite-loss guard; the validation of hyperparameters.
 *
 * The Programs here have no forward pass: the gradients, the loss and the optimizer's per-step scalars are
 * Program inputs (batch 1, so an input has its parameter's shape), and the outputs read back the parameter and
 * state buffers. That exercises exactly what `withOptimizer` appends, on the real executor.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { type OptimizerLayout, type OptimizerSpec, type TrainableProgram, resolveOptimizer, stepScalars, withOptimizer } from '../../src/compile/optimizer.ts';
import type { BufferSpec, Program } from '../../src/compile/program.ts';
import type { UpdateRule } from '../../src/compile/kernels/optimizer.ts';
import { Executable } from '../../src/runtime/execute.ts';
import { type ReferenceState, initialReferenceState, referenceClip, referenceStep } from '../../src/reference/optimizer.ts';
import { describeGpu } from '../gpu.ts';

const SHAPES: readonly (readonly number[])[] = [[3, 5], [7], [2, 1, 3, 3]];
const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** A gradient-only "training program": params, gradient inputs and a loss input. */
const bareProgram = (shapes: readonly (readonly number[])[]): TrainableProgram => {
  const buffers: BufferSpec[] = [];
  const add = (b: Omit<BufferSpec, 'id'>): number => {
    buffers.push({ id: buffers.length, ...b } as BufferSpec);
    return buffers.length - 1;
  };
  const grads = shapes.map((shape, k) => {
    const path = `layer${k}/weight`;
    const param = add({ bytes: numel(shape) * 4, role: 'param', label: path, paramPath: path });
    const grad = add({ bytes: numel(shape) * 4, role: 'input', label: `grad of ${path}` });
    return { path, param, grad, shape };
  });
  const loss = add({ bytes: 4, role: 'input', label: 'loss' });
  const base: Program = {
    scalars: [],
    mode: 'fixed',
    batch: 1,
    buffers,
    kernels: [],
    dispatches: [],
    inputs: [...grads.map((g) => ({ name: `grad ${g.path}`, buffer: g.grad, shape: g.shape })), { name: 'loss', buffer: loss, shape: [1] }],
    outputs: [],
    params: grads.map((g) => ({ path: g.path, buffer: g.param, shape: g.shape })),
    choices: [],
    peakBytes: 0,
    unplannedBytes: 0,
  };
  return { ...base, grads, loss };
};

/** Makes the optimizer's scalars inputs and reads back every parameter, then every state tensor. */
const runnable = (p: TrainableProgram, layout: OptimizerLayout): Program => ({
  ...p,
  inputs: [...p.inputs, ...p.scalars.map((x) => ({ name: x.name, buffer: x.buffer, shape: [1] }))],
  scalars: [],
  outputs: [
    ...p.grads.map((g) => ({ buffer: g.param, shape: g.shape, label: g.path })),
    ...layout.state.map((s) => ({ buffer: s.buffer, shape: s.shape, label: s.path })),
    ...(layout.clip === undefined ? [] : [{ buffer: layout.clip, shape: [2], label: 'clip' }]),
  ],
});

/** The run inputs by name: gradients, the loss, the scalars. */
const inputsOf = (p: TrainableProgram, grads: readonly Float32Array[], loss: number, scalars: Readonly<Record<string, number>>): Record<string, Float32Array> => ({
  ...Object.fromEntries(p.grads.map((g, k) => [`grad ${g.path}`, grads[k]!])),
  loss: Float32Array.of(loss),
  ...Object.fromEntries(Object.entries(scalars).map(([k, v]) => [k, Float32Array.of(v)])),
});

const rand = (seed: number, n: number, scale: number): Float32Array => {
  // A small LCG: the values only need to be varied and reproducible.
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return ((s / 4294967296) * 2 - 1) * scale;
  });
};

const ruleArb: fc.Arbitrary<OptimizerSpec> = fc.oneof(
  fc.record({
    kind: fc.constant('sgd' as const),
    lr: fc.double({ min: 1e-3, max: 0.5, noNaN: true }),
    momentum: fc.constantFrom(0, 0.5, 0.9),
    dampening: fc.constantFrom(0, 0.1),
    nesterov: fc.boolean(),
    weightDecay: fc.constantFrom(0, 1e-4, 0.05),
  }).map((s) => (s.nesterov && (s.momentum === 0 || s.dampening !== 0) ? { ...s, nesterov: false } : s)),
  fc.record({
    kind: fc.constantFrom('adam' as const, 'adamw' as const),
    lr: fc.double({ min: 1e-4, max: 0.1, noNaN: true }),
    betas: fc.tuple(fc.constantFrom(0.8, 0.9), fc.constantFrom(0.99, 0.999)),
    eps: fc.constantFrom(1e-8, 1e-6),
    weightDecay: fc.constantFrom(0, 0.01, 0.1),
  }),
  fc.record({
    kind: fc.constant('adadelta' as const),
    lr: fc.double({ min: 0.1, max: 1, noNaN: true }),
    rho: fc.constantFrom(0.9, 0.95),
    eps: fc.constantFrom(1e-6, 1e-4),
    weightDecay: fc.constantFrom(0, 0.01),
  }),
);

// Parameters are O(1) and move by O(lr) per step; float32 arithmetic on the GPU vs float64 in the reference
// differ by a few ulps (6e-8) per operation, so after 4 steps |gpu − ref| ≤ 2e-6 · max(1, |ref|).
const TOL = 2e-6;

const expectCloseArrays = (got: ArrayLike<number>, want: ArrayLike<number>, what: string): void => {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const err = Math.abs(got[i]! - w);
    if (!(err <= TOL * Math.max(1, Math.abs(w)))) throw new Error(`${what}[${i}]: gpu ${got[i]} vs reference ${w} (|err| ${err})`);
  }
};

await describeGpu('optimizer kernels vs the published update rules', (gpu) => {
  /** Runs `steps` GPU steps and the same reference steps, comparing parameters and state after each. */
  const compare = async (spec: OptimizerSpec, clip: number | undefined, seed: number, steps: number, lrs: readonly number[]): Promise<void> => {
    const bare = bareProgram(SHAPES);
    const withOpt = withOptimizer(bare, { optimizer: spec, ...(clip === undefined ? {} : { clipGradNorm: clip }) });
    if (E.isLeft(withOpt)) throw new Error(withOpt.left.map((e) => e.message).join('; '));
    const { program, layout } = withOpt.right;
    const rule: UpdateRule = layout.resolved.rule;
    const init = SHAPES.map((s, k) => rand(seed * 7 + k, numel(s), 1));
    const store = new Map<string, Float32Array>(bare.grads.map((g, k) => [g.path, init[k]!]));
    for (const s of layout.state) store.set(s.path, new Float32Array(numel(s.shape)));
    const exe = await Executable.instantiate(gpu, runnable(program, layout), store);
    if (E.isLeft(exe)) throw new Error(exe.left.map((e) => e.message).join('; '));
    try {
      // The reference starts from the float32-rounded initial values the GPU holds.
      let ref: ReferenceState = initialReferenceState(rule, init);
      for (let t = 1; t <= steps; t++) {
        const lr = lrs[(t - 1) % lrs.length]!;
        // Gradients scaled so that clipping is sometimes active, sometimes not.
        const grads = SHAPES.map((s, k) => rand(seed * 131 + t * 17 + k, numel(s), t % 2 === 0 ? 3 : 0.2));
        const out = await exe.right.run({ inputs: inputsOf(bare, grads, 0.5, stepScalars(rule, t, lr)) });
        if (E.isLeft(out)) throw new Error(out.left.map((e) => e.message).join('; '));
        let used: readonly ArrayLike<number>[] = grads;
        if (clip !== undefined) {
          const { norm, scale } = referenceClip(grads, clip);
          const [gpuScale, gpuNorm] = out.right[out.right.length - 1]!;
          // The norm is a float32 tree sum of a few hundred squares: relative error ≤ 1e-5.
          expect(Math.abs(gpuNorm! - norm)).toBeLessThanOrEqual(1e-5 * norm);
          expect(Math.abs(gpuScale! - scale)).toBeLessThanOrEqual(1e-5);
          used = grads.map((g) => Float64Array.from(g, (v) => v * Math.fround(gpuScale!)));
        }
        ref = referenceStep(rule, ref, used, { t, lr });
        ref.params.forEach((p, k) => expectCloseArrays(out.right[k]!, p, `${spec.kind} step ${t} param ${k}`));
        layout.state.forEach((s, j) => {
          const k = bare.grads.findIndex((g) => g.path === s.param);
          const slot = j % (layout.state.length / bare.grads.length);
          expectCloseArrays(out.right[SHAPES.length + j]!, ref.state[k]![slot]!, `${spec.kind} step ${t} ${s.path}`);
        });
      }
    } finally {
      exe.right.destroy();
    }
  };

  it('SGD (momentum, dampening, Nesterov, weight decay), Adam, AdamW and Adadelta match the reference over 4 steps', async () => {
    await fc.assert(
      fc.asyncProperty(ruleArb, fc.integer({ min: 1, max: 1000 }), async (spec, seed) => {
        await compare(spec, undefined, seed, 4, [spec.lr ?? 1e-3, (spec.lr ?? 1e-3) * 0.5]);
      }),
      { numRuns: 6 },
    );
  });

  it.each<[string, OptimizerSpec]>([
    ['plain SGD with weight decay', { kind: 'sgd', lr: 0.3, weightDecay: 0.1 }],
    ['SGD with momentum and dampening', { kind: 'sgd', lr: 0.3, momentum: 0.9, dampening: 0.5 }],
    ['SGD with Nesterov momentum', { kind: 'sgd', lr: 0.3, momentum: 0.9, nesterov: true, weightDecay: 0.01 }],
    ['Adam with L2 weight decay', { kind: 'adam', lr: 0.05, weightDecay: 0.1 }],
    ['AdamW', { kind: 'adamw', lr: 0.05, weightDecay: 0.5 }],
    ['Adadelta', { kind: 'adadelta', lr: 1, weightDecay: 0.1 }],
  ])('%s matches the reference over 5 steps with a changing learning rate', async (_, spec) => {
    await compare(spec, undefined, 42, 5, [spec.lr ?? 1, (spec.lr ?? 1) * 0.3, (spec.lr ?? 1) * 2]);
  });

  it('gradient-norm clipping scales every gradient by min(1, maxNorm / (norm + 1e-6)) before the update', async () => {
    await fc.assert(
      fc.asyncProperty(ruleArb, fc.constantFrom(0.5, 2, 10), fc.integer({ min: 1, max: 1000 }), async (spec, maxNorm, seed) => {
        await compare(spec, maxNorm, seed, 3, [spec.lr ?? 1e-3]);
      }),
      { numRuns: 4 },
    );
  });

  it('a non-finite loss leaves parameters and state untouched', async () => {
    const bare = bareProgram([[4]]);
    const r = withOptimizer(bare, { optimizer: { kind: 'adam', lr: 0.1 } });
    if (E.isLeft(r)) throw new Error('withOptimizer failed');
    const { program, layout } = r.right;
    const w = Float32Array.of(1, -2, 3, -4);
    const store = new Map<string, Float32Array>([['layer0/weight', w]]);
    for (const s of layout.state) store.set(s.path, new Float32Array(4));
    const exe = await Executable.instantiate(gpu, runnable(program, layout), store);
    if (E.isLeft(exe)) throw new Error(exe.left.map((e) => e.message).join('; '));
    try {
      const g = Float32Array.of(1, 1, 1, 1);
      for (const bad of [NaN, Infinity, -Infinity]) {
        const out = await exe.right.run({ inputs: inputsOf(bare, [g], bad, stepScalars(layout.resolved.rule, 1, 0.1)) });
        if (E.isLeft(out)) throw new Error('run failed');
        expect([...out.right[0]!]).toEqual([...w]);
        expect([...out.right[1]!]).toEqual([0, 0, 0, 0]);
      }
      const ok = await exe.right.run({ inputs: inputsOf(bare, [g], 1, stepScalars(layout.resolved.rule, 1, 0.1)) });
      if (E.isLeft(ok)) throw new Error('run failed');
      // Adam's first step moves every weight by lr·sign(g) (up to eps): 1 → 0.9.
      expect(Math.abs(ok.right[0]![0]! - 0.9)).toBeLessThan(1e-5);
    } finally {
      exe.right.destroy();
    }
  });
});

it('rejects invalid hyperparameters, naming each', () => {
  const r = resolveOptimizer({ kind: 'sgd', lr: -1, momentum: 0, nesterov: true });
  expect(E.isLeft(r) && r.left.map((e) => (e.tag === 'InvalidHyperparameter' ? e.field : e.tag))).toEqual(['lr', 'nesterov']);
  const a = resolveOptimizer({ kind: 'adam', betas: [1, 0.999], eps: -1 });
  expect(E.isLeft(a) && a.left.map((e) => (e.tag === 'InvalidHyperparameter' ? e.field : e.tag))).toEqual(['betas[0]', 'eps']);
  const w = withOptimizer(bareProgram([]), { optimizer: { kind: 'sgd', lr: 0.1 }, clipGradNorm: 0 });
  expect(E.isLeft(w) && w.left.map((e) => e.tag)).toEqual(['InvalidHyperparameter', 'NoGradients']);
});

it("fills PyTorch's defaults", () => {
  expect(resolveOptimizer({ kind: 'adamw' })).toEqual(E.right({ lr: 1e-3, rule: { kind: 'adamw', beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2 } }));
  expect(resolveOptimizer({ kind: 'adadelta' })).toEqual(E.right({ lr: 1, rule: { kind: 'adadelta', rho: 0.9, eps: 1e-6, weightDecay: 0 } }));
});
