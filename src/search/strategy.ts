/**
 * The contract of a classic (trial-based) search strategy: a value of pure functions over a serialisable state.
 *
 * A strategy never runs anything. The runtime asks it for architectures (`propose`), trains them, and hands
 * back numbers (`observe`). Randomness is explicit (an `Rng` in, the next `Rng` out), the state is plain JSON
 * data (no Maps, bigints or functions) so that an interrupted search resumes from its log, the objective's
 * direction is stated, and a space with a choice kind the strategy cannot search is refused by `check` before
 * anything runs.
 *
 * The space is an argument of every call rather than a part of the state: the runtime always has it (it
 * builds it from the model), and the state stays small. The state records a fingerprint of the space it was
 * made for, and `decodeState` refuses a state saved for another space (a model file edited between runs).
 *
 * @example
 * const s = regularizedEvolution({ direction: 'maximize', population: 20, sample: 5 });
 * const started = start(s, space);                  // Either<readonly StrategyError[], state>
 * // E.isRight(started): propose, train, observe, repeat
 * const { archs, state, rng } = s.propose(space, started.right, 4, seedRng(1));
 * const next = s.observe(space, state, archs.map((arch) => ({ arch, objective: 0.9 })));
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import type { Architecture } from '../ir/apply.ts';
import { canonicalJson, hash128 } from '../ir/hash.ts';
import type { Rng } from '../ir/rng.ts';
import { type Decision, type SearchSpace, decisionSize } from '../ir/space.ts';

/** Whether larger objective values are better ('maximize', e.g. accuracy) or smaller ('minimize', e.g. loss). */
export type Direction = 'maximize' | 'minimize';

/**
 * The kinds of decision a strategy may or may not be able to search. An input choice with `nChosen: null`
 * (any number, including none) is its own kind because it is where NNI's tuners broke.
 */
export type ChoiceKind = 'layer' | 'input' | 'input-any';

/** Every decision kind, for strategies that search them all. */
export const allChoiceKinds: readonly ChoiceKind[] = ['layer', 'input', 'input-any'];

/** The kind of one decision. */
export const choiceKind = (d: Decision): ChoiceKind => (d.kind === 'layer' ? 'layer' : d.nChosen === null ? 'input-any' : 'input');

/** Why a strategy refuses to start or to resume; each names the key or option at fault. */
export type StrategyError =
  /** The space has a decision of a kind this strategy cannot search. */
  | { readonly tag: 'UnsupportedChoice'; readonly strategy: string; readonly key: string; readonly kind: ChoiceKind; readonly message: string }
  /** A decision with no possible value (an input choice asking for more inputs than it has): nothing can run. */
  | { readonly tag: 'EmptyChoice'; readonly strategy: string; readonly key: string; readonly message: string }
  /** An option out of its range, or options that contradict each other. */
  | { readonly tag: 'InvalidOption'; readonly strategy: string; readonly option: string; readonly message: string }
  /** A saved state that does not decode, or was saved for another search space or strategy. */
  | { readonly tag: 'InvalidState'; readonly strategy: string; readonly message: string };

/** One finished trial as a strategy sees it; `objective: null` is a failed trial (NaN, shape error, device loss). */
export interface TrialResult {
  readonly arch: Architecture;
  readonly objective: number | null;
}

/** What `propose` returns: the architectures, the next state and the next generator. */
export interface Proposal<S> {
  /** At most the number asked for; fewer only when the strategy has nothing new left to propose. */
  readonly archs: readonly Architecture[];
  readonly state: S;
  readonly rng: Rng;
  /** True when the strategy will never propose another architecture (the space is used up). */
  readonly exhausted: boolean;
}

/** A classic search strategy with state type `S` (see the module comment). */
export interface Strategy<S> {
  readonly name: string;
  /** The decision kinds this strategy can search. */
  readonly supports: readonly ChoiceKind[];
  /** The direction of the objective it optimises. */
  readonly direction: Direction;
  /** The resolved options (defaults filled in), as JSON, for logs and for resuming with the same settings. */
  readonly options: Readonly<Record<string, unknown>>;
  /** Every reason this strategy cannot search `space` with its options; empty when it can. */
  check(space: SearchSpace): readonly StrategyError[];
  /** The state before any trial; `space` must have passed `check` (see `start`). */
  init(space: SearchSpace): S;
  /**
   * Up to `n` new architectures to try, in canonical form. Proposals not yet observed count as in flight: a
   * strategy that de-duplicates never proposes them again.
   */
  propose(space: SearchSpace, state: S, n: number, rng: Rng): Proposal<S>;
  /** The state after these trials finished (in the order given). Non-finite objectives count as failed. */
  observe(space: SearchSpace, state: S, results: readonly TrialResult[]): S;
  /** The state as a JSON value (`JSON.stringify` of it and `decodeState` of the parse give it back). */
  encodeState(state: S): unknown;
  /** A state read back from JSON, refused when malformed or saved for another space. */
  decodeState(space: SearchSpace, json: unknown): E.Either<readonly StrategyError[], S>;
}

