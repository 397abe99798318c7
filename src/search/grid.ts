/**
 * Grid search: every architecture once, in the IR's stable enumeration order (`enumerateArchitectures`), then
 * exhausted. The state is the position in that order, so a resumed grid continues exactly where it stopped.
 *
 * @example
 * const s = gridSearch();
 * const p = s.propose(space, s.init(space), Number(space.size), seedRng(0)); // the whole space; p.exhausted
 */
import * as t from 'io-ts';
import type { Architecture } from '../ir/apply.ts';
import { enumerateArchitectures } from '../ir/architecture.ts';
import {
  type Direction,
  type Strategy,
  allChoiceKinds,
  checkSpace,
  decodeWith,
  directionCodec,
  spaceFingerprint,
} from './strategy.ts';

/** Options of grid search. */
export interface GridOptions {
  /** Only reported (a grid ignores objectives); 'maximize' by default. */
  readonly direction?: Direction;
}

/** Decodes grid options from JSON (every field optional). */
export const gridOptionsCodec = t.partial({ direction: directionCodec });

const stateCodec = t.readonly(
  t.type({
    strategy: t.string,
    space: t.string,
    /** How many architectures of the enumeration have been proposed. */
    next: t.number,
  }),
);

/** The state of grid search (plain JSON). */
export type GridState = t.TypeOf<typeof stateCodec>;

/** Exhaustive search in a stable order. */
export const gridSearch = (options: GridOptions = {}): Strategy<GridState> => {
  const name = 'grid';
  const direction = options.direction ?? 'maximize';
  return {
    name,
    supports: allChoiceKinds,
    direction,
    options: { direction },
    check: (space) => checkSpace(name, allChoiceKinds, space),
    init: (space) => ({ strategy: name, space: spaceFingerprint(space), next: 0 }),
    propose: (space, state, n, rng) => {
      const archs: Architecture[] = [];
      // Re-walking the enumeration up to `next` costs O(next) per call: cheap next to training one trial, and it
      // keeps the state a single number.
      let i = 0;
      if (n > 0) {
        for (const a of enumerateArchitectures(space)) {
          if (i >= state.next) archs.push(a);
          i++;
          if (archs.length >= n) break;
        }
      }
      const next = state.next + archs.length;
      return { archs, state: { ...state, next }, rng, exhausted: BigInt(next) >= space.size };
    },
    observe: (_space, state) => state,
    encodeState: (state) => stateCodec.encode(state),
    decodeState: (space, json) => decodeWith(name, stateCodec, space, json),
  };
};
