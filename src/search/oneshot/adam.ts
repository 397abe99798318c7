/**
 * Adam over `KeyVectors` as a pure function, for the architecture parameters (alphas) of the one-shot algorithms.
 * It is PyTorch's `torch.optim.Adam` (not AdamW): `weightDecay` is an L2 term added to the gradient
 * (g ← g + wd·θ), which is what NNI's DARTS (`Adam(..., weight_decay=1e-3)`) runs. The moments and the step count
 * are plain JSON, so an arch optimizer resumes exactly from a saved state.
 *
 * @example
 * let params: KeyVectors = { op1: [0, 0, 0] };
 * let state = adamInit(params);
 * ({ params, state } = adamStep(state, params, { op1: [0.1, -0.2, 0.1] }, { lr: 3e-4, betas: [0.5, 0.999], weightDecay: 1e-3, eps: 1e-8 }));
 */
import * as t from 'io-ts';
import { type StrategyError, optionError } from '../strategy.ts';
import type { KeyVectors } from './types.ts';

/** The optimizer state: first and second moments per key and the number of steps taken (shared by every key). */
export interface AdamState {
  readonly step: number;
  readonly m: KeyVectors;
  readonly v: KeyVectors;
}

/** Adam's hyper-parameters, as PyTorch names them. */
export interface AdamOptions {
  readonly lr: number;
  readonly betas: readonly [number, number];
  /** L2 penalty added to the gradient (PyTorch Adam's `weight_decay`, not decoupled AdamW decay). */
  readonly weightDecay: number;
  readonly eps: number;
}

/** The state before the first step: zero moments shaped like `params`. */
export const adamInit = (params: KeyVectors): AdamState => {
  const zeros = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v.map(() => 0)] as const));
  return { step: 0, m: zeros, v: zeros };
};

/**
 * One Adam step on every key of `params`. `grads` must give a gradient of the same length for every key of
 * `params` (a missing or mis-shaped one is a bug of the caller: a `RangeError` naming the key). The step count is
 * shared by all keys because every arch step updates every key (keys without signal get a zero gradient), so the
 * bias corrections agree with PyTorch's per-parameter counts.
 *
 * PyTorch's formula (amsgrad off, maximize off): g = ∇ + wd·θ; m = β₁m + (1−β₁)g; v = β₂v + (1−β₂)g²;
 * θ ← θ − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + eps).
 *
 * @example
 * adamStep(adamInit({ a: [1] }), { a: [1] }, { a: [0.5] }, { lr: 0.1, betas: [0.9, 0.999], weightDecay: 0, eps: 1e-8 });
 * // { params: { a: [0.9] } (first step moves by ≈ lr), state: { step: 1, ... } }
 */
export const adamStep = (
  state: AdamState,
  params: KeyVectors,
  grads: KeyVectors,
  o: AdamOptions,
): { readonly params: KeyVectors; readonly state: AdamState } => {
  const [b1, b2] = o.betas;
  const step = state.step + 1;
  const bc1 = 1 - b1 ** step;
  const bc2 = 1 - b2 ** step;
  const outP: Record<string, readonly number[]> = {};
  const outM: Record<string, readonly number[]> = {};
  const outV: Record<string, readonly number[]> = {};
  for (const [key, theta] of Object.entries(params)) {
    const g = grads[key];
    const m = state.m[key];
    const v = state.v[key];
    if (g === undefined || g.length !== theta.length) {
      throw new RangeError(`adamStep: key '${key}' has ${theta.length} parameters but ${g === undefined ? 'no gradient' : `a gradient of length ${g.length}`}`);
    }
    if (m === undefined || v === undefined || m.length !== theta.length || v.length !== theta.length) {
      throw new RangeError(`adamStep: the optimizer state has no moments of length ${theta.length} for key '${key}'`);
    }
    const p2: number[] = [];
    const m2: number[] = [];
    const v2: number[] = [];
    theta.forEach((th, i) => {
      const gi = g[i]! + o.weightDecay * th;
      const mi = b1 * m[i]! + (1 - b1) * gi;
      const vi = b2 * v[i]! + (1 - b2) * gi * gi;
      p2.push(th - (o.lr / bc1) * (mi / (Math.sqrt(vi) / Math.sqrt(bc2) + o.eps)));
      m2.push(mi);
      v2.push(vi);
    });
    outP[key] = p2;
    outM[key] = m2;
    outV[key] = v2;
  }
  return { params: outP, state: { step, m: outM, v: outV } };
};

