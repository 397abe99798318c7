/**
 * Learning-rate schedules vs PyTorch's schedulers: CosineAnnealingLR's recursive (chainable) form, which is what
 * `scheduler.step()` computes, against our closed form; StepLR on hand-computed values; the warm-up's shape.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { type LrSchedule, checkSchedule, learningRate, warmupFactor } from '../../src/compile/schedule.ts';

/** PyTorch's CosineAnnealingLR.get_lr (the recursive form), epoch by epoch from `base`. */
const torchCosine = (base: number, etaMin: number, tMax: number, epochs: number): number[] => {
  const lrs = [base];
  let lr = base;
  for (let e = 1; e < epochs; e++) {
    if ((e - 1 - tMax) % (2 * tMax) === 0) lr = lr + ((base - etaMin) * (1 - Math.cos(Math.PI / tMax))) / 2;
    else lr = ((1 + Math.cos((Math.PI * e) / tMax)) / (1 + Math.cos((Math.PI * (e - 1)) / tMax))) * (lr - etaMin) + etaMin;
    lrs.push(lr);
  }
  return lrs;
};

it("cosine annealing equals PyTorch's recursive CosineAnnealingLR within the first period", () => {
  fc.assert(
    fc.property(
      fc.double({ min: 1e-4, max: 1, noNaN: true }),
      fc.double({ min: 0, max: 1e-4, noNaN: true }),
      fc.integer({ min: 1, max: 30 }),
      fc.integer({ min: 1, max: 20 }),
      (base, etaMin, tMax, stepsPerEpoch) => {
        const want = torchCosine(base, etaMin, tMax, tMax + 1);
        const s: LrSchedule = { kind: 'cosine', tMax, etaMin };
        want.forEach((lr, epoch) => {
          // Every step of an epoch has the epoch's rate (the scheduler steps once per epoch).
          for (const k of [0, stepsPerEpoch - 1]) {
            const got = learningRate(s, base, { step: epoch * stepsPerEpoch + k, stepsPerEpoch });
            // The recursion accumulates rounding over ≤ 30 epochs: relative 1e-9.
            expect(Math.abs(got - lr)).toBeLessThanOrEqual(1e-9 * base);
          }
        });
      },
    ),
  );
});

it('cosine reaches etaMin at tMax and can be driven per step', () => {
  expect(learningRate({ kind: 'cosine', tMax: 10, etaMin: 0.01 }, 0.1, { step: 50, stepsPerEpoch: 5 })).toBeCloseTo(0.01, 12);
  expect(learningRate({ kind: 'cosine', tMax: 4, per: 'step' }, 1, { step: 2, stepsPerEpoch: 100 })).toBeCloseTo(0.5, 12);
});

it('StepLR multiplies by gamma every stepSize epochs', () => {
  const s: LrSchedule = { kind: 'step', stepSize: 3, gamma: 0.5 };
  const epochs = [0, 1, 2, 3, 5, 6, 9].map((e) => learningRate(s, 0.8, { step: e * 10 + 4, stepsPerEpoch: 10 }));
  expect(epochs).toEqual([0.8, 0.8, 0.8, 0.4, 0.4, 0.2, 0.1]);
});

it('warm-up rises linearly to the scheduled rate and leaves it alone afterwards', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 50 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 200 }), (steps, start, t) => {
      const f = warmupFactor({ steps, startFactor: start }, t);
      if (t >= steps) expect(f).toBe(1);
      else {
        expect(f).toBeGreaterThanOrEqual(start - 1e-12);
        expect(f).toBeLessThanOrEqual(1);
        expect(warmupFactor({ steps, startFactor: start }, t + 1)).toBeGreaterThanOrEqual(f - 1e-12);
      }
    }),
  );
  const s: LrSchedule = { kind: 'constant', warmup: { steps: 4 } };
  const want = [0, 0.05, 0.1, 0.15, 0.2, 0.2];
  [0, 1, 2, 3, 4, 9].forEach((step, i) => expect(learningRate(s, 0.2, { step, stepsPerEpoch: 3 })).toBeCloseTo(want[i]!, 12));
});

it('reports every invalid field', () => {
  const r = checkSchedule({ kind: 'step', stepSize: 0, gamma: -1, warmup: { steps: 2, startFactor: 2 } });
  expect(E.isLeft(r) && r.left.map((e) => e.field)).toEqual(['stepSize', 'gamma', 'warmup.startFactor']);
  expect(E.isRight(checkSchedule({ kind: 'cosine', tMax: 5 }))).toBe(true);
});
