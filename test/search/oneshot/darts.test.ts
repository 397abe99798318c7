/**
 * DARTS and the shared one-shot math: Adam against PyTorch's scalar formula, softmax/VJP/alphasGrad against
 * finite differences, the export rule, the whole second-order (unrolled) arch gradient against central
 * differences through the bilevel step on a small analytic problem, the checks and the state codec.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seedRng } from '../../../src/ir/rng.ts';
import { type Decision, type SearchSpace, decisionSize } from '../../../src/ir/space.ts';
import { adamInit, adamStep } from '../../../src/search/oneshot/adam.ts';
import { alphasGrad, deriveArchitecture, initAlphas, mixWeights, softmax, softmaxVjp } from '../../../src/search/oneshot/alphas.ts';
import {
  type ParamStore,
  dartsArchStep,
  dartsCheck,
  dartsDistribution,
  dartsExport,
  dartsInit,
  dartsWeights,
  decodeDartsState,
  encodeDartsState,
  hvpEpsilon,
  perturb,
  resolveDartsOptions,
  unrolledArchGrad,
  virtualStep,
} from '../../../src/search/oneshot/darts.ts';
import type { KeyVectors } from '../../../src/search/oneshot/types.ts';

const layer = (key: string, n: number): Decision => ({ kind: 'layer', key, names: Array.from({ length: n }, (_, i) => `op${i}`), scope: [], sites: [key] });
const inputs = (key: string, names: readonly string[], nChosen: number | null): Decision => ({ kind: 'input', key, names, nChosen, reduction: 'sum', scope: [], sites: [key] });
const spaceOf = (...decisions: Decision[]): SearchSpace => ({ decisions, size: decisions.reduce((p, d) => p * decisionSize(d), 1n) });

// Numbers in [-2, 2] on a grid of 1e-4: fc.double would spend most draws on tiny magnitudes.
const small = (): fc.Arbitrary<number> => fc.integer({ min: -20000, max: 20000 }).map((k) => k / 10000);
const vec = (n: number): fc.Arbitrary<number[]> => fc.array(small(), { minLength: n, maxLength: n });

/** Central difference of f at x along coordinate i. */
const fd = (f: (x: readonly number[]) => number, x: readonly number[], i: number, h: number): number => {
  const up = [...x];
  const dn = [...x];
  up[i]! += h;
  dn[i]! -= h;
  return (f(up) - f(dn)) / (2 * h);
};

describe('adam', () => {
  it('matches a scalar implementation of torch.optim.Adam (L2 weight decay) over several steps', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(small(), small(), small()), { minLength: 1, maxLength: 4 }),
        fc.double({ min: 1e-4, max: 0.1, noNaN: true }),
        fc.double({ min: 0, max: 0.99, noNaN: true }),
        fc.double({ min: 0.5, max: 0.9999, noNaN: true }),
        fc.double({ min: 0, max: 0.1, noNaN: true }),
        (rows, lr, b1, b2, wd) => {
          const eps = 1e-8;
          // Direct scalar PyTorch (torch/optim/adam.py, single-tensor path) for one coordinate and 3 steps.
          const torch = (theta0: number, gs: readonly number[]): number => {
            let [th, m, v] = [theta0, 0, 0];
            gs.forEach((g0, t0) => {
              const t = t0 + 1;
              const g = g0 + wd * th;
              m = m * b1 + (1 - b1) * g;
              v = v * b2 + (1 - b2) * g * g;
              const stepSize = lr / (1 - b1 ** t);
              const denom = Math.sqrt(v) / Math.sqrt(1 - b2 ** t) + eps;
              th = th - stepSize * (m / denom);
            });
            return th;
          };
          let params: KeyVectors = { k: rows.map((r) => r[0]) };
          let state = adamInit(params);
          const grads = [rows.map((r) => r[1]), rows.map((r) => r[2]), rows.map((r) => r[1] * r[2])];
          for (const g of grads) ({ params, state } = adamStep(state, params, { k: g }, { lr, betas: [b1, b2], weightDecay: wd, eps }));
          expect(state.step).toBe(3);
          rows.forEach((r, i) => {
            // Same operations in the same order up to association: agreement to 1e-12 relative.
            const want = torch(r[0], grads.map((g) => g[i]!));
            expect(Math.abs(params.k![i]! - want)).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(want)));
          });
        },
      ),
    );
  });

  it('refuses a gradient of the wrong shape, naming the key', () => {
    expect(() => adamStep(adamInit({ a: [0, 0] }), { a: [0, 0] }, { a: [1] }, { lr: 1, betas: [0.9, 0.9], weightDecay: 0, eps: 1e-8 })).toThrow(/'a'/);
    expect(() => adamStep(adamInit({ a: [0] }), { a: [0] }, {}, { lr: 1, betas: [0.9, 0.9], weightDecay: 0, eps: 1e-8 })).toThrow(/'a'.*no gradient/);
  });
});

