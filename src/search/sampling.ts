/**
 * Sampling helpers shared by the strategies: values of one decision, one-key mutation, and de-duplicated
 * uniform sampling of whole architectures. Whole-architecture sampling and enumeration are the IR's
 * (`randomArchitecture`, `enumerateArchitectures`); one decision is sampled as a one-decision space, so the
 * strategies and the IR agree on what a valid value is.
 */
import type { Architecture } from '../ir/apply.ts';
import { architectureKey, enumerateArchitectures, randomArchitecture } from '../ir/architecture.ts';
import { type Rng, nextInt } from '../ir/rng.ts';
import { type Decision, type SearchSpace, decisionSize } from '../ir/space.ts';

/** The space of the single decision `d`. */
export const decisionSpace = (d: Decision): SearchSpace => ({ decisions: [d], size: decisionSize(d) });

/** A uniformly random value (ascending indices) of decision `d`. */
export const randomValue = (d: Decision, rng: Rng): [readonly number[], Rng] => {
  const [arch, r] = randomArchitecture(decisionSpace(d), rng);
  return [arch[d.key] ?? [], r];
};

const sameValue = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * `arch` with one decision changed to a different value, both drawn uniformly (the decision among those with
 * more than one value). Undefined when no decision can change (every decision has a single value).
 */
export const mutateOneKey = (space: SearchSpace, arch: Architecture, rng: Rng): [Architecture | undefined, Rng] => {
  const mutable = space.decisions.filter((d) => decisionSize(d) > 1n);
  if (mutable.length === 0) return [undefined, rng];
  const [i, r1] = nextInt(rng, mutable.length);
  const d = mutable[i]!;
  const old = arch[d.key] ?? [];
  // Rejection: at least two values, so each draw differs with probability at least 1/2.
  let r = r1;
  for (;;) {
    const [v, next] = randomValue(d, r);
    r = next;
    if (!sameValue(v, old)) return [{ ...arch, [d.key]: v }, r];
  }
};

/** Spaces up to this size are enumerated when most of them have been seen (rejection would then be slow). */
const ENUMERATE_LIMIT = 1_000_000n;

/**
 * Up to `n` distinct, uniformly random architectures whose keys are not in `seen` (fewer only when fewer are
 * left). Rejection sampling while at most half the space is seen (two draws expected each); past that, in a
 * space small enough, the unseen architectures are enumerated once and drawn without replacement, so that the
 * cost stays bounded until the space is used up.
 */
export const sampleUnseenMany = (space: SearchSpace, seen: ReadonlySet<string>, n: number, rng: Rng): [readonly Architecture[], Rng] => {
  const taken = new Set(seen);
  const out: Architecture[] = [];
  let r = rng;
  while (out.length < n && BigInt(taken.size) < space.size) {
    if (space.size <= ENUMERATE_LIMIT && 2n * BigInt(taken.size) >= space.size) {
      const unseen: Architecture[] = [];
      for (const a of enumerateArchitectures(space)) if (!taken.has(architectureKey(a))) unseen.push(a);
      // A partial Fisher–Yates shuffle draws the rest without replacement, in random order.
      for (let i = 0; i < unseen.length && out.length < n; i++) {
        const [j, next] = nextInt(r, unseen.length - i);
        r = next;
        const pick = unseen[i + j]!;
        unseen[i + j] = unseen[i]!;
        out.push(pick);
      }
      break;
    }
    const [a, next] = randomArchitecture(space, r);
    r = next;
    const k = architectureKey(a);
    if (!taken.has(k)) {
      taken.add(k);
      out.push(a);
    }
  }
  return [out, r];
};

/** One uniformly random architecture not in `seen` (see `sampleUnseenMany`), or undefined when none is left. */
export const sampleUnseen = (space: SearchSpace, seen: ReadonlySet<string>, rng: Rng): [Architecture | undefined, Rng] => {
  const [archs, r] = sampleUnseenMany(space, seen, 1, rng);
  return [archs[0], r];
};

/** Whether every architecture of `space` is in `seen`. */
export const spaceUsedUp = (space: SearchSpace, seen: ReadonlySet<string>): boolean => BigInt(seen.size) >= space.size;

/**
 * The proposal loop shared by the strategies that de-duplicate: up to `n` items from `next`, which sees the keys
 * proposed so far (this batch's included) and the generator, and answers `undefined` when it has nothing more.
 * With `stopWhenUsedUp`, the loop also stops before asking once every architecture of the space has been seen.
 * Returns the items, the keys new to the state (in order), the keys after the batch, and the next generator.
 *
 * @example
 * const { items, added, seen, rng: r } = collectProposals(space, state.seen, n, rng, (seen, i, r) => sampleUnseen(space, seen, r), (a) => a, true);
 */
export const collectProposals = <T>(
  space: SearchSpace,
  seenKeys: readonly string[],
  n: number,
  rng: Rng,
  next: (seen: ReadonlySet<string>, index: number, rng: Rng) => [T | undefined, Rng],
  archOf: (item: T) => Architecture,
  stopWhenUsedUp: boolean,
): { readonly items: readonly T[]; readonly added: readonly string[]; readonly seen: ReadonlySet<string>; readonly rng: Rng } => {
  const seen = new Set(seenKeys);
  const items: T[] = [];
  const added: string[] = [];
  let r = rng;
  while (items.length < n) {
    if (stopWhenUsedUp && spaceUsedUp(space, seen)) break;
    const [item, nr] = next(seen, items.length, r);
    r = nr;
    if (item === undefined) break;
    const k = architectureKey(archOf(item));
    if (!seen.has(k)) added.push(k);
    seen.add(k);
    items.push(item);
  }
  return { items, added, seen, rng: r };
};
