/**
 * GDAS: the temperature schedule, the Gumbel-max sample (hard = argmax of soft, frequencies = softmax(α)), the
 * straight-through gradient against finite differences of the soft path with the Gumbel noise held fixed, the
 * state (determinism, learning, codec) and the checks.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seedRng } from '../../../src/ir/rng.ts';
import { type Decision, type SearchSpace, decisionSize } from '../../../src/ir/space.ts';
import { softmax } from '../../../src/search/oneshot/alphas.ts';
import {
  decodeGdasState,
  encodeGdasState,
  gdasArchGrad,
  gdasArchStep,
  gdasCheck,
  gdasDistribution,
  gdasExport,
  gdasInit,
  gdasSample,
  gdasTemperature,
  resolveGdasOptions,
} from '../../../src/search/oneshot/gdas.ts';
import type { KeyVectors } from '../../../src/search/oneshot/types.ts';

const layer = (key: string, n: number): Decision => ({ kind: 'layer', key, names: Array.from({ length: n }, (_, i) => `op${i}`), scope: [], sites: [key] });
const inputs = (key: string, names: readonly string[], nChosen: number | null): Decision => ({ kind: 'input', key, names, nChosen, reduction: 'sum', scope: [], sites: [key] });
const spaceOf = (...decisions: Decision[]): SearchSpace => ({ decisions, size: decisions.reduce((p, d) => p * decisionSize(d), 1n) });

// Numbers in [-2, 2] on a grid of 1e-4 (fc.double would spend most draws on tiny magnitudes).
const small = (): fc.Arbitrary<number> => fc.integer({ min: -20000, max: 20000 }).map((k) => k / 10000);
const vec = (n: number): fc.Arbitrary<number[]> => fc.array(small(), { minLength: n, maxLength: n });

const space = spaceOf(layer('a', 4), layer('b', 2), inputs('sw', ['a', 'b'], 1));

describe('temperature', () => {
  it('is linear from tauMax at the first epoch to tauMin at the last, clamped outside', () => {
    expect(gdasTemperature(0, 11)).toBe(10);
    expect(gdasTemperature(10, 11)).toBeCloseTo(0.1, 12);
    expect(gdasTemperature(5, 11)).toBeCloseTo((10 + 0.1) / 2, 12);
    expect(gdasTemperature(20, 11)).toBeCloseTo(0.1, 12);
    expect(gdasTemperature(0, 1)).toBe(10);
    expect(gdasTemperature(3, 4, { tauMax: 5, tauMin: 1 })).toBeCloseTo(1, 12);
    for (let e = 1; e < 11; e++) expect(gdasTemperature(e, 11)).toBeLessThan(gdasTemperature(e - 1, 11));
  });
});

describe('sample', () => {
  it('hard one-hot at the argmax of the soft sample, ones for input keys, deterministic per rng', () => {
    const alphas: KeyVectors = { a: [0.1, 0.2, -0.3, 0], b: [1, -1] };
    const s = gdasSample(space, alphas, 2, seedRng(9));
    expect(gdasSample(space, alphas, 2, seedRng(9))).toEqual(s);
    expect(s.weights.sw).toEqual([1, 1]);
    for (const k of ['a', 'b']) {
      const soft = s.soft[k]!;
      expect(Math.abs(soft.reduce((x, y) => x + y, 0) - 1)).toBeLessThan(1e-12);
      const i = s.index[k]!;
      expect(soft[i]).toBe(Math.max(...soft));
      expect(s.weights[k]).toEqual(soft.map((_, j) => (j === i ? 1 : 0)));
    }
    expect(s.rng).not.toEqual(seedRng(9));
  });

  it('draws candidate i with probability softmax(α)_i at any temperature (Gumbel-max)', () => {
    const one = spaceOf(layer('a', 4));
    const alphas = [1, 0, -1, 0.5];
    const p = softmax(alphas);
    for (const tau of [0.3, 5]) {
      const counts = [0, 0, 0, 0];
      let rng = seedRng(2024);
      const N = 20000;
      for (let t = 0; t < N; t++) {
        const s = gdasSample(one, { a: alphas }, tau, rng);
        counts[s.index.a!]!++;
        rng = s.rng;
      }
      // Fixed seed; each frequency's standard deviation is √(p(1−p)/N) ≤ 0.0036: allow 5 of them (0.018).
      counts.forEach((c, i) => expect(Math.abs(c / N - p[i]!)).toBeLessThan(0.018));
    }
  });
});

describe('straight-through gradient', () => {
  it('equals the finite-difference gradient of L(soft(α)) with the Gumbel noise held fixed', () => {
    fc.assert(
      fc.property(vec(4), vec(2), vec(4), vec(2), fc.integer({ min: 5, max: 50 }).map((k) => k / 10), fc.integer(), (a, b, ca, cb, tau, seed) => {
        const rng = seedRng(seed);
        // A smooth loss of the soft weights with cross terms: L(v) = Σ c·v + (v_a1 + v_b0)².
        const L = (v: KeyVectors): number => v.a!.reduce((s, x, i) => s + x * ca[i]!, 0) + v.b!.reduce((s, x, i) => s + x * cb[i]!, 0) + (v.a![1]! + v.b![0]!) ** 2;
        const sample = gdasSample(space, { a, b }, tau, rng);
        const v = sample.soft;
        const cross = 2 * (v.a![1]! + v.b![0]!);
        // ∂L/∂w evaluated on the soft path (straight-through passes ∂L/∂hard through unchanged)
        const dLdw: KeyVectors = { a: ca.map((c, i) => c + (i === 1 ? cross : 0)), b: cb.map((c, i) => c + (i === 0 ? cross : 0)), sw: [3, 3] };
        const g = gdasArchGrad(v, tau, dLdw);
        const f = (al: KeyVectors): number => L(gdasSample(space, al, tau, rng).soft); // same rng: same noise
        const h = 1e-5;
        const fd = (key: 'a' | 'b', vals: readonly number[], i: number): number => {
          const up = [...vals];
          const dn = [...vals];
          up[i]! += h;
          dn[i]! -= h;
          return (f({ a, b, [key]: up }) - f({ a, b, [key]: dn })) / (2 * h);
        };
        // Central differences (h = 1e-5) in float64 of a function whose derivatives scale with 1/τ ≤ 2:
        // truncation ≲ 1e-9; tolerance 1e-7 absolute.
        a.forEach((_, i) => expect(Math.abs(g.a![i]! - fd('a', a, i))).toBeLessThan(1e-7));
        b.forEach((_, i) => expect(Math.abs(g.b![i]! - fd('b', b, i))).toBeLessThan(1e-7));
        expect(Object.keys(g).sort()).toEqual(['a', 'b']);
      }),
    );
  });

  it('refuses a missing gradient, naming the key', () => {
    expect(() => gdasArchGrad({ a: [0.5, 0.5] }, 1, {})).toThrow(/'a'/);
  });
});

describe('gdas state', () => {
  it('refuses nChosen null and bad temperatures; DARTS Adam defaults', () => {
    const errs = gdasCheck(spaceOf(layer('a', 2), inputs('skip', ['', ''], null)), { tauMin: 0, tauMax: -1 });
    expect(errs.find((e) => e.tag === 'UnsupportedChoice')!.message).toMatch(/'skip'/);
    expect(errs.filter((e) => e.tag === 'InvalidOption').map((e) => (e.tag === 'InvalidOption' ? e.option : '')).sort()).toEqual(['tauMax', 'tauMin']);
    expect(gdasCheck(space, {})).toEqual([]);
    expect(resolveGdasOptions({})).toEqual({ lr: 3e-4, betas: [0.5, 0.999], weightDecay: 1e-3, eps: 1e-8, initScale: 1e-3, tauMax: 10, tauMin: 0.1 });
  });

  it('learns the candidate whose loss is lowest, deterministically per seed', () => {
    const run = (seed: number): ReturnType<typeof gdasInit>[0] => {
      let [state, rng] = gdasInit(space, seedRng(seed), { lr: 0.05 });
      for (let step = 0; step < 300; step++) {
        const tau = gdasTemperature(step, 300);
        const s = gdasSample(space, state.alphas, tau, rng);
        rng = s.rng;
        // the supernet's output under the hard weights: candidate 2 of 'a' and 1 of 'b' lower the loss
        state = gdasArchStep(space, state, s.soft, tau, { a: [1, 1, -1, 1], b: [0.5, -0.5], sw: [0, 0] });
      }
      return state;
    };
    const s = run(4);
    expect(run(4)).toEqual(s);
    // a's best op outweighs b's, so the input choice keeps edge a and b's edge is dropped
    expect(gdasExport(space, s)).toEqual({ a: [2], b: [], sw: [0] });
    const dist = gdasDistribution(space, s);
    expect(dist.a).toHaveLength(4);
    expect(dist.b![1]).toBeGreaterThan(dist.b![0]!);
  });

  it('round-trips through JSON and refuses another space', () => {
    const [s] = gdasInit(space, seedRng(1), {});
    const json = JSON.parse(JSON.stringify(encodeGdasState(s))) as unknown;
    expect(decodeGdasState(space, json)).toEqual(E.right(s));
    expect(E.isLeft(decodeGdasState(spaceOf(layer('a', 3), layer('b', 2), inputs('sw', ['a', 'b'], 1)), json))).toBe(true);
  });
});
