/**
 * SPOS's evolutionary architecture search (Guo et al. 2019, section 3.2, and the authors' `search.py`; NNI's
 * defaults): over a trained supernet, each candidate is scored with the shared weights (after BatchNorm
 * recalibration: the runtime's job), so a "trial" costs a validation pass. It is a classic `Strategy`, driven by
 * the trial runner with objective = supernet accuracy.
 *
 * - Generation 0: `population` uniformly random architectures satisfying the constraint.
 * - Generation g ≥ 1: `mutations` mutants of the top-k (a parent drawn uniformly from the top-k, each key
 *   resampled uniformly with probability `mutateProb`), then `crossovers` children of two top-k parents drawn
 *   uniformly (each key from either parent with probability 1/2), then random architectures up to `population`
 *   (the authors' `get_random` fill; none with the defaults 25 + 25 = 50).
 * - The top-k is over EVERY architecture observed so far (the authors' `update_top_k` keeps the elite), and
 *   failed trials (null/NaN objective) never enter it.
 * - A candidate is legal when it was never proposed before and satisfies `constraint` (e.g. MACs ≤ limit).
 *   Illegal mutants and children are re-drawn; a generation's mutants share a budget of `maxTries` draws, and
 *   so do its crossovers (the authors allowed 10 × the count: 250). A part that runs out of draws fills its
 *   remaining slots with random legal architectures, as the authors topped a short generation up at random.
 *   The budget is per part, not per slot, because once the elite has converged nearly every child is a
 *   duplicate: per slot, a generation could cost 50 × `maxTries` draws (measured: 1.7 s for a default search
 *   on a 196,608-architecture space, against 0.15 s with the shared budget).
 * - Generations are barriers: generation g + 1 is proposed only after every proposal of generation g has been
 *   observed, so its parents are exactly the top-k after generation g whatever the runner's concurrency. A
 *   generation may straddle `propose` calls; a call that reaches an unobserved generation's end returns what
 *   it has (fewer than asked, `exhausted` false) and the runner asks again after observing.
 * - Exhausted after `generations` generations, when every architecture has been proposed, or when no legal
 *   architecture is left: none found in `maxTries` uniform unseen draws (a space of at most `maxTries`
 *   architectures is then enumerated, so there the answer is exact).
 *
 * @example
 * const s = sposEvolution({ constraint: (arch) => macsOf(arch) <= 300e6 });
 * const started = start(s, space); // then propose / observe with objective = supernet valid accuracy
 * sposBest(state);                 // { arch, objective } of the best architecture observed so far
 */
import * as t from 'io-ts';
import type { Architecture } from '../../ir/apply.ts';
import { architectureKey, enumerateArchitectures } from '../../ir/architecture.ts';
import { type Rng, nextFloat, nextInt } from '../../ir/rng.ts';
import type { SearchSpace } from '../../ir/space.ts';
import { collectProposals, randomValue, sampleUnseen, spaceUsedUp } from '../sampling.ts';
import {
  type Direction,
  type Strategy,
  allChoiceKinds,
  architectureCodec,
  checkSpace,
  decodeWith,
  directionCodec,
  optionError,
  rewardOf,
  spaceFingerprint,
} from '../strategy.ts';

/** Options of SPOS's evolution; defaults are NNI's and the paper's. */
export interface SposEvolutionOptions {
  /** Objective direction (default 'maximize': supernet accuracy). */
  readonly direction?: Direction;
  /** Generations, the random first one included (default 20). */
  readonly generations?: number;
  /** Size of generation 0, and what later generations are topped up to at random (default 50). */
  readonly population?: number;
  /** How many of the best observed architectures are parents (default 10). */
  readonly topK?: number;
  /** Mutants per generation after the first (default 25). */
  readonly mutations?: number;
  /** Crossover children per generation after the first (default 25). */
  readonly crossovers?: number;
  /** Probability that a mutation resamples each key (default 0.1). */
  readonly mutateProb?: number;
  /** Whether an architecture may be proposed (e.g. its MACs within a limit); pure. Default: every one. */
  readonly constraint?: (arch: Architecture) => boolean;
  /**
   * Draws shared by a generation's mutants, and by its crossovers, before the rest of that part is random; also
   * the uniform draws tried for one random legal architecture before the search gives up (default 1000).
   */
  readonly maxTries?: number;
}

/** Decodes SPOS evolution options from JSON (every field optional; the constraint is code, never JSON). */
export const sposEvolutionOptionsCodec = t.partial({
  direction: directionCodec,
  generations: t.number,
  population: t.number,
  topK: t.number,
  mutations: t.number,
  crossovers: t.number,
  mutateProb: t.number,
  maxTries: t.number,
});

const memberCodec = t.readonly(t.type({ arch: architectureCodec, objective: t.number }));

