/**
 * Architecture logits ("alphas") of the differentiable one-shot algorithms and the math shared by them: their
 * initialisation, the softmax and its vector–Jacobian product, the mix weights a mixed supernet runs with, the
 * chain rule from ∂L/∂(mix weights) to ∂L/∂α, and the derivation of a discrete architecture from weights.
 *
 * Alphas exist for LAYER decisions only (one logit per candidate, plus one for DARTS's implicit "zero" op when
 * `extraZero`); input choices are summed during the search (weight 1 per input, not searched), as in NNI.
 *
 * @example
 * const [alphas, rng2] = initAlphas(space, seedRng(0), { extraZero: true });
 * const w = mixWeights(alphas, space, true);    // every key: softmax(α)[0..n) for layers, ones for inputs
 * // ... the runtime computes dLdw = ∂L/∂w ...
 * const g = alphasGrad(alphas, dLdw, true);     // ∂L/∂α per layer key (n+1 entries)
 * deriveArchitecture(space, w);                  // argmax per layer key, top-k edges per input key
 */
import * as t from 'io-ts';
import type { Architecture } from '../../ir/apply.ts';
import { type Rng, nextNormal } from '../../ir/rng.ts';
import type { Decision, SearchSpace } from '../../ir/space.ts';
import { type StrategyError, optionError } from '../strategy.ts';
import { type AdamOptions, adamOptionErrors } from './adam.ts';
import type { KeyVectors } from './types.ts';

/** The layer decisions of a space, in the space's order: the keys that have alphas. */
export const layerDecisions = (space: SearchSpace): readonly Extract<Decision, { kind: 'layer' }>[] =>
  space.decisions.flatMap((d) => (d.kind === 'layer' ? [d] : []));

/** How alphas are initialised. */
export interface AlphaInit {
  /** One more logit per key for the implicit "zero" op (DARTS), dropped after the softmax. */
  readonly extraZero: boolean;
  /** Standard deviation of the normal initialisation; 1e-3 by default (NNI: `1e-3 * torch.randn`). */
  readonly scale?: number;
}

/**
 * Alphas for every layer decision of `space`: `scale`·N(0, 1) per logit, n logits per key (n + 1 when
 * `extraZero`). Returns the next generator.
 *
 * @example
 * const [alphas, rng2] = initAlphas(space, seedRng(7), { extraZero: true }); // { normal_n2_p0: [9 numbers], ... }
 */
export const initAlphas = (space: SearchSpace, rng: Rng, o: AlphaInit): [KeyVectors, Rng] => {
  const scale = o.scale ?? 1e-3;
  let r = rng;
  const out: Record<string, readonly number[]> = {};
  for (const d of layerDecisions(space)) {
    const v: number[] = [];
    for (let i = 0; i < d.names.length + (o.extraZero ? 1 : 0); i++) {
      const [z, next] = nextNormal(r);
      r = next;
      v.push(scale * z);
    }
    out[d.key] = v;
  }
  return [out, r];
};

/**
 * The softmax of a vector, shifted by its maximum so that large logits do not overflow.
 *
 * @example
 * softmax([0, Math.log(3)]); // [0.25, 0.75]
 */
export const softmax = (v: readonly number[]): number[] => {
  const m = Math.max(...v);
  const e = v.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
};

/**
 * The vector–Jacobian product of the softmax: given p = softmax(z) and ∂L/∂p, returns ∂L/∂z, whose entries are
 * p_i·(∂L/∂p_i − Σ_j p_j ∂L/∂p_j) (the Jacobian is diag(p) − p pᵀ, symmetric).
 *
 * @example
 * softmaxVjp([0.5, 0.5], [1, 0]); // [0.25, -0.25]
 */
export const softmaxVjp = (p: readonly number[], dLdp: readonly number[]): number[] => {
  if (dLdp.length !== p.length) throw new RangeError(`softmaxVjp: ${p.length} probabilities but ${dLdp.length} gradients`);
  const dot = p.reduce((s, pi, i) => s + pi * dLdp[i]!, 0);
  return p.map((pi, i) => pi * (dLdp[i]! - dot));
};

