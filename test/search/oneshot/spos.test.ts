/**
 * SPOS's pure parts: uniform path sampling (chi-square), FLOPs-bin sampling (bin frequencies, bounds, the
 * empty-bin fallback, errors), and the evolution as a classic Strategy: the laws of test/search/laws.test.ts
 * (copied: that file is data-driven over the registry's strategies), its constraint, its generations and
 * operators, and convergence on a synthetic objective.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Architecture, apply } from '../../../src/ir/apply.ts';
import { architectureKey, enumerateArchitectures, exportArchitecture, resolveArchitecture } from '../../../src/ir/architecture.ts';
import { inputChoice, layerChoice } from '../../../src/ir/choice.ts';
import { buildModel, defineModel, paramCount } from '../../../src/ir/graph.ts';
import { hash128 } from '../../../src/ir/hash.ts';
import { add, block, conv2d, flatten, identity, linear, sequential } from '../../../src/ir/layers.ts';
import { type Rng, nextInt, seedRng } from '../../../src/ir/rng.ts';
import { type Decision, type SearchSpace, decisionSize, searchSpace } from '../../../src/ir/space.ts';
import { type SposEvolutionOptions, type SposState, sposBest, sposEvolution } from '../../../src/search/oneshot/spos-evolution.ts';
import { type ArchSampler, binOf, flopsBinSampler, uniformArch } from '../../../src/search/oneshot/spos.ts';
import { randomSearch } from '../../../src/search/random.ts';
import type { Strategy } from '../../../src/search/strategy.ts';

const layer = (key: string, n: number): Decision => ({ kind: 'layer', key, names: Array.from({ length: n }, (_, i) => `op${i}`), scope: [], sites: [key] });
const inputs = (key: string, n: number, nChosen: number | null): Decision => ({
  kind: 'input',
  key,
  names: Array.from({ length: n }, () => ''),
  nChosen,
  reduction: 'sum',
  scope: [],
  sites: [key],
});
const spaceOf = (...decisions: Decision[]): SearchSpace => ({ decisions, size: decisions.reduce((p, d) => p * decisionSize(d), 1n) });

// ---------------------------------------------------------------------------------------------------------
// Chi-square

/** Pearson's statistic of observed counts against equal expected counts. */
const chiSquare = (counts: readonly number[], total: number): number => {
  const e = total / counts.length;
  return counts.reduce((s, c) => s + (c - e) ** 2 / e, 0);
};
/** The upper α = 0.001 quantile of χ²(df), Wilson–Hilferty (relative error < 1 % for df ≥ 2 at this tail). */
const chiCritical001 = (df: number): number => df * (1 - 2 / (9 * df) + 3.090232 * Math.sqrt(2 / (9 * df))) ** 3;

/** Counts of each architecture of `space` over `draws` samples. */
const histogram = (space: SearchSpace, draws: number, sample: (rng: Rng) => [Architecture, Rng], seed: number): number[] => {
  const index = new Map([...enumerateArchitectures(space)].map((a, i) => [architectureKey(a), i] as const));
  const counts = new Array<number>(index.size).fill(0);
  let rng = seedRng(seed);
  for (let i = 0; i < draws; i++) {
    const [a, r] = sample(rng);
    rng = r;
    const at = index.get(architectureKey(a));
    if (at === undefined) throw new Error(`not an architecture of the space: ${architectureKey(a)}`);
    counts[at]!++;
  }
  return counts;
};

