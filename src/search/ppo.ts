/**
 * NNI's PPO tuner (`nni.ppo_tuner.PPOTuner`, itself OpenAI baselines' ppo2 adapted to NAS) as a pure strategy.
 *
 * An architecture is an episode: one step per decision, in the space's order. The policy is the product of
 * categorical decisions of policy.ts, each conditioned on the earlier decisions' values (the autoregressive
 * form, standing in for NNI's LSTM, which is fed the previous action); the value baseline V_j is linear in the
 * same features. As NNI does:
 * - the trial's reward is given at EVERY step of its episode, the episode ends after the last decision, and
 *   advantages are GAE(γ, λ) over the steps against the value baseline; returns = advantages + values;
 * - after every `trialsPerUpdate` finished trials, `epochsPerUpdate` epochs over them, each in `minibatches`
 *   shuffled minibatches of whole trials (NNI's `minibatch_size` is this number of minibatches: the trials per
 *   update must divide by it), of Adam steps (ε 1e-5) on
 *   L = E[max(−A·ρ, −A·clip(ρ, 1 − ε, 1 + ε))] + vfCoef · ½E[max((V − R)², (V_clip − R)²)] − entCoef · E[H],
 *   ρ = π(a)/π_old(a), advantages normalised per minibatch, the value clipped around its old value by ε, the
 *   gradient clipped to a global norm of `maxGradNorm`;
 * - a failed trial gets the worst reward seen so far (before any success it is dropped);
 * - no architecture is proposed twice: a repeat is re-drawn from the policy (up to `maxRetries` times), then
 *   replaced by a random unseen one (its log-probability under the policy is recorded for the ratio).
 *
 * NNI's defaults: 20 trials per update, 4 epochs, 4 minibatches, lr 3e-4, entropy coefficient 0, value
 * coefficient 0.5, clip range 0.2, γ 0.99, λ 0.95, gradient norm 0.5. With them, a search of a few dozen trials
 * moves the policy very little (a few dozen Adam steps of 3e-4): NNI's tuner was meant for thousands of trials.
 * Input choices of any number of inputs (nChosen null) are one Bernoulli per input (NNI allowed only [0, 1]).
 *
 * The minibatch shuffle needs randomness but `observe` takes no generator: it is drawn from a generator seeded by
 * the update's index, so the state alone decides it.
 *
 * @example
 * const s = ppo({ direction: 'maximize', trialsPerUpdate: 8, minibatches: 2, learningRate: 0.05 });
 */
import * as t from 'io-ts';
import type { Architecture } from '../ir/apply.ts';
import { architectureKey } from '../ir/architecture.ts';
import { type Rng, nextInt, seedRng } from '../ir/rng.ts';
import type { SearchSpace } from '../ir/space.ts';
import { type Draws, type Policy, decisionTerms, featureOffsets, policyMode, samplePolicy } from './policy.ts';
import { collectProposals, sampleUnseen, spaceUsedUp } from './sampling.ts';
import {
  type Direction,
  type Strategy,
  allChoiceKinds,
  checkSpace,
  decodeWith,
  directionCodec,
  optionError,
  rewardOf,
  spaceFingerprint,
} from './strategy.ts';

/** Options of the PPO tuner; the defaults are NNI's. */
export interface PpoOptions {
  readonly direction?: Direction;
  /** Finished trials per model update (NNI `trials_per_update`, default 20). */
  readonly trialsPerUpdate?: number;
  /** Epochs over those trials per update (NNI `epochs_per_update`, default 4). */
  readonly epochsPerUpdate?: number;
  /** Minibatches per epoch; must divide `trialsPerUpdate` (NNI `minibatch_size`, used by NNI as this count; default 4). */
  readonly minibatches?: number;
  /** Adam step size (NNI `lr`, default 3e-4). */
  readonly learningRate?: number;
  /** Entropy bonus weight (NNI `ent_coef`, default 0). */
  readonly entCoef?: number;
  /** Value loss weight (NNI `vf_coef`, default 0.5). */
  readonly vfCoef?: number;
  /** Clip range ε of the ratio and of the value (NNI `cliprange`, default 0.2). */
  readonly clipRange?: number;
  /** Discount γ over the steps of an episode (default 0.99). */
  readonly gamma?: number;
  /** GAE λ (default 0.95). */
  readonly lam?: number;
  /** Global gradient-norm clip (NNI `max_grad_norm`, default 0.5). */
  readonly maxGradNorm?: number;
  /** Policy draws tried for an unseen architecture before a random unseen one is taken (default 50). */
  readonly maxRetries?: number;
}

