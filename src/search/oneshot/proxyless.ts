/**
 * ProxylessNAS (Cai et al., ICLR 2019) as NNI runs it: per layer choice, logits α and binary gates g. Each step
 * samples the active path from p = softmax(α) (one path), or two distinct paths of which the gate keeps one by
 * their renormalised probabilities (two paths); the supernet runs the one-hot gates and hands back ∂L/∂g for the
 * candidates involved; the logits get ∂L/∂α_i = Σ_j ∂L/∂g_j · p_j (δ_ij − p_i). Arch optimizer: Adam(1e-3, betas
 * (0, 0.999), no weight decay). Beyond NNI: an expected-cost term λ·Σ_key Σ_i p_i·cost_i (FLOPs or measured
 * latency per candidate) added to the arch loss (`costWeight` λ, 0 by default = NNI).
 *
 * Layer choices only: a space with an input choice is refused, naming its key (NNI had no input choices here).
 *
 * @example
 * let [state, rng] = proxylessInit(space, seedRng(0), { paths: 2 });
 * const s = proxylessSample(space, state.alphas, rng, { paths: 2 });  // run the supernet with s.weights
 * state = proxylessArchStep(space, state, s, dLdg, costs);              // dLdg: ∂L/∂g from the runtime
 * rng = s.rng;
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import type { Architecture } from '../../ir/apply.ts';
import { type Rng, nextFloat } from '../../ir/rng.ts';
import type { SearchSpace } from '../../ir/space.ts';
import { type StrategyError, checkSpace, decodeWith, optionError, spaceFingerprint } from '../strategy.ts';
import { adamInit, adamShapeErrors, adamStateCodec, adamStep, adamOptionProps, resolveAdamOptions } from './adam.ts';
import { alphaOptionErrors, alphaShapeErrors, deriveArchitecture, initAlphas, keyVectorsCodec, layerDecisions, softmax, softmaxVjp } from './alphas.ts';
import type { KeyVectors } from './types.ts';
import { mixedShapeErrors } from './mixed-shapes.ts';

const NAME = 'proxyless';

/** ProxylessNAS options; every field optional, with NNI's defaults. */
export interface ProxylessOptions {
  /** Arch Adam learning rate, 1e-3. */
  readonly lr?: number;
  /** Arch Adam betas, [0, 0.999]. */
  readonly betas?: readonly [number, number];
  /** Arch Adam L2 weight decay, 0. */
  readonly weightDecay?: number;
  /** Arch Adam epsilon, 1e-8. */
  readonly eps?: number;
  /** Active paths sampled per step: 1 (NNI's default 'full_v2' mode) or 2 (the paper's memory-saving mode). */
  readonly paths?: 1 | 2;
  /** λ of the expected-cost term λ·E[cost]; 0 by default (NNI had none). */
  readonly costWeight?: number;
  /** Standard deviation of the alphas' initialisation, 1e-3 (NNI). */
  readonly initScale?: number;
}

const optionProps = {
  ...adamOptionProps,
  paths: t.union([t.literal(1), t.literal(2)]),
  costWeight: t.number,
  initScale: t.number,
};

/** Decodes ProxylessNAS options from JSON (every field optional). */
export const proxylessOptionsCodec = t.partial(optionProps);

const settingsCodec = t.readonly(t.type(optionProps));

/** ProxylessNAS options with every default filled in, as saved in the state. */
export type ProxylessSettings = t.TypeOf<typeof settingsCodec>;

/**
 * The options with NNI's defaults filled in.
 *
 * @example
 * resolveProxylessOptions({ paths: 2 }); // { lr: 1e-3, betas: [0, 0.999], weightDecay: 0, eps: 1e-8, paths: 2, costWeight: 0, initScale: 1e-3 }
 */
