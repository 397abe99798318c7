/**
 * DARTS (Liu et al., ICLR 2019) as pure functions over a JSON state: alphas per layer key (with NNI's extra
 * "zero" logit), an Adam arch optimizer with NNI's defaults, the first-order arch step, the pieces of the
 * second-order ("unrolled") step, and the export (argmax op per layer key, top-k edges per input key).
 *
 * One arch step, as the runtime drives it:
 * - first order: run the mixed supernet with `dartsWeights` on a valid batch, read ∂L_val/∂w (w = mix weights)
 *   per key, call `dartsArchStep`;
 * - second order: with ∇_θ L_train(θ) on a train batch, θ' = `virtualStep(θ, ∇, ξ, wd)` (the weights the
 *   runtime really writes: NNI's never did); on a valid batch at θ' read ∂L_val/∂w and d = ∇_θ' L_val;
 *   ε = `hvpEpsilon(d)`; at θ± = `perturb(θ, d, ±ε)` read ∂L_train/∂w on the train batch; combine with
 *   `unrolledArchGrad` and call `dartsArchStep` with the result (the chain to α is linear, so it is the same as
 *   first order, applied after). Restore θ before the weight step.
 *
 * @example
 * const errors = dartsCheck(space, {});                  // [] when DARTS can search `space`
 * let [state, rng] = dartsInit(space, seedRng(0), {});
 * const w = dartsWeights(space, state);                  // mix weights for every key
 * state = dartsArchStep(space, state, dLdw);             // dLdw from the runtime
 * formatArchitectureJson(space, dartsExport(space, state));
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import type { Architecture } from '../../ir/apply.ts';
import type { Rng } from '../../ir/rng.ts';
import type { SearchSpace } from '../../ir/space.ts';
import { type StrategyError, checkSpace, decodeWith, optionError, spaceFingerprint } from '../strategy.ts';
import { adamInit, adamShapeErrors, adamStateCodec, adamStep, adamOptionProps, resolveAdamOptions } from './adam.ts';
import { alphaOptionErrors, alphaShapeErrors, alphasGrad, deriveArchitecture, initAlphas, keyVectorsCodec, layerDecisions, mixWeights, softmax } from './alphas.ts';
import type { KeyVectors } from './types.ts';
import { mixedShapeErrors } from './mixed-shapes.ts';

const NAME = 'darts';

/** DARTS options; every field optional, with NNI's defaults. */
export interface DartsOptions {
  /** Arch Adam learning rate, 3e-4. */
  readonly lr?: number;
  /** Arch Adam betas, [0.5, 0.999]. */
  readonly betas?: readonly [number, number];
  /** Arch Adam L2 weight decay, 1e-3. */
  readonly weightDecay?: number;
  /** Arch Adam epsilon, 1e-8 (PyTorch's). */
  readonly eps?: number;
  /** 1: first-order DARTS (default); 2: unrolled, with the virtual step. */
  readonly order?: 1 | 2;
  /** ξ of the virtual step; absent or null: the weight optimizer's learning rate, which only the runtime knows. */
  readonly unrolledLr?: number | null;
  /** The extra "zero" logit per layer key (NNI), true by default. */
  readonly extraZero?: boolean;
  /** Standard deviation of the alphas' initialisation, 1e-3. */
  readonly initScale?: number;
}

const optionProps = {
  ...adamOptionProps,
  order: t.union([t.literal(1), t.literal(2)]),
  unrolledLr: t.union([t.number, t.null]),
  extraZero: t.boolean,
  initScale: t.number,
};

/** Decodes DARTS options from JSON (every field optional). */
export const dartsOptionsCodec = t.partial(optionProps);

const settingsCodec = t.readonly(t.type(optionProps));

/** DARTS options with every default filled in (`unrolledLr: null` = the weight learning rate), as saved in the state. */
export type DartsSettings = t.TypeOf<typeof settingsCodec>;

/**
 * The options with NNI's defaults filled in.
 *
 * @example
 * resolveDartsOptions({ order: 2 }); // { lr: 3e-4, betas: [0.5, 0.999], weightDecay: 1e-3, eps: 1e-8, order: 2, unrolledLr: null, extraZero: true, initScale: 1e-3 }
 */
export const resolveDartsOptions = (o: DartsOptions = {}): DartsSettings => ({
  ...resolveAdamOptions(o, { lr: 3e-4, betas: [0.5, 0.999], weightDecay: 1e-3 }),
  order: o.order ?? 1,
  unrolledLr: o.unrolledLr ?? null,
  extraZero: o.extraZero ?? true,
  initScale: o.initScale ?? 1e-3,
});

