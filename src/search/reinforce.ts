/**
 * A policy-gradient controller (REINFORCE, Williams 1992) over the decisions of a space: architectures are
 * sampled from a product of categorical decisions (see policy.ts; independent, or autoregressive on earlier
 * decisions), and each observed trial moves the policy by lr · (reward − baseline) · ∇ log p(arch), plus an
 * entropy bonus. The baseline is a moving average of rewards (ENAS's form).
 *
 * Choices made for a trial-based search with short budgets:
 * - the advantage is divided by a moving estimate of its own spread (`normalize`, default on), so one learning
 *   rate works whatever the objective's scale (accuracy in [0, 1], a loss in the hundreds);
 * - a failed trial gets the worst reward seen so far (it should be avoided, but by no more than the worst
 *   real result); before any success it teaches nothing;
 * - with `dedup` (default) an already proposed architecture is re-drawn from the policy (up to `maxRetries`
 *   times), then replaced by a random unseen one, so no trial is spent twice on one architecture.
 *
 * @example
 * const s = reinforce({ direction: 'maximize', learningRate: 0.3, autoregressive: true });
 */
import * as t from 'io-ts';
import type { Architecture } from '../ir/apply.ts';
import { architectureKey } from '../ir/architecture.ts';
import type { Rng } from '../ir/rng.ts';
import type { SearchSpace } from '../ir/space.ts';
import { type Draws, type Policy, initPolicy, policyMode, policyStep, samplePolicy } from './policy.ts';
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

/** Options of the REINFORCE controller. */
export interface ReinforceOptions {
  readonly direction?: Direction;
  /** Step size of the policy's gradient ascent (default 0.5, on normalised advantages). */
  readonly learningRate?: number;
  /** Weight of the entropy bonus, which keeps the policy from collapsing early (default 0.01). */
  readonly entropyWeight?: number;
  /** Decay of the moving-average baseline (and of the advantage's spread), in [0, 1) (default 0.8). */
  readonly baselineDecay?: number;
  /** Condition each decision on the earlier ones (default false: independent decisions). */
  readonly autoregressive?: boolean;
  /** Divide advantages by their moving standard deviation (default true). */
  readonly normalize?: boolean;
  /** Never propose an architecture twice (default true). */
  readonly dedup?: boolean;
  /** Policy draws tried for an unseen architecture before a random unseen one is taken (default 50). */
  readonly maxRetries?: number;
}

/** Decodes REINFORCE options from JSON (every field optional). */
export const reinforceOptionsCodec = t.partial({
  direction: directionCodec,
  learningRate: t.number,
  entropyWeight: t.number,
  baselineDecay: t.number,
  autoregressive: t.boolean,
  normalize: t.boolean,
  dedup: t.boolean,
  maxRetries: t.number,
});

const numbers = t.readonlyArray(t.number);

const stateCodec = t.readonly(
  t.type({
    strategy: t.string,
    space: t.string,
    seen: t.readonlyArray(t.string),
    policy: t.readonly(t.type({ bias: t.readonlyArray(numbers), weights: t.readonlyArray(t.readonlyArray(numbers)) })),
    /** Moving average of rewards; null before the first success. */
    baseline: t.union([t.number, t.null]),
    /** Moving average of the squared advantage. */
    spread: t.number,
    /** The worst reward seen, given to failed trials; null before the first success. */
    worst: t.union([t.number, t.null]),
    /** Proposed, not yet observed: architecture key → per decision, the draw order. */
    pending: t.readonlyArray(t.readonly(t.type({ key: t.string, draws: t.readonlyArray(numbers) }))),
    /** Policy updates made so far. */
    updates: t.number,
  }),
);

/** The state of the REINFORCE controller, policy parameters included (plain JSON). */
export type ReinforceState = t.TypeOf<typeof stateCodec>;

