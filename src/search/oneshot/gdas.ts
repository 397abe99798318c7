/**
 * GDAS (Dong & Yang, CVPR 2019): Gumbel-softmax sampling of one candidate per layer key with an annealed
 * temperature; the forward pass runs the hard one-hot choice, the backward pass uses the soft sample
 * (straight-through: hard = onehot − sg(soft) + soft). Alphas have n logits per layer key (no zero op: a "none"
 * candidate, if wanted, is an ordinary candidate); input choices are summed during the search as in DARTS, and the
 * export is DARTS's (argmax op, top-k edges). Arch optimizer: Adam with DARTS's defaults.
 *
 * The runtime runs the mixed supernet with the one-hot `weights` and reads ∂L/∂w for EVERY candidate (the exact
 * straight-through estimator; GDAS's code skips the unselected candidates' outputs and feeds them a constant).
 *
 * @example
 * let [state, rng] = gdasInit(space, seedRng(0), {});
 * const tau = gdasTemperature(epoch, epochs);
 * const s = gdasSample(space, state.alphas, tau, rng);    // run the supernet with s.weights
 * state = gdasArchStep(space, state, s.soft, tau, dLdw);  // dLdw: ∂L/∂w from the runtime
 * rng = s.rng;
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import type { Architecture } from '../../ir/apply.ts';
import { type Rng, nextU32 } from '../../ir/rng.ts';
import type { SearchSpace } from '../../ir/space.ts';
import { type StrategyError, checkSpace, decodeWith, optionError, spaceFingerprint } from '../strategy.ts';
import { adamInit, adamShapeErrors, adamStateCodec, adamStep, adamOptionProps, resolveAdamOptions } from './adam.ts';
import { alphaOptionErrors, alphaShapeErrors, argmax, deriveArchitecture, initAlphas, keyVectorsCodec, layerDecisions, softmax, softmaxVjp } from './alphas.ts';
import type { KeyVectors } from './types.ts';
import { mixedShapeErrors } from './mixed-shapes.ts';

const NAME = 'gdas';

/** The temperature schedule's ends. */
export interface GdasTemperatureOptions {
  /** Temperature of the first epoch, 10 (GDAS paper). */
  readonly tauMax?: number;
  /** Temperature of the last epoch, 0.1 (GDAS paper). */
  readonly tauMin?: number;
}

/** GDAS options; every field optional. */
export interface GdasOptions extends GdasTemperatureOptions {
  /** Arch Adam learning rate, 3e-4 (as DARTS). */
  readonly lr?: number;
  /** Arch Adam betas, [0.5, 0.999]. */
  readonly betas?: readonly [number, number];
  /** Arch Adam L2 weight decay, 1e-3. */
  readonly weightDecay?: number;
  /** Arch Adam epsilon, 1e-8. */
  readonly eps?: number;
  /** Standard deviation of the alphas' initialisation, 1e-3. */
  readonly initScale?: number;
}

const optionProps = {
  ...adamOptionProps,
  initScale: t.number,
  tauMax: t.number,
  tauMin: t.number,
};

/** Decodes GDAS options from JSON (every field optional). */
export const gdasOptionsCodec = t.partial(optionProps);

const settingsCodec = t.readonly(t.type(optionProps));

/** GDAS options with every default filled in, as saved in the state. */
export type GdasSettings = t.TypeOf<typeof settingsCodec>;

/**
 * The options with the defaults filled in (DARTS's arch Adam; τ from 10 to 0.1 as the GDAS paper).
 *
 * @example
 * resolveGdasOptions({ tauMin: 0.5 }).tauMax; // 10
 */
export const resolveGdasOptions = (o: GdasOptions = {}): GdasSettings => ({
  ...resolveAdamOptions(o, { lr: 3e-4, betas: [0.5, 0.999], weightDecay: 1e-3 }),
  initScale: o.initScale ?? 1e-3,
  tauMax: o.tauMax ?? 10,
  tauMin: o.tauMin ?? 0.1,
});