const vectors: t.Type<KeyVectors, KeyVectors, unknown> = t.record(t.string, t.readonlyArray(t.number));

/** An io-ts codec for `AdamState` (plain JSON). */
export const adamStateCodec: t.Type<AdamState, AdamState, unknown> = t.readonly(t.type({ step: t.number, m: vectors, v: vectors }));

/** An io-ts codec for resolved `AdamOptions` (as saved in a state). */
export const adamOptionsCodec: t.Type<AdamOptions, AdamOptions, unknown> = t.readonly(
  t.type({ lr: t.number, betas: t.readonly(t.tuple([t.number, t.number])), weightDecay: t.number, eps: t.number }),
);

/**
 * `InvalidOption` errors for Adam options out of range, named as `strategy`'s options: lr > 0, each beta in
 * [0, 1), weightDecay ≥ 0, eps > 0, all finite.
 */
export const adamOptionErrors = (strategy: string, o: AdamOptions): StrategyError[] => {
  const finite = (x: number): boolean => Number.isFinite(x);
  return [
    ...optionError(strategy, 'lr', finite(o.lr) && o.lr > 0, `must be a positive number, got ${o.lr}`),
    ...optionError(strategy, 'betas', o.betas.length === 2 && o.betas.every((b) => finite(b) && b >= 0 && b < 1), `must be two numbers in [0, 1), got [${o.betas.join(', ')}]`),
    ...optionError(strategy, 'weightDecay', finite(o.weightDecay) && o.weightDecay >= 0, `must be a non-negative number, got ${o.weightDecay}`),
    ...optionError(strategy, 'eps', finite(o.eps) && o.eps > 0, `must be a positive number, got ${o.eps}`),
  ];
};

/** `InvalidState` errors when saved Adam moments do not have the shape of `params`. */
export const adamShapeErrors = (strategy: string, state: AdamState, params: KeyVectors): StrategyError[] => {
  const errors: StrategyError[] = [];
  for (const [key, p] of Object.entries(params)) {
    if (state.m[key]?.length !== p.length || state.v[key]?.length !== p.length) {
      errors.push({ tag: 'InvalidState', strategy, message: `saved Adam moments of '${strategy}' for key '${key}' must have ${p.length} numbers each` });
    }
  }
  if (!(Number.isInteger(state.step) && state.step >= 0)) {
    errors.push({ tag: 'InvalidState', strategy, message: `saved Adam step count of '${strategy}' must be a non-negative integer, got ${state.step}` });
  }
  return errors;
};

/**
 * The io-ts properties of an architecture optimizer's Adam options, shared by every algorithm whose options embed
 * them (DARTS, GDAS, ProxylessNAS): spread them into the algorithm's own properties.
 */
export const adamOptionProps = {
  lr: t.number,
  betas: t.readonly(t.tuple([t.number, t.number])),
  weightDecay: t.number,
  eps: t.number,
};

/**
 * Adam options over an algorithm's defaults (eps defaults to PyTorch's 1e-8).
 *
 * @example
 * resolveAdamOptions({ lr: 1e-2 }, { lr: 3e-4, betas: [0.5, 0.999], weightDecay: 1e-3 }); // { lr: 0.01, betas: [0.5, 0.999], weightDecay: 0.001, eps: 1e-8 }
 */
export const resolveAdamOptions = (
  o: { readonly lr?: number; readonly betas?: readonly [number, number]; readonly weightDecay?: number; readonly eps?: number },
  defaults: { readonly lr: number; readonly betas: readonly [number, number]; readonly weightDecay: number },
): { readonly lr: number; readonly betas: readonly [number, number]; readonly weightDecay: number; readonly eps: number } => ({
  lr: o.lr ?? defaults.lr,
  betas: o.betas ?? defaults.betas,
  weightDecay: o.weightDecay ?? defaults.weightDecay,
  eps: o.eps ?? 1e-8,
});
