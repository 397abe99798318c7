/**
 * What a one-shot search prints per epoch says what each figure is: the supernet's training figures, the
 * discretised architecture's accuracy on the shared weights; SPOS prints no architecture before its evolution,
 * and the evolution is labelled as such, not as one more epoch. One accuracy format (percent) throughout.
 */
import { expect, it } from 'vitest';
import { epochLine } from '../../src/cli/oneshot.ts';
import type { HistoryEntry } from '../../src/search/oneshot/types.ts';

const entry = (epoch: number, metrics: Record<string, number>): HistoryEntry => ({ epoch, distribution: { op1: [0.5, 0.5] }, arch: { op1: [1] }, metrics });

it('DARTS: the discretised architecture on the shared weights, named as such', () => {
  expect(epochLine(entry(2, { trainLoss: 0.5, trainAccuracy: 0.85, validAccuracy: 0.3056, seconds: 12 }), 'darts', 3)).toBe(
    'epoch 2/3  supernet train loss 0.5000 acc 85.00%  discretised architecture on the shared weights: valid acc 30.56%  12.0s\n         op1=[1]\n',
  );
});

it('SPOS: no architecture while training; the evolution is not an epoch and uses the same accuracy format', () => {
  const training = epochLine(entry(1, { trainLoss: 1.2, trainAccuracy: 0.4, validAccuracy: 0.25, seconds: 3 }), 'spos', 2);
  expect(training).toBe('epoch 1/2  supernet train loss 1.2000 acc 40.00%  (the architecture is chosen by the evolution after the last epoch)  3.0s\n');
  const evolution = epochLine(entry(3, { candidates: 120, bestValidAccuracy: 0.135, validAccuracy: 0.135 }), 'spos', 2);
  expect(evolution).toBe('evolution  120 candidates scored; best: valid acc 13.50% on the shared weights\n         op1=[1]\n');
  expect(evolution).not.toMatch(/epoch 3|0\.1350/);
});
