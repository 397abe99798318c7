/**
 * ProxylessNAS: the gate gradient against an explicit Jacobian (one and two paths), the expected cost and its
 * gradient against finite differences, sampling (frequencies, two distinct paths), the two-path rescaling, the
 * state (determinism, learning, codec) and the refusal of input choices.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seedRng } from '../../../src/ir/rng.ts';
import { type Decision, type SearchSpace, decisionSize } from '../../../src/ir/space.ts';
import { softmax } from '../../../src/search/oneshot/alphas.ts';
import {
  decodeProxylessState,
  encodeProxylessState,
  expectedCost,
  expectedCostGrad,
  proxylessArchGrad,
  proxylessArchStep,
  proxylessCheck,
  proxylessDistribution,
  proxylessExport,
  proxylessInit,
  proxylessSample,
  resolveProxylessOptions,
} from '../../../src/search/oneshot/proxyless.ts';
import type { KeyVectors } from '../../../src/search/oneshot/types.ts';

const layer = (key: string, n: number): Decision => ({ kind: 'layer', key, names: Array.from({ length: n }, (_, i) => `op${i}`), scope: [], sites: [key] });
const inputs = (key: string, names: readonly string[], nChosen: number | null): Decision => ({ kind: 'input', key, names, nChosen, reduction: 'sum', scope: [], sites: [key] });
const spaceOf = (...decisions: Decision[]): SearchSpace => ({ decisions, size: decisions.reduce((p, d) => p * decisionSize(d), 1n) });

// Numbers in [-2, 2] on a grid of 1e-4 (fc.double would spend most draws on tiny magnitudes).
const small = (): fc.Arbitrary<number> => fc.integer({ min: -20000, max: 20000 }).map((k) => k / 10000);
const vec = (n: number): fc.Arbitrary<number[]> => fc.array(small(), { minLength: n, maxLength: n });

const space = spaceOf(layer('a', 5), layer('b', 3));

/**
 * The paper's formula written as a matrix product: J[i][j] = ∂p_j/∂α_i over the involved set S (p renormalised
 * over S), grad = J·(∂L/∂g restricted to S), scattered back; 0 outside S.
 */
const jacobianGrad = (alpha: readonly number[], involved: readonly number[], dLdg: readonly number[]): number[] => {
  const z = involved.map((i) => Math.exp(alpha[i]!));
  const total = z.reduce((x, y) => x + y, 0);
  const p = z.map((x) => x / total);
  const J = p.map((_, i) => p.map((pj, j) => pj * ((i === j ? 1 : 0) - p[i]!)));
  const out = alpha.map(() => 0);
  involved.forEach((orig, i) => {
    out[orig] = J[i]!.reduce((s, jij, j) => s + jij * dLdg[involved[j]!]!, 0);
  });
  return out;
};

describe('gate gradient', () => {
  it('matches the explicit Jacobian over all candidates (one path) and over the sampled pair (two paths)', () => {
    fc.assert(
      fc.property(vec(5), vec(3), vec(5), vec(3), fc.integer(), fc.constantFrom<1 | 2>(1, 2), (a, b, ga, gb, seed, paths) => {
        const alphas: KeyVectors = { a, b };
        const s = proxylessSample(space, alphas, seedRng(seed), { paths });
        const g = proxylessArchGrad(alphas, s, { a: ga, b: gb });
        for (const [k, gk] of [['a', ga], ['b', gb]] as const) {
          const want = jacobianGrad(alphas[k]!, s.involved[k]!, gk);
          // Same sums in another order: 1e-12 absolute.
          g[k]!.forEach((x, i) => expect(Math.abs(x - want[i]!)).toBeLessThan(1e-12));
          if (paths === 2) expect(g[k]!.filter((x, i) => !s.involved[k]!.includes(i)).every((x) => x === 0)).toBe(true);
        }
      }),
    );
  });
});

describe('sampling', () => {
  it('one path: one-hot at the active candidate, all candidates involved, frequencies = softmax(α)', () => {
    const one = spaceOf(layer('a', 3));
    const alphas = [0.5, -0.5, 0];
    const p = softmax(alphas);
    const counts = [0, 0, 0];
    let rng = seedRng(77);
    const N = 20000;
    for (let t = 0; t < N; t++) {
      const s = proxylessSample(one, { a: alphas }, rng, { paths: 1 });
      expect(s.involved.a).toEqual([0, 1, 2]);
      expect(s.weights.a).toEqual([0, 1, 2].map((i) => (i === s.active.a ? 1 : 0)));
      counts[s.active.a!]!++;
      rng = s.rng;
    }
    // Fixed seed; standard deviation of each frequency ≤ √(0.25/N) = 0.0035: allow 5 of them.
    counts.forEach((c, i) => expect(Math.abs(c / N - p[i]!)).toBeLessThan(0.018));
  });

  it('two paths: two distinct involved candidates, the active one first; with 2 candidates the active one follows softmax(α)', () => {
    fc.assert(
      fc.property(vec(5), vec(3), fc.integer(), (a, b, seed) => {
        const s = proxylessSample(space, { a, b }, seedRng(seed), { paths: 2 });
        for (const k of ['a', 'b']) {
          const inv = s.involved[k]!;
          expect(inv).toHaveLength(2);
          expect(inv[0]).not.toBe(inv[1]);
          expect(inv[0]).toBe(s.active[k]);
          expect(s.weights[k]!.reduce((x, y) => x + y, 0)).toBe(1);
          expect(s.weights[k]![s.active[k]!]).toBe(1);
        }
      }),
    );
    const pair = spaceOf(layer('a', 2));
    const alphas = [0.8, -0.2];
    let rng = seedRng(5);
    let first = 0;
    const N = 20000;
    for (let t = 0; t < N; t++) {
      const s = proxylessSample(pair, { a: alphas }, rng, { paths: 2 });
      if (s.active.a === 0) first++;
      rng = s.rng;
    }
    // Both candidates are always involved; the gate keeps 0 with probability softmax(α)_0. 5 standard deviations.
    expect(Math.abs(first / N - softmax(alphas)[0]!)).toBeLessThan(0.018);
  });

  it('is deterministic per rng', () => {
    const alphas = { a: [0, 1, 2, 3, 4], b: [1, 1, 1] };
    expect(proxylessSample(space, alphas, seedRng(3), { paths: 2 })).toEqual(proxylessSample(space, alphas, seedRng(3), { paths: 2 }));
  });
});

