/**
 * The median stopping rule: stops exactly when the best value so far is strictly worse than the median of the
 * others at the same epoch, in both directions, and never during the grace period or with too few others.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CurvePoint, bestOf, checkMedianStopRule, median, medianStop, medianStopRule, valueAt } from '../../src/runtime/early-stop.ts';

const curve = (...values: number[]): CurvePoint[] => values.map((value, epoch) => ({ epoch, value }));
const rule = medianStopRule({ minTrials: 3, graceEpochs: 1 });

describe('median', () => {
  it('is the middle value, or the mean of the two middle values', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeUndefined();
  });

  it('has as many values at most as at least it (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }), { minLength: 1 }), (xs) => {
        const m = median(xs)!;
        expect(xs.filter((x) => x <= m).length).toBeGreaterThanOrEqual(xs.length / 2);
        expect(xs.filter((x) => x >= m).length).toBeGreaterThanOrEqual(xs.length / 2);
      }),
    );
  });
});

describe('medianStop, maximize', () => {
  // Others at epoch 1: 0.5, 0.6, 0.7 → median 0.6.
  const others = [curve(0.4, 0.5), curve(0.5, 0.6), curve(0.6, 0.7)];

  it('stops a trial whose best so far is below the median at its epoch', () => {
    expect(medianStop(rule, 'maximize', curve(0.1, 0.3), others)).toBe('stop');
  });

  it('uses the best so far, not the latest value', () => {
    // Latest 0.3 is below the median, but 0.65 at epoch 0 is above it.
    expect(medianStop(rule, 'maximize', curve(0.65, 0.3), others)).toBe('continue');
  });

  it('continues on a tie with the median', () => {
    expect(medianStop(rule, 'maximize', curve(0.1, 0.6), others)).toBe('continue');
  });

  it('compares with the others at the same epoch, not their final values', () => {
    // At epoch 0 the others are 0.4, 0.5, 0.6 (median 0.5): 0.45 is worse.
    const r0 = medianStopRule({ minTrials: 3, graceEpochs: 0 });
    expect(medianStop(r0, 'maximize', curve(0.45), others)).toBe('stop');
    expect(medianStop(r0, 'maximize', curve(0.55), others)).toBe('continue');
  });

  it('never stops during the grace period', () => {
    const r2 = medianStopRule({ minTrials: 3, graceEpochs: 2 });
    expect(medianStop(r2, 'maximize', curve(0.0, 0.0), others)).toBe('continue');
    expect(medianStop(rule, 'maximize', curve(0.0), others)).toBe('continue');
  });

  it('never stops with fewer than minTrials others at that epoch', () => {
    expect(medianStop(rule, 'maximize', curve(0.0, 0.0), others.slice(0, 2))).toBe('continue');
    // Three others, but only two reached epoch 1.
    expect(medianStop(rule, 'maximize', curve(0.0, 0.0), [curve(0.4), ...others.slice(0, 2)])).toBe('continue');
  });

  it('stops a trial with no finite value, ignores non-finite values of the others', () => {
    expect(medianStop(rule, 'maximize', curve(Number.NaN, Number.NaN), others)).toBe('stop');
    // With a NaN other, only two finite values remain at epoch 1: too few.
    expect(medianStop(rule, 'maximize', curve(0, 0), [curve(0, Number.NaN), ...others.slice(0, 2)])).toBe('continue');
  });
});

describe('medianStop, minimize', () => {
  // Losses at epoch 1: 0.5, 0.6, 0.7 → median 0.6; lower is better.
  const others = [curve(0.9, 0.5), curve(0.9, 0.6), curve(0.9, 0.7)];

  it('stops a trial whose lowest loss so far is above the median', () => {
    expect(medianStop(rule, 'minimize', curve(1.0, 0.8), others)).toBe('stop');
  });

  it('continues a trial below the median, or one that was below it earlier', () => {
    expect(medianStop(rule, 'minimize', curve(1.0, 0.55), others)).toBe('continue');
    expect(medianStop(rule, 'minimize', curve(0.5, 0.8), others)).toBe('continue');
  });

  it('is the maximize rule on negated values (property)', () => {
    const point = fc.double({ noNaN: true, noDefaultInfinity: true, min: -100, max: 100 });
    const arbCurve = fc.array(point, { minLength: 1, maxLength: 5 }).map((vs) => curve(...vs));
    fc.assert(
      fc.property(arbCurve, fc.array(arbCurve, { maxLength: 6 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 3 }), (c, os, minTrials, graceEpochs) => {
        const r = medianStopRule({ minTrials, graceEpochs });
        const neg = (cv: CurvePoint[]): CurvePoint[] => cv.map((p) => ({ epoch: p.epoch, value: -p.value }));
        expect(medianStop(r, 'minimize', c, os)).toBe(medianStop(r, 'maximize', neg(c), os.map(neg)));
      }),
    );
  });
});

describe('helpers and options', () => {
  it('valueAt takes the last report of an epoch; bestOf is direction-aware', () => {
    const c = [{ epoch: 0, value: 1 }, { epoch: 1, value: 2 }, { epoch: 1, value: 3 }];
    expect(valueAt(c, 1)).toBe(3);
    expect(valueAt(c, 2)).toBeUndefined();
    expect(bestOf('maximize', curve(1, 3, 2))).toBe(3);
    expect(bestOf('minimize', curve(1, 3, Number.NaN, 2))).toBe(1);
  });

  it('fills defaults and reports bad options by name', () => {
    expect(medianStopRule()).toEqual({ metric: 'objective', minTrials: 3, graceEpochs: 1 });
    const errors = checkMedianStopRule({ metric: '', minTrials: 0, graceEpochs: 1.5 });
    expect(errors).toHaveLength(3);
    expect(errors.join('\n')).toMatch(/'metric'[\s\S]*'minTrials'[\s\S]*'graceEpochs'/);
    expect(checkMedianStopRule(medianStopRule())).toEqual([]);
  });
});