describe('alphas', () => {
  it('softmax sums to 1, survives large logits, and its VJP matches finite differences', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }).chain((n) => fc.tuple(vec(n), vec(n))), ([z, c]) => {
        const p = softmax(z);
        expect(Math.abs(p.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-12);
        const f = (x: readonly number[]): number => softmax(x).reduce((s, pi, i) => s + pi * c[i]!, 0);
        const g = softmaxVjp(p, c);
        // Central differences with h = 1e-5 on a function with bounded third derivative: error ≲ 1e-9.
        z.forEach((_, i) => expect(Math.abs(g[i]! - fd(f, z, i, 1e-5))).toBeLessThan(1e-8));
      }),
    );
    expect(softmax([1000, 1000])).toEqual([0.5, 0.5]);
  });

  const sp = spaceOf(layer('a', 3), layer('b', 2), inputs('sw', ['a', 'b', 'x'], 2));

  it('initAlphas: n + 1 logits per layer key with the zero op, none for input keys, deterministic per seed', () => {
    const [al, r1] = initAlphas(sp, seedRng(5), { extraZero: true });
    expect(Object.keys(al)).toEqual(['a', 'b']);
    expect(al.a).toHaveLength(4);
    expect(al.b).toHaveLength(3);
    expect(Math.max(...Object.values(al).flat().map(Math.abs))).toBeLessThan(1e-2); // 1e-3·N(0,1): |x| < 10σ
    const [again, r2] = initAlphas(sp, seedRng(5), { extraZero: true });
    expect(again).toEqual(al);
    expect(r2).toEqual(r1);
    expect(initAlphas(sp, seedRng(6), { extraZero: true })[0]).not.toEqual(al);
    expect(initAlphas(sp, seedRng(5), { extraZero: false })[0].a).toHaveLength(3);
  });

  it('mixWeights: softmax without the zero op for layer keys, ones for input keys', () => {
    const w = mixWeights({ a: [0, 0, 0, 0], b: [Math.log(3), 0, 0] }, sp, true);
    expect(w.a).toEqual([0.25, 0.25, 0.25]);
    expect(w.b![0]).toBeCloseTo(0.6, 12);
    expect(w.b).toHaveLength(2);
    expect(w.sw).toEqual([1, 1, 1]);
  });

  it('alphasGrad is the gradient of L(mixWeights(α)) (finite differences), the zero logit included', () => {
    fc.assert(
      fc.property(vec(4), vec(3), vec(3), vec(2), (a, b, ca, cb) => {
        // L(w) = Σ c·w + (w_a0·w_b1)²: smooth, with cross terms.
        const L = (w: KeyVectors): number =>
          w.a!.reduce((s, x, i) => s + x * ca[i]!, 0) + w.b!.reduce((s, x, i) => s + x * cb[i]!, 0) + (w.a![0]! * w.b![1]!) ** 2;
        const w = mixWeights({ a, b }, sp, true);
        const dLdw: KeyVectors = {
          a: ca.map((c, i) => c + (i === 0 ? 2 * w.a![0]! * w.b![1]! ** 2 : 0)),
          b: cb.map((c, i) => c + (i === 1 ? 2 * w.b![1]! * w.a![0]! ** 2 : 0)),
          sw: [9, 9, 9], // input keys are ignored
        };
        const g = alphasGrad({ a, b }, dLdw, true);
        expect(Object.keys(g)).toEqual(['a', 'b']);
        // h = 1e-5 central differences: truncation ≲ 1e-9 here; tolerance 1e-7 absolute.
        a.forEach((_, i) => expect(Math.abs(g.a![i]! - fd((x) => L(mixWeights({ a: x, b }, sp, true)), a, i, 1e-5))).toBeLessThan(1e-7));
        b.forEach((_, i) => expect(Math.abs(g.b![i]! - fd((x) => L(mixWeights({ a, b: x }, sp, true)), b, i, 1e-5))).toBeLessThan(1e-7));
      }),
    );
  });

  it('deriveArchitecture: argmax per layer key, top-k edges by strongest op, unnamed inputs strength 1, dropped edges []', () => {
    const arch = deriveArchitecture(sp, { a: [0.1, 0.5, 0.2], b: [0.3, 0.2], sw: [1, 1, 1] });
    // strengths: a 0.5, b 0.3, x 1 → top 2 = a, x; b dropped by its only input choice.
    expect(arch).toEqual({ a: [1], b: [], sw: [0, 2] });
    // an edge kept by ANY input choice naming it keeps its op
    const two = spaceOf(layer('a', 2), layer('b', 2), inputs('s1', ['a', 'b'], 1), inputs('s2', ['b', 'a'], 2));
    expect(deriveArchitecture(two, { a: [0.9, 0.1], b: [0.2, 0.6] })).toEqual({ a: [0], b: [1], s1: [0], s2: [0, 1] });
    const drop = spaceOf(layer('a', 2), layer('b', 2), inputs('s1', ['a', 'b'], 1), inputs('s2', ['b', 'a'], 1));
    expect(deriveArchitecture(drop, { a: [0.9, 0.1], b: [0.2, 0.6] })).toEqual({ a: [0], b: [], s1: [0], s2: [1] });
    // nChosen null: strength ≥ mean
    const any = spaceOf(layer('a', 2), layer('b', 2), layer('c', 2), inputs('s', ['a', 'b', 'c'], null));
    expect(deriveArchitecture(any, { a: [0.9, 0.1], b: [0.5, 0.5], c: [0.2, 0.8] })).toEqual({ a: [0], b: [], c: [1], s: [0, 2] });
    // ties: the lower index
    expect(deriveArchitecture(sp, { a: [0.5, 0.5, 0], b: [0.5, 0.5] }).a).toEqual([0]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// The bilevel problem. Weights θ ∈ R^4 stored as two float32 parameters; per candidate (k, i) of a data set D a
// feature s(θ) = u·θ + ½γ(u·θ)²; the net's output f = Σ_{k,i} c_{k,i} s_{k,i}(θ) with c the mix weights; the loss
// L_D(θ, c) = ½(f − y_D)² + ½ρ‖θ‖². Everything in float64 here; only the parameter stores are float32.

interface Data {
  readonly u: Readonly<Record<string, readonly (readonly number[])[]>>;
  readonly y: number;
}
const GAMMA = 0.3;
const RHO = 0.05;
const keysOf = ['e0', 'e1'] as const;
const bilevelSpace = spaceOf(layer('e0', 3), layer('e1', 2), inputs('sw', ['e0', 'e1'], 1));

const flat = (theta: ParamStore): number[] => [...theta.get('p/x')!, ...theta.get('p/y')!];
const store = (th: readonly number[]): Map<string, Float32Array> => new Map([['p/x', Float32Array.from(th.slice(0, 2))], ['p/y', Float32Array.from(th.slice(2))]]);
const dot = (a: readonly number[], b: readonly number[]): number => a.reduce((s, x, i) => s + x * b[i]!, 0);

const feature = (u: readonly number[], th: readonly number[]): number => dot(u, th) + 0.5 * GAMMA * dot(u, th) ** 2;
const output = (D: Data, th: readonly number[], c: KeyVectors): number => keysOf.reduce((s, k) => s + D.u[k]!.reduce((t, u, i) => t + c[k]![i]! * feature(u, th), 0), 0);
const loss = (D: Data, th: readonly number[], c: KeyVectors): number => 0.5 * (output(D, th, c) - D.y) ** 2 + 0.5 * RHO * dot(th, th);
/** ∂L/∂c per key. */
const dLdc = (D: Data, th: readonly number[], c: KeyVectors): KeyVectors => {
  const r = output(D, th, c) - D.y;
  return Object.fromEntries(keysOf.map((k) => [k, D.u[k]!.map((u) => r * feature(u, th))] as const));
};
/** ∇θ L. */
const dLdth = (D: Data, th: readonly number[], c: KeyVectors): number[] => {
  const r = output(D, th, c) - D.y;
  return th.map((t, j) => r * keysOf.reduce((s, k) => s + D.u[k]!.reduce((acc, u, i) => acc + c[k]![i]! * u[j]! * (1 + GAMMA * dot(u, th)), 0), 0) + RHO * t);
};

// Unbiased draws: fast-check's bias toward 0 and the bounds would make most cases degenerate (no second-order term).
const uvec = (n: number): fc.Arbitrary<number[]> => fc.noBias(vec(n));
const dataArb = (): fc.Arbitrary<Data> =>
  fc.noBias(
    fc.record({
      u: fc.record({ e0: fc.array(vec(4), { minLength: 3, maxLength: 3 }), e1: fc.array(vec(4), { minLength: 2, maxLength: 2 }) }),
      y: small(),
    }),
  );

describe('second-order DARTS', () => {
  it('the unrolled arch gradient equals ∇α L_val(θ − ξ(∇θ L_train + wd·θ), α) by central differences', () => {
    let checked = 0;
    fc.assert(
      fc.property(dataArb(), dataArb(), uvec(4), uvec(4), uvec(3), fc.noBias(fc.integer({ min: 5, max: 50 }).map((k) => k / 100)), fc.double({ min: 0, max: 0.01, noNaN: true }), (train, valid, th0, a0, a1, xi, wd) => {
        const theta = store(th0);
        const th = flat(theta); // the float32 starting point, in float64
        const alphas: KeyVectors = { e0: a0, e1: a1 };
        const space = bilevelSpace;
        // Reference: F(α) = L_val(θ'(α), α) in float64, differentiated in α by central differences (h = 1e-5).
        const F = (al: KeyVectors): number => {
          const c = mixWeights(al, space, true);
          const g = dLdth(train, th, c);
          return loss(valid, th.map((t, j) => t - xi * (g[j]! + wd * t)), c);
        };
        const ref = Object.fromEntries(keysOf.map((k) => [k, alphas[k]!.map((_, i) => fd((x) => F({ ...alphas, [k]: x }), alphas[k]!, i, 1e-5))] as const));

        // Ours: the runtime's sequence with the module's pieces.
        const c = mixWeights(alphas, space, true);
        const gTrain = store(dLdth(train, th, c));
        const virt = virtualStep(theta, gTrain, xi, wd);
        const thV = flat(virt);
        const dValDc = dLdc(valid, thV, c);
        const d = store(dLdth(valid, thV, c));
        const eps = hvpEpsilon(d);
        const plus = dLdc(train, flat(perturb(theta, d, eps)), c);
        const minus = dLdc(train, flat(perturb(theta, d, -eps)), c);
        const ours = alphasGrad(alphas, unrolledArchGrad(dValDc, plus, minus, xi, eps), true);
        const firstOrder = alphasGrad(alphas, dLdc(valid, th, c), true);

        // Tolerance: the float32 stores round θ' and θ± to ~6e-8 relative; the finite-difference HVP divides that
        // by 2ε = 0.02/‖d‖ and multiplies by ξ, and the features are quadratic in θ, so up to ~1e-4·(1 + scale)
        // absolute (measured: at most 7.6e-5·(1 + scale) over 200 cases); the reference's h = 1e-5 central
        // differences add ≲ 1e-8. We allow 3e-4·(1 + max |ref|).
        const scale = Math.max(...Object.values(ref).flat().map(Math.abs));
        const tol = 3e-4 * (1 + scale);
        for (const k of keysOf) ours[k]!.forEach((x, i) => expect(Math.abs(x - ref[k]![i]!)).toBeLessThanOrEqual(tol));
        // The test must be able to tell second order from first order: count the cases where they differ by
        // more than 30× the tolerance.
        const gap = Math.max(...keysOf.flatMap((k) => firstOrder[k]!.map((x, i) => Math.abs(x - ref[k]![i]!))));
        if (gap > 30 * tol) checked++;

      }),
      { numRuns: 200 },
    );
    expect(checked).toBeGreaterThan(100);
  });

  it('first order (ξ = 0): the arch gradient is ∇α L_val(θ, α) by central differences', () => {
    fc.assert(
      fc.property(dataArb(), vec(4), vec(4), vec(3), (valid, th0, a0, a1) => {
        const th = flat(store(th0));
        const alphas: KeyVectors = { e0: a0, e1: a1 };
        const F = (al: KeyVectors): number => loss(valid, th, mixWeights(al, bilevelSpace, true));
        const ours = alphasGrad(alphas, dLdc(valid, th, mixWeights(alphas, bilevelSpace, true)), true);
        // float64 throughout: h = 1e-5 central differences, tolerance 1e-6·(1 + |L|).
        const tol = 1e-6 * (1 + Math.abs(F(alphas)));
        for (const k of keysOf) alphas[k]!.forEach((_, i) => expect(Math.abs(ours[k]![i]! - fd((x) => F({ ...alphas, [k]: x }), alphas[k]!, i, 1e-5))).toBeLessThanOrEqual(tol));
        // and the unrolled combination with ξ = 0 is the first-order gradient itself
        const z = unrolledArchGrad({ e0: [1, 2, 3] }, { e0: [5, 5, 5] }, { e0: [0, 0, 0] }, 0, 0.01);
        expect(z).toEqual({ e0: [1, 2, 3] });
      }),
      { numRuns: 50 },
    );
  });

  it('helpers: virtual step, ε with a zero-norm guard, perturbation', () => {
    const p = new Map([['w', Float32Array.of(1, 2)]]);
    const g = new Map([['w', Float32Array.of(3, 4)]]);
    expect([...virtualStep(p, g, 0.5, 0.1).get('w')!]).toEqual([Math.fround(1 - 0.5 * (3 + 0.1)), Math.fround(2 - 0.5 * (4 + 0.2))]);
    expect(hvpEpsilon(g)).toBeCloseTo(0.002, 15);
    expect(hvpEpsilon(new Map([['w', new Float32Array(3)]]))).toBe(0.01);
    expect([...perturb(p, g, -0.5).get('w')!]).toEqual([-0.5, 0]);
    expect(() => virtualStep(p, new Map(), 0.1, 0)).toThrow(/'w'/);
  });
});

describe('darts state', () => {
  const space = spaceOf(layer('a', 3), layer('b', 3), inputs('sw', ['a', 'b'], 1));

  it('refuses nChosen null and bad options, naming the key or option', () => {
    const any = spaceOf(layer('a', 3), inputs('skip', ['a', ''], null));
    const errors = dartsCheck(any, { lr: -1, order: 3 as 1 });
    expect(errors.map((e) => e.tag).sort()).toEqual(['InvalidOption', 'InvalidOption', 'UnsupportedChoice']);
    expect(errors.find((e) => e.tag === 'UnsupportedChoice')!.message).toMatch(/'skip'/);
    expect(dartsCheck(space, {})).toEqual([]);
  });

  it('NNI defaults', () => {
    expect(resolveDartsOptions({})).toEqual({ lr: 3e-4, betas: [0.5, 0.999], weightDecay: 1e-3, eps: 1e-8, order: 1, unrolledLr: null, extraZero: true, initScale: 1e-3 });
  });

  it('init, weights, step, distribution, export: deterministic and moving toward the better candidate', () => {
    const [s0, r0] = dartsInit(space, seedRng(3), {});
    expect(dartsInit(space, seedRng(3), {})).toEqual([s0, r0]);
    const w = dartsWeights(space, s0);
    expect(w.a).toHaveLength(3);
    expect(w.sw).toEqual([1, 1]);
    // a loss that prefers candidate 2 of 'a' and no candidate of 'b' (its weights only hurt): ∂L/∂w constant
    let s = s0;
    for (let i = 0; i < 1000; i++) s = dartsArchStep(space, s, { a: [1, 1, -1], b: [1, 1, 1], sw: [0, 0] });
    expect(s.adam.step).toBe(1000);
    expect(dartsExport(space, s)).toEqual({ a: [2], b: [], sw: [0] });
    const dist = dartsDistribution(space, s);
    expect(dist.a).toHaveLength(4); // the zero op's share last
    expect(Math.abs(dist.a!.reduce((x, y) => x + y, 0) - 1)).toBeLessThan(1e-12);
  });

  it('encodes to JSON and decodes back; refuses another space, another strategy and wrong shapes', () => {
    const [s] = dartsInit(space, seedRng(1), { order: 2, unrolledLr: 0.01 });
    const s1 = dartsArchStep(space, s, { a: [1, 0, 0], b: [0, 1, 0] });
    const json = JSON.parse(JSON.stringify(encodeDartsState(s1))) as unknown;
    expect(decodeDartsState(space, json)).toEqual(E.right(s1));
    const other = spaceOf(layer('a', 4), layer('b', 3), inputs('sw', ['a', 'b'], 1));
    const bad = decodeDartsState(other, json);
    expect(E.isLeft(bad) && bad.left[0]!.message).toMatch(/another search space/);
    expect(E.isLeft(decodeDartsState(space, { ...(json as object), strategy: 'gdas' }))).toBe(true);
    const wrong = decodeDartsState(space, { ...(json as object), alphas: { a: [0], b: [0, 0, 0] } });
    expect(E.isLeft(wrong) && wrong.left.map((e) => e.message).join('\n')).toMatch(/'a'/);
    expect(E.isLeft(decodeDartsState(space, { nope: 1 }))).toBe(true);
  });
});