export const resolveProxylessOptions = (o: ProxylessOptions = {}): ProxylessSettings => ({
  ...resolveAdamOptions(o, { lr: 1e-3, betas: [0, 0.999], weightDecay: 0 }),
  paths: o.paths ?? 1,
  costWeight: o.costWeight ?? 0,
  initScale: o.initScale ?? 1e-3,
});

const stateCodec = t.readonly(t.type({ strategy: t.string, space: t.string, options: settingsCodec, alphas: keyVectorsCodec, adam: adamStateCodec }));

/** The ProxylessNAS state (plain JSON). */
export type ProxylessState = t.TypeOf<typeof stateCodec>;

/**
 * Every reason ProxylessNAS cannot search `space` with `options`: any input choice (named by key), options out
 * of range (Adam's, `paths` not 1 or 2, a negative `costWeight`).
 *
 * @example
 * proxylessCheck(dartsSpace, {}); // UnsupportedChoice for normal_n2_switch, ...
 */
export const proxylessCheck = (space: SearchSpace, options: ProxylessOptions = {}): readonly StrategyError[] => {
  const s = resolveProxylessOptions(options);
  return [
    ...checkSpace(NAME, ['layer'], space),
    ...mixedShapeErrors(NAME, space),
    ...alphaOptionErrors(NAME, s, s.initScale),
    ...optionError(NAME, 'paths', s.paths === 1 || s.paths === 2, `must be 1 or 2, got ${String(s.paths)}`),
    ...optionError(NAME, 'costWeight', Number.isFinite(s.costWeight) && s.costWeight >= 0, `must be a non-negative number, got ${s.costWeight}`),
  ];
};

/** The state before the first step: alphas = initScale·N(0, 1), n per layer key; fresh Adam moments. */
export const proxylessInit = (space: SearchSpace, rng: Rng, options: ProxylessOptions = {}): [ProxylessState, Rng] => {
  const settings = resolveProxylessOptions(options);
  const [alphas, r] = initAlphas(space, rng, { extraZero: false, scale: settings.initScale });
  return [{ strategy: NAME, space: spaceFingerprint(space), options: settings, alphas, adam: adamInit(alphas) }, r];
};

/** An index drawn with probability proportional to `weights` (non-negative, not all zero). */
const drawIndex = (weights: readonly number[], rng: Rng): [number, Rng] => {
  const total = weights.reduce((a, b) => a + b, 0);
  const [u, r] = nextFloat(rng);
  let acc = 0;
  let last = 0;
  for (let i = 0; i < weights.length; i++) {
    if (weights[i]! <= 0) continue;
    last = i;
    acc += weights[i]! / total;
    if (u < acc) return [i, r];
  }
  return [last, r]; // rounding left u ≥ the final sum: the last candidate with weight
};

/** One ProxylessNAS sample. */
export interface ProxylessSample {
  /** The active candidate per layer key. */
  readonly active: Readonly<Record<string, number>>;
  /**
   * The candidates the gate gradient is taken over, per key: all n with one path; with two paths the two
   * sampled, the active one first (NNI's `active_index + inactive_index`).
   */
  readonly involved: Readonly<Record<string, readonly number[]>>;
  /** The gates to run: one-hot of the active candidate per key. */
  readonly weights: KeyVectors;
  readonly rng: Rng;
}

/**
 * Samples the active path of every layer key. One path: drawn from softmax(α). Two paths (NNI's
 * `binarize` in 'two' mode): two distinct candidates drawn without replacement by softmax(α) (the second from the
 * renormalised rest, as `torch.multinomial(p, 2, replacement=False)`), then the gate keeps one of them with
 * probability softmax over their two logits (= p renormalised over the pair). A key with a single candidate
 * has it active and involved alone.
 *
 * @example
 * const { active, weights, rng: next } = proxylessSample(space, state.alphas, rng, { paths: 1 });
 */