const stateCodec = t.readonly(
  t.type({
    strategy: t.string,
    space: t.string,
    /** `architectureKey` of every proposal so far, in order (duplicates are rejected against it). */
    seen: t.readonlyArray(t.string),
    /** Keys proposed and not yet observed: the next generation waits until this is empty. */
    pending: t.readonlyArray(t.string),
    /** The generation of the next proposal (0-based); `generations` when the search is over. */
    generation: t.number,
    /** The index of the next proposal within its generation. */
    slot: t.number,
    /** Draws spent so far by the operator (mutation or crossover) of the current slot in this generation. */
    tries: t.number,
    /** The best observed architectures, at most `topK`, best first (ties: the earlier observed first). */
    top: t.readonlyArray(memberCodec),
    /** True once no legal architecture was left to propose. */
    noneLeft: t.boolean,
  }),
);

/** The state of SPOS's evolution (plain JSON). */
export type SposState = t.TypeOf<typeof stateCodec>;

/** An observed architecture and its objective (as the runtime reported it, not signed). */
export interface SposMember {
  readonly arch: Architecture;
  readonly objective: number;
}

/**
 * The best architecture observed so far and its objective, or undefined before any trial succeeded.
 *
 * @example
 * const best = sposBest(state); // { arch: { op1: [2], skip: [0] }, objective: 0.91 }
 */
export const sposBest = (state: SposState): SposMember | undefined => state.top[0];

/** The generation the next proposal belongs to (equal to the option `generations` once the search is over). */
export const sposGeneration = (state: SposState): number => state.generation;

type Op = 'random' | 'mutation' | 'crossover';