/** Decodes PPO options from JSON (every field optional). */
export const ppoOptionsCodec = t.partial({
  direction: directionCodec,
  trialsPerUpdate: t.number,
  epochsPerUpdate: t.number,
  minibatches: t.number,
  learningRate: t.number,
  entCoef: t.number,
  vfCoef: t.number,
  clipRange: t.number,
  gamma: t.number,
  lam: t.number,
  maxGradNorm: t.number,
  maxRetries: t.number,
});

const numbers = t.readonlyArray(t.number);

/** One episode: per decision the draw order, and per step the behaviour policy's log p and value. */
const episodeCodec = t.readonly(t.type({ draws: t.readonlyArray(numbers), logProbs: numbers, values: numbers }));

const stateCodec = t.readonly(
  t.type({
    strategy: t.string,
    space: t.string,
    seen: t.readonlyArray(t.string),
    /** Every parameter, flat: policy biases, policy weights, value biases, value weights (see `layoutOf`). */
    theta: numbers,
    /** Adam's moments and step count. */
    adam: t.readonly(t.type({ m: numbers, v: numbers, steps: t.number })),
    /** Proposed, not yet observed: architecture key → its episode. */
    pending: t.readonlyArray(t.readonly(t.type({ key: t.string, episode: episodeCodec }))),
    /** Finished trials not yet used by an update. */
    buffer: t.readonlyArray(t.readonly(t.type({ episode: episodeCodec, reward: t.number }))),
    /** The worst reward seen, given to failed trials; null before the first success. */
    worst: t.union([t.number, t.null]),
    /** Model updates made so far. */
    updates: t.number,
  }),
);

/** The state of the PPO tuner, parameters and optimiser included (plain JSON). */
export type PpoState = t.TypeOf<typeof stateCodec>;

/** Where each parameter group lives in `theta`. */
interface Layout {
  /** Per decision: start of its candidate biases. */
  readonly pb: readonly number[];
  /** Per decision: start of its [candidate][feature] weights (row length `features[j]`). */
  readonly pw: readonly number[];
  /** Start of the per-decision value biases. */
  readonly vb: number;
  /** Per decision: start of its value weights (length `features[j]`). */
  readonly vw: readonly number[];
  /** Per decision: number of features (the earlier decisions' candidates). */
  readonly features: readonly number[];
  readonly size: number;
}

const layoutOf = (space: SearchSpace): Layout => {
  const features = featureOffsets(space);
  let at = 0;
  const pb = space.decisions.map((d) => {
    const s = at;
    at += d.names.length;
    return s;
  });
  const pw = space.decisions.map((d, j) => {
    const s = at;
    at += d.names.length * features[j]!;
    return s;
  });
  const vb = at;
  at += space.decisions.length;
  const vw = space.decisions.map((_, j) => {
    const s = at;
    at += features[j]!;
    return s;
  });
  return { pb, pw, vb, vw, features, size: at };
};

const policyOf = (space: SearchSpace, L: Layout, theta: readonly number[]): Policy => ({
  bias: space.decisions.map((d, j) => theta.slice(L.pb[j]!, L.pb[j]! + d.names.length)),
  weights: space.decisions.map((d, j) =>
    d.names.map((_, c) => theta.slice(L.pw[j]! + c * L.features[j]!, L.pw[j]! + (c + 1) * L.features[j]!)),
  ),
});

const valueOf = (L: Layout, theta: readonly number[], j: number, active: readonly number[]): number => {
  let v = theta[L.vb + j]!;
  for (const f of active) v += theta[L.vw[j]! + f]!;
  return v;
};

/** The behaviour policy's record of an episode: log p and value per step. */
const episodeOf = (space: SearchSpace, L: Layout, theta: readonly number[], draws: Draws): t.TypeOf<typeof episodeCodec> => {
  const terms = decisionTerms(space, policyOf(space, L, theta), draws);
  return { draws, logProbs: terms.map((x) => x.logProb), values: terms.map((x, j) => valueOf(L, theta, j, x.active)) };
};

