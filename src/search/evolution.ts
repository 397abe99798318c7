/**
 * Regularized (ageing) evolution, Real et al. 2019 ("Regularized Evolution for Image Classifier Architecture
 * Search"), with NNI's defaults: a population of 100 seeded with random architectures; each child mutates one
 * key of the best of `sample` members drawn at random (the mutation always changes the value); the child joins
 * the population and the OLDEST member dies, not the worst, so no lucky evaluation survives forever.
 *
 * Trial-based additions: failed trials never join the population (they still count as tried); with `dedup`
 * (the default) a child that was already proposed is re-drawn (up to `maxRetries` tournaments), and after
 * that a random unseen architecture is proposed, so no trial is spent twice on one architecture. Proposals
 * made while the population is still empty (all initial trials in flight, or all failed) are random.
 *
 * @example
 * const s = regularizedEvolution({ direction: 'maximize', population: 20, sample: 5 });
 */
import * as t from 'io-ts';
import type { Architecture } from '../ir/apply.ts';
import { architectureKey } from '../ir/architecture.ts';
import { type Rng, sampleDistinct } from '../ir/rng.ts';
import type { SearchSpace } from '../ir/space.ts';
import { collectProposals, mutateOneKey, sampleUnseen, spaceUsedUp } from './sampling.ts';
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
} from './strategy.ts';

/** Options of regularized evolution; every field has NNI's default or a documented one. */
export interface EvolutionOptions {
  readonly direction?: Direction;
  /** Population size P (NNI: 100); also the number of initial random architectures. */
  readonly population?: number;
  /** Tournament size S (NNI: 25). */
  readonly sample?: number;
  /** Never propose an architecture twice (default true). */
  readonly dedup?: boolean;
  /** Tournaments tried for an unseen child before falling back to a random unseen architecture (default 50). */
  readonly maxRetries?: number;
}

/** Decodes evolution options from JSON (every field optional). */
export const evolutionOptionsCodec = t.partial({
  direction: directionCodec,
  population: t.number,
  sample: t.number,
  dedup: t.boolean,
  maxRetries: t.number,
});

const memberCodec = t.readonly(t.type({ arch: architectureCodec, reward: t.number }));

const stateCodec = t.readonly(
  t.type({
    strategy: t.string,
    space: t.string,
    /** Every architecture proposed so far (by key), for de-duplication. */
    seen: t.readonlyArray(t.string),
    /** How many architectures have been proposed (the first `population` are random). */
    proposed: t.number,
    /** Living members, oldest first; `reward` is the objective signed so that larger is better. */
    population: t.readonlyArray(memberCodec),
  }),
);

/** The state of regularized evolution (plain JSON). */
export type EvolutionState = t.TypeOf<typeof stateCodec>;
type Member = t.TypeOf<typeof memberCodec>;

/** The best of `sample` distinct members drawn uniformly (all of them when fewer); the earliest wins ties. */
const tournament = (population: readonly Member[], sample: number, rng: Rng): [Member, Rng] => {
  const [idx, r] = sampleDistinct(rng, population.length, Math.min(sample, population.length));
  let best = population[idx[0]!]!;
  for (const i of idx) if (population[i]!.reward > best.reward) best = population[i]!;
  return [best, r];
};

/** Regularized evolution over any space of layer and input choices. */
export const regularizedEvolution = (options: EvolutionOptions = {}): Strategy<EvolutionState> => {
  const name = 'evolution';
  const o = {
    direction: options.direction ?? 'maximize',
    population: options.population ?? 100,
    sample: options.sample ?? 25,
    dedup: options.dedup ?? true,
    maxRetries: options.maxRetries ?? 50,
  } as const;

  const validPopulation = Number.isInteger(o.population) && o.population >= 1;

  const child = (space: SearchSpace, population: readonly Member[], seen: ReadonlySet<string>, rng: Rng): [Architecture | undefined, Rng] => {
    let r = rng;
    for (let attempt = 0; attempt < (o.dedup ? o.maxRetries : 1); attempt++) {
      const [parent, r1] = tournament(population, o.sample, r);
      const [mutant, r2] = mutateOneKey(space, parent.arch, r1);
      r = r2;
      if (mutant === undefined) break; // nothing can change: only random proposals are left
      if (!o.dedup || !seen.has(architectureKey(mutant))) return [mutant, r];
    }
    return sampleUnseen(space, seen, r);
  };

  return {
    name,
    supports: allChoiceKinds,
    direction: o.direction,
    options: o,
    check: (space) => [
      ...checkSpace(name, allChoiceKinds, space),
      ...optionError(name, 'population', validPopulation, `must be an integer ≥ 1, got ${o.population}`),
      ...optionError(name, 'sample', Number.isInteger(o.sample) && o.sample >= 1, `must be an integer ≥ 1, got ${o.sample}`),
      // Only meaningful against a valid population (else the population error says it all).
      ...optionError(name, 'sample', !validPopulation || !(o.sample > o.population), `(${o.sample}) must not exceed the population (${o.population})`),
      ...optionError(name, 'maxRetries', Number.isInteger(o.maxRetries) && o.maxRetries >= 1, `must be an integer ≥ 1, got ${o.maxRetries}`),
    ],
    init: (space) => ({ strategy: name, space: spaceFingerprint(space), seen: [], proposed: 0, population: [] }),
    propose: (space, state, n, rng) => {
      const { items: archs, added, seen, rng: r } = collectProposals(
        space,
        state.seen,
        n,
        rng,
        (seen, i, r) =>
          // The first `population` proposals are random; later ones are children of the population.
          state.proposed + i < o.population || state.population.length === 0
            ? sampleUnseen(space, o.dedup ? seen : new Set(), r)
            : child(space, state.population, seen, r),
        (a) => a,
        false,
      );
      return {
        archs,
        state: { ...state, seen: [...state.seen, ...added], proposed: state.proposed + archs.length },
        rng: r,
        exhausted: o.dedup && spaceUsedUp(space, seen),
      };
    },
    observe: (_space, state, results) => {
      let population = state.population;
      for (const { arch, objective } of results) {
        const reward = rewardOf(o.direction, objective);
        if (reward === null) continue;
        population = [...population, { arch, reward }];
        if (population.length > o.population) population = population.slice(population.length - o.population);
      }
      return { ...state, population };
    },
    encodeState: (state) => stateCodec.encode(state),
    decodeState: (space, json) => decodeWith(name, stateCodec, space, json),
  };
};
