/**
 * FBNet (pure part): the temperature schedule, the loss CE·α·log(LAT)^β, its gradient through the Gumbel softmax
 * against central finite differences with the noise held fixed (the latency term alone and with a CE that depends
 * on the mask), the effect of the latency weight β on where the search goes (a synthetic CE that prefers the
 * expensive candidates and a synthetic table), the codec and the checks.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Rng, seedRng } from '../../../src/ir/rng.ts';
import { type Decision, type SearchSpace, decisionSize } from '../../../src/ir/space.ts';
import {
  type FbnetState,
  type LatencyLookup,
  decodeFbnetState,
  encodeFbnetState,
  fbnetArchGrad,
  fbnetArchStep,
  fbnetCheck,
  fbnetExport,
  fbnetInit,
  fbnetLatency,
  fbnetLoss,
  fbnetLossGrad,
  fbnetTemperature,
  latencyLookupErrors,
  resolveFbnetOptions,
} from '../../../src/search/oneshot/fbnet.ts';
import { gdasSample } from '../../../src/search/oneshot/gdas.ts';
import type { KeyVectors } from '../../../src/search/oneshot/types.ts';

const layer = (key: string, n: number): Decision => ({ kind: 'layer', key, names: Array.from({ length: n }, (_, i) => `op${i}`), scope: [], sites: [key] });
const spaceOf = (...decisions: Decision[]): SearchSpace => ({ decisions, size: decisions.reduce((p, d) => p * decisionSize(d), 1n) });
const space = spaceOf(layer('a', 3), layer('b', 2));
// Latencies in µs: candidate 0 is the cheapest of each key.
const table: LatencyLookup = { a: [40, 400, 900], b: [30, 700] };

const small = (): fc.Arbitrary<number> => fc.integer({ min: -15000, max: 15000 }).map((k) => k / 10000);
const vec = (n: number): fc.Arbitrary<number[]> => fc.array(small(), { minLength: n, maxLength: n });

describe('temperature and loss', () => {
  it('anneals 5 by ×0.956 per epoch (the paper)', () => {
    const o = resolveFbnetOptions();
    expect(fbnetTemperature(0, o)).toBe(5);
    expect(fbnetTemperature(1, o)).toBeCloseTo(4.78, 12);
    expect(fbnetTemperature(10, o)).toBeCloseTo(5 * 0.956 ** 10, 12);
  });

  it("has the paper's defaults", () => {
    const o = resolveFbnetOptions();
    expect([o.alpha, o.beta, o.tauInit, o.tauDecay, o.lr, o.weightDecay]).toEqual([0.2, 0.6, 5, 0.956, 0.01, 5e-4]);
  });

  it('is CE·α·log(LAT)^β with LAT the mask-weighted sum of the table', () => {
    // LAT = 0.5·40 + 0.25·400 + 0.25·900 + 1·30 = 20 + 100 + 225 + 30 = 375
    expect(fbnetLatency({ a: [0.5, 0.25, 0.25], b: [1, 0] }, table)).toBeCloseTo(375, 10);
    // 2 · 0.2 · log(e^4)^0.5 = 0.4 · 2 = 0.8
    expect(fbnetLoss(2, Math.E ** 4, { alpha: 0.2, beta: 0.5 })).toBeCloseTo(0.8, 12);
    // β = 0: the latency is ignored; LAT below e counts as e (factor 1)
    expect(fbnetLoss(2, 1e6, { alpha: 0.2, beta: 0 })).toBeCloseTo(0.4, 12);
    expect(fbnetLoss(2, 0.5, { alpha: 0.2, beta: 0.6 })).toBeCloseTo(0.4, 12);
  });
});

/** L(θ) for a synthetic CE(m) = ce0 + Σ c·m, with the Gumbel noise of `rng`. */
const lossAt = (theta: KeyVectors, c: KeyVectors, ce0: number, tau: number, rng: Rng, o: { alpha: number; beta: number }): number => {
  const m = gdasSample(space, theta, tau, rng).soft;
  const ce = ce0 + Object.entries(m).reduce((s, [k, w]) => s + w.reduce((t, wi, i) => t + wi * c[k]![i]!, 0), 0);
  return fbnetLoss(ce, fbnetLatency(m, table), o);
};

const gradAt = (theta: KeyVectors, c: KeyVectors, ce0: number, tau: number, rng: Rng, o: { alpha: number; beta: number }): KeyVectors => {
  const m = gdasSample(space, theta, tau, rng).soft;
  const ce = ce0 + Object.entries(m).reduce((s, [k, w]) => s + w.reduce((t, wi, i) => t + wi * c[k]![i]!, 0), 0);
  return fbnetArchGrad(m, tau, fbnetLossGrad(ce, c, m, table, o).dLdm);
};