/** GAE advantages per step with the reward given at every step and the episode ending after the last one. */
export const gaeAdvantages = (reward: number, values: readonly number[], gamma: number, lam: number): number[] => {
  const T = values.length;
  const adv = values.map(() => 0);
  let last = 0;
  for (let s = T - 1; s >= 0; s--) {
    const next = s === T - 1 ? 0 : gamma * values[s + 1]!;
    const delta = reward + next - values[s]!;
    last = delta + (s === T - 1 ? 0 : gamma * lam * last);
    adv[s] = last;
  }
  return adv;
};

const shuffled = (n: number, rng: Rng): [number[], Rng] => {
  const a = Array.from({ length: n }, (_, i) => i);
  let r = rng;
  for (let i = n - 1; i > 0; i--) {
    const [k, next] = nextInt(r, i + 1);
    r = next;
    [a[i], a[k]] = [a[k]!, a[i]!];
  }
  return [a, r];
};

/** Options with NNI's defaults filled in. */
type Resolved = Required<PpoOptions>;

/**
 * The gradient of the PPO loss (module comment) over one minibatch of trials, at `theta`. Exported for tests
 * (checked against finite differences of `ppoLoss`).
 */
export const ppoGradient = (
  space: SearchSpace,
  o: Pick<Resolved, 'clipRange' | 'vfCoef' | 'entCoef' | 'gamma' | 'lam'>,
  theta: readonly number[],
  batch: readonly { readonly episode: t.TypeOf<typeof episodeCodec>; readonly reward: number }[],
): { readonly loss: number; readonly grad: number[] } => {
  const L = layoutOf(space);
  const policy = policyOf(space, L, theta);
  const T = space.decisions.length;
  const grad = theta.map(() => 0);
  const N = batch.length * T;
  if (N === 0) return { loss: 0, grad };
  // Advantages from the behaviour values (ppo2: advs = returns − values), normalised over the minibatch.
  const rawAdv = batch.map((b) => gaeAdvantages(b.reward, b.episode.values, o.gamma, o.lam));
  const flat = rawAdv.flat();
  const mean = flat.reduce((a, x) => a + x, 0) / N;
  const std = Math.sqrt(flat.reduce((a, x) => a + (x - mean) ** 2, 0) / N);
  let loss = 0;
  const eps = o.clipRange;
  batch.forEach((b, i) => {
    const terms = decisionTerms(space, policy, b.episode.draws);
    terms.forEach((term, j) => {
      const adv = (rawAdv[i]![j]! - mean) / (std + 1e-8);
      const ret = rawAdv[i]![j]! + b.episode.values[j]!;
      // Policy: the clipped surrogate.
      const ratio = Math.exp(term.logProb - b.episode.logProbs[j]!);
      const clipped = Math.min(Math.max(ratio, 1 - eps), 1 + eps);
      const l1 = -adv * ratio;
      const l2 = -adv * clipped;
      loss += Math.max(l1, l2) / N;
      const gLogP = l1 >= l2 ? (-adv * ratio) / N : 0;
      // Entropy bonus (loss −entCoef·H): its value only matters through its gradient.
      const gz = term.gradLogProb.map((g, c) => gLogP * g - (o.entCoef / N) * term.gradEntropy[c]!);
      const d = space.decisions[j]!;
      for (let c = 0; c < d.names.length; c++) {
        grad[L.pb[j]! + c] = grad[L.pb[j]! + c]! + gz[c]!;
        for (const f of term.active) {
          const at = L.pw[j]! + c * L.features[j]! + f;
          grad[at] = grad[at]! + gz[c]!;
        }
      }
      // Value: ½·max((V − R)², (V_clip − R)²), weighted by vfCoef.
      const v = valueOf(L, theta, j, term.active);
      const old = b.episode.values[j]!;
      const vClip = old + Math.min(Math.max(v - old, -eps), eps);
      const e1 = (v - ret) ** 2;
      const e2 = (vClip - ret) ** 2;
      loss += (o.vfCoef * 0.5 * Math.max(e1, e2)) / N;
      const gV = (o.vfCoef / N) * (e1 >= e2 ? v - ret : Math.abs(v - old) < eps ? vClip - ret : 0);
      grad[L.vb + j] = grad[L.vb + j]! + gV;
      for (const f of term.active) grad[L.vw[j]! + f] = grad[L.vw[j]! + f]! + gV;
    });
  });
  return { loss, grad };
};

