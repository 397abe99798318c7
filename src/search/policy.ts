/**
 * The policy of the REINFORCE controller: a distribution over architectures as a product of categorical
 * decisions, with its parameters in plain arrays (so the strategy state is JSON).
 *
 * Per decision j, logits z_j = b_j + W_j·x_j, where x_j is the multi-hot encoding of every EARLIER decision's
 * chosen candidates (the autoregressive form; W is empty in the independent form, z_j = b_j). A decision turns
 * its logits into a value by its kind:
 * - layer choice: one draw from softmax(z);
 * - input choice of k: k sequential draws without replacement, each from the softmax of the remaining logits
 *   (Plackett–Luce); the draw order is part of the sample, and the gradient follows it;
 * - input choice of any number (nChosen null): an independent Bernoulli(sigmoid(z_i)) per input.
 */
import type { Architecture } from '../ir/apply.ts';
import { type Rng, nextFloat } from '../ir/rng.ts';
import type { Decision, SearchSpace } from '../ir/space.ts';

/** The controller's parameters (see the module comment for how they define the distribution). */
export interface Policy {
  /** Per decision, one logit offset per candidate. */
  readonly bias: readonly (readonly number[])[];
  /** Per decision, [candidate][feature] weights on earlier decisions; an empty array per decision when independent. */
  readonly weights: readonly (readonly (readonly number[])[])[];
}

/** Per decision, the chosen candidates in the order they were drawn. */
export type Draws = readonly (readonly number[])[];

/** Where each decision's one-hot block starts in the feature vector. */
const offsets = (space: SearchSpace): readonly number[] => {
  const out: number[] = [];
  let o = 0;
  for (const d of space.decisions) {
    out.push(o);
    o += d.names.length;
  }
  return out;
};

/** The uniform policy (all parameters zero); `autoregressive` adds the weights on earlier decisions. */
export const initPolicy = (space: SearchSpace, autoregressive: boolean): Policy => {
  const offs = offsets(space);
  return {
    bias: space.decisions.map((d) => d.names.map(() => 0)),
    weights: space.decisions.map((d, j) => (autoregressive ? d.names.map(() => Array.from({ length: offs[j]! }, () => 0)) : [])),
  };
};

/** The active features of decision j: the feature index of every chosen candidate of decisions before j. */
const activeFeatures = (offs: readonly number[], values: readonly (readonly number[])[], j: number): readonly number[] => {
  const out: number[] = [];
  for (let i = 0; i < j; i++) for (const c of values[i] ?? []) out.push(offs[i]! + c);
  return out;
};

const logitsOf = (policy: Policy, j: number, active: readonly number[]): number[] => {
  const b = policy.bias[j]!;
  const w = policy.weights[j]!;
  return b.map((bc, c) => {
    const row = w[c];
    if (row === undefined) return bc;
    let z = bc;
    for (const f of active) z += row[f] ?? 0;
    return z;
  });
};

