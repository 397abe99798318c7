/**
 * FBNet (Wu et al., CVPR 2019): a Gumbel-softmax supernet trained with a latency-aware loss. Each step draws
 * Gumbel noise g and runs the mixed supernet with the SOFT mask m = softmax((θ + g)/τ) per layer key (the paper's
 * forward pass, unlike GDAS's hard one-hot); the architecture loss is
 *
 *     L(θ) = CE · α · log(LAT)^β,   LAT = Σ_key Σ_i m_i · LAT_key,i
 *
 * where LAT_key,i is candidate i's latency from a lookup table measured on the device (microseconds per batch,
 * src/runtime/oneshot/latency-table.ts). Defaults as the paper: α = 0.2, β = 0.6, τ = 5 annealed by ×0.956
 * (= e^−0.045) per epoch, θ trained by Adam (lr 0.01, weight decay 5e-4). α only scales the loss (Adam is
 * scale-invariant), so β is the latency weight: β = 0 ignores latency, larger β pushes towards cheaper candidates.
 * LAT below e µs counts as e µs (log LAT = 1): a near-free architecture cannot drive the loss to 0.
 *
 * Layer choices only (input choices are refused by key). Export: argmax of softmax(θ) per key (DARTS' rule).
 *
 * @example
 * let [state, rng] = fbnetInit(space, seedRng(0), {});
 * const tau = fbnetTemperature(epoch, state.options);
 * const s = gdasSample(space, state.alphas, tau, rng);          // run the supernet with s.soft
 * state = fbnetArchStep(state, s.soft, tau, ce, dCEdm, table).state;
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import type { Architecture } from '../../ir/apply.ts';
import type { Rng } from '../../ir/rng.ts';
import type { SearchSpace } from '../../ir/space.ts';
import { type StrategyError, checkSpace, decodeWith, optionError, spaceFingerprint } from '../strategy.ts';
import { adamInit, adamOptionProps, adamShapeErrors, adamStateCodec, adamStep, resolveAdamOptions } from './adam.ts';
import { alphaOptionErrors, alphaShapeErrors, deriveArchitecture, initAlphas, keyVectorsCodec, layerDecisions, softmax, softmaxVjp } from './alphas.ts';
import type { KeyVectors } from './types.ts';
import { mixedShapeErrors } from './mixed-shapes.ts';

const NAME = 'fbnet';

/** FBNet options; every field optional, with the paper's defaults. */
export interface FbnetOptions {
  /** Arch Adam learning rate, 0.01. */
  readonly lr?: number;
  /** Arch Adam betas, [0.9, 0.999]. */
  readonly betas?: readonly [number, number];
  /** Arch Adam L2 weight decay, 5e-4. */
  readonly weightDecay?: number;
  /** Arch Adam epsilon, 1e-8. */
  readonly eps?: number;
  /** Standard deviation of θ's initialisation, 1e-3. */
  readonly initScale?: number;
  /** α of CE·α·log(LAT)^β, 0.2. */
  readonly alpha?: number;
  /** β of CE·α·log(LAT)^β (the latency weight), 0.6. */
  readonly beta?: number;
  /** Gumbel-softmax temperature of the first epoch, 5. */
  readonly tauInit?: number;
  /** Factor the temperature is multiplied by after each epoch, 0.956 (= e^−0.045). */
  readonly tauDecay?: number;
}

const optionProps = {
  ...adamOptionProps,
  initScale: t.number,
  alpha: t.number,
  beta: t.number,
  tauInit: t.number,
  tauDecay: t.number,
};

/** Decodes FBNet options from JSON (every field optional). */
export const fbnetOptionsCodec = t.partial(optionProps);

const settingsCodec = t.readonly(t.type(optionProps));

/** FBNet options with every default filled in, as saved in the state. */
export type FbnetSettings = t.TypeOf<typeof settingsCodec>;

/**
 * The options with the paper's defaults filled in.
 *
 * @example
 * resolveFbnetOptions({ beta: 2 }).alpha; // 0.2
 */
export const resolveFbnetOptions = (o: FbnetOptions = {}): FbnetSettings => ({
  ...resolveAdamOptions(o, { lr: 0.01, betas: [0.9, 0.999], weightDecay: 5e-4 }),
  initScale: o.initScale ?? 1e-3,
  alpha: o.alpha ?? 0.2,
  beta: o.beta ?? 0.6,
  tauInit: o.tauInit ?? 5,
  tauDecay: o.tauDecay ?? 0.956,
});

const stateCodec = t.readonly(t.type({ strategy: t.string, space: t.string, options: settingsCodec, alphas: keyVectorsCodec, adam: adamStateCodec }));