/** One update of the model on `trials` (module comment): epochs of shuffled minibatches of Adam steps. */
const update = (
  space: SearchSpace,
  o: Resolved,
  state: PpoState,
  trials: readonly { readonly episode: t.TypeOf<typeof episodeCodec>; readonly reward: number }[],
): Pick<PpoState, 'theta' | 'adam'> => {
  let theta = [...state.theta];
  let m = [...state.adam.m];
  let v = [...state.adam.v];
  let steps = state.adam.steps;
  let rng = seedRng(0x9e3779b1 ^ state.updates);
  const per = trials.length / o.minibatches;
  for (let epoch = 0; epoch < o.epochsPerUpdate; epoch++) {
    const [order, r] = shuffled(trials.length, rng);
    rng = r;
    for (let k = 0; k < o.minibatches; k++) {
      const batch = order.slice(k * per, (k + 1) * per).map((i) => trials[i]!);
      const { grad } = ppoGradient(space, o, theta, batch);
      const norm = Math.sqrt(grad.reduce((a, g) => a + g * g, 0));
      const scale = norm > o.maxGradNorm ? o.maxGradNorm / norm : 1;
      steps += 1;
      const b1 = 0.9;
      const b2 = 0.999;
      m = m.map((mi, i) => b1 * mi + (1 - b1) * grad[i]! * scale);
      v = v.map((vi, i) => b2 * vi + (1 - b2) * (grad[i]! * scale) ** 2);
      const c1 = 1 - b1 ** steps;
      const c2 = 1 - b2 ** steps;
      theta = theta.map((x, i) => x - (o.learningRate * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + 1e-5));
    }
  }
  return { theta, adam: { m, v, steps } };
};