const alphasOf = (alphas: KeyVectors, d: Decision, extraZero: boolean): readonly number[] => {
  const a = alphas[d.key];
  const want = d.names.length + (extraZero ? 1 : 0);
  if (a === undefined || a.length !== want) {
    throw new RangeError(`alphas of layer choice '${d.key}': expected ${want} logits (${d.names.length} candidates${extraZero ? ' + zero op' : ''}), got ${a === undefined ? 'none' : a.length}`);
  }
  return a;
};

/**
 * The weights a mixed supernet runs with, for EVERY decision key of `space`: a layer key gets softmax(α)
 * truncated to its n real candidates (with `extraZero` the zero op's share is dropped: it outputs zeros, so it
 * only scales the edge down); an input key gets all ones (its candidates are summed, not searched).
 *
 * @example
 * mixWeights({ conv: [0, 0, 0] }, space, true); // { conv: [0.333.., 0.333..], skip: [1, 1] } for conv with 2 candidates + zero
 */
export const mixWeights = (alphas: KeyVectors, space: SearchSpace, extraZero: boolean): KeyVectors =>
  Object.fromEntries(
    space.decisions.map((d) =>
      d.kind === 'layer'
        ? ([d.key, softmax(alphasOf(alphas, d, extraZero)).slice(0, d.names.length)] as const)
        : ([d.key, d.names.map(() => 1)] as const),
    ),
  );

/**
 * ∂L/∂α per layer key from ∂L/∂w (w = `mixWeights`), by the softmax's chain rule. The zero op's weight does not
 * reach the network, so ∂L/∂w of it is 0, but its logit still gets a gradient (through the normalisation).
 * Keys of `dLdw` without alphas (input keys) are ignored; a key of `alphas` missing from `dLdw`, or a gradient
 * of the wrong length, is a `RangeError` naming the key.
 *
 * @example
 * alphasGrad({ conv: [0, 0, 0] }, { conv: [1, 0], skip: [5, 5] }, true); // { conv: [2/9, -1/9, -1/9] }
 */
export const alphasGrad = (alphas: KeyVectors, dLdw: KeyVectors, extraZero: boolean): KeyVectors =>
  Object.fromEntries(
    Object.entries(alphas).map(([key, a]) => {
      const n = a.length - (extraZero ? 1 : 0);
      const g = dLdw[key];
      if (g === undefined || g.length !== n) {
        throw new RangeError(`alphasGrad: layer choice '${key}' has ${n} candidates but ${g === undefined ? 'no gradient' : `a gradient of length ${g.length}`}`);
      }
      return [key, softmaxVjp(softmax(a), extraZero ? [...g, 0] : g)] as const;
    }),
  );

/** The index of the largest entry (the first on ties). */
export const argmax = (v: readonly number[]): number => v.reduce((best, x, i) => (x > v[best]! ? i : best), 0);

/**
 * The k indices of the largest entries, ascending (ties go to the lower index, so the result is deterministic).
 */
const topK = (v: readonly number[], k: number): number[] =>
  v
    .map((x, i) => [x, i] as const)
    .sort((a, b) => b[0] - a[0] || a[1] - b[1])
    .slice(0, k)
    .map(([, i]) => i)
    .sort((a, b) => a - b);

/**
 * The discrete architecture that `weights` (one vector per LAYER key: its n candidates' weights, e.g. the
 * `mixWeights`; entries past n, such as a zero op's, are ignored) stand for, NNI's DARTS export:
 *
 * - a layer key takes its argmax candidate;
 * - an input key with `nChosen = k` takes the k candidates whose edge strength is largest (ties: the lower
 *   index). A candidate named by a layer key of the space has the strength max_i of that key's weights (the
 *   strongest op on the edge); any other candidate has strength 1 (NNI gives it 0 and warns: an unsearched
 *   input is not weaker than a searched one, so we rank it with a full-strength edge);
 * - an input key with `nChosen = null` takes every candidate whose strength is at least the mean strength of
 *   its candidates (so never none, and all when they are equal; NNI takes them all);
 * - a layer key named by input choices that ALL dropped it exports `[]` (NNI's export of a dropped edge; its
 *   op is never reached by `apply`). A layer key kept by any of them, or named by none, keeps its argmax.
 *   (The rule assumes an edge named by an input choice is used only through it, as in the DARTS cell.)
 *
 * @example
 * deriveArchitecture(dartsSpace, dartsWeights(dartsSpace, state));
 * // { normal_n2_p0: [3], ..., normal_n3_p1: [], ..., normal_n3_switch: [0, 2], ... }
 */