const checkFd = (theta: KeyVectors, c: KeyVectors, ce0: number, tau: number, seed: number, o: { alpha: number; beta: number }): void => {
  const rng = seedRng(seed);
  const g = gradAt(theta, c, ce0, tau, rng, o);
  const h = 1e-6;
  for (const [k, v] of Object.entries(theta)) {
    v.forEach((_, i) => {
      const at = (d: number): KeyVectors => ({ ...theta, [k]: v.map((x, j) => (j === i ? x + d : x)) });
      const fd = (lossAt(at(h), c, ce0, tau, rng, o) - lossAt(at(-h), c, ce0, tau, rng, o)) / (2 * h);
      // Central differences in float64: error O(h²) + rounding ~1e-10/h; 1e-6 absolute + 1e-5 relative is ample.
      expect(Math.abs(g[k]![i]! - fd)).toBeLessThan(1e-6 + 1e-5 * Math.abs(fd));
    });
  }
};

describe('gradient vs finite differences (Gumbel noise fixed)', () => {
  it('of the latency term alone (CE constant)', () => {
    fc.assert(
      fc.property(vec(3), vec(2), fc.integer({ min: 0, max: 1000 }), fc.double({ min: 0.5, max: 5, noNaN: true }), (a, b, seed, tau) => {
        checkFd({ a, b }, { a: [0, 0, 0], b: [0, 0] }, 1.7, tau, seed, { alpha: 0.2, beta: 0.6 });
      }),
      { numRuns: 60 },
    );
  });

  it('of CE·α·log(LAT)^β with a CE that depends on the mask', () => {
    fc.assert(
      fc.property(vec(3), vec(2), vec(3), vec(2), fc.integer({ min: 0, max: 1000 }), fc.double({ min: 0, max: 3, noNaN: true }), (a, b, ca, cb, seed, beta) => {
        checkFd({ a, b }, { a: ca, b: cb }, 3, 2, seed, { alpha: 0.2, beta });
      }),
      { numRuns: 60 },
    );
  });

  it('has no latency part when β = 0 (then it is α·∂CE/∂θ)', () => {
    const m = { a: [0.2, 0.3, 0.5], b: [0.6, 0.4] };
    const g = fbnetLossGrad(1, { a: [1, 2, 3], b: [4, 5] }, m, table, { alpha: 0.2, beta: 0 }).dLdm;
    expect(g['a']!.map((x) => x / 0.2)).toEqual([1, 2, 3].map((x) => expect.closeTo(x, 12)));
    expect(g['b']!.map((x) => x / 0.2)).toEqual([4, 5].map((x) => expect.closeTo(x, 12)));
  });
});

/** Runs `steps` arch steps with a synthetic CE that prefers the EXPENSIVE candidates (lower CE with them). */
const search = (beta: number, steps: number): FbnetState => {
  let [state, rng] = fbnetInit(space, seedRng(3), { beta, lr: 0.05 });
  const c: KeyVectors = { a: [0.6, 0.3, 0], b: [0.6, 0] }; // ∂CE/∂m: expensive candidates lower the CE
  for (let s = 0; s < steps; s++) {
    const tau = fbnetTemperature(Math.floor(s / 50), state.options);
    const smp = gdasSample(space, state.alphas, tau, rng);
    rng = smp.rng;
    const ce = 1 + Object.entries(smp.soft).reduce((acc, [k, w]) => acc + w.reduce((t, wi, i) => t + wi * c[k]![i]!, 0), 0);
    state = fbnetArchStep(state, smp.soft, tau, ce, c, table).state;
  }
  return state;
};

describe('the latency weight', () => {
  it('β = 0 follows the CE to the expensive candidates; a large β drives the search to the cheapest', () => {
    expect(fbnetExport(space, search(0, 400))).toEqual({ a: [2], b: [1] });
    expect(fbnetExport(space, search(8, 400))).toEqual({ a: [0], b: [0] });
  });

  it('is deterministic', () => {
    expect(search(0.6, 50)).toEqual(search(0.6, 50));
  });
});

describe('state, table and checks', () => {
  it('round-trips the state through JSON and refuses a state of another space', () => {
    const s = search(0.6, 10);
    const back = decodeFbnetState(space, JSON.parse(JSON.stringify(encodeFbnetState(s))));
    expect(back).toEqual(E.right(s));
    const other = decodeFbnetState(spaceOf(layer('a', 3)), JSON.parse(JSON.stringify(encodeFbnetState(s))));
    expect(E.isLeft(other)).toBe(true);
  });

  it('names every bad row of a latency table', () => {
    expect(latencyLookupErrors(space, table)).toEqual([]);
    expect(latencyLookupErrors(space, { a: [1, 2], b: [1, -3] })).toEqual([
      "the latency table's row for 'a' has 2 latencies, the choice has 3 candidates",
      "the latency table's entry for candidate 'op1' of 'b' must be a non-negative number, got -3",
    ]);
    expect(latencyLookupErrors(space, { a: [1, 2, 3] })).toEqual(["the latency table has no row for layer choice 'b'"]);
  });

  it('refuses input choices by key and options out of range by name', () => {
    const withInput = spaceOf(layer('a', 2), { kind: 'input', key: 'sw', names: ['a'], nChosen: null, reduction: 'sum', scope: [], sites: ['sw'] });
    const msgs = fbnetCheck(withInput, { beta: -1, tauDecay: 2 }).map((e) => e.message).join('\n');
    expect(msgs).toContain("'sw'");
    expect(msgs).toContain('beta');
    expect(msgs).toContain('tauDecay');
    expect(fbnetCheck(space, {})).toEqual([]);
  });
});
