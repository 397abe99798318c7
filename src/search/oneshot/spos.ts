/**
 * SPOS's path sampling for supernet training (Guo et al. 2019, "Single Path One-Shot Neural Architecture Search
 * with Uniform Sampling"): each training step runs one architecture drawn uniformly, optionally rejection-sampled
 * so that its cost (FLOPs/MACs) falls in one of `bins` equal-width bins between a lower and an upper bound, the
 * bin itself drawn uniformly. Binning keeps cheap and expensive paths equally trained when the uniform cost
 * distribution is lopsided (most random paths cluster around the mean cost).
 *
 * Pure: the cost is a function the runtime supplies (it counts the MACs of `apply(graph, arch)`, and should
 * memoise it by `architectureKey`, since a rare bin costs up to `maxTries` evaluations per step).
 *
 * @example
 * const sample = flopsBinSampler({ lower: 2e6, upper: 6e6, bins: 4 }, macsOf);
 * const drawn = sample(space, rng); // Either<readonly SposSampleError[], [Architecture, Rng]>
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Architecture } from '../../ir/apply.ts';
import { randomArchitecture } from '../../ir/architecture.ts';
import { type Rng, nextInt } from '../../ir/rng.ts';
import type { SearchSpace } from '../../ir/space.ts';

/**
 * A uniformly random architecture in canonical form: each layer choice one of its n candidates, each input
 * choice of k a uniformly random k-subset (without replacement), each input choice of any number
 * (`nChosen: null`) one of its 2^n subsets, the empty one included, all equally likely. The decisions are
 * independent, so every architecture of the space is equally likely.
 *
 * It is the IR's `randomArchitecture` under SPOS's name: one definition of "uniform" for the whole project.
 *
 * @example
 * const [arch, rng2] = uniformArch(space, seedRng(0)); // { conv1: [2], skip: [0, 3], extra: [] }
 */
export const uniformArch = (space: SearchSpace, rng: Rng): [Architecture, Rng] => randomArchitecture(space, rng);

/** The bins of `flopsBinSampler`: `bins` equal-width intervals partitioning [lower, upper]. */
export interface FlopsBins {
  /** Smallest accepted cost (inclusive). */
  readonly lower: number;
  /** Largest accepted cost (inclusive; it belongs to the last bin). */
  readonly upper: number;
  /** How many equal-width bins split [lower, upper]. */
  readonly bins: number;
  /** Uniform draws tried for the chosen bin, and again for the fallback to [lower, upper] (default 1000). */
  readonly maxTries?: number;
}

/** Why `flopsBinSampler` gives no architecture; each names the option or the bounds at fault. */
export type SposSampleError =
  /** An option out of range (non-finite bound, lower above upper, a bin count or a try count that is not a positive integer). */
  | { readonly tag: 'InvalidBins'; readonly option: 'lower' | 'upper' | 'bins' | 'maxTries'; readonly message: string }
  /** No architecture with a cost in [lower, upper] was found within the bounded number of draws. */
  | { readonly tag: 'NoArchInBounds'; readonly lower: number; readonly upper: number; readonly tries: number; readonly message: string };

/** A path sampler for supernet training: an architecture and the next generator, or why none was found. */
export type ArchSampler = (space: SearchSpace, rng: Rng) => E.Either<readonly SposSampleError[], [Architecture, Rng]>;

/** `uniformArch` as an `ArchSampler` (it never fails), so the runtime holds one sampler type with or without bins. */
export const uniformSampler: ArchSampler = (space, rng) => E.right(uniformArch(space, rng));

const DEFAULT_MAX_TRIES = 1000;