/** The FBNet state (plain JSON). */
export type FbnetState = t.TypeOf<typeof stateCodec>;

/** A latency lookup table: per layer key, one latency per candidate (microseconds per batch). */
export type LatencyLookup = Readonly<Record<string, readonly number[]>>;

/**
 * The temperature of `epoch` (0-based): tauInit · tauDecay^epoch.
 *
 * @example
 * fbnetTemperature(0, resolveFbnetOptions()); // 5
 * fbnetTemperature(1, resolveFbnetOptions()); // 4.78
 */
export const fbnetTemperature = (epoch: number, o: Pick<FbnetSettings, 'tauInit' | 'tauDecay'>): number => o.tauInit * o.tauDecay ** Math.max(0, epoch);

/**
 * Every reason FBNet cannot search `space` with `options`: input choices (by key), Adam options out of range,
 * α ≤ 0, β < 0, τ ≤ 0, a decay outside (0, 1].
 */
export const fbnetCheck = (space: SearchSpace, options: FbnetOptions = {}): readonly StrategyError[] => {
  const s = resolveFbnetOptions(options);
  return [
    ...checkSpace(NAME, ['layer'], space),
    ...mixedShapeErrors(NAME, space),
    ...alphaOptionErrors(NAME, s, s.initScale),
    ...optionError(NAME, 'alpha', Number.isFinite(s.alpha) && s.alpha > 0, `must be a positive number, got ${s.alpha}`),
    ...optionError(NAME, 'beta', Number.isFinite(s.beta) && s.beta >= 0, `must be a non-negative number, got ${s.beta}`),
    ...optionError(NAME, 'tauInit', Number.isFinite(s.tauInit) && s.tauInit > 0, `must be a positive number, got ${s.tauInit}`),
    ...optionError(NAME, 'tauDecay', Number.isFinite(s.tauDecay) && s.tauDecay > 0 && s.tauDecay <= 1, `must be in (0, 1], got ${s.tauDecay}`),
  ];
};

/**
 * Every problem of a latency table for `space`: a layer key missing, a row of the wrong length, a negative or
 * non-finite latency (each names the key).
 */
export const latencyLookupErrors = (space: SearchSpace, table: LatencyLookup): readonly string[] =>
  layerDecisions(space).flatMap((d) => {
    const row = table[d.key];
    if (row === undefined) return [`the latency table has no row for layer choice '${d.key}'`];
    if (row.length !== d.names.length) return [`the latency table's row for '${d.key}' has ${row.length} latencies, the choice has ${d.names.length} candidates`];
    const bad = row.findIndex((x) => !(Number.isFinite(x) && x >= 0));
    return bad >= 0 ? [`the latency table's entry for candidate '${d.names[bad]}' of '${d.key}' must be a non-negative number, got ${row[bad]}`] : [];
  });

/** The state before the first step: θ = initScale·N(0, 1), n per layer key; fresh Adam moments. */
export const fbnetInit = (space: SearchSpace, rng: Rng, options: FbnetOptions = {}): [FbnetState, Rng] => {
  const settings = resolveFbnetOptions(options);
  const [alphas, r] = initAlphas(space, rng, { extraZero: false, scale: settings.initScale });
  return [{ strategy: NAME, space: spaceFingerprint(space), options: settings, alphas, adam: adamInit(alphas) }, r];
};

/**
 * LAT = Σ_key Σ_i m_i·LAT_key,i for per-key weights `m` (a Gumbel-softmax mask, or softmax(θ) for the expected
 * latency, or a one-hot architecture). Keys of `m` without a row count 0.
 *
 * @example
 * fbnetLatency({ op: [0.5, 0.5] }, { op: [100, 300] }); // 200
 */
export const fbnetLatency = (m: KeyVectors, table: LatencyLookup): number =>
  Object.entries(m).reduce((sum, [key, w]) => {
    const row = table[key];
    if (row === undefined) return sum;
    if (row.length !== w.length) throw new RangeError(`fbnetLatency: layer choice '${key}' has ${w.length} weights but ${row.length} latencies`);
    return sum + w.reduce((s, wi, i) => s + wi * row[i]!, 0);
  }, 0);

/** The latency term's factor log(max(LAT, e))^β. */
const latencyFactor = (lat: number, beta: number): number => Math.log(Math.max(lat, Math.E)) ** beta;

/**
 * FBNet's loss CE·α·log(LAT)^β (LAT floored at e, see the module comment).
 *
 * @example
 * fbnetLoss(2, Math.E ** 4, { alpha: 0.2, beta: 0.5 }); // 2·0.2·2 = 0.8
 */
