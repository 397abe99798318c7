/**
 * The live display of `nasgraph search` (src/runtime/search-display.ts): the pure formatters, and the display on
 * a fake stream, redrawn in place on a TTY and as plain lines elsewhere.
 */
import { describe, expect, it } from 'vitest';
import type { TrialRecord } from '../../src/runtime/experiment-log.ts';
import {
  formatArchitecture,
  formatColumns,
  formatCount,
  formatDuration,
  formatObjective,
  formatRankedTable,
  formatStatus,
  searchDisplay,
} from '../../src/runtime/search-display.ts';

const record = (id: number, objective: number | null, status: TrialRecord['status'] = 'succeeded', error: string | null = null): TrialRecord => ({
  id,
  status,
  objective,
  architecture: { conv1: 'conv5x5', skip: [] },
  arch: { conv1: [1], skip: [] },
  metrics: {},
  params: 2922,
  flops: 1_254_000,
  wallTimeMs: 12_300,
  error,
  startedAt: '2025-01-01T00:00:00.000Z',
  finishedAt: '2025-01-01T00:00:12.300Z',
  curve: [],
});

describe('formatters', () => {
  it('formats durations, counts, objectives and architectures', () => {
    expect([formatDuration(850), formatDuration(12_340), formatDuration(125_000), formatDuration(3_720_000), formatDuration(Number.NaN)]).toEqual(['850ms', '12.3s', '2m05s', '1h02m', '?']);
    expect([formatCount(812), formatCount(2922), formatCount(1_254_000), formatCount(3.4e9), formatCount(null)]).toEqual(['812', '2.92k', '1.25M', '3.40G', '-']);
    expect([formatObjective(0.8123), formatObjective(1.5), formatObjective(null), formatObjective(Number.NaN)]).toEqual(['81.23%', '1.500', '-', 'NaN']);
    expect(formatArchitecture({ conv1: 'conv5x5', mid: 1, skip: [], cell: ['a', 0] })).toBe('conv1=conv5x5 mid=1 skip=[] cell=[a,0]');
  });

  it('aligns columns and leaves the last one unpadded', () => {
    expect(formatColumns(['A', 'BB', 'C'], [['xxx', 'y', 'z'], ['', 'long', '']])).toBe('A    BB    C\nxxx  y     z\n     long');
  });

  it('ranks trials in the order given, with the error of a failed one', () => {
    const text = formatRankedTable([record(2, 0.9), record(0, 0.5, 'stopped'), record(1, null, 'failed', 'the loss of step 3 is NaN')], 'valid acc');
    const rows = text.split('\n');
    expect(rows[0]).toMatch(/^RANK\s+TRIAL\s+STATUS\s+VALID ACC\s+PARAMS\s+MACS\s+TIME\s+ARCHITECTURE$/);
    expect(rows[1]).toMatch(/^1\s+#2\s+succeeded\s+90\.00%\s+2\.92k\s+1\.25M\s+12\.3s\s+conv1=conv5x5 skip=\[\]$/);
    expect(rows[2]).toMatch(/^2\s+#0\s+stopped\s+50\.00%/);
    expect(rows[3]).toMatch(/^3\s+#1\s+failed\s+-.*error: the loss of step 3 is NaN$/);
  });

  it('sums up a search in one status line', () => {
    expect(formatStatus({ finished: 3, budget: 12, running: [3], best: record(2, 0.812), etaMs: 130_000, trial: null })).toBe('trials 3/12 done, 1 running  best 81.20% (#2)  ETA 2m10s');
    expect(formatStatus({ finished: 0, budget: 5, running: [], best: null, etaMs: null, trial: '#0 epoch 1/2' })).toBe('trials 0/5 done, 0 running  best -  ETA ?  #0 epoch 1/2');
  });
});

/** A fake stream recording what is written. */
const stream = (isTTY: boolean): { readonly write: (s: string) => void; readonly isTTY: boolean; readonly columns: number; readonly text: () => string } => {
  let text = '';
  return { write: (s) => void (text += s), isTTY, columns: 200, text: () => text };
};

const playSearch = (display: ReturnType<typeof searchDisplay>): void => {
  display.onEvent({ type: 'trial-started', id: 0, arch: { conv1: [1], skip: [] }, rerun: false });
  const sink = display.trialProgress(0);
  sink.epochStart(1, 1, 4);
  for (let s = 1; s <= 4; s++) sink.step(s, 4, 1, 0.5);
  display.onEvent({ type: 'trial-epoch', id: 0, epoch: 1, metrics: { objective: 0.75 }, decision: 'continue' });
  display.onEvent({ type: 'trial-finished', record: record(0, 0.75) });
  display.onEvent({ type: 'best', record: record(0, 0.75) });
  display.onEvent({ type: 'progress', finished: 1, budget: 2, inFlight: 0, best: record(0, 0.75), etaMs: 12_000 });
  display.close();
};

describe('searchDisplay', () => {
  it('writes plain lines, without control characters, when the stream is not a terminal', () => {
    const s = stream(false);
    playSearch(searchDisplay(s, { budget: 2, now: () => 0 }));
    const out = s.text();
    expect(out).not.toMatch(/\r|\x1b/);
    expect(out.split('\n').filter((l) => l !== '')).toEqual([
      'trial #0 started',
      '  trial #0 epoch 1: objective 0.7500',
      'trial #0 (1/2) objective 75.00%  params 2.92k  MACs 1.25M  12.3s  conv1=conv5x5 skip=[]',
      'new best: trial #0 75.00%',
      'trials 1/2 done, 0 running  best 75.00% (#0)  ETA 12.0s',
    ]);
  });

  it('redraws one status line on a terminal, with the running trial and a counting-down ETA', () => {
    const s = stream(true);
    let t = 0;
    const display = searchDisplay(s, { budget: 2, now: () => t });
    playSearch({ ...display, close: () => undefined });
    t = 5000; // five seconds later the ETA of 12 s reads 7 s
    display.trialProgress(1).epochStart(1, 1, 4);
    const out = s.text();
    const last = out.slice(out.lastIndexOf('\r\x1b[2K') + 5);
    expect(last).toBe('trials 1/2 done, 0 running  best 75.00% (#0)  ETA 7.0s  #1 epoch 1/1');
    expect(out).toContain('#0 epoch 1/1 [################] 4/4');
    // The finished trial is a permanent line; the status line is cleared before it and drawn again after.
    expect(out).toContain('\r\x1b[2Ktrial #0 (1/2) objective 75.00%');
    display.close();
    expect(s.text().endsWith('\r\x1b[2K')).toBe(true);
  });
});
