/**
 * Laws every classic strategy obeys, over random search spaces (layer choices, input choices of k, input
 * choices of any number) and random seeds, with some trials failing (null or NaN objectives):
 * proposals are valid canonical architectures of the space; no architecture is proposed twice (dedup);
 * a small space is used up exactly and exhaustion is reported; the state survives a JSON round trip with the
 * same future proposals; the same seed gives the same proposals.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Architecture } from '../../src/ir/apply.ts';
import { architectureKey, exportArchitecture, resolveArchitecture } from '../../src/ir/architecture.ts';
import { hash128 } from '../../src/ir/hash.ts';
import { seedRng } from '../../src/ir/rng.ts';
import { type Decision, type SearchSpace, decisionSize } from '../../src/ir/space.ts';
import {
  type AnyStrategy,
  type Strategy,
  erase,
  gridSearch,
  randomSearch,
  regularizedEvolution,
  reinforce,
  tpe,
  ppo,
} from '../../src/search/index.ts';

/** Strategies under test, with options small enough that every code path runs within a few trials. */
const strategies: readonly (readonly [string, () => AnyStrategy])[] = [
  ['random', () => erase(randomSearch())],
  ['grid', () => erase(gridSearch())],
  ['evolution', () => erase(regularizedEvolution({ population: 4, sample: 2 }))],
  ['evolution (minimize)', () => erase(regularizedEvolution({ direction: 'minimize', population: 3, sample: 3 }))],
  ['reinforce', () => erase(reinforce())],
  ['reinforce (autoregressive)', () => erase(reinforce({ autoregressive: true, learningRate: 1 }))],
  ['tpe', () => erase(tpe({ startup: 3, candidates: 8 }))],
  ['tpe (minimize)', () => erase(tpe({ direction: 'minimize', startup: 2, candidates: 4 }))],
  ['ppo', () => erase(ppo())],
  ['ppo (updates every 2 trials)', () => erase(ppo({ trialsPerUpdate: 2, minibatches: 2, learningRate: 0.1, entCoef: 0.01 }))],
];

const decisionArb = (key: string): fc.Arbitrary<Decision> =>
  fc.oneof(
    fc.integer({ min: 1, max: 4 }).map((n): Decision => ({ kind: 'layer', key, names: Array.from({ length: n }, (_, i) => `op${i}`), scope: [], sites: [key] })),
    fc
      .integer({ min: 1, max: 4 })
      .chain((n) => fc.tuple(fc.constant(n), fc.option(fc.integer({ min: 0, max: n }), { nil: null })))
      .map(
        ([n, nChosen]): Decision => ({ kind: 'input', key, names: Array.from({ length: n }, () => ''), nChosen, reduction: 'sum', scope: [], sites: [key] }),
      ),
  );

/** Spaces of 0 to 4 decisions, of at most `maxSize` architectures. */
const spaceArb = (maxSize: bigint): fc.Arbitrary<SearchSpace> =>
  fc
    .integer({ min: 0, max: 4 })
    .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => decisionArb(`k${i}`))))
    .map((decisions): SearchSpace => ({ decisions, size: decisions.reduce((p, d) => p * decisionSize(d), 1n) }))
    .filter((s) => s.size <= maxSize);

/** A deterministic objective per architecture and seed, failing (null) or NaN for some. */
const objectiveOf = (arch: Architecture, seed: number): number | null => {
  const h = parseInt(hash128(`${seed}:${architectureKey(arch)}`).slice(0, 8), 16) / 2 ** 32;
  return h < 0.1 ? null : h < 0.15 ? Number.NaN : h;
};

/** Runs a strategy for `rounds` rounds of `batch` proposals, observing each batch, from a given state. */
const drive = <S>(s: Strategy<S>, space: SearchSpace, state0: S, seed: number, rounds: number, batch: number) => {
  let state = state0;
  let rng = seedRng(seed);
  const proposed: Architecture[] = [];
  let exhausted = false;
  for (let i = 0; i < rounds && !exhausted; i++) {
    const p = s.propose(space, state, batch, rng);
    expect(p.archs.length).toBeLessThanOrEqual(batch);
    if (p.archs.length < batch) expect(p.exhausted).toBe(true);
    proposed.push(...p.archs);
    rng = p.rng;
    exhausted = p.exhausted;
    state = s.observe(space, p.state, p.archs.map((arch) => ({ arch, objective: objectiveOf(arch, seed) })));
  }
  return { proposed, state, rng, exhausted };
};