describe('expected cost', () => {
  it('is Σ p·cost and its gradient matches finite differences', () => {
    fc.assert(
      fc.property(vec(5), vec(3), vec(5), (a, b, ca) => {
        const costs = { a: ca.map((c) => 10 * c) }; // b has no costs: contributes nothing
        const direct = softmax(a).reduce((s, p, i) => s + p * costs.a[i]!, 0);
        expect(Math.abs(expectedCost({ a, b }, costs) - direct)).toBeLessThan(1e-9);
        const g = expectedCostGrad({ a, b }, costs);
        expect(g.b).toEqual([0, 0, 0]);
        const h = 1e-5;
        a.forEach((_, i) => {
          const up = [...a];
          const dn = [...a];
          up[i]! += h;
          dn[i]! -= h;
          const fd = (expectedCost({ a: up, b }, costs) - expectedCost({ a: dn, b }, costs)) / (2 * h);
          // float64 central differences with h = 1e-5 on costs ≤ 20: truncation and rounding ≲ 1e-8; tolerance 1e-6.
          expect(Math.abs(g.a![i]! - fd)).toBeLessThan(1e-6);
        });
      }),
    );
    expect(() => expectedCost({ a: [0, 0] }, { a: [1] })).toThrow(/'a'/);
  });
});

describe('proxyless state', () => {
  it('refuses input choices, naming the key; NNI defaults', () => {
    const errs = proxylessCheck(spaceOf(layer('a', 2), inputs('skip', ['a', ''], 1)), { paths: 3 as 1, costWeight: -1 });
    expect(errs.find((e) => e.tag === 'UnsupportedChoice')!.message).toMatch(/'skip'/);
    expect(errs.filter((e) => e.tag === 'InvalidOption')).toHaveLength(2);
    expect(proxylessCheck(space, {})).toEqual([]);
    expect(resolveProxylessOptions({})).toEqual({ lr: 1e-3, betas: [0, 0.999], weightDecay: 0, eps: 1e-8, paths: 1, costWeight: 0, initScale: 1e-3 });
  });

  it('two paths: the step keeps the pair’s log-sum-exp and leaves the other logits alone', () => {
    fc.assert(
      fc.property(vec(5), vec(3), vec(5), vec(3), fc.integer(), (a, b, ga, gb, seed) => {
        const [s0] = proxylessInit(space, seedRng(seed), { paths: 2 });
        const st = { ...s0, alphas: { a, b } };
        const sample = proxylessSample(space, st.alphas, seedRng(seed), { paths: 2 });
        const next = proxylessArchStep(space, st, sample, { a: ga, b: gb });
        for (const [k, old] of [['a', a], ['b', b]] as const) {
          const inv = sample.involved[k]!;
          const lse = (v: readonly number[]): number => Math.log(inv.reduce((s, i) => s + Math.exp(v[i]!), 0));
          expect(Math.abs(lse(next.alphas[k]!) - lse(old))).toBeLessThan(1e-12);
          old.forEach((x, i) => {
            if (!inv.includes(i)) expect(next.alphas[k]![i]).toBe(x); // β₁ = 0 and no weight decay: no update
          });
        }
      }),
    );
  });

  it('learns the best candidate from the gates, and the cheapest one from the cost term; deterministic', () => {
    const run = (costWeight: number): ReturnType<typeof proxylessInit>[0] => {
      let [state, rng] = proxylessInit(space, seedRng(11), { lr: 0.05, costWeight });
      for (let t = 0; t < 300; t++) {
        const s = proxylessSample(space, state.alphas, rng, { paths: 1 });
        rng = s.rng;
        // gates: candidate 3 of 'a' and 0 of 'b' lower the loss
        state = proxylessArchStep(space, state, s, { a: [1, 1, 1, -1, 1], b: [-1, 1, 1] }, { a: [0, 0, 0, 0, 0], b: [5, 0, 5] });
      }
      return state;
    };
    const s = run(0);
    expect(run(0)).toEqual(s);
    expect(proxylessExport(space, s)).toEqual({ a: [3], b: [0] });
    expect(proxylessExport(space, run(10)).b).toEqual([1]); // the cost term outweighs the gate gradient
    expect(proxylessDistribution(space, s).b).toHaveLength(3);
  });

  it('round-trips through JSON and refuses another strategy’s state', () => {
    const [s] = proxylessInit(space, seedRng(1), { paths: 2, costWeight: 0.5 });
    const json = JSON.parse(JSON.stringify(encodeProxylessState(s))) as unknown;
    expect(decodeProxylessState(space, json)).toEqual(E.right(s));
    expect(E.isLeft(decodeProxylessState(space, { ...(json as object), strategy: 'darts' }))).toBe(true);
  });
});
