/**
 * The training bench's pure parts: the spread of step times, and the models' FLOP counts against hand-computed
 * figures (the issue's "about 4.6 GFLOP per step at batch 64" for the PyTorch MNIST CNN). Exact arithmetic on
 * integers (FLOP counts) or on the given samples (spread): no tolerance, except against the issue's rounded
 * 4.6 GFLOP (within 0.05, toBeCloseTo's 1 digit).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { spreadOf } from '../../bench/training.ts';
import { buildOrThrow, forwardFlops, pytorchMnistCnn, trainingFlops } from '../../bench/training-models.ts';
import { paramCount } from '../../src/ir/index.ts';

describe('spreadOf', () => {
  it('min ≤ median ≤ max, each a sample or the mean of the two middle ones, half the samples on each side', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 100, noNaN: true }), { minLength: 1, maxLength: 20 }), (xs) => {
        const s = spreadOf(xs);
        expect(s.min).toBe(Math.min(...xs));
        expect(s.max).toBe(Math.max(...xs));
        expect(s.all).toEqual(xs);
        expect(s.min).toBeLessThanOrEqual(s.median);
        expect(s.median).toBeLessThanOrEqual(s.max);
        expect(2 * xs.filter((x) => x <= s.median).length).toBeGreaterThanOrEqual(xs.length);
        expect(2 * xs.filter((x) => x >= s.median).length).toBeGreaterThanOrEqual(xs.length);
      }),
    );
  });
});

describe('the PyTorch MNIST example CNN', () => {
  const g = buildOrThrow(pytorchMnistCnn);
  it('has PyTorch’s parameter count (1,199,882)', () => {
    expect(paramCount(g)).toBe(1_199_882);
  });
  it('costs 2·(26·26·32·9 + 24·24·64·288 + 9216·128 + 128·10) FLOPs forward, 3× that per training sample', () => {
    const forward = 2 * (26 * 26 * 32 * 9 + 24 * 24 * 64 * 288 + 9216 * 128 + 128 * 10);
    expect(forwardFlops(g)).toBe(forward);
    expect(trainingFlops(g, 64)).toBe(3 * 64 * forward);
    expect(trainingFlops(g, 64) / 1e9).toBeCloseTo(4.6, 1);
  });
});