const stateCodec = t.readonly(t.type({ strategy: t.string, space: t.string, options: settingsCodec, alphas: keyVectorsCodec, adam: adamStateCodec }));

/** The GDAS state (plain JSON). */
export type GdasState = t.TypeOf<typeof stateCodec>;

/**
 * The temperature of `epoch` (0-based) of `epochs`: linear from tauMax at the first epoch to tauMin at the last
 * (GDAS's `tau_max − (tau_max − tau_min)·epoch/(epochs − 1)`); epochs outside the range are clamped, and a
 * one-epoch search runs at tauMax.
 *
 * @example
 * gdasTemperature(0, 11);  // 10
 * gdasTemperature(10, 11); // 0.1
 */
export const gdasTemperature = (epoch: number, epochs: number, o: GdasTemperatureOptions = {}): number => {
  const tauMax = o.tauMax ?? 10;
  const tauMin = o.tauMin ?? 0.1;
  if (epochs <= 1) return tauMax;
  const f = Math.min(1, Math.max(0, epoch / (epochs - 1)));
  return tauMax - (tauMax - tauMin) * f;
};

/**
 * Every reason GDAS cannot search `space` with `options`: the kinds DARTS supports (layer choices, input choices
 * with a fixed `nChosen`), Adam options in range, 0 < tauMin ≤ tauMax.
 */
export const gdasCheck = (space: SearchSpace, options: GdasOptions = {}): readonly StrategyError[] => {
  const s = resolveGdasOptions(options);
  return [
    ...checkSpace(NAME, ['layer', 'input'], space),
    ...mixedShapeErrors(NAME, space),
    ...alphaOptionErrors(NAME, s, s.initScale),
    ...optionError(NAME, 'tauMin', Number.isFinite(s.tauMin) && s.tauMin > 0, `must be a positive number, got ${s.tauMin}`),
    ...optionError(NAME, 'tauMax', Number.isFinite(s.tauMax) && s.tauMax >= s.tauMin, `must be a number at least tauMin (${s.tauMin}), got ${s.tauMax}`),
  ];
};

/** The state before the first step: alphas = initScale·N(0, 1), n per layer key; fresh Adam moments. */
export const gdasInit = (space: SearchSpace, rng: Rng, options: GdasOptions = {}): [GdasState, Rng] => {
  const settings = resolveGdasOptions(options);
  const [alphas, r] = initAlphas(space, rng, { extraZero: false, scale: settings.initScale });
  return [{ strategy: NAME, space: spaceFingerprint(space), options: settings, alphas, adam: adamInit(alphas) }, r];
};

/** A standard Gumbel sample −log(−log u), u uniform in the OPEN interval (0, 1) so that it is always finite. */
const nextGumbel = (rng: Rng): [number, Rng] => {
  const [x, r] = nextU32(rng);
  const u = (x + 0.5) / 4294967296;
  return [-Math.log(-Math.log(u)), r];
};

/** One GDAS sample. */
export interface GdasSample {
  /** The weights to run: one-hot of the sampled candidate per layer key, ones per input key. */
  readonly weights: KeyVectors;
  /** softmax((α + g)/τ) per layer key: the backward path. */
  readonly soft: KeyVectors;
  /** The sampled candidate per layer key: argmax of `soft` (the Gumbel-max trick: drawn with probability softmax(α)). */
  readonly index: Readonly<Record<string, number>>;
  readonly rng: Rng;
}

/**
 * Draws Gumbel noise g (one per candidate, from `rng`, in the space's order) and returns the hard and soft
 * samples of softmax((α + g)/τ) per layer key. The noise does not depend on α, so with the same `rng` the soft
 * sample is a smooth function of α.
 *
 * @example
 * const { weights, soft, index, rng: next } = gdasSample(space, state.alphas, 5, rng);
 */