describe('uniformArch', () => {
  // 3 · C(4,2) · 2^3 = 144 architectures: every kind of decision, the empty subset included.
  const space = spaceOf(layer('op', 3), inputs('pick', 4, 2), inputs('any', 3, null));

  it('draws every architecture equally often (chi-square, α = 0.001, seed 7)', () => {
    const draws = 144 * 60;
    const counts = histogram(space, draws, (r) => uniformArch(space, r), 7);
    expect(chiSquare(counts, draws)).toBeLessThan(chiCritical001(143));
    // The test has power: the same statistic rejects an input-any choice that takes each input with p = 0.6.
    const biased = (rng: Rng): [Architecture, Rng] => {
      const [a, r] = uniformArch(space, rng);
      let r2 = r;
      const chosen: number[] = [];
      for (let i = 0; i < 3; i++) {
        const [u, next] = nextInt(r2, 10);
        r2 = next;
        if (u < 6) chosen.push(i);
      }
      return [{ ...a, any: chosen }, r2];
    };
    expect(chiSquare(histogram(space, draws, biased, 7), draws)).toBeGreaterThan(chiCritical001(143));
  });

  it('answers canonical architectures: every key, ascending distinct indices of the right count', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const [a] = uniformArch(space, seedRng(seed));
        expect(resolveArchitecture(space, exportArchitecture(space, a))).toEqual(E.right(a));
        expect(a['op']!.length).toBe(1);
        expect(a['pick']!.length).toBe(2);
      }),
    );
  });
});

// ---------------------------------------------------------------------------------------------------------
// FLOPs bins