/** Softmax over the candidates where `mask` is true (zero elsewhere), computed stably. */
const softmax = (z: readonly number[], mask?: readonly boolean[]): number[] => {
  let m = -Infinity;
  z.forEach((v, i) => {
    if ((mask?.[i] ?? true) && v > m) m = v;
  });
  const e = z.map((v, i) => ((mask?.[i] ?? true) ? Math.exp(v - m) : 0));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

const sigmoid = (z: number): number => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

/** One draw from the categorical `p` (inverse CDF; the last candidate with mass absorbs rounding). */
const drawCategorical = (p: readonly number[], rng: Rng): [number, Rng] => {
  const [u, r] = nextFloat(rng);
  let acc = 0;
  let last = -1;
  for (let i = 0; i < p.length; i++) {
    if (p[i]! <= 0) continue;
    last = i;
    acc += p[i]!;
    if (u < acc) return [i, r];
  }
  return [last, r];
};

/** The value of one decision drawn from its logits, in draw order. */
const sampleDecision = (d: Decision, z: readonly number[], rng: Rng): [readonly number[], Rng] => {
  if (d.kind === 'layer') {
    const [c, r] = drawCategorical(softmax(z), rng);
    return [[c], r];
  }
  if (d.nChosen === null) {
    const chosen: number[] = [];
    let r = rng;
    for (let i = 0; i < z.length; i++) {
      const [u, next] = nextFloat(r);
      r = next;
      if (u < sigmoid(z[i]!)) chosen.push(i);
    }
    return [chosen, r];
  }
  const mask = z.map(() => true);
  const draws: number[] = [];
  let r = rng;
  for (let t = 0; t < d.nChosen; t++) {
    const [c, next] = drawCategorical(softmax(z, mask), r);
    r = next;
    draws.push(c);
    mask[c] = false;
  }
  return [draws, r];
};

/** An architecture drawn from the policy, with the draw order of every decision (needed for its gradient). */
export const samplePolicy = (space: SearchSpace, policy: Policy, rng: Rng): [Architecture, Draws, Rng] => {
  const offs = offsets(space);
  const draws: (readonly number[])[] = [];
  let r = rng;
  space.decisions.forEach((d, j) => {
    const z = logitsOf(policy, j, activeFeatures(offs, draws, j));
    const [v, next] = sampleDecision(d, z, r);
    r = next;
    draws.push(v);
  });
  const arch = Object.fromEntries(space.decisions.map((d, j) => [d.key, [...draws[j]!].sort((a, b) => a - b)] as const));
  return [arch, draws, r];
};

/** log p(draws) of one decision given its logits. */
const decisionLogProb = (d: Decision, z: readonly number[], draws: readonly number[]): number => {
  if (d.kind === 'layer') return Math.log(softmax(z)[draws[0]!]!);
  if (d.nChosen === null) {
    const chosen = new Set(draws);
    return z.reduce((a, zi, i) => a + Math.log(chosen.has(i) ? sigmoid(zi) : 1 - sigmoid(zi)), 0);
  }
  const mask = z.map(() => true);
  let lp = 0;
  for (const c of draws) {
    lp += Math.log(softmax(z, mask)[c]!);
    mask[c] = false;
  }
  return lp;
};

/** log p(draws) under the policy: the sum over decisions, each given the earlier decisions' values. */
export const logProb = (space: SearchSpace, policy: Policy, draws: Draws): number => {
  const offs = offsets(space);
  return space.decisions.reduce((a, d, j) => a + decisionLogProb(d, logitsOf(policy, j, activeFeatures(offs, draws, j)), draws[j] ?? []), 0);
};

/** ∂ log p(draws) / ∂z for one decision. */
const logProbGrad = (d: Decision, z: readonly number[], draws: readonly number[]): number[] => {
  if (d.kind === 'layer') {
    const p = softmax(z);
    return p.map((pi, i) => (i === draws[0] ? 1 : 0) - pi);
  }
  if (d.nChosen === null) {
    const chosen = new Set(draws);
    return z.map((zi, i) => (chosen.has(i) ? 1 : 0) - sigmoid(zi));
  }
  const g = z.map(() => 0);
  const mask = z.map(() => true);
  for (const c of draws) {
    const p = softmax(z, mask);
    p.forEach((pi, i) => {
      g[i] = g[i]! - pi;
    });
    g[c] = g[c]! + 1;
    mask[c] = false;
  }
  return g;
};

/**
 * ∂H/∂z of the decision's entropy: the softmax's for a layer choice and (as a proxy) for the first draw of an
 * input choice of k; the sum of the Bernoulli entropies for an input choice of any number.
 */
const entropyGrad = (d: Decision, z: readonly number[]): number[] => {
  if (d.kind === 'input' && d.nChosen === null) {
    // H(σ(z)) = −σ log σ − (1−σ) log(1−σ); dH/dz = −z·σ(1−σ).
    return z.map((zi) => {
      const s = sigmoid(zi);
      return -zi * s * (1 - s);
    });
  }
  const p = softmax(z);
  const h = -p.reduce((a, pi) => a + (pi > 0 ? pi * Math.log(pi) : 0), 0);
  return p.map((pi) => (pi > 0 ? -pi * (Math.log(pi) + h) : 0));
};

/**
 * One gradient-ascent step on `advantage · log p(draws) + entropyWeight · H`, at learning rate `lr`.
 * `draws` must be a sample of `space` (each decision's chosen candidates, in draw order).
 */
export const policyStep = (
  space: SearchSpace,
  policy: Policy,
  draws: Draws,
  advantage: number,
  lr: number,
  entropyWeight: number,
): Policy => {
  const offs = offsets(space);
  const bias: (readonly number[])[] = [];
  const weights: (readonly (readonly number[])[])[] = [];
  space.decisions.forEach((d, j) => {
    const active = activeFeatures(offs, draws, j);
    const z = logitsOf(policy, j, active);
    const gl = logProbGrad(d, z, draws[j] ?? []);
    const gh = entropyGrad(d, z);
    const step = gl.map((g, c) => lr * (advantage * g + entropyWeight * gh[c]!));
    bias.push(policy.bias[j]!.map((b, c) => b + step[c]!));
    const w = policy.weights[j]!;
    weights.push(
      w.length === 0
        ? w
        : w.map((row, c) => {
            const next = [...row];
            for (const f of active) next[f] = next[f]! + step[c]!;
            return next;
          }),
    );
  });
  return { bias, weights };
};

/** The most likely value of every decision (greedy decoding), e.g. to report what the controller has learnt. */
export const policyMode = (space: SearchSpace, policy: Policy): Architecture => {
  const offs = offsets(space);
  const values: (readonly number[])[] = [];
  space.decisions.forEach((d, j) => {
    const z = logitsOf(policy, j, activeFeatures(offs, values, j));
    const order = z.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).map(([, i]) => i);
    values.push(d.kind === 'layer' ? [order[0]!] : d.nChosen === null ? z.flatMap((v, i) => (v > 0 ? [i] : [])) : order.slice(0, d.nChosen));
  });
  return Object.fromEntries(space.decisions.map((d, j) => [d.key, [...values[j]!].sort((a, b) => a - b)] as const));
};

