/**
 * The PPO tuner beyond the shared laws (test/search/laws.test.ts): NNI's defaults, option checks, the GAE
 * advantages by hand, the loss gradient against central finite differences, that updates happen every
 * `trialsPerUpdate` trials, that it learns (a clear optimum on a small space becomes its mode), and that input
 * choices of any number of inputs (nChosen null) are searched, the empty set included.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Architecture } from '../../src/ir/apply.ts';
import { architectureKey } from '../../src/ir/architecture.ts';
import { nextFloat, seedRng } from '../../src/ir/rng.ts';
import { type Decision, type SearchSpace, decisionSize } from '../../src/ir/space.ts';
import { createStrategy, gaeAdvantages, ppo, ppoGradient, start } from '../../src/search/index.ts';

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
const mixed = spaceOf(layer('conv', 3), inputs('skip', 3, null), inputs('pick', 4, 2), layer('act', 2));

describe('ppo', () => {
  it("has NNI's defaults and is registered as 'ppo'", () => {
    const s = createStrategy('ppo', {});
    expect(E.isRight(s) && s.right.options).toEqual({
      direction: 'maximize',
      trialsPerUpdate: 20,
      epochsPerUpdate: 4,
      minibatches: 4,
      learningRate: 3e-4,
      entCoef: 0,
      vfCoef: 0.5,
      clipRange: 0.2,
      gamma: 0.99,
      lam: 0.95,
      maxGradNorm: 0.5,
      maxRetries: 50,
    });
  });

  it('refuses options out of range, naming each', () => {
    const cases: readonly [unknown, string][] = [
      [{ trialsPerUpdate: 10, minibatches: 4 }, 'minibatches'],
      [{ learningRate: 0 }, 'learningRate'],
      [{ clipRange: -0.1 }, 'clipRange'],
      [{ gamma: 1.5 }, 'gamma'],
      [{ epochsPerUpdate: 0.5 }, 'epochsPerUpdate'],
    ];
    for (const [options, option] of cases) {
      const s = createStrategy('ppo', options);
      if (E.isLeft(s)) throw new Error('did not build');
      const started = start(s.right, mixed);
      expect(E.isLeft(started) && started.left.map((e) => (e.tag === 'InvalidOption' ? e.option : e.tag))).toEqual([option]);
    }
    const unknown = createStrategy('ppo', { cliprange: 0.1 });
    expect(E.isLeft(unknown) && unknown.left[0]!.message).toMatch(/no option 'cliprange'/);
  });

  it('computes GAE with the reward at every step and the episode ending at the last decision', () => {
    // values 0.1, 0.2, 0.3; reward 1; γ 0.5, λ 0.5.
    // δ2 = 1 − 0.3 = 0.7;  δ1 = 1 + 0.5·0.3 − 0.2 = 0.95;  δ0 = 1 + 0.5·0.2 − 0.1 = 1.0
    // A2 = 0.7;  A1 = 0.95 + 0.25·0.7 = 1.125;  A0 = 1.0 + 0.25·1.125 = 1.28125
    const a = gaeAdvantages(1, [0.1, 0.2, 0.3], 0.5, 0.5);
    expect(a[2]).toBeCloseTo(0.7, 12);
    expect(a[1]).toBeCloseTo(1.125, 12);
    expect(a[0]).toBeCloseTo(1.28125, 12);
  });

  it('its loss gradient matches central finite differences (random parameters and trials)', () => {
    const space = mixed;
    // entCoef 0: the loss value leaves the entropy out (only its gradient, policy.ts's, enters the step).
    const o = { clipRange: 0.2, vfCoef: 0.5, entCoef: 0, gamma: 0.99, lam: 0.95 };
    const s = ppo({ learningRate: 0.05 });
    const size = s.init(space).theta.length;
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        // Random behaviour parameters, then a nearby current point (so some ratios clip and some do not).
        let rng = seedRng(seed);
        const rand = (): number => {
          const [u, next] = nextFloat(rng);
          rng = next;
          return u;
        };
        const thetaOld = Array.from({ length: size }, () => rand() * 2 - 1);
        const theta = thetaOld.map((x) => x + (rand() - 0.5) * 0.6);
        const state = { ...s.init(space), theta: thetaOld };
        const proposal = s.propose(space, state, 4, seedRng(seed + 1));
        const batch = proposal.state.pending.map((p, i) => ({ episode: p.episode, reward: 0.5 + 0.1 * i }));
        const { grad } = ppoGradient(space, o, theta, batch);
        const h = 1e-6;
        let checked = 0;
        for (let i = 0; i < size; i++) {
          const up = [...theta];
          const down = [...theta];
          up[i] = up[i]! + h;
          down[i] = down[i]! - h;
          const fd = (ppoGradient(space, o, up, batch).loss - ppoGradient(space, o, down, batch).loss) / (2 * h);
          // At a clip kink the one-sided slopes differ: skip those coordinates (rare).
          const left = (ppoGradient(space, o, theta, batch).loss - ppoGradient(space, o, down, batch).loss) / h;
          const right = (ppoGradient(space, o, up, batch).loss - ppoGradient(space, o, theta, batch).loss) / h;
          if (Math.abs(left - right) > 1e-3) continue;
          checked++;
          // Tolerance: 1e-5 absolute + 1e-4 relative (h = 1e-6 in float64).
          expect(Math.abs(grad[i]! - fd)).toBeLessThan(1e-5 + 1e-4 * Math.abs(fd));
        }
        expect(checked).toBeGreaterThan(size / 2);
        // And the gradient is not trivially zero.
        expect(grad.some((g) => Math.abs(g) > 1e-4)).toBe(true);
      }),
      { numRuns: 15 },
    );
  });

  it('updates its model exactly every trialsPerUpdate finished trials', () => {
    const s = ppo({ trialsPerUpdate: 4, minibatches: 2, learningRate: 0.1 });
    let state = s.init(mixed);
    let rng = seedRng(3);
    for (let i = 1; i <= 10; i++) {
      const p = s.propose(mixed, state, 1, rng);
      rng = p.rng;
      const before = state.theta;
      state = s.observe(mixed, p.state, p.archs.map((arch) => ({ arch, objective: (arch['conv']![0]! + 1) / 3 })));
      expect(state.updates).toBe(Math.floor(i / 4));
      expect(state.buffer.length).toBe(i % 4);
      expect(state.theta === before || state.theta.some((x, k) => x !== before[k])).toBe(true);
      if (i % 4 === 0) expect(state.theta).not.toEqual(before);
      else expect(state.theta).toEqual(before);
    }
    expect(state.adam.steps).toBe(2 * 4 * 2); // 2 updates × 4 epochs × 2 minibatches
  });

  it('learns: on a space with a clear optimum, its mode becomes the optimum', () => {
    // 6 · 6 · 6 = 216 architectures; the objective counts how many keys chose candidate 4.
    const space = spaceOf(layer('a', 6), layer('b', 6), layer('c', 6));
    const objective = (arch: Architecture): number => ['a', 'b', 'c'].filter((k) => arch[k]![0] === 4).length;
    const s = ppo({ trialsPerUpdate: 8, minibatches: 2, learningRate: 0.05 });
    let state = s.init(space);
    let rng = seedRng(11);
    for (let i = 0; i < 120; i++) {
      const p = s.propose(space, state, 1, rng);
      rng = p.rng;
      state = s.observe(space, p.state, p.archs.map((arch) => ({ arch, objective: objective(arch) })));
    }
    expect(s.mode(space, state)).toEqual({ a: [4], b: [4], c: [4] });
    // The control: the untrained policy's mode is candidate 0 everywhere (ties broken by index).
    expect(s.mode(space, s.init(space))).toEqual({ a: [0], b: [0], c: [0] });
  });

  it('searches input choices of any number of inputs (nChosen null), the empty set included', () => {
    const space = spaceOf(inputs('skip', 3, null));
    const s = ppo({ trialsPerUpdate: 2, minibatches: 1, learningRate: 0.1 });
    let state = s.init(space);
    let rng = seedRng(5);
    const keys: string[] = [];
    for (let i = 0; i < 8; i++) {
      const p = s.propose(space, state, 1, rng);
      rng = p.rng;
      keys.push(...p.archs.map(architectureKey));
      state = s.observe(space, p.state, p.archs.map((arch) => ({ arch, objective: arch['skip']!.length === 0 ? null : arch['skip']!.length })));
    }
    expect(new Set(keys).size).toBe(8);
    expect(keys).toContain(architectureKey({ skip: [] }));
    expect(state.theta.every(Number.isFinite)).toBe(true);
  });
});