/** Canonical form: exactly the space's keys; per key ascending distinct in-range indices of the right count. */
const expectCanonical = (space: SearchSpace, a: Architecture): void => {
  expect(Object.keys(a).sort()).toEqual(space.decisions.map((d) => d.key).sort());
  for (const d of space.decisions) {
    const v = a[d.key]!;
    const count = d.kind === 'layer' ? 1 : d.nChosen;
    if (count !== null) expect(v.length).toBe(count);
    v.forEach((x, i) => {
      expect(Number.isInteger(x) && x >= 0 && x < d.names.length).toBe(true);
      if (i > 0) expect(x).toBeGreaterThan(v[i - 1]!);
    });
  }
  // And the IR's own reading of the exported form gives it back.
  expect(resolveArchitecture(space, exportArchitecture(space, a))).toEqual(E.right(a));
};

describe.each(strategies)('%s', (_name, make) => {
  const s = make();

  it('proposes only valid architectures, never twice, and uses up a small space exactly', () => {
    fc.assert(
      fc.property(spaceArb(60n), fc.integer(), fc.integer({ min: 1, max: 5 }), (space, seed, batch) => {
        expect(s.check(space)).toEqual([]);
        const size = Number(space.size);
        const run = drive(s, space, s.init(space), seed, size + 3, batch);
        for (const a of run.proposed) expectCanonical(space, a);
        expect(new Set(run.proposed.map(architectureKey)).size).toBe(run.proposed.length);
        expect(run.proposed.length).toBe(size);
        expect(run.exhausted).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  it('continues identically after a JSON round trip of its state, and is deterministic per seed', () => {
    fc.assert(
      fc.property(spaceArb(5000n), fc.integer(), fc.integer({ min: 0, max: 12 }), fc.integer({ min: 1, max: 3 }), (space, seed, before, batch) => {
        const first = drive(s, space, s.init(space), seed, before, batch);
        const json = JSON.parse(JSON.stringify(s.encodeState(first.state))) as unknown;
        const decoded = s.decodeState(space, json);
        if (E.isLeft(decoded)) throw new Error(decoded.left.map((e) => e.message).join('; '));
        const a = drive(s, space, first.state, seed + 1, 6, batch);
        const b = drive(s, space, decoded.right, seed + 1, 6, batch);
        expect(b.proposed).toEqual(a.proposed);
        expect(s.encodeState(b.state)).toEqual(s.encodeState(a.state));
        // Same seed, same everything.
        expect(drive(s, space, s.init(space), seed, before, batch).proposed).toEqual(first.proposed);
      }),
      { numRuns: 40 },
    );
  });

  it('refuses a space with a decision that has no value, naming its key', () => {
    const space: SearchSpace = {
      decisions: [
        { kind: 'layer', key: 'fine', names: ['a', 'b'], scope: [], sites: ['fine'] },
        { kind: 'input', key: 'impossible', names: ['', ''], nChosen: 3, reduction: 'sum', scope: [], sites: ['impossible'] },
      ],
      size: 0n,
    };
    const errors = s.check(space);
    expect(errors.map((e) => [e.tag, 'key' in e ? e.key : undefined])).toEqual([['EmptyChoice', 'impossible']]);
    expect(errors[0]!.message).toContain("'impossible'");
  });

  it('refuses a state saved for another space or by another strategy', () => {
    const space: SearchSpace = { decisions: [{ kind: 'layer', key: 'a', names: ['x', 'y'], scope: [], sites: ['a'] }], size: 2n };
    const other: SearchSpace = { decisions: [{ kind: 'layer', key: 'a', names: ['x', 'y', 'z'], scope: [], sites: ['a'] }], size: 3n };
    const json = JSON.parse(JSON.stringify(s.encodeState(s.init(space)))) as unknown;
    expect(E.isRight(s.decodeState(space, json))).toBe(true);
    const wrongSpace = s.decodeState(other, json);
    expect(E.isLeft(wrongSpace) && wrongSpace.left[0]!.message).toMatch(/another search space/);
    const foreign = s.name === 'random' ? erase(gridSearch()) : erase(randomSearch());
    const wrongStrategy = s.decodeState(space, foreign.encodeState(foreign.init(space)));
    expect(E.isLeft(wrongStrategy)).toBe(true);
    expect(E.isLeft(s.decodeState(space, { nonsense: true }))).toBe(true);
  });
});