/** REINFORCE with a moving-average baseline over the decisions of a space. */
export const reinforce = (options: ReinforceOptions = {}): Strategy<ReinforceState> & {
  /** The policy's most likely architecture (what the controller has learnt so far). */
  readonly mode: (space: SearchSpace, state: ReinforceState) => Architecture;
} => {
  const name = 'reinforce';
  const o = {
    direction: options.direction ?? 'maximize',
    learningRate: options.learningRate ?? 0.5,
    entropyWeight: options.entropyWeight ?? 0.01,
    baselineDecay: options.baselineDecay ?? 0.8,
    autoregressive: options.autoregressive ?? false,
    normalize: options.normalize ?? true,
    dedup: options.dedup ?? true,
    maxRetries: options.maxRetries ?? 50,
  } as const;
  const finite = (v: number): boolean => Number.isFinite(v);
  return {
    name,
    supports: allChoiceKinds,
    direction: o.direction,
    options: o,
    check: (space) => [
      ...checkSpace(name, allChoiceKinds, space),
      ...optionError(name, 'learningRate', finite(o.learningRate) && o.learningRate > 0, `must be a positive number, got ${o.learningRate}`),
      ...optionError(name, 'entropyWeight', finite(o.entropyWeight) && o.entropyWeight >= 0, `must be a number ≥ 0, got ${o.entropyWeight}`),
      ...optionError(name, 'baselineDecay', o.baselineDecay >= 0 && o.baselineDecay < 1, `must be in [0, 1), got ${o.baselineDecay}`),
      ...optionError(name, 'maxRetries', Number.isInteger(o.maxRetries) && o.maxRetries >= 1, `must be an integer ≥ 1, got ${o.maxRetries}`),
    ],
    init: (space) => ({
      strategy: name,
      space: spaceFingerprint(space),
      seen: [],
      policy: initPolicy(space, o.autoregressive),
      baseline: null,
      spread: 0,
      worst: null,
      pending: [],
      updates: 0,
    }),
    propose: (space, state, n, rng) => {
      const { items, added, seen, rng: r } = collectProposals(
        space,
        state.seen,
        n,
        rng,
        (seen, _i, r0): [readonly [Architecture, Draws] | undefined, Rng] => {
          let r = r0;
          let found: readonly [Architecture, Draws] | undefined;
          for (let attempt = 0; attempt < (o.dedup ? o.maxRetries : 1) && found === undefined; attempt++) {
            const [a, draws, next] = samplePolicy(space, state.policy, r);
            r = next;
            if (!o.dedup || !seen.has(architectureKey(a))) found = [a, draws];
          }
          if (found === undefined) {
            const [a, next] = sampleUnseen(space, seen, r);
            r = next;
            // A random architecture's draw order is unknown; ascending is one possible order.
            if (a !== undefined) found = [a, space.decisions.map((d) => a[d.key] ?? [])];
          }
          return [found, r];
        },
        ([a]) => a,
        o.dedup,
      );
      return {
        archs: items.map(([a]) => a),
        state: { ...state, seen: [...state.seen, ...added], pending: [...state.pending, ...items.map(([a, draws]) => ({ key: architectureKey(a), draws }))] },
        rng: r,
        exhausted: o.dedup && spaceUsedUp(space, seen),
      };
    },
    observe: (space, state, results) => {
      let s = state;
      for (const { arch, objective } of results) {
        const key = architectureKey(arch);
        const at = s.pending.findIndex((p) => p.key === key);
        const draws = at >= 0 ? s.pending[at]!.draws : space.decisions.map((d) => arch[d.key] ?? []);
        const pending = at >= 0 ? [...s.pending.slice(0, at), ...s.pending.slice(at + 1)] : s.pending;
        const real = rewardOf(o.direction, objective);
        const reward = real ?? s.worst;
        if (reward === null) {
          s = { ...s, pending };
          continue;
        }
        const d = o.baselineDecay;
        const baseline = s.baseline ?? reward;
        const advantage = reward - baseline;
        const spread = s.baseline === null ? 0 : d * s.spread + (1 - d) * advantage * advantage;
        const scaled = o.normalize ? (spread > 0 ? advantage / Math.sqrt(spread) : 0) : advantage;
        const policy: Policy = policyStep(space, s.policy, draws, scaled, o.learningRate, o.entropyWeight);
        s = {
          ...s,
          pending,
          policy,
          baseline: d * baseline + (1 - d) * reward,
          spread,
          worst: real === null ? s.worst : s.worst === null ? real : Math.min(s.worst, real),
          updates: s.updates + 1,
        };
      }
      return s;
    },
    encodeState: (state) => stateCodec.encode(state),
    decodeState: (space, json) => decodeWith(name, stateCodec, space, json),
    mode: (space, state) => policyMode(space, state.policy),
  };
};
