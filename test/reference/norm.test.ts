import fc from 'fast-check';
import { expect, it } from 'vitest';
import { dropoutKeep, siteId } from '../../src/ir/counter-rng.ts';
import { batchNorm2dEvalRef, batchNorm2dTrainRef, dropoutRef, softmaxRef } from '../../src/reference/norm.ts';

const floats = (n: number, lim = 5): fc.Arbitrary<number[]> => fc.array(fc.double({ min: -lim, max: lim, noNaN: true }), { minLength: n, maxLength: n });

const arbTensor = fc
  .record({ batch: fc.integer({ min: 1, max: 3 }), C: fc.integer({ min: 1, max: 4 }), H: fc.integer({ min: 1, max: 3 }), W: fc.integer({ min: 1, max: 3 }) })
  .chain((r) => floats(r.batch * r.C * r.H * r.W).map((x) => ({ ...r, x })));

it('softmax rows sum to 1, logSoftmax = log(softmax), and both ignore a constant shift', () => {
  fc.assert(
    fc.property(arbTensor, fc.double({ min: -100, max: 100, noNaN: true }), ({ batch, C, H, W, x }, shift) => {
      const shape = [C, H, W];
      const p = softmaxRef(x, batch, shape, false);
      const lp = softmaxRef(x, batch, shape, true);
      const ps = softmaxRef(x.map((v) => v + shift), batch, shape, false);
      const hw = H * W;
      for (let n = 0; n < batch; n++) {
        for (let j = 0; j < hw; j++) {
          let s = 0;
          for (let c = 0; c < C; c++) s += p[(n * C + c) * hw + j]!;
          // A sum of C ≤ 4 terms in [0, 1]: 1e-14.
          expect(Math.abs(s - 1)).toBeLessThan(1e-14);
        }
      }
      for (let i = 0; i < p.length; i++) {
        // Values are ≥ e^-10 here, so log is well conditioned: 1e-12 absolute.
        expect(Math.abs(Math.log(p[i]!) - lp[i]!)).toBeLessThan(1e-12);
        // Shifting by up to 100 loses up to ~100·2^-52 in the differences: 1e-12.
        expect(Math.abs(p[i]! - ps[i]!)).toBeLessThan(1e-12);
      }
    }),
    { numRuns: 200 },
  );
});

it('softmax does not overflow on large logits, and a NaN poisons only its own row', () => {
  const p = softmaxRef([1000, 1000, 0, 0, NaN, 1], 3, [2], false);
  expect(Array.from(p.slice(0, 4))).toEqual([0.5, 0.5, 0.5, 0.5]);
  expect(p.slice(4).every(Number.isNaN)).toBe(true);
  // log-softmax of a flat vector of two: log(1/2).
  expect(softmaxRef([3, 3], 1, [2], true)[0]).toBe(-Math.LN2);
});

it('batchNorm2d (train) output has mean 0 and biased variance 1 per channel; running stats use the unbiased variance', () => {
  fc.assert(
    fc.property(
      arbTensor.filter((t) => t.batch * t.H * t.W >= 2),
      fc.double({ min: 0, max: 1, noNaN: true }),
      ({ batch, C, H, W, x }, momentum) => {
        const hw = H * W;
        const rm = Array.from({ length: C }, (_, c) => 0.1 * c);
        const rv = Array.from({ length: C }, (_, c) => 1 + c);
        const eps = 1e-5;
        const r = batchNorm2dTrainRef(x, batch, [C, H, W], { runningMean: rm, runningVar: rv, eps, momentum });
        for (let c = 0; c < C; c++) {
          const xs: number[] = [];
          const ys: number[] = [];
          for (let n = 0; n < batch; n++) {
            for (let i = 0; i < hw; i++) {
              xs.push(x[(n * C + c) * hw + i]!);
              ys.push(r.out[(n * C + c) * hw + i]!);
            }
          }
          const m = xs.length;
          const mean = xs.reduce((s, v) => s + v, 0) / m;
          // Variance the other way: E[x²] − E[x]².
          const varB = Math.max(0, xs.reduce((s, v) => s + v * v, 0) / m - mean * mean);
          const yMean = ys.reduce((s, v) => s + v, 0) / m;
          const yVar = ys.reduce((s, v) => s + v * v, 0) / m - yMean * yMean;
          // Mean of normalised values: 1e-9 absolute (division by √(var+eps) ≤ 1/√eps amplifies rounding).
          expect(Math.abs(yMean)).toBeLessThan(1e-9);
          // Biased variance of the output is var/(var+eps) (eps keeps it below 1): 1e-7.
          expect(Math.abs(yVar - varB / (varB + eps))).toBeLessThan(1e-7);
          // Running update, PyTorch's formula with the unbiased variance: 1e-9.
          expect(Math.abs(r.runningMean[c]! - ((1 - momentum) * rm[c]! + momentum * mean))).toBeLessThan(1e-9);
          expect(Math.abs(r.runningVar[c]! - ((1 - momentum) * rv[c]! + momentum * varB * (m / (m - 1))))).toBeLessThan(1e-9);
        }
      },
    ),
    { numRuns: 200 },
  );
});

it('batchNorm2d (eval) uses the running statistics and the affine parameters (hand example)', () => {
  // One channel, values 1 and 3; running mean 1, running var 4 − eps, γ = 2, β = 0.5.
  const eps = 1e-5;
  const y = batchNorm2dEvalRef([1, 3], 1, [1, 1, 2], { runningMean: [1], runningVar: [4 - eps], weight: [2], bias: [0.5], eps });
  expect(Math.abs(y[0]! - 0.5)).toBeLessThan(1e-12);
  expect(Math.abs(y[1]! - 2.5)).toBeLessThan(1e-12); // (3 − 1)/2·2 + 0.5
});

it('dropout keeps about 1 − p of the elements, scales them by 1/(1 − p), and follows the counter RNG', () => {
  const n = 20_000;
  const x = Array.from({ length: n }, (_, i) => (i % 7) + 1);
  for (const p of [0.2, 0.5]) {
    const y = dropoutRef(x, 1, [n], { p, channelwise: false, site: 'net/drop', seed: 9 });
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const keep = dropoutKeep(9, siteId('net/drop'), i, p);
      expect(y[i]).toBe(keep ? x[i]! / (1 - p) : 0);
      if (keep) kept++;
    }
    // Binomial sd ≤ 71 for n = 20,000: allow 5 sd.
    expect(Math.abs(kept - n * (1 - p))).toBeLessThan(5 * 71);
  }
});

it('channelwise dropout drops whole channels, independently per sample; NaN stays NaN', () => {
  const batch = 4;
  const C = 8;
  const hw = 6;
  const x = Array.from({ length: batch * C * hw }, () => 1);
  x[5] = NaN;
  const y = dropoutRef(x, batch, [C, 2, 3], { p: 0.5, channelwise: true, site: 's', seed: 3 });
  const masks = new Set<string>();
  for (let nc = 0; nc < batch * C; nc++) {
    const block = Array.from(y.slice(nc * hw, (nc + 1) * hw)).filter((v) => !Number.isNaN(v));
    expect(new Set(block).size).toBe(1); // a channel is all kept (2) or all dropped (0)
    masks.add(block[0] === 2 ? '1' : '0');
  }
  expect(masks.size).toBe(2);
  expect(Number.isNaN(y[5]!)).toBe(true);
});
