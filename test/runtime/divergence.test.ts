/** The divergence rule (pure): an epoch's loss above the factor times the first step's loss, and only then. */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { DIVERGENCE_FACTOR, divergence } from '../../src/runtime/divergence.ts';

it('flags a finite loss above factor × first, names both numbers, and leaves non-finite losses to the NaN check', () => {
  expect(divergence({ loss: 1.5e29, first: 2.3, epoch: 2 })).toBe("diverged: the mean training loss of epoch 2 (1.500e+29) is more than 10× the first step's loss (2.300); lower --lr");
  expect(divergence({ loss: 23, first: 2.3, epoch: 1 })).toBeUndefined();
  expect(divergence({ loss: 23.01, first: 2.3, epoch: 1 })).toBeDefined();
  expect(divergence({ loss: Number.NaN, first: 2.3, epoch: 1 })).toBeUndefined();
  expect(divergence({ loss: Number.POSITIVE_INFINITY, first: 2.3, epoch: 1 })).toBeUndefined();
  fc.assert(
    fc.property(fc.double({ min: 1e-3, max: 1e3, noNaN: true }), fc.double({ min: 0, max: 1e40, noNaN: true }), (first, loss) => {
      expect(divergence({ loss, first, epoch: 1 }) !== undefined).toBe(loss > DIVERGENCE_FACTOR * first);
    }),
  );
});