/** SPOS's evolutionary search over layer choices, input choices of k and input choices of any number. */
export const sposEvolution = (options: SposEvolutionOptions = {}): Strategy<SposState> => {
  const name = 'spos';
  const o = {
    direction: options.direction ?? 'maximize',
    generations: options.generations ?? 20,
    population: options.population ?? 50,
    topK: options.topK ?? 10,
    mutations: options.mutations ?? 25,
    crossovers: options.crossovers ?? 25,
    mutateProb: options.mutateProb ?? 0.1,
    maxTries: options.maxTries ?? 1000,
  } as const;
  const constraint = options.constraint ?? (() => true);

  /** How many proposals generation `g` has. */
  const generationSize = (g: number): number => (g === 0 ? o.population : Math.max(o.population, o.mutations + o.crossovers));
  /** What fills slot `slot` of generation `g`. */
  const opOf = (g: number, slot: number): Op => (g === 0 ? 'random' : slot < o.mutations ? 'mutation' : slot < o.mutations + o.crossovers ? 'crossover' : 'random');

  const legal = (seen: ReadonlySet<string>, arch: Architecture): boolean => !seen.has(architectureKey(arch)) && constraint(arch);

  /** A uniformly random legal architecture, or undefined when none is left (or none was found: see the module comment). */
  const randomLegal = (space: SearchSpace, seen: ReadonlySet<string>, rng: Rng): [Architecture | undefined, Rng] => {
    let r = rng;
    for (let i = 0; i < o.maxTries; i++) {
      const [arch, next] = sampleUnseen(space, seen, r);
      r = next;
      if (arch === undefined) return [undefined, r];
      if (constraint(arch)) return [arch, r];
    }
    if (space.size > BigInt(o.maxTries)) return [undefined, r];
    // Small enough to settle exactly within the same budget of constraint evaluations.
    const left = [...enumerateArchitectures(space)].filter((a) => legal(seen, a));
    if (left.length === 0) return [undefined, r];
    const [i, next] = nextInt(r, left.length);
    return [left[i]!, next];
  };

  /** A parent drawn uniformly from the top-k, each key resampled uniformly with probability `mutateProb`. */
  const mutate = (space: SearchSpace, top: readonly SposMember[], rng: Rng): [Architecture, Rng] => {
    const [p, r0] = nextInt(rng, top.length);
    const parent = top[p]!.arch;
    let r = r0;
    const out: Record<string, readonly number[]> = {};
    for (const d of space.decisions) {
      const [u, r1] = nextFloat(r);
      r = r1;
      if (u < o.mutateProb) {
        const [v, r2] = randomValue(d, r);
        r = r2;
        out[d.key] = v;
      } else out[d.key] = parent[d.key] ?? [];
    }
    return [out, r];
  };

  /** Two parents drawn uniformly (independently) from the top-k, each key from either with probability 1/2. */
  const crossover = (space: SearchSpace, top: readonly SposMember[], rng: Rng): [Architecture, Rng] => {
    const [i, r1] = nextInt(rng, top.length);
    const [j, r2] = nextInt(r1, top.length);
    const a = top[i]!.arch;
    const b = top[j]!.arch;
    let r = r2;
    const out: Record<string, readonly number[]> = {};
    for (const d of space.decisions) {
      const [bit, next] = nextInt(r, 2);
      r = next;
      out[d.key] = (bit === 0 ? a[d.key] : b[d.key]) ?? [];
    }
    return [out, r];
  };

  /**
   * One legal proposal for a slot filled by `op`, its part having spent `tries` draws already; falls back to a
   * random legal one when the part's budget runs out. Answers the part's draws after this proposal too.
   */
  const propose1 = (
    space: SearchSpace,
    top: readonly SposMember[],
    op: Op,
    tries: number,
    seen: ReadonlySet<string>,
    rng: Rng,
  ): [Architecture | undefined, number, Rng] => {
    let r = rng;
    let spent = tries;
    if (op !== 'random' && top.length > 0) {
      while (spent < o.maxTries) {
        const [arch, next] = op === 'mutation' ? mutate(space, top, r) : crossover(space, top, r);
        r = next;
        spent++;
        if (legal(seen, arch)) return [arch, spent, r];
      }
    }
    const [arch, next] = randomLegal(space, seen, r);
    return [arch, spent, next];
  };

  const exhaustedAt = (generation: number, noneLeft: boolean, space: SearchSpace, seen: ReadonlySet<string>): boolean =>
    generation >= o.generations || noneLeft || spaceUsedUp(space, seen);

  const positive = (v: number): boolean => Number.isInteger(v) && v >= 1;
  const natural = (v: number): boolean => Number.isInteger(v) && v >= 0;

  return {
    name,
    supports: allChoiceKinds,
    direction: o.direction,
    options: { ...o, constrained: options.constraint !== undefined },
    check: (space) => [
      ...checkSpace(name, allChoiceKinds, space),
      ...optionError(name, 'generations', positive(o.generations), `must be an integer ≥ 1, got ${o.generations}`),
      ...optionError(name, 'population', positive(o.population), `must be an integer ≥ 1, got ${o.population}`),
      ...optionError(name, 'topK', positive(o.topK), `must be an integer ≥ 1, got ${o.topK}`),
      ...optionError(name, 'mutations', natural(o.mutations), `must be an integer ≥ 0, got ${o.mutations}`),
      ...optionError(name, 'crossovers', natural(o.crossovers), `must be an integer ≥ 0, got ${o.crossovers}`),
      ...optionError(name, 'mutateProb', o.mutateProb >= 0 && o.mutateProb <= 1, `must be a probability in [0, 1], got ${o.mutateProb}`),
      ...optionError(name, 'maxTries', positive(o.maxTries), `must be an integer ≥ 1, got ${o.maxTries}`),
    ],
    init: (space) => ({
      strategy: name,
      space: spaceFingerprint(space),
      seen: [],
      pending: [],
      generation: 0,
      slot: 0,
      tries: 0,
      top: [],
      noneLeft: false,
    }),
    propose: (space, state, n, rng) => {
      let generation = state.generation;
      let slot = state.slot;
      let tries = state.tries;
      let noneLeft = state.noneLeft;
      const { items: archs, added, seen, rng: r } = collectProposals(
        space,
        state.seen,
        n,
        rng,
        (seen, i, r) => {
          if (exhaustedAt(generation, noneLeft, space, seen)) return [undefined, r];
          // The barrier: a new generation's parents are the top-k after every proposal before it is observed.
          if (generation > 0 && slot === 0 && (i > 0 || state.pending.length > 0)) return [undefined, r];
          const op = opOf(generation, slot);
          const [arch, spent, next] = propose1(space, state.top, op, tries, seen, r);
          tries = spent;
          if (arch === undefined) {
            noneLeft = true;
            return [undefined, next];
          }
          slot++;
          if (slot >= generationSize(generation)) {
            generation++;
            slot = 0;
          }
          if (opOf(generation, slot) !== op || slot === 0) tries = 0; // a new part: a fresh budget
          return [arch, next];
        },
        (a) => a,
        true,
      );
      return {
        archs,
        state: { ...state, seen: [...state.seen, ...added], pending: [...state.pending, ...added], generation, slot, tries, noneLeft },
        rng: r,
        exhausted: exhaustedAt(generation, noneLeft, space, seen),
      };
    },
    observe: (_space, state, results) => {
      let pending = state.pending;
      let top = state.top;
      for (const { arch, objective } of results) {
        const k = architectureKey(arch);
        pending = pending.filter((p) => p !== k);
        const reward = rewardOf(o.direction, objective);
        // A failed trial never becomes a parent; an architecture observed twice counts once (the first time).
        if (reward === null || objective === null || top.some((m) => architectureKey(m.arch) === k)) continue;
        // Insert after every member at least as good: ties keep the earlier observed first.
        const at = top.findIndex((m) => rewardOf(o.direction, m.objective)! < reward);
        const member = { arch, objective };
        top = (at < 0 ? [...top, member] : [...top.slice(0, at), member, ...top.slice(at)]).slice(0, o.topK);
      }
      return { ...state, pending, top };
    },
    encodeState: (state) => stateCodec.encode(state),
    decodeState: (space, json) => decodeWith(name, stateCodec, space, json),
  };
};