export const proxylessSample = (space: SearchSpace, alphas: KeyVectors, rng: Rng, o: { readonly paths: 1 | 2 }): ProxylessSample => {
  let r = rng;
  const active: Record<string, number> = {};
  const involved: Record<string, readonly number[]> = {};
  const weights: Record<string, readonly number[]> = {};
  for (const d of layerDecisions(space)) {
    const a = alphas[d.key];
    const n = d.names.length;
    if (a === undefined || a.length !== n) throw new RangeError(`proxylessSample: layer choice '${d.key}' needs ${n} logits, got ${a === undefined ? 'none' : a.length}`);
    const p = softmax(a);
    let act: number;
    if (o.paths === 1 || n === 1) {
      [act, r] = drawIndex(p, r);
      involved[d.key] = p.map((_, i) => i);
    } else {
      let first: number;
      let second: number;
      [first, r] = drawIndex(p, r);
      [second, r] = drawIndex(p.map((x, i) => (i === first ? 0 : x)), r);
      const pair = softmax([a[first]!, a[second]!]);
      let c: number;
      [c, r] = drawIndex(pair, r);
      act = c === 0 ? first : second;
      involved[d.key] = [act, c === 0 ? second : first];
    }
    active[d.key] = act;
    weights[d.key] = p.map((_, i) => (i === act ? 1 : 0));
  }
  return { active, involved, weights, rng: r };
};

/**
 * ∂L/∂α per layer key from the gates' gradient ∂L/∂g (`dLdg`, per key, n entries; only the involved ones are
 * read): over the involved candidates S with p renormalised over them (p_S = softmax(α_S): all of them with one
 * path, the pair with two, as NNI's `set_arch_param_grad`), ∂L/∂α_i = Σ_{j∈S} ∂L/∂g_j · p_j (δ_ij − p_i) for
 * i ∈ S, and 0 outside S.
 *
 * @example
 * proxylessArchGrad(state.alphas, sample, dLdg); // { op1: [...], ... }
 */
export const proxylessArchGrad = (alphas: KeyVectors, sampled: Pick<ProxylessSample, 'involved'>, dLdg: KeyVectors): KeyVectors =>
  Object.fromEntries(
    Object.entries(alphas).map(([key, a]) => {
      const s = sampled.involved[key];
      const g = dLdg[key];
      if (s === undefined) throw new RangeError(`proxylessArchGrad: the sample has no candidates for layer choice '${key}'`);
      if (g === undefined || g.length !== a.length) {
        throw new RangeError(`proxylessArchGrad: layer choice '${key}' has ${a.length} gates but ${g === undefined ? 'no gradient' : `a gradient of length ${g.length}`}`);
      }
      const vjp = softmaxVjp(softmax(s.map((i) => a[i]!)), s.map((i) => g[i]!));
      const out = a.map(() => 0);
      s.forEach((i, k) => (out[i] = vjp[k]!));
      return [key, out] as const;
    }),
  );

const costsOf = (key: string, n: number, costs: Readonly<Record<string, readonly number[]>>): readonly number[] | undefined => {
  const c = costs[key];
  if (c !== undefined && c.length !== n) throw new RangeError(`costs of layer choice '${key}': expected ${n} (one per candidate), got ${c.length}`);
  return c;
};

/**
 * The expected cost Σ_key Σ_i p_i·cost_i with p = softmax(α) per key. Keys without costs contribute nothing
 * (a choice whose candidates cost the same); a cost vector of the wrong length is a `RangeError`.
 *
 * @example
 * expectedCost({ conv: [0, 0] }, { conv: [100, 300] }); // 200
 */
export const expectedCost = (alphas: KeyVectors, costs: Readonly<Record<string, readonly number[]>>): number =>
  Object.entries(alphas).reduce((sum, [key, a]) => {
    const c = costsOf(key, a.length, costs);
    return c === undefined ? sum : sum + softmax(a).reduce((s, p, i) => s + p * c[i]!, 0);
  }, 0);