export const fbnetLoss = (ce: number, lat: number, o: Pick<FbnetSettings, 'alpha' | 'beta'>): number => ce * o.alpha * latencyFactor(lat, o.beta);

/** The loss of a sample and its gradient with respect to the mask. */
export interface FbnetLossGrad {
  readonly loss: number;
  readonly latency: number;
  /** ∂L/∂m per layer key. */
  readonly dLdm: KeyVectors;
}

/**
 * L = CE·α·log(LAT)^β of mask `m` and its gradient ∂L/∂m_i = α·ℓ^β·∂CE/∂m_i + CE·α·β·ℓ^(β−1)·LAT_i/LAT with
 * ℓ = log LAT (the second term is 0 where LAT is floored at e). `dCEdm`: ∂CE/∂m per key from the supernet.
 *
 * @example
 * fbnetLossGrad(ce, dCEdm, sample.soft, table, state.options).dLdm;
 */
export const fbnetLossGrad = (ce: number, dCEdm: KeyVectors, m: KeyVectors, table: LatencyLookup, o: Pick<FbnetSettings, 'alpha' | 'beta'>): FbnetLossGrad => {
  const lat = fbnetLatency(m, table);
  const ell = Math.log(Math.max(lat, Math.E));
  const f = ell ** o.beta;
  const dLat = lat > Math.E && o.beta !== 0 ? (ce * o.alpha * o.beta * ell ** (o.beta - 1)) / lat : 0;
  const dLdm = Object.fromEntries(
    Object.entries(m).map(([key, w]) => {
      const g = dCEdm[key];
      if (g === undefined || g.length !== w.length) {
        throw new RangeError(`fbnetLossGrad: layer choice '${key}' has ${w.length} candidates but ${g === undefined ? 'no gradient' : `a gradient of length ${g.length}`}`);
      }
      const row = table[key];
      return [key, w.map((_, i) => o.alpha * f * g[i]! + dLat * (row?.[i] ?? 0))] as const;
    }),
  );
  return { loss: ce * o.alpha * f, latency: lat, dLdm };
};

/**
 * ∂L/∂θ per layer key through the Gumbel softmax m = softmax((θ + g)/τ): (1/τ)·softmaxVjp(m, ∂L/∂m).
 *
 * @example
 * fbnetArchGrad(sample.soft, 5, dLdm);
 */
export const fbnetArchGrad = (m: KeyVectors, tau: number, dLdm: KeyVectors): KeyVectors =>
  Object.fromEntries(Object.entries(m).map(([key, p]) => [key, softmaxVjp(p, dLdm[key] ?? p.map(() => 0)).map((x) => x / tau)] as const));

/**
 * One arch step on a sample: the loss and ∂L/∂m (`fbnetLossGrad`), through the Gumbel softmax to θ, then Adam.
 * Returns the next state and the sample's loss and latency.
 */
export const fbnetArchStep = (
  state: FbnetState,
  m: KeyVectors,
  tau: number,
  ce: number,
  dCEdm: KeyVectors,
  table: LatencyLookup,
): { readonly state: FbnetState; readonly loss: number; readonly latency: number } => {
  const lg = fbnetLossGrad(ce, dCEdm, m, table, state.options);
  const { params, state: adam } = adamStep(state.adam, state.alphas, fbnetArchGrad(m, tau, lg.dLdm), state.options);
  return { state: { ...state, alphas: params, adam }, loss: lg.loss, latency: lg.latency };
};

/** softmax(θ) per layer key, for the history. */
export const fbnetDistribution = (space: SearchSpace, state: FbnetState): KeyVectors =>
  Object.fromEntries(layerDecisions(space).map((d) => [d.key, softmax(state.alphas[d.key] ?? [])] as const));

/** The architecture FBNet derives now: the most probable candidate per layer key. */
export const fbnetExport = (space: SearchSpace, state: FbnetState): Architecture => deriveArchitecture(space, fbnetDistribution(space, state));

/** The state as JSON (`decodeFbnetState` of its parse gives it back). */
export const encodeFbnetState = (state: FbnetState): unknown => stateCodec.encode(state);

/** An FBNet state read back from JSON; refused (every error) when malformed, made by another strategy or for another space. */
export const decodeFbnetState = (space: SearchSpace, json: unknown): E.Either<readonly StrategyError[], FbnetState> =>
  E.chain((s: FbnetState): E.Either<readonly StrategyError[], FbnetState> => {
    const errors = [...alphaShapeErrors(NAME, space, s.alphas, false), ...adamShapeErrors(NAME, s.adam, s.alphas)];
    return errors.length > 0 ? E.left(errors) : E.right(s);
  })(decodeWith(NAME, stateCodec, space, json));