export const gdasSample = (space: SearchSpace, alphas: KeyVectors, tau: number, rng: Rng): GdasSample => {
  let r = rng;
  const weights: Record<string, readonly number[]> = {};
  const soft: Record<string, readonly number[]> = {};
  const index: Record<string, number> = {};
  for (const d of space.decisions) {
    if (d.kind === 'input') {
      weights[d.key] = d.names.map(() => 1);
      continue;
    }
    const a = alphas[d.key];
    if (a === undefined || a.length !== d.names.length) {
      throw new RangeError(`gdasSample: layer choice '${d.key}' needs ${d.names.length} logits, got ${a === undefined ? 'none' : a.length}`);
    }
    const z: number[] = [];
    for (const ai of a) {
      const [g, next] = nextGumbel(r);
      r = next;
      z.push((ai + g) / tau);
    }
    const p = softmax(z);
    const k = argmax(p);
    soft[d.key] = p;
    index[d.key] = k;
    weights[d.key] = p.map((_, i) => (i === k ? 1 : 0));
  }
  return { weights, soft, index, rng: r };
};

/**
 * ∂L/∂α per layer key of a sample: straight through the hard one-hot (∂L/∂soft = ∂L/∂w), then through
 * soft = softmax((α + g)/τ): (1/τ)·softmaxVjp(soft, ∂L/∂w). Keys of `dLdw` not in `soft` (input keys) are
 * ignored; a missing or mis-shaped gradient is a `RangeError` naming the key.
 *
 * @example
 * gdasArchGrad(sample.soft, tau, dLdw); // { op1: [...], ... }
 */
export const gdasArchGrad = (soft: KeyVectors, tau: number, dLdw: KeyVectors): KeyVectors =>
  Object.fromEntries(
    Object.entries(soft).map(([key, p]) => {
      const g = dLdw[key];
      if (g === undefined || g.length !== p.length) {
        throw new RangeError(`gdasArchGrad: layer choice '${key}' has ${p.length} candidates but ${g === undefined ? 'no gradient' : `a gradient of length ${g.length}`}`);
      }
      return [key, softmaxVjp(p, g).map((x) => x / tau)] as const;
    }),
  );

/** One arch step: `gdasArchGrad` of the sample the gradient was measured on, then Adam. */
export const gdasArchStep = (_space: SearchSpace, state: GdasState, soft: KeyVectors, tau: number, dLdw: KeyVectors): GdasState => {
  const { params, state: adam } = adamStep(state.adam, state.alphas, gdasArchGrad(soft, tau, dLdw), state.options);
  return { ...state, alphas: params, adam };
};

/** softmax(α) per layer key: the distribution GDAS samples from, for the history. */
export const gdasDistribution = (space: SearchSpace, state: GdasState): KeyVectors =>
  Object.fromEntries(layerDecisions(space).map((d) => [d.key, softmax(state.alphas[d.key] ?? [])] as const));

/** The architecture GDAS derives now: DARTS's rule (`deriveArchitecture`) on softmax(α). */
export const gdasExport = (space: SearchSpace, state: GdasState): Architecture => deriveArchitecture(space, gdasDistribution(space, state));

/** The state as JSON (`decodeGdasState` of its parse gives it back). */
export const encodeGdasState = (state: GdasState): unknown => stateCodec.encode(state);

/** A GDAS state read back from JSON; refused (every error) when malformed, made by another strategy or for another space. */
export const decodeGdasState = (space: SearchSpace, json: unknown): E.Either<readonly StrategyError[], GdasState> =>
  E.chain((s: GdasState): E.Either<readonly StrategyError[], GdasState> => {
    const errors = [...alphaShapeErrors(NAME, space, s.alphas, false), ...adamShapeErrors(NAME, s.adam, s.alphas)];
    return errors.length > 0 ? E.left(errors) : E.right(s);
  })(decodeWith(NAME, stateCodec, space, json));