/** What a strategy that fits its own objective needs of one decision of a sample (see `decisionTerms`). */
export interface DecisionTerms {
  /** Feature indices of every chosen candidate of the earlier decisions (the inputs of the autoregressive weights). */
  readonly active: readonly number[];
  /** log p of the decision's draws given the earlier decisions. */
  readonly logProb: number;
  /** ∂ log p / ∂z, one entry per candidate logit. */
  readonly gradLogProb: readonly number[];
  /** ∂H/∂z of the decision's entropy (see `policyStep` for the proxies used). */
  readonly gradEntropy: readonly number[];
}

/**
 * Per decision of the sample `draws`: its active features, log-probability and the gradients of log p and of the
 * entropy with respect to its logits. A logit's gradient reaches bias[j][c] directly and weights[j][c][f] for each
 * active feature f: the terms a strategy needs to minimise its own loss (PPO's clipped surrogate).
 */
export const decisionTerms = (space: SearchSpace, policy: Policy, draws: Draws): readonly DecisionTerms[] => {
  const offs = offsets(space);
  return space.decisions.map((d, j) => {
    const active = activeFeatures(offs, draws, j);
    const z = logitsOf(policy, j, active);
    const v = draws[j] ?? [];
    return { active, logProb: decisionLogProb(d, z, v), gradLogProb: logProbGrad(d, z, v), gradEntropy: entropyGrad(d, z) };
  });
};

/** Where each decision's one-hot block starts in the autoregressive feature vector (its length is the sum of earlier candidate counts). */
export const featureOffsets = (space: SearchSpace): readonly number[] => offsets(space);
