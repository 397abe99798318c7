/**
 * The progress reporter: plain epoch lines when the stream is not a terminal; a redrawn, throttled line on a
 * terminal, cleared before each epoch's summary line.
 */
import { expect, it } from 'vitest';
import type { EpochMetrics } from '../../src/runtime/checkpoint.ts';
import { bar, etaText, formatEpoch, progressReporter } from '../../src/runtime/progress.ts';

const m: EpochMetrics = { epoch: 2, trainLoss: 0.5, trainAccuracy: 0.8125, testLoss: 0.25, testAccuracy: 0.9, lr: 0.01, skippedSteps: 0, seconds: 3.21 };

const capture = (isTTY: boolean): { readonly text: () => string; readonly stream: { write: (s: string) => void; isTTY: boolean; columns: number } } => {
  let text = '';
  return { text: () => text, stream: { write: (s: string) => void (text += s), isTTY, columns: 80 } };
};

it('writes one plain line per epoch when not on a terminal', () => {
  const c = capture(false);
  const p = progressReporter(c.stream, () => 0);
  p.epochStart(2, 5, 10);
  for (let i = 1; i <= 10; i++) p.step(i, 10, 0.5, 0.8);
  p.epochEnd(m, 5);
  expect(c.text()).toBe('epoch 2/5  loss 0.5000  acc 81.25%  test 0.2500 90.00%  lr 0.01000  3.2s\n');
});

it('redraws one line at most every 100 ms on a terminal, then clears it for the epoch line', () => {
  const c = capture(true);
  let now = 0;
  const p = progressReporter(c.stream, () => now);
  p.epochStart(1, 1, 4);
  p.step(1, 4, 1.5, 0.25);
  now = 50;
  p.step(2, 4, 1.2, 0.3); // throttled
  now = 200;
  p.step(3, 4, 1, 0.5);
  p.step(4, 4, 0.9, 0.6); // the last step always draws
  p.epochEnd({ ...m, epoch: 1, validLoss: 1, validAccuracy: 0.5, skippedSteps: 2 }, 1);
  const draws = c.text().split('\r\x1b[2K');
  expect(draws.filter((d) => d.startsWith('epoch 1/1 [')).map((d) => d.split(' ')[3])).toEqual(['1/4', '3/4', '4/4']);
  expect(draws.at(-1)).toBe('epoch 1/1  loss 0.5000  acc 81.25%  valid 1.0000 50.00%  test 0.2500 90.00%  lr 0.01000  skipped 2 non-finite steps  3.2s\n');
  // A redrawn line never wraps (it would leave a trail of lines); the epoch line is an ordinary line.
  expect(draws.filter((d) => d.startsWith('epoch 1/1 [')).every((d) => d.length < 80)).toBe(true);
});

it('adds the top-5 accuracies to the epoch line when they were measured', () => {
  expect(formatEpoch({ ...m, validLoss: 1, validAccuracy: 0.5, validTop5Accuracy: 0.875, testTop5Accuracy: 0.99 }, 5)).toBe(
    'epoch 2/5  loss 0.5000  acc 81.25%  valid 1.0000 50.00% top-5 87.50%  test 0.2500 90.00% top-5 99.00%  lr 0.01000  3.2s',
  );
  expect(formatEpoch({ ...m, testTop5Accuracy: NaN }, 5)).toContain('test 0.2500 90.00% top-5 NaN%');
});

it('draws bars of the asked width', () => {
  expect(bar(0, 4)).toBe('[....]');
  expect(bar(0.5, 4)).toBe('[##..]');
  expect(bar(2, 4)).toBe('[####]');
  expect(formatEpoch({ ...m, trainLoss: NaN }, 3)).toContain('loss NaN');
});

it('a long phase (SPOS evolution) prints a line at each quarter with the time left at the rate so far', () => {
  const c = capture(false);
  let now = 0;
  const p = progressReporter(c.stream, () => now);
  p.phaseStart!('evolution', 8, 0);
  for (let i = 1; i <= 8; i++) {
    now = i * 10_000; // 10 s per candidate
    p.phaseStep!(i, 8, `best ${(50 + i).toFixed(2)}%`);
  }
  p.phaseEnd!();
  expect(c.text().split('\n')).toEqual([
    'evolution: 8 candidates to score',
    'evolution: 2/8 scored, best 52.00%, 1m00s left',
    'evolution: 4/8 scored, best 54.00%, 40s left',
    'evolution: 6/8 scored, best 56.00%, 20s left',
    'evolution: 8/8 scored, best 58.00%, done',
    '',
  ]);
});

it('the time left counts from where a resumed phase started, and the epoch bar shows an ETA', () => {
  const c = capture(false);
  let now = 0;
  const p = progressReporter(c.stream, () => now);
  p.phaseStart!('evolution', 8, 4);
  now = 5_000;
  p.phaseStep!(6, 8, 'best 60.00%');
  expect(c.text()).toBe('evolution: 8 candidates to score (4 already scored)\nevolution: 6/8 scored, best 60.00%, 5s left\n');
  const t = capture(true);
  let at = 0;
  const q = progressReporter(t.stream, () => at);
  q.epochStart(1, 1, 4);
  at = 2_000;
  q.step(1, 4, 1, 0.5);
  expect(t.text()).toMatch(/ 1\/4  ETA 6s  loss 1\.0000/);
});

it('etaText: time left at a constant rate', () => {
  expect([etaText(10_000, 1, 9), etaText(1_000, 1, 13), etaText(1_000, 0, 9), etaText(3_600_000, 1, 3)]).toEqual(['1m20s', '12s', '?', '2h00m']);
});