describe('flopsBinSampler', () => {
  // 81 architectures; cost = sum of the chosen indices (0..8), peaked in the middle as real MAC counts are.
  const space = spaceOf(layer('a', 3), layer('b', 3), layer('c', 3), layer('d', 3));
  const cost = (a: Architecture): number => space.decisions.reduce((s, d) => s + a[d.key]![0]!, 0);

  const drawMany = (sample: ArchSampler, n: number, seed: number): Architecture[] => {
    const out: Architecture[] = [];
    let rng = seedRng(seed);
    for (let i = 0; i < n; i++) {
      const r = sample(space, rng);
      if (E.isLeft(r)) throw new Error(r.left.map((e) => e.message).join('; '));
      out.push(r.right[0]);
      rng = r.right[1];
    }
    return out;
  };

  it('trains each bin about equally often though uniform paths are not (chi-square, α = 0.001, seed 3)', () => {
    const o = { lower: 0, upper: 8, bins: 3 };
    const n = 3000;
    const binCounts = (archs: readonly Architecture[]): number[] => {
      const c = [0, 0, 0];
      for (const a of archs) c[binOf(o, cost(a))!]!++;
      return c;
    };
    const counts = binCounts(drawMany(flopsBinSampler(o, cost), n, 3));
    expect(chiSquare(counts, n)).toBeLessThan(13.816); // χ²(2) upper 0.001 quantile, from the table
    // Without bins the middle bin (costs 3..5) holds 51 of the 81 architectures: the bins change the mix.
    const plain = binCounts(drawMany((s, r) => E.right(uniformArch(s, r)), n, 3));
    expect(chiSquare(plain, n)).toBeGreaterThan(13.816);
  });

  it('draws uniformly within a bin (chi-square over the 15 architectures of cost ≤ 1, α = 0.001)', () => {
    // One bin [0, 1]: the sampler is then rejection sampling, uniform over the architectures it accepts.
    const o = { lower: 0, upper: 1, bins: 1 };
    const archs = drawMany(flopsBinSampler(o, cost), 1500, 11);
    const byKey = new Map<string, number>();
    for (const a of archs) byKey.set(architectureKey(a), (byKey.get(architectureKey(a)) ?? 0) + 1);
    expect(byKey.size).toBe(5); // cost 0: one architecture; cost 1: four
    expect(chiSquare([...byKey.values()], archs.length)).toBeLessThan(chiCritical001(4));
  });

  it('answers only architectures within the bounds, or an error naming them when none exists', () => {
    fc.assert(
      fc.property(fc.integer({ min: -2, max: 10 }), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 1, max: 5 }), fc.integer(), (lower, width, bins, seed) => {
        const upper = lower + width;
        const possible = [...enumerateArchitectures(space)].some((a) => cost(a) >= lower && cost(a) <= upper);
        const r = flopsBinSampler({ lower, upper, bins }, cost)(space, seedRng(seed));
        if (possible) {
          // Missing an in-bounds mass ≥ 1/81 in 2,000 draws has probability (80/81)^2000 < 2e-11 per run.
          expect(E.isRight(r)).toBe(true);
          if (E.isRight(r)) expect(cost(r.right[0]) >= lower && cost(r.right[0]) <= upper).toBe(true);
        } else {
          expect(E.isLeft(r) && r.left.map((e) => e.tag)).toEqual(['NoArchInBounds']);
          if (E.isLeft(r)) expect(r.left[0]!.message).toContain(`[${lower}, ${upper}]`);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('falls back to any in-bounds architecture when the chosen bin is empty', () => {
    // Costs 0 or 8 only: with 3 bins the middle one is empty; all draws still succeed within [0, 8].
    const gap = (a: Architecture): number => (a['a']![0] === 0 ? 0 : 8);
    const o = { lower: 0, upper: 8, bins: 3, maxTries: 20 };
    const archs = drawMany(flopsBinSampler(o, gap), 600, 5);
    const low = archs.filter((a) => gap(a) === 0).length;
    // Bins 0 and 2 each get a third; the empty bin's third falls back to uniform (1/3 cost 0): low ≈ 1/3 + 1/9.
    // Tolerance: 4 standard deviations of a binomial(600, 4/9) proportion (≈ 0.081).
    expect(Math.abs(low / 600 - 4 / 9)).toBeLessThan(4 * Math.sqrt((4 / 9) * (5 / 9) / 600));
  });

  it('refuses invalid options, every one at once', () => {
    const r = flopsBinSampler({ lower: 5, upper: 1, bins: 0, maxTries: 0.5 }, cost)(space, seedRng(0));
    expect(E.isLeft(r) && r.left.map((e) => (e.tag === 'InvalidBins' ? e.option : e.tag))).toEqual(['upper', 'bins', 'maxTries']);
    const nan = flopsBinSampler({ lower: Number.NaN, upper: 1, bins: 2 }, cost)(space, seedRng(0));
    expect(E.isLeft(nan) && nan.left[0]!.message).toMatch(/'lower' must be a finite number/);
  });
});

// ---------------------------------------------------------------------------------------------------------
// The evolution: Strategy laws (copied from test/search/laws.test.ts, adapted to generation barriers)

const decisionArb = (key: string): fc.Arbitrary<Decision> =>
  fc.oneof(
    fc.integer({ min: 1, max: 4 }).map((n) => layer(key, n)),
    fc
      .integer({ min: 1, max: 4 })
      .chain((n) => fc.tuple(fc.constant(n), fc.option(fc.integer({ min: 0, max: n }), { nil: null })))
      .map(([n, nChosen]) => inputs(key, n, nChosen)),
  );

/** Spaces of 0 to 4 decisions, of at most `maxSize` architectures. */
const spaceArb = (maxSize: bigint): fc.Arbitrary<SearchSpace> =>
  fc
    .integer({ min: 0, max: 4 })
    .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => decisionArb(`k${i}`))))
    .map((decisions) => spaceOf(...decisions))
    .filter((s) => s.size <= maxSize);

/** A deterministic objective per architecture and seed, failing (null) or NaN for some. */
const objectiveOf = (arch: Architecture, seed: number): number | null => {
  const h = parseInt(hash128(`${seed}:${architectureKey(arch)}`).slice(0, 8), 16) / 2 ** 32;
  return h < 0.1 ? null : h < 0.15 ? Number.NaN : h;
};

/** A pure constraint that admits about 60 % of architectures, per seed. */
const constraintOf = (seed: number) => (arch: Architecture): boolean => parseInt(hash128(`c${seed}:${architectureKey(arch)}`).slice(0, 8), 16) / 2 ** 32 < 0.6;

/**
 * Runs SPOS for `rounds` rounds of `batch` proposals, observing each batch. A batch is short only at a
 * generation barrier (the next proposal starts a new generation) or when exhausted.
 */
const drive = (s: Strategy<SposState>, space: SearchSpace, state0: SposState, seed: number, rounds: number, batch: number, objective = objectiveOf) => {
  let state = state0;
  let rng = seedRng(seed);
  const proposed: Architecture[] = [];
  let exhausted = false;
  for (let i = 0; i < rounds && !exhausted; i++) {
    const p = s.propose(space, state, batch, rng);
    expect(p.archs.length).toBeLessThanOrEqual(batch);
    if (p.archs.length < batch && !p.exhausted) expect([p.state.slot, p.state.generation > 0]).toEqual([0, true]);
    proposed.push(...p.archs);
    rng = p.rng;
    exhausted = p.exhausted;
    state = s.observe(space, p.state, p.archs.map((arch) => ({ arch, objective: objective(arch, seed) })));
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
  expect(resolveArchitecture(space, exportArchitecture(space, a))).toEqual(E.right(a));
};

/** Small options under which every operator runs within a few trials; 4 + 29 · 4 = 120 proposals in all. */
const small: SposEvolutionOptions = { generations: 30, population: 4, topK: 2, mutations: 2, crossovers: 1, mutateProb: 0.3 };

describe('sposEvolution: strategy laws', () => {
  it('proposes only valid architectures, never twice, and uses up a small space exactly', () => {
    const s = sposEvolution(small);
    fc.assert(
      fc.property(spaceArb(60n), fc.integer(), fc.integer({ min: 1, max: 5 }), (space, seed, batch) => {
        expect(s.check(space)).toEqual([]);
        const size = Number(space.size);
        const run = drive(s, space, s.init(space), seed, 3 * size + 10, batch);
        for (const a of run.proposed) expectCanonical(space, a);
        expect(new Set(run.proposed.map(architectureKey)).size).toBe(run.proposed.length);
        expect(run.proposed.length).toBe(size);
        expect(run.exhausted).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('satisfies the constraint always, and proposes every legal architecture of a small space', () => {
    fc.assert(
      fc.property(spaceArb(60n), fc.integer(), fc.integer({ min: 1, max: 5 }), (space, seed, batch) => {
        const ok = constraintOf(seed);
        const s = sposEvolution({ ...small, constraint: ok });
        const run = drive(s, space, s.init(space), seed, 3 * Number(space.size) + 10, batch);
        expect(run.proposed.every(ok)).toBe(true);
        expect(run.proposed.length).toBe([...enumerateArchitectures(space)].filter(ok).length);
        expect(run.exhausted).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('proposes exactly its budget in a large space: population + (generations − 1) · max(population, mutations + crossovers)', () => {
    const space = spaceOf(...Array.from({ length: 8 }, (_, i) => layer(`k${i}`, 4)), inputs('any', 4, null));
    const s = sposEvolution({ generations: 3, population: 5, topK: 2, mutations: 3, crossovers: 4 });
    const run = drive(s, space, s.init(space), 1, 100, 4);
    expect(run.proposed.length).toBe(5 + 2 * 7);
    expect(run.exhausted).toBe(true);
    expect(s.propose(space, run.state, 3, seedRng(0)).archs).toEqual([]);
  });

  it('continues identically after a JSON round trip of its state, and is deterministic per seed', () => {
    const s = sposEvolution(small);
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
        expect(drive(s, space, s.init(space), seed, before, batch).proposed).toEqual(first.proposed);
      }),
      { numRuns: 40 },
    );
  });

  it('refuses a space with a decision that has no value, and invalid options, naming them', () => {
    const space = spaceOf(layer('fine', 2), inputs('impossible', 2, 3));
    const errors = sposEvolution().check(space);
    expect(errors.map((e) => [e.tag, 'key' in e ? e.key : undefined])).toEqual([['EmptyChoice', 'impossible']]);
    const bad = sposEvolution({ generations: 0, population: 2.5, topK: 0, mutations: -1, crossovers: 0.5, mutateProb: 1.5, maxTries: 0 }).check(spaceOf(layer('a', 2)));
    expect(bad.map((e) => (e.tag === 'InvalidOption' ? e.option : e.tag))).toEqual(['generations', 'population', 'topK', 'mutations', 'crossovers', 'mutateProb', 'maxTries']);
  });

  it('refuses a state saved for another space or by another strategy', () => {
    const s = sposEvolution();
    const space = spaceOf(layer('a', 2));
    const json = JSON.parse(JSON.stringify(s.encodeState(s.init(space)))) as unknown;
    expect(E.isRight(s.decodeState(space, json))).toBe(true);
    const wrongSpace = s.decodeState(spaceOf(layer('a', 3)), json);
    expect(E.isLeft(wrongSpace) && wrongSpace.left[0]!.message).toMatch(/another search space/);
    const foreign = randomSearch();
    expect(E.isLeft(s.decodeState(space, foreign.encodeState(foreign.init(space))))).toBe(true);
    expect(E.isLeft(s.decodeState(space, { nonsense: true }))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------------
// The evolution on a real model: every proposal applies; the constraint is a parameter budget

describe('sposEvolution on a model built with the IR', () => {
  const op = () => layerChoice({ conv3x3: conv2d({ out: 2, kernel: 3, padding: 1 }), conv1x1: conv2d({ out: 2, kernel: 1 }), identity: identity() });
  const model = defineModel({
    name: 'spos-small',
    input: [2, 4, 4],
    layer: block((ctx, x) => {
      const s = ctx.call('stem', conv2d({ out: 2, kernel: 1 }), x);
      const a = ctx.call('l1', op(), s);
      const b = ctx.call('l2', op(), a);
      const pick = ctx.call('pick', inputChoice({ nChosen: 2 }), [s, a, b]);
      const any = ctx.call('any', inputChoice({ nChosen: null }), [s, a]);
      return ctx.call('head', sequential({ flat: flatten(), fc: linear({ out: 3 }) }), add(b, pick, any));
    }),
  });
  const built = buildModel(model);
  if (E.isLeft(built)) throw new Error(built.left.map((e) => e.message).join('; '));
  const graph = built.right;
  const space = searchSpace(graph);
  const params = (a: Architecture): number => {
    const g = apply(graph, a);
    if (E.isLeft(g)) throw new Error(g.left.map((e) => e.message).join('; '));
    return paramCount(g.right);
  };

  it('proposes architectures that resolve and apply, within the parameter limit, until every legal one is tried', () => {
    const counts = [...enumerateArchitectures(space)].map(params).sort((x, y) => x - y);
    const limit = counts[Math.floor(counts.length / 2)]!;
    const s = sposEvolution({ generations: 15, population: 6, topK: 3, mutations: 3, crossovers: 3, constraint: (a) => params(a) <= limit });
    const run = drive(s, space, s.init(space), 9, 100, 4);
    for (const a of run.proposed) {
      expectCanonical(space, a);
      expect(params(a)).toBeLessThanOrEqual(limit);
    }
    expect(run.proposed.length).toBe(counts.filter((c) => c <= limit).length);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Generations, operators, the elite

describe('sposEvolution: generations and operators', () => {
  const space = spaceOf(...Array.from({ length: 6 }, (_, i) => layer(`k${i}`, 4)));
  const hamming = (a: Architecture, b: Architecture): number => space.decisions.filter((d) => a[d.key]![0] !== b[d.key]![0]).length;
  const score = (a: Architecture): number => parseInt(hash128(architectureKey(a)).slice(0, 8), 16) / 2 ** 32;

  /** Generation 0 observed, then generation 1 proposed in one call; the top-k of generation 0 by `score`. */
  const secondGeneration = (o: SposEvolutionOptions) => {
    const s = sposEvolution(o);
    const g0 = s.propose(space, s.init(space), 1000, seedRng(4));
    const observed = s.observe(space, g0.state, g0.archs.map((arch) => ({ arch, objective: score(arch) })));
    const g1 = s.propose(space, observed, 1000, g0.rng);
    const top = [...g0.archs].sort((a, b) => score(b) - score(a)).slice(0, o.topK);
    return { g0, g1, top, observed };
  };

  it('waits for a generation to be observed before proposing the next one (the barrier)', () => {
    const s = sposEvolution({ population: 7, mutations: 3, crossovers: 2 });
    const p = s.propose(space, s.init(space), 100, seedRng(0));
    expect([p.archs.length, p.exhausted]).toEqual([7, false]);
    expect(s.propose(space, p.state, 5, p.rng).archs).toEqual([]); // generation 0 still in flight
    const half = s.observe(space, p.state, p.archs.slice(0, 6).map((arch) => ({ arch, objective: 1 })));
    expect(s.propose(space, half, 5, p.rng).archs).toEqual([]);
    const all = s.observe(space, half, [{ arch: p.archs[6]!, objective: null }]);
    expect(s.propose(space, all, 100, p.rng).archs.length).toBe(7); // max(7, 3 + 2)
  });

  it('makes crossovers of the top-k only: every key from one of the parents', () => {
    const { g1, top } = secondGeneration({ population: 12, topK: 3, mutations: 0, crossovers: 12 });
    expect(g1.archs.length).toBe(12);
    for (const child of g1.archs) for (const d of space.decisions) expect(top.map((t) => t[d.key]![0])).toContain(child[d.key]![0]);
  });

  it('makes mutants near a top-k parent: few keys resampled with p = 0.1', () => {
    const { g1, top, g0 } = secondGeneration({ population: 20, topK: 3, mutations: 20, crossovers: 0, mutateProb: 0.1 });
    const nearest = (a: Architecture): number => Math.min(...top.map((t) => hamming(a, t)));
    const distances = g1.archs.map(nearest);
    // Each mutant differs from its parent (duplicates are rejected); given ≥ 1 change, the expected number of
    // changed keys is about 1.1 here, while random architectures are about 3.5 keys from the nearest of 3.
    expect(Math.min(...distances)).toBeGreaterThanOrEqual(1);
    const mean = (xs: readonly number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean(distances)).toBeLessThan(1.6);
    expect(mean(g0.archs.map(nearest).filter((d) => d > 0))).toBeGreaterThan(2.5);
  });

  it('keeps the best k observed over every generation, failed trials never among them', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 }), (seed, topK, batch) => {
        const s = sposEvolution({ generations: 4, population: 6, topK, mutations: 3, crossovers: 2 });
        const run = drive(s, space, s.init(space), seed, 40, batch);
        const ok = run.proposed.map((arch) => ({ arch, objective: objectiveOf(arch, seed) })).filter((r): r is { arch: Architecture; objective: number } => r.objective !== null && Number.isFinite(r.objective));
        const want = [...ok].sort((a, b) => b.objective - a.objective).slice(0, topK);
        expect(run.state.top.map((m) => m.objective)).toEqual(want.map((m) => m.objective));
        expect(sposBest(run.state)?.objective).toBe(want[0]?.objective);
      }),
      { numRuns: 50 },
    );
  });

  it('minimises when told: the best is the smallest objective', () => {
    const s = sposEvolution({ direction: 'minimize', generations: 2, population: 5, topK: 2, mutations: 2, crossovers: 2 });
    const run = drive(s, space, s.init(space), 2, 10, 5);
    const ok = run.proposed.map((a) => objectiveOf(a, 2)).filter((v): v is number => v !== null && Number.isFinite(v));
    expect(sposBest(run.state)?.objective).toBe(Math.min(...ok));
  });
});

// ---------------------------------------------------------------------------------------------------------
// Convergence

describe('sposEvolution on a synthetic objective', () => {
  // 4^6 · C(4,2) · 2^3 = 196,608 architectures; the objective counts the keys equal to a hidden target's.
  const space = spaceOf(...Array.from({ length: 6 }, (_, i) => layer(`k${i}`, 4)), inputs('pick', 4, 2), inputs('any', 3, null));
  const target: Architecture = { k0: [1], k1: [3], k2: [0], k3: [2], k4: [2], k5: [1], pick: [1, 3], any: [] };
  const matches = (a: Architecture): number => space.decisions.filter((d) => architectureKey({ x: a[d.key]! }) === architectureKey({ x: target[d.key]! })).length;
  const optimum = space.decisions.length;

  it('improves on generation 0 and finds the optimum within the default budget (seeds 1..5)', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const s = sposEvolution();
      const run = drive(s, space, s.init(space), seed, 1000, 10, (a) => matches(a));
      expect(run.proposed.length).toBe(50 + 19 * 50);
      const generation0 = Math.max(...run.proposed.slice(0, 50).map(matches));
      expect(generation0).toBeLessThan(optimum);
      expect(sposBest(run.state)?.objective).toBe(optimum);
      expect(sposBest(run.state)?.arch).toEqual(target);
    }
  });
});
