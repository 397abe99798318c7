/**
 * TPE, the tree-structured Parzen estimator (Bergstra et al. 2011), over categorical decisions.
 *
 * After `startup` random trials, the observations are split at the quantile γ: the best ⌈γ·n⌉ are "good",
 * the rest (and every failed trial) "bad". Each side gets a density per decision, smoothed toward a uniform
 * prior of weight `priorWeight`: l(x) from the good, g(x) from the bad. `candidates` architectures are drawn
 * from l and the one with the largest l(x)/g(x) (the expected-improvement criterion) is proposed.
 *
 * Densities per decision kind: a layer choice is a categorical over its candidates; an input choice is a
 * product of per-input inclusion probabilities (for `nChosen: k` the sample takes k inputs without
 * replacement, weighted by those probabilities; for `nChosen: null` each input is an independent Bernoulli).
 * With `dedup` (default) only unseen architectures are proposed: the best unseen candidate, else a random one.
 *
 * @example
 * const s = tpe({ direction: 'minimize', startup: 10, gamma: 0.25 });
 */
import * as t from 'io-ts';
import type { Architecture } from '../ir/apply.ts';
import { architectureKey } from '../ir/architecture.ts';
import { type Rng, nextFloat } from '../ir/rng.ts';
import { type Decision, type SearchSpace, decisionSize } from '../ir/space.ts';
import { collectProposals, sampleUnseen, spaceUsedUp } from './sampling.ts';
import {
  type Direction,
  type Strategy,
  type TrialResult,
  allChoiceKinds,
  checkSpace,
  decodeWith,
  directionCodec,
  optionError,
  rewardOf,
  spaceFingerprint,
  trialResultCodec,
} from './strategy.ts';

/** Options of TPE. */
export interface TpeOptions {
  readonly direction?: Direction;
  /** Random trials before the model is used (default 10). */
  readonly startup?: number;
  /** Fraction of the observations that count as good (default 0.25). */
  readonly gamma?: number;
  /** Candidates drawn from l(x) per proposal (default 24, hyperopt's n_EI_candidates). */
  readonly candidates?: number;
  /** Weight of the uniform prior in every density, in observations (default 1). */
  readonly priorWeight?: number;
  /** Never propose an architecture twice (default true). */
  readonly dedup?: boolean;
}

/** Decodes TPE options from JSON (every field optional). */
export const tpeOptionsCodec = t.partial({
  direction: directionCodec,
  startup: t.number,
  gamma: t.number,
  candidates: t.number,
  priorWeight: t.number,
  dedup: t.boolean,
});

const stateCodec = t.readonly(
  t.type({
    strategy: t.string,
    space: t.string,
    seen: t.readonlyArray(t.string),
    /** Every observed trial in order (failed ones with objective null). */
    observations: t.readonlyArray(trialResultCodec),
  }),
);

/** The state of TPE: what was proposed and every observation (plain JSON). */
export type TpeState = t.TypeOf<typeof stateCodec>;

/** Per decision, the probability of each candidate (layer) or of each input's inclusion (input). */
type Density = readonly (readonly number[])[];

/** The smoothed density of a group of architectures. */
const densityOf = (space: SearchSpace, group: readonly Architecture[], prior: number): Density =>
  space.decisions.map((d) => {
    const n = d.names.length;
    const counts = d.names.map(() => 0);
    for (const a of group) for (const c of a[d.key] ?? []) counts[c] = counts[c]! + 1;
    // Prior mass per candidate: uniform over candidates for a layer choice (sums to 1 per draw); the uniform
    // inclusion rate k/n (or 1/2 when any number may be chosen) for an input.
    const base = d.kind === 'layer' ? 1 / n : d.nChosen === null ? 0.5 : d.nChosen / n;
    return counts.map((c) => (c + prior * base) / (group.length + prior));
  });

/** log density of `arch` under `density`, over the decisions that have more than one value. */
const logDensity = (space: SearchSpace, density: Density, arch: Architecture): number => {
  let s = 0;
  space.decisions.forEach((d, j) => {
    if (decisionSize(d) <= 1n) return;
    const p = density[j]!;
    const chosen = arch[d.key] ?? [];
    if (d.kind === 'layer') s += Math.log(p[chosen[0]!]!);
    else {
      const set = new Set(chosen);
      p.forEach((pi, i) => {
        s += Math.log(set.has(i) ? pi : 1 - pi);
      });
    }
  });
  return s;
};

/** One draw with weights `w` (need not sum to 1) among the indices not yet taken. */
const drawWeighted = (w: readonly number[], taken: ReadonlySet<number>, rng: Rng): [number, Rng] => {
  const [u, r] = nextFloat(rng);
  const total = w.reduce((a, x, i) => a + (taken.has(i) ? 0 : x), 0);
  let acc = 0;
  let last = -1;
  for (let i = 0; i < w.length; i++) {
    if (taken.has(i)) continue;
    last = i;
    acc += w[i]! / total;
    if (u < acc) return [i, r];
  }
  return [last, r];
};