/** NNI's PPO tuner over the decisions of a space (see the module comment). */
export const ppo = (options: PpoOptions = {}): Strategy<PpoState> & {
  /** The policy's most likely architecture (what the tuner has learnt so far). */
  readonly mode: (space: SearchSpace, state: PpoState) => Architecture;
} => {
  const name = 'ppo';
  const o: Resolved = {
    direction: options.direction ?? 'maximize',
    trialsPerUpdate: options.trialsPerUpdate ?? 20,
    epochsPerUpdate: options.epochsPerUpdate ?? 4,
    minibatches: options.minibatches ?? 4,
    learningRate: options.learningRate ?? 3e-4,
    entCoef: options.entCoef ?? 0,
    vfCoef: options.vfCoef ?? 0.5,
    clipRange: options.clipRange ?? 0.2,
    gamma: options.gamma ?? 0.99,
    lam: options.lam ?? 0.95,
    maxGradNorm: options.maxGradNorm ?? 0.5,
    maxRetries: options.maxRetries ?? 50,
  };
  const finite = (v: number): boolean => Number.isFinite(v);
  const posInt = (v: number): boolean => Number.isInteger(v) && v >= 1;
  const unit = (v: number): boolean => v >= 0 && v <= 1;
  return {
    name,
    supports: allChoiceKinds,
    direction: o.direction,
    options: o,
    check: (space) => [
      ...checkSpace(name, allChoiceKinds, space),
      ...optionError(name, 'trialsPerUpdate', posInt(o.trialsPerUpdate), `must be an integer ≥ 1, got ${o.trialsPerUpdate}`),
      ...optionError(name, 'epochsPerUpdate', posInt(o.epochsPerUpdate), `must be an integer ≥ 1, got ${o.epochsPerUpdate}`),
      ...optionError(
        name,
        'minibatches',
        posInt(o.minibatches) && posInt(o.trialsPerUpdate) && o.trialsPerUpdate % o.minibatches === 0,
        `must be an integer ≥ 1 that divides trialsPerUpdate (${o.trialsPerUpdate}), got ${o.minibatches}`,
      ),
      ...optionError(name, 'learningRate', finite(o.learningRate) && o.learningRate > 0, `must be a positive number, got ${o.learningRate}`),
      ...optionError(name, 'entCoef', finite(o.entCoef) && o.entCoef >= 0, `must be a number ≥ 0, got ${o.entCoef}`),
      ...optionError(name, 'vfCoef', finite(o.vfCoef) && o.vfCoef >= 0, `must be a number ≥ 0, got ${o.vfCoef}`),
      ...optionError(name, 'clipRange', finite(o.clipRange) && o.clipRange > 0, `must be a positive number, got ${o.clipRange}`),
      ...optionError(name, 'gamma', unit(o.gamma), `must be in [0, 1], got ${o.gamma}`),
      ...optionError(name, 'lam', unit(o.lam), `must be in [0, 1], got ${o.lam}`),
      ...optionError(name, 'maxGradNorm', finite(o.maxGradNorm) && o.maxGradNorm > 0, `must be a positive number, got ${o.maxGradNorm}`),
      ...optionError(name, 'maxRetries', posInt(o.maxRetries), `must be an integer ≥ 1, got ${o.maxRetries}`),
    ],
    init: (space) => {
      const size = layoutOf(space).size;
      return {
        strategy: name,
        space: spaceFingerprint(space),
        seen: [],
        theta: Array.from({ length: size }, () => 0),
        adam: { m: Array.from({ length: size }, () => 0), v: Array.from({ length: size }, () => 0), steps: 0 },
        pending: [],
        buffer: [],
        worst: null,
        updates: 0,
      };
    },
    propose: (space, state, n, rng) => {
      const L = layoutOf(space);
      const policy = policyOf(space, L, state.theta);
      const { items, added, seen, rng: r } = collectProposals(
        space,
        state.seen,
        n,
        rng,
        (seen, _i, r0): [readonly [Architecture, Draws] | undefined, Rng] => {
          let r = r0;
          let found: readonly [Architecture, Draws] | undefined;
          for (let attempt = 0; attempt < o.maxRetries && found === undefined; attempt++) {
            const [a, draws, next] = samplePolicy(space, policy, r);
            r = next;
            if (!seen.has(architectureKey(a))) found = [a, draws];
          }
          if (found === undefined) {
            const [a, next] = sampleUnseen(space, seen, r);
            r = next;
            if (a !== undefined) found = [a, space.decisions.map((d) => a[d.key] ?? [])];
          }
          return [found, r];
        },
        ([a]) => a,
        true,
      );
      return {
        archs: items.map(([a]) => a),
        state: {
          ...state,
          seen: [...state.seen, ...added],
          pending: [...state.pending, ...items.map(([a, draws]) => ({ key: architectureKey(a), episode: episodeOf(space, L, state.theta, draws) }))],
        },
        rng: r,
        exhausted: spaceUsedUp(space, seen),
      };
    },
    observe: (space, state, results) => {
      let s = state;
      const L = layoutOf(space);
      for (const { arch, objective } of results) {
        const key = architectureKey(arch);
        const at = s.pending.findIndex((p) => p.key === key);
        const episode = at >= 0 ? s.pending[at]!.episode : episodeOf(space, L, s.theta, space.decisions.map((d) => arch[d.key] ?? []));
        const pending = at >= 0 ? [...s.pending.slice(0, at), ...s.pending.slice(at + 1)] : s.pending;
        const real = rewardOf(o.direction, objective);
        const reward = real ?? s.worst;
        const worst = real === null ? s.worst : s.worst === null ? real : Math.min(s.worst, real);
        s = { ...s, pending, worst, buffer: reward === null ? s.buffer : [...s.buffer, { episode, reward }] };
        if (s.buffer.length >= o.trialsPerUpdate) {
          const trials = s.buffer.slice(0, o.trialsPerUpdate);
          s = { ...s, ...update(space, o, s, trials), buffer: s.buffer.slice(o.trialsPerUpdate), updates: s.updates + 1 };
        }
      }
      return s;
    },
    encodeState: (state) => stateCodec.encode(state),
    decodeState: (space, json) => decodeWith(name, stateCodec, space, json),
    mode: (space, state) => policyMode(space, policyOf(space, layoutOf(space), state.theta)),
  };
};