/**
 * A strategy whose state type is forgotten, so that the runtime and the CLI can hold any of them. Its state
 * is opaque: only pass a state to the strategy that made it (or to its `decodeState`).
 */
export type AnyStrategy = Strategy<unknown>;

/** Forgets a strategy's state type (see `AnyStrategy`). */
export const erase = <S>(s: Strategy<S>): AnyStrategy => s as unknown as AnyStrategy;

/** Checks `space`, then initialises: the up-front refusal the runtime calls before running any trial. */
export const start = <S>(s: Strategy<S>, space: SearchSpace): E.Either<readonly StrategyError[], S> => {
  const errors = s.check(space);
  return errors.length > 0 ? E.left(errors) : E.right(s.init(space));
};

/**
 * The space errors shared by every strategy: each decision whose kind is not in `supports`, and each decision
 * with no possible value, named by key.
 */
export const checkSpace = (strategy: string, supports: readonly ChoiceKind[], space: SearchSpace): readonly StrategyError[] => {
  const errors: StrategyError[] = [];
  for (const d of space.decisions) {
    const kind = choiceKind(d);
    if (!supports.includes(kind)) {
      errors.push({
        tag: 'UnsupportedChoice',
        strategy,
        key: d.key,
        kind,
        message: `strategy '${strategy}' cannot search decision '${d.key}': it is ${describeKind(d)}, and '${strategy}' supports only ${supports.join(', ') || 'no decisions'}`,
      });
    }
    if (decisionSize(d) === 0n) {
      errors.push({
        tag: 'EmptyChoice',
        strategy,
        key: d.key,
        message: `decision '${d.key}' has no possible value: it must choose ${d.kind === 'input' ? d.nChosen : '?'} of ${d.names.length} inputs`,
      });
    }
  }
  return errors;
};

const describeKind = (d: Decision): string =>
  d.kind === 'layer' ? 'a layer choice' : d.nChosen === null ? 'an input choice of any number of inputs (nChosen null)' : `an input choice of ${d.nChosen} inputs`;

/** An `InvalidOption` error unless `ok`. */
export const optionError = (strategy: string, option: string, ok: boolean, why: string): readonly StrategyError[] =>
  ok ? [] : [{ tag: 'InvalidOption', strategy, option, message: `strategy '${strategy}': option '${option}' ${why}` }];

/**
 * A fingerprint of what a state depends on in a space: keys, kinds and candidate counts in order. Names,
 * scopes and sites may change without invalidating a state.
 */
export const spaceFingerprint = (space: SearchSpace): string =>
  hash128(canonicalJson(space.decisions.map((d) => [d.key, d.kind, d.names.length, d.kind === 'input' ? d.nChosen : null])));

/** The objective as a reward to maximise, or null for a failed trial (null, NaN or infinite). */
export const rewardOf = (direction: Direction, objective: number | null): number | null =>
  objective === null || !Number.isFinite(objective) ? null : direction === 'maximize' ? objective : -objective;

/** An io-ts codec for canonical architectures (the JSON form kept in states; not NNI's export form). */
export const architectureCodec: t.Type<Architecture, Architecture, unknown> = t.record(t.string, t.readonlyArray(t.number));

/** An io-ts codec for `Rng`, so that the runtime can save the generator beside the state. */
export const rngCodec: t.Type<Rng, Rng, unknown> = t.readonly(
  t.type({ s: t.readonly(t.tuple([t.number, t.number, t.number, t.number])) }),
);

/** An io-ts codec for a trial result with a finite objective or null. */
export const trialResultCodec: t.Type<TrialResult, TrialResult, unknown> = t.readonly(
  t.type({ arch: architectureCodec, objective: t.union([t.number, t.null]) }),
);

/** Decodes an objective direction. */
export const directionCodec = t.keyof({ maximize: null, minimize: null });

/**
 * Decodes a state with `codec`, then checks that it was made by `strategy` for `space`; every error collected.
 */
export const decodeWith = <S extends { readonly strategy: string; readonly space: string }>(
  strategy: string,
  codec: t.Type<S, unknown, unknown>,
  space: SearchSpace,
  json: unknown,
): E.Either<readonly StrategyError[], S> => {
  const decoded = codec.decode(json);
  if (E.isLeft(decoded)) {
    return E.left(
      decoded.left.slice(0, 5).map((err): StrategyError => ({
        tag: 'InvalidState',
        strategy,
        message: `saved state of '${strategy}' is malformed at ${err.context.map((c) => c.key).filter((k) => k !== '').join('.') || 'the top level'}`,
      })),
    );
  }
  const s = decoded.right;
  const errors: StrategyError[] = [];
  if (s.strategy !== strategy) errors.push({ tag: 'InvalidState', strategy, message: `saved state was made by strategy '${s.strategy}', not '${strategy}'` });
  if (s.space !== spaceFingerprint(space)) {
    errors.push({ tag: 'InvalidState', strategy, message: `saved state of '${strategy}' was made for another search space (its decisions changed since)` });
  }
  return errors.length > 0 ? E.left(errors) : E.right(s);
};