const stateCodec = t.readonly(
  t.type({
    strategy: t.string,
    space: t.string,
    options: settingsCodec,
    /** Logits per layer key: n (+1 zero op) each. */
    alphas: keyVectorsCodec,
    adam: adamStateCodec,
  }),
);

/** The DARTS state (plain JSON). */
export type DartsState = t.TypeOf<typeof stateCodec>;

/**
 * Every reason DARTS cannot search `space` with `options`: it searches layer choices and input choices of a
 * fixed `nChosen` (inputs are summed during the search and the export keeps the k strongest edges); an input
 * choice with `nChosen: null` is refused, naming its key. Options out of range are named too.
 *
 * @example
 * dartsCheck(space, { order: 2, lr: -1 }); // [{ tag: 'InvalidOption', option: 'lr', ... }]
 */
export const dartsCheck = (space: SearchSpace, options: DartsOptions = {}): readonly StrategyError[] => dartsCheckAs(NAME, space, options);

/** `dartsCheck` with the errors named for `strategy` (P-DARTS runs DARTS in every stage). */
export const dartsCheckAs = (strategy: string, space: SearchSpace, options: DartsOptions = {}): readonly StrategyError[] => {
  const s = resolveDartsOptions(options);
  return [
    ...checkSpace(strategy, ['layer', 'input'], space),
    ...mixedShapeErrors(strategy, space),
    ...alphaOptionErrors(strategy, s, s.initScale),
    ...optionError(strategy, 'order', s.order === 1 || s.order === 2, `must be 1 or 2, got ${String(s.order)}`),
    ...optionError(strategy, 'unrolledLr', s.unrolledLr === null || (Number.isFinite(s.unrolledLr) && s.unrolledLr >= 0), `must be a non-negative number, got ${s.unrolledLr}`),
  ];
};

/**
 * The state before the first step: alphas = initScale·N(0, 1) (n + 1 per layer key with the zero op), fresh
 * Adam moments. `space` must have passed `dartsCheck`.
 *
 * @example
 * const [state, rng2] = dartsInit(space, seedRng(0), { order: 2 });
 */
export const dartsInit = (space: SearchSpace, rng: Rng, options: DartsOptions = {}): [DartsState, Rng] => {
  const settings = resolveDartsOptions(options);
  const [alphas, r] = initAlphas(space, rng, { extraZero: settings.extraZero, scale: settings.initScale });
  return [{ strategy: NAME, space: spaceFingerprint(space), options: settings, alphas, adam: adamInit(alphas) }, r];
};

/** The mix weights to run the supernet with: softmax(α) without the zero op per layer key, ones per input key. */
export const dartsWeights = (space: SearchSpace, state: DartsState): KeyVectors => mixWeights(state.alphas, space, state.options.extraZero);

/**
 * One arch step: ∂L/∂α from ∂L/∂w (`dLdw`: per key, w = `dartsWeights`; input keys ignored) by the softmax's
 * chain rule, then Adam. For second order pass `unrolledArchGrad`'s result as `dLdw`.
 */
export const dartsArchStep = (_space: SearchSpace, state: DartsState, dLdw: KeyVectors): DartsState => {
  const grads = alphasGrad(state.alphas, dLdw, state.options.extraZero);
  const { params, state: adam } = adamStep(state.adam, state.alphas, grads, state.options);
  return { ...state, alphas: params, adam };
};

/** The architecture DARTS derives now (see `deriveArchitecture`: argmax op, top-k edges, `[]` for dropped edges). */
export const dartsExport = (space: SearchSpace, state: DartsState): Architecture => deriveArchitecture(space, dartsWeights(space, state));

/** softmax(α) per layer key, the zero op's share included (last), for the per-epoch history. */
export const dartsDistribution = (space: SearchSpace, state: DartsState): KeyVectors =>
  Object.fromEntries(layerDecisions(space).map((d) => [d.key, softmax(state.alphas[d.key] ?? [])] as const));

/** The state as JSON (`decodeDartsState` of its parse gives it back). */
export const encodeDartsState = (state: DartsState): unknown => stateCodec.encode(state);