const sampleDecision = (d: Decision, p: readonly number[], rng: Rng): [readonly number[], Rng] => {
  if (d.kind === 'layer') {
    const [c, r] = drawWeighted(p, new Set(), rng);
    return [[c], r];
  }
  let r = rng;
  if (d.nChosen === null) {
    const chosen: number[] = [];
    for (let i = 0; i < p.length; i++) {
      const [u, next] = nextFloat(r);
      r = next;
      if (u < p[i]!) chosen.push(i);
    }
    return [chosen, r];
  }
  const taken = new Set<number>();
  for (let k = 0; k < d.nChosen; k++) {
    const [c, next] = drawWeighted(p, taken, r);
    r = next;
    taken.add(c);
  }
  return [[...taken].sort((a, b) => a - b), r];
};

const sampleDensity = (space: SearchSpace, density: Density, rng: Rng): [Architecture, Rng] => {
  let r = rng;
  const entries = space.decisions.map((d, j) => {
    const [v, next] = sampleDecision(d, density[j]!, r);
    r = next;
    return [d.key, v] as const;
  });
  return [Object.fromEntries(entries), r];
};

/** The good and bad groups: best ⌈γ·n⌉ successful trials (earliest first on ties) vs the rest and the failed. */
export const splitObservations = (
  direction: Direction,
  observations: readonly TrialResult[],
  gamma: number,
): { readonly good: readonly Architecture[]; readonly bad: readonly Architecture[] } => {
  const scored = observations.map((o, i) => ({ arch: o.arch, reward: rewardOf(direction, o.objective), i }));
  const ok = scored.filter((s): s is { arch: Architecture; reward: number; i: number } => s.reward !== null);
  ok.sort((a, b) => b.reward - a.reward || a.i - b.i);
  const nGood = ok.length === 0 ? 0 : Math.max(1, Math.ceil(gamma * ok.length));
  return {
    good: ok.slice(0, nGood).map((s) => s.arch),
    bad: [...ok.slice(nGood), ...scored.filter((s) => s.reward === null)].map((s) => s.arch),
  };
};

/** TPE over the decisions of a space. */
export const tpe = (options: TpeOptions = {}): Strategy<TpeState> => {
  const name = 'tpe';
  const o = {
    direction: options.direction ?? 'maximize',
    startup: options.startup ?? 10,
    gamma: options.gamma ?? 0.25,
    candidates: options.candidates ?? 24,
    priorWeight: options.priorWeight ?? 1,
    dedup: options.dedup ?? true,
  } as const;

  const next = (space: SearchSpace, state: TpeState, seen: ReadonlySet<string>, rng: Rng): [Architecture | undefined, Rng] => {
    const successes = state.observations.filter((x) => rewardOf(o.direction, x.objective) !== null).length;
    if (successes < Math.max(1, o.startup)) return sampleUnseen(space, o.dedup ? seen : new Set(), rng);
    const { good, bad } = splitObservations(o.direction, state.observations, o.gamma);
    const l = densityOf(space, good, o.priorWeight);
    const g = densityOf(space, bad, o.priorWeight);
    let r = rng;
    let best: Architecture | undefined;
    let bestScore = -Infinity;
    for (let i = 0; i < o.candidates; i++) {
      const [a, nr] = sampleDensity(space, l, r);
      r = nr;
      if (o.dedup && seen.has(architectureKey(a))) continue;
      const score = logDensity(space, l, a) - logDensity(space, g, a);
      if (score > bestScore) {
        best = a;
        bestScore = score;
      }
    }
    return best !== undefined ? [best, r] : sampleUnseen(space, o.dedup ? seen : new Set(), r);
  };

  return {
    name,
    supports: allChoiceKinds,
    direction: o.direction,
    options: o,
    check: (space) => [
      ...checkSpace(name, allChoiceKinds, space),
      ...optionError(name, 'startup', Number.isInteger(o.startup) && o.startup >= 0, `must be an integer ≥ 0, got ${o.startup}`),
      ...optionError(name, 'gamma', o.gamma > 0 && o.gamma < 1, `must be in (0, 1), got ${o.gamma}`),
      ...optionError(name, 'candidates', Number.isInteger(o.candidates) && o.candidates >= 1, `must be an integer ≥ 1, got ${o.candidates}`),
      ...optionError(name, 'priorWeight', Number.isFinite(o.priorWeight) && o.priorWeight > 0, `must be a positive number, got ${o.priorWeight}`),
    ],
    init: (space) => ({ strategy: name, space: spaceFingerprint(space), seen: [], observations: [] }),
    propose: (space, state, n, rng) => {
      const { items: archs, added, seen, rng: r } = collectProposals(space, state.seen, n, rng, (seen, _i, r) => next(space, state, seen, r), (a) => a, o.dedup);
      return {
        archs,
        state: { ...state, seen: [...state.seen, ...added] },
        rng: r,
        exhausted: o.dedup && spaceUsedUp(space, seen),
      };
    },
    observe: (_space, state, results) => ({
      ...state,
      // Non-finite objectives are stored as failures, so that the state stays valid JSON.
      observations: [...state.observations, ...results.map((x) => ({ arch: x.arch, objective: rewardOf(o.direction, x.objective) === null ? null : x.objective }))],
    }),
    encodeState: (state) => stateCodec.encode(state),
    decodeState: (space, json) => decodeWith(name, stateCodec, space, json),
  };
};