export const deriveArchitecture = (space: SearchSpace, weights: KeyVectors): Architecture => {
  const strength = new Map<string, number>();
  const arch: Record<string, readonly number[]> = {};
  for (const d of layerDecisions(space)) {
    const w = weights[d.key];
    if (w === undefined || w.length < d.names.length) {
      throw new RangeError(`deriveArchitecture: layer choice '${d.key}' needs ${d.names.length} weights, got ${w === undefined ? 'none' : w.length}`);
    }
    const real = w.slice(0, d.names.length);
    const best = argmax(real);
    arch[d.key] = [best];
    strength.set(d.key, real[best]!);
  }
  const kept = new Set<string>();
  const named = new Set<string>();
  for (const d of space.decisions) {
    if (d.kind !== 'input') continue;
    const s = d.names.map((name) => strength.get(name) ?? 1);
    let chosen: number[];
    if (d.nChosen !== null) chosen = topK(s, d.nChosen);
    else {
      const mean = s.reduce((a, b) => a + b, 0) / s.length;
      chosen = s.flatMap((x, i) => (x >= mean ? [i] : []));
    }
    arch[d.key] = chosen;
    d.names.forEach((name, i) => {
      if (!strength.has(name)) return;
      named.add(name);
      if (chosen.includes(i)) kept.add(name);
    });
  }
  for (const key of named) if (!kept.has(key)) arch[key] = [];
  return Object.fromEntries(space.decisions.map((d) => [d.key, arch[d.key]!] as const));
};

/** An io-ts codec for `KeyVectors` (plain JSON: a record of number arrays). */
export const keyVectorsCodec: t.Type<KeyVectors, KeyVectors, unknown> = t.record(t.string, t.readonlyArray(t.number));

/**
 * `InvalidState` errors for saved alphas that do not fit `space`: a layer key missing, an extra key, or a
 * vector of the wrong length (n, or n + 1 with `extraZero`). The space fingerprint already catches a changed
 * space; this catches a hand-edited state.
 */
export const alphaShapeErrors = (strategy: string, space: SearchSpace, alphas: KeyVectors, extraZero: boolean, what = 'alphas'): StrategyError[] => {
  const errors: StrategyError[] = [];
  const layers = layerDecisions(space);
  for (const d of layers) {
    const a = alphas[d.key];
    const want = d.names.length + (extraZero ? 1 : 0);
    if (a === undefined || a.length !== want) {
      errors.push({ tag: 'InvalidState', strategy, message: `saved ${what} of '${strategy}' for key '${d.key}' must have ${want} numbers, got ${a === undefined ? 'none' : a.length}` });
    }
  }
  const keys = new Set(layers.map((d) => d.key));
  for (const k of Object.keys(alphas)) {
    if (!keys.has(k)) errors.push({ tag: 'InvalidState', strategy, message: `saved ${what} of '${strategy}' have key '${k}', which is no layer choice of the space` });
  }
  return errors;
};

/** `InvalidOption` errors of the options shared by DARTS-like algorithms (the Adam ones and the init scale). */
export const alphaOptionErrors = (strategy: string, adam: AdamOptions, initScale: number): StrategyError[] => [
  ...adamOptionErrors(strategy, adam),
  ...optionError(strategy, 'initScale', Number.isFinite(initScale) && initScale > 0, `must be a positive number, got ${initScale}`),
];