/** A DARTS state read back from JSON; refused (every error) when malformed, made by another strategy or for another space. */
export const decodeDartsState = (space: SearchSpace, json: unknown): E.Either<readonly StrategyError[], DartsState> =>
  E.chain((s: DartsState): E.Either<readonly StrategyError[], DartsState> => {
    const errors = [...alphaShapeErrors(NAME, space, s.alphas, s.options.extraZero), ...adamShapeErrors(NAME, s.adam, s.alphas)];
    return errors.length > 0 ? E.left(errors) : E.right(s);
  })(decodeWith(NAME, stateCodec, space, json));

// ---------------------------------------------------------------------------------------------------------
// Second order: pure helpers over the runtime's parameter stores (path → values, float32 as on the device).

/** Network parameters or their gradients by parameter path. */
export type ParamStore = ReadonlyMap<string, Float32Array>;

const zipStores = (what: string, a: ParamStore, b: ParamStore, f: (x: number, y: number) => number): Map<string, Float32Array> => {
  const out = new Map<string, Float32Array>();
  for (const [path, x] of a) {
    const y = b.get(path);
    if (y === undefined || y.length !== x.length) {
      throw new RangeError(`${what}: parameter '${path}' has ${x.length} values but ${y === undefined ? 'no partner' : `a partner of ${y.length}`}`);
    }
    const r = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) r[i] = f(x[i]!, y[i]!);
    out.set(path, r);
  }
  return out;
};

/**
 * The virtual step of unrolled DARTS: θ' = θ − ξ·(∇θ L_train + wd·θ), plain SGD with the weight optimizer's
 * L2 decay (as NNI's `_compute_virtual_model`; the original DARTS code also adds the momentum buffer, which
 * the runtime may fold into `grads`). Every parameter needs a gradient of its length (else a `RangeError`).
 *
 * @example
 * virtualStep(new Map([['w', Float32Array.of(1)]]), new Map([['w', Float32Array.of(2)]]), 0.1, 0); // w: 0.8
 */
export const virtualStep = (params: ParamStore, grads: ParamStore, xi: number, weightDecay: number): Map<string, Float32Array> =>
  zipStores('virtualStep', params, grads, (w, g) => w - xi * (g + weightDecay * w));

/**
 * DARTS's finite-difference step for the Hessian–vector product: ε = 0.01 / ‖grads‖₂ over all parameters
 * (grads = ∇θ' L_val at the virtual weights). When the norm is 0 the direction is 0 and any ε gives the
 * same (zero) product, so 0.01 is returned instead of infinity.
 *
 * @example
 * hvpEpsilon(new Map([['w', Float32Array.of(3, 4)]])); // 0.002
 */
export const hvpEpsilon = (grads: ParamStore): number => {
  let sq = 0;
  for (const g of grads.values()) for (let i = 0; i < g.length; i++) sq += g[i]! * g[i]!;
  const norm = Math.sqrt(sq);
  return norm === 0 ? 0.01 : 0.01 / norm;
};

/**
 * θ + eps·d for every parameter (use −eps for θ⁻).
 *
 * @example
 * perturb(params, dValDw, hvpEpsilon(dValDw)); // θ⁺
 */
export const perturb = (params: ParamStore, direction: ParamStore, eps: number): Map<string, Float32Array> =>
  zipStores('perturb', params, direction, (w, d) => w + eps * d);

/**
 * The unrolled arch gradient as ∂L/∂(mix weights) per key: ∂L_val/∂w(θ') − ξ·(∂L_train/∂w(θ⁺) − ∂L_train/∂w(θ⁻)) / (2ε),
 * the second term being the finite-difference Hessian–vector product ∇²_{w,θ} L_train · ∇θ' L_val. Pass the
 * result to `dartsArchStep` (the softmax chain to α is linear, so it commutes with this combination).
 *
 * @example
 * dartsArchStep(space, state, unrolledArchGrad(valAtVirtual, trainAtPlus, trainAtMinus, xi, eps));
 */
export const unrolledArchGrad = (
  dLvalDwAtVirtual: KeyVectors,
  dLtrainDwPlus: KeyVectors,
  dLtrainDwMinus: KeyVectors,
  xi: number,
  eps: number,
): KeyVectors =>
  Object.fromEntries(
    Object.entries(dLvalDwAtVirtual).map(([key, v]) => {
      const p = dLtrainDwPlus[key];
      const m = dLtrainDwMinus[key];
      if (p === undefined || m === undefined || p.length !== v.length || m.length !== v.length) {
        throw new RangeError(`unrolledArchGrad: key '${key}' needs gradients of length ${v.length} at θ⁺ and θ⁻`);
      }
      return [key, v.map((x, i) => x - (xi * (p[i]! - m[i]!)) / (2 * eps))] as const;
    }),
  );