/**
 * ∂E[cost]/∂α per key (the exact softmax gradient: p_i·(cost_i − E_p[cost])); zeros for keys without costs.
 *
 * @example
 * expectedCostGrad({ conv: [0, 0] }, { conv: [100, 300] }); // { conv: [-50, 50] }
 */
export const expectedCostGrad = (alphas: KeyVectors, costs: Readonly<Record<string, readonly number[]>>): KeyVectors =>
  Object.fromEntries(
    Object.entries(alphas).map(([key, a]) => {
      const c = costsOf(key, a.length, costs);
      return [key, c === undefined ? a.map(() => 0) : softmaxVjp(softmax(a), c)] as const;
    }),
  );

/**
 * One arch step: ∂L/∂α from the gates (`proxylessArchGrad`) plus costWeight·∂E[cost]/∂α, then Adam; with two
 * paths, the two involved logits are then shifted by a common offset so that Σ exp over them is what it was
 * before the step (NNI's `rescale_updated_arch_param`: the pair's share of the probability mass is unchanged and
 * the other candidates' probabilities too; only the split between the two moves).
 *
 * @example
 * state = proxylessArchStep(space, state, sample, dLdg, { op1: [1.2e6, 3.4e6] });
 */
export const proxylessArchStep = (
  _space: SearchSpace,
  state: ProxylessState,
  sampled: Pick<ProxylessSample, 'involved'>,
  dLdg: KeyVectors,
  costs: Readonly<Record<string, readonly number[]>> = {},
): ProxylessState => {
  const o = state.options;
  const gGate = proxylessArchGrad(state.alphas, sampled, dLdg);
  const gCost = o.costWeight === 0 ? null : expectedCostGrad(state.alphas, costs);
  const grads = gCost === null ? gGate : Object.fromEntries(Object.entries(gGate).map(([k, g]) => [k, g.map((x, i) => x + o.costWeight * gCost[k]![i]!)] as const));
  const { params, state: adam } = adamStep(state.adam, state.alphas, grads, o);
  if (o.paths === 1) return { ...state, alphas: params, adam };
  const rescaled = Object.fromEntries(
    Object.entries(params).map(([key, next]) => {
      const s = sampled.involved[key] ?? [];
      if (s.length < 2) return [key, next] as const;
      const old = state.alphas[key]!;
      const lse = (v: readonly number[]): number => {
        const m = Math.max(...s.map((i) => v[i]!));
        return m + Math.log(s.reduce((acc, i) => acc + Math.exp(v[i]! - m), 0));
      };
      const offset = lse(next) - lse(old);
      return [key, next.map((x, i) => (s.includes(i) ? x - offset : x))] as const;
    }),
  );
  return { ...state, alphas: rescaled, adam };
};

/** softmax(α) per layer key: the distribution the active path is drawn from, for the history. */
export const proxylessDistribution = (space: SearchSpace, state: ProxylessState): KeyVectors =>
  Object.fromEntries(layerDecisions(space).map((d) => [d.key, softmax(state.alphas[d.key] ?? [])] as const));

/** The architecture ProxylessNAS derives now: the most probable candidate per layer key. */
export const proxylessExport = (space: SearchSpace, state: ProxylessState): Architecture => deriveArchitecture(space, proxylessDistribution(space, state));

/** The state as JSON (`decodeProxylessState` of its parse gives it back). */
export const encodeProxylessState = (state: ProxylessState): unknown => stateCodec.encode(state);

/** A ProxylessNAS state read back from JSON; refused (every error) when malformed, made by another strategy or for another space. */
export const decodeProxylessState = (space: SearchSpace, json: unknown): E.Either<readonly StrategyError[], ProxylessState> =>
  E.chain((s: ProxylessState): E.Either<readonly StrategyError[], ProxylessState> => {
    const errors = [...alphaShapeErrors(NAME, space, s.alphas, false), ...adamShapeErrors(NAME, s.adam, s.alphas)];
    return errors.length > 0 ? E.left(errors) : E.right(s);
  })(decodeWith(NAME, stateCodec, space, json));
