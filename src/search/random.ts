/**
 * Random search with de-duplication: every proposal is uniform over the architectures not proposed before, so
 * a search of N trials tries N different architectures and reports exhaustion once the space is used up.
 * Input choices with `nChosen: null` (any subset, the empty one included) and without replacement are the IR's
 * `randomArchitecture`'s, where NNI's random tuner crashed or sampled an input twice.
 *
 * @example
 * const s = randomSearch({ direction: 'maximize' });
 * const p = s.propose(space, s.init(space), 8, seedRng(0)); // 8 distinct architectures (fewer if the space is smaller)
 */
import * as t from 'io-ts';
import type { Architecture } from '../ir/apply.ts';
import { architectureKey } from '../ir/architecture.ts';
import type { Rng } from '../ir/rng.ts';
import type { SearchSpace } from '../ir/space.ts';
import { sampleUnseenMany, spaceUsedUp } from './sampling.ts';
import {
  type Direction,
  type Strategy,
  type StrategyError,
  allChoiceKinds,
  checkSpace,
  decodeWith,
  directionCodec,
  spaceFingerprint,
} from './strategy.ts';

/** Options of random search. */
export interface RandomOptions {
  /** Only reported (random search ignores objectives); 'maximize' by default. */
  readonly direction?: Direction;
}

/** Decodes random-search options from JSON (every field optional). */
export const randomOptionsCodec = t.partial({ direction: directionCodec });

const stateCodec = t.readonly(
  t.type({
    strategy: t.string,
    space: t.string,
    /** `architectureKey` of every architecture proposed so far, in order. */
    seen: t.readonlyArray(t.string),
  }),
);

/** The state of random search (plain JSON). */
export type RandomState = t.TypeOf<typeof stateCodec>;

/** Proposes up to `n` architectures not in `seen`, returning them and the enlarged seen list. */
export const proposeUnseen = (
  space: SearchSpace,
  seen: readonly string[],
  n: number,
  rng: Rng,
): { readonly archs: readonly Architecture[]; readonly seen: readonly string[]; readonly rng: Rng; readonly exhausted: boolean } => {
  const set = new Set(seen);
  const [archs, r] = sampleUnseenMany(space, set, n, rng);
  const added = archs.map(architectureKey);
  for (const k of added) set.add(k);
  return { archs, seen: [...seen, ...added], rng: r, exhausted: spaceUsedUp(space, set) };
};

/** Uniform random search without repeats. */
export const randomSearch = (options: RandomOptions = {}): Strategy<RandomState> => {
  const name = 'random';
  const direction = options.direction ?? 'maximize';
  return {
    name,
    supports: allChoiceKinds,
    direction,
    options: { direction },
    check: (space): readonly StrategyError[] => checkSpace(name, allChoiceKinds, space),
    init: (space) => ({ strategy: name, space: spaceFingerprint(space), seen: [] }),
    propose: (space, state, n, rng) => {
      const p = proposeUnseen(space, state.seen, n, rng);
      return { archs: p.archs, state: { ...state, seen: p.seen }, rng: p.rng, exhausted: p.exhausted };
    },
    observe: (_space, state) => state,
    encodeState: (state) => stateCodec.encode(state),
    decodeState: (space, json) => decodeWith(name, stateCodec, space, json),
  };
};