/** Every problem with the bin options; empty when they are valid. */
export const checkFlopsBins = (o: FlopsBins): readonly SposSampleError[] => {
  const errors: SposSampleError[] = [];
  const invalid = (option: 'lower' | 'upper' | 'bins' | 'maxTries', why: string): void => {
    errors.push({ tag: 'InvalidBins', option, message: `SPOS FLOPs bins: '${option}' ${why}` });
  };
  if (!Number.isFinite(o.lower)) invalid('lower', `must be a finite number, got ${o.lower}`);
  if (!Number.isFinite(o.upper)) invalid('upper', `must be a finite number, got ${o.upper}`);
  if (Number.isFinite(o.lower) && Number.isFinite(o.upper) && o.lower > o.upper) invalid('upper', `(${o.upper}) must not be below 'lower' (${o.lower})`);
  if (!(Number.isInteger(o.bins) && o.bins >= 1)) invalid('bins', `must be an integer ≥ 1, got ${o.bins}`);
  const tries = o.maxTries ?? DEFAULT_MAX_TRIES;
  if (!(Number.isInteger(tries) && tries >= 1)) invalid('maxTries', `must be an integer ≥ 1, got ${tries}`);
  return errors;
};

/**
 * The bin (0-based) that `cost` falls in, or undefined when it is outside [lower, upper] or not finite. With
 * lower = upper the single point is bin 0 (and `flopsBinSampler` then treats it as every bin).
 *
 * @example
 * binOf({ lower: 0, upper: 10, bins: 5 }, 10); // 4: the upper bound closes the last bin
 */
export const binOf = (o: FlopsBins, cost: number): number | undefined => {
  if (!(Number.isFinite(cost) && cost >= o.lower && cost <= o.upper)) return undefined;
  if (o.upper === o.lower) return 0;
  return Math.min(o.bins - 1, Math.floor(((cost - o.lower) / (o.upper - o.lower)) * o.bins));
};

/**
 * A sampler that draws a bin uniformly, then uniform architectures (`uniformArch`) until one's cost falls in
 * that bin, so that over many steps each bin is trained about equally often.
 *
 * Bounded: after `maxTries` draws without a hit (the bin is empty or very rare) it falls back to any
 * architecture within [lower, upper]: the first in-bounds one among those draws if there was one (that keeps
 * the fallback uniform over the in-bounds architectures), else up to `maxTries` further draws. If none of them
 * is in bounds either, it answers a `NoArchInBounds` error naming the bounds (the caller should stop: the bounds
 * exclude (nearly) the whole space). Invalid options are answered as `InvalidBins` errors on every call.
 *
 * @example
 * const sample = flopsBinSampler({ lower: 2e6, upper: 6e6, bins: 4 }, (arch) => macs(arch));
 * const r = sample(space, seedRng(1));
 * if (E.isRight(r)) { const [arch, rng] = r.right; }
 */
export const flopsBinSampler =
  (o: FlopsBins, cost: (arch: Architecture) => number): ArchSampler =>
  (space, rng) => {
    const errors = checkFlopsBins(o);
    if (errors.length > 0) return E.left(errors);
    const maxTries = o.maxTries ?? DEFAULT_MAX_TRIES;
    const [bin, r0] = nextInt(rng, o.bins);
    // With lower = upper every bin is the same single point.
    const inBin = (c: number): boolean => {
      const b = binOf(o, c);
      return b !== undefined && (b === bin || o.lower === o.upper);
    };
    let r = r0;
    let inBounds: Architecture | undefined;
    for (let i = 0; i < maxTries; i++) {
      const [arch, next] = uniformArch(space, r);
      r = next;
      const c = cost(arch);
      if (inBin(c)) return E.right([arch, r]);
      if (inBounds === undefined && binOf(o, c) !== undefined) inBounds = arch;
    }
    if (inBounds !== undefined) return E.right([inBounds, r]);
    for (let i = 0; i < maxTries; i++) {
      const [arch, next] = uniformArch(space, r);
      r = next;
      if (binOf(o, cost(arch)) !== undefined) return E.right([arch, r]);
    }
    return E.left([
      {
        tag: 'NoArchInBounds',
        lower: o.lower,
        upper: o.upper,
        tries: 2 * maxTries,
        message: `SPOS FLOPs bins: no architecture with a cost in [${o.lower}, ${o.upper}] in ${2 * maxTries} uniform draws (bin ${bin + 1} of ${o.bins} was empty too); widen the bounds`,
      },
    ]);
  };
