/**
 * The trial runner in process, on a synthetic space with a fake evaluation (deterministic objective from the
 * architecture; some architectures throw, one gives NaN): budget, failures, concurrency, early stopping,
 * events, refusals, abort and resume; and the pure decisions (ranking, best, resume plan, ETA).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Architecture } from '../../src/ir/apply.ts';
import { architectureKey } from '../../src/ir/architecture.ts';
import { type AnyStrategy, type TrialResult, createStrategy } from '../../src/search/index.ts';
import { type TrialRecord, parseTrialLog } from '../../src/runtime/experiment-log.ts';
import {
  type Evaluate,
  type SearchEvent,
  type SearchOptions,
  type TrialMetrics,
  bestTrial,
  estimateEtaMs,
  planResume,
  rankTrials,
  runSearch,
} from '../../src/runtime/trials.ts';
import { syntheticEvaluate, syntheticOutcome, syntheticSpace } from './fixtures/synthetic-search.ts';

const strategy = (name: string, options: Record<string, unknown> = {}): AnyStrategy => {
  const s = createStrategy(name, options);
  if (E.isLeft(s)) throw new Error(s.left.map((e) => e.message).join('\n'));
  return s.right;
};

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nasgraph-trials-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const logged = (logDir: string): readonly TrialRecord[] => {
  const parsed = parseTrialLog('trials.jsonl', fs.readFileSync(path.join(logDir, 'trials.jsonl'), 'utf8'));
  if (E.isLeft(parsed)) throw new Error(parsed.left.map((e) => e.message).join('\n'));
  return parsed.right.records;
};

const search = (over: Partial<SearchOptions>): Promise<E.Either<readonly import('../../src/runtime/trials.ts').RunError[], import('../../src/runtime/trials.ts').SearchResult>> =>
  runSearch({ space: syntheticSpace, strategy: strategy('random'), evaluate: syntheticEvaluate(), trials: 10, seed: 1, logDir: path.join(dir, 'log'), ...over });

/** Wraps a strategy so that the test sees every result it observes. */
const spy = (s: AnyStrategy, seen: TrialResult[]): AnyStrategy => ({
  ...s,
  observe: (space, state, results) => {
    seen.push(...results);
    return s.observe(space, state, results);
  },
});

describe('runSearch', () => {
  it('runs the budget, logs every trial with its outcome, and goes on after failures', async () => {
    const observed: TrialResult[] = [];
    // Grid over the whole space: 8 architectures throw (a=3, b=2) and one gives NaN (a=0, b=1, c=[]).
    const r = await search({ strategy: spy(strategy('grid'), observed), trials: 96 });
    expect(E.isRight(r)).toBe(true);
    const records = logged(path.join(dir, 'log'));
    expect(records.map((x) => x.id)).toEqual(Array.from({ length: 96 }, (_, i) => i));
    expect(new Set(records.map((x) => architectureKey(x.arch))).size).toBe(96);
    for (const rec of records) {
      const want = syntheticOutcome(rec.arch);
      expect(rec.architecture['a']).toBe(`op${rec.arch['a']![0]}`);
      if (want.kind === 'ok') {
        expect(rec).toMatchObject({ status: 'succeeded', objective: want.objective, error: null, params: 1000 + rec.id, flops: 2000 + rec.id });
        expect(rec.curve).toHaveLength(3);
      } else {
        expect(rec.status).toBe('failed');
        expect(rec.objective).toBeNull();
        expect(rec.error).toMatch(want.kind === 'throws' ? /synthetic shape error in trial/ : /the objective is NaN/);
      }
    }
    expect(records.filter((x) => x.status === 'failed')).toHaveLength(9);
    // The strategy observed each trial once, failed ones as null.
    expect(observed).toHaveLength(96);
    for (const o of observed) {
      const want = syntheticOutcome(o.arch);
      expect(o.objective).toBe(want.kind === 'ok' ? want.objective : null);
    }
    if (E.isRight(r)) {
      expect(r.right.exhausted).toBe(true);
      expect(r.right.ranked.map((x) => x.status).indexOf('failed')).toBe(87);
      // The best: a=3 (largest), b=0 (smallest penalty), all three inputs (largest mask) = 0.5 + 0.3 + 0.021.
      expect(r.right.best?.arch).toEqual({ a: [3], b: [0], c: [0, 1, 2] });
      expect(r.right.best?.objective).toBeCloseTo(0.821, 12); // float sum of the terms: 1e-12 is ample
    }
  });

  it('respects the budget and stops at exhaustion', async () => {
    const r = await search({ trials: 7 });
    expect(E.isRight(r) && r.right.ranked.length).toBe(7);
    expect(logged(path.join(dir, 'log'))).toHaveLength(7);
    const state = JSON.parse(fs.readFileSync(path.join(dir, 'log', 'state.json'), 'utf8'));
    expect(state).toMatchObject({ nextId: 7, pending: [] });
    const big = await search({ strategy: strategy('grid'), trials: 500, logDir: path.join(dir, 'big') });
    expect(E.isRight(big) && big.right.ranked.length).toBe(96);
    expect(E.isRight(big) && big.right.exhausted).toBe(true);
  });

  it('keeps exactly `concurrency` trials in flight while the budget lasts', async () => {
    const gates = new Map<number, (m: TrialMetrics) => void>();
    const started: number[] = [];
    const evaluate: Evaluate = ({ id }) => {
      started.push(id);
      return new Promise((resolve) => gates.set(id, resolve));
    };
    const done = search({ evaluate, trials: 9, concurrency: 4 });
    const settle = async (): Promise<void> => {
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    };
    await settle();
    expect(started).toEqual([0, 1, 2, 3]);
    // Finish trials one by one in an order other than their start: each frees exactly one slot.
    const order = [2, 0, 3, 1, 4, 6, 5, 7, 8];
    for (const [k, id] of order.entries()) {
      gates.get(id)!({ objective: id, metrics: {} });
      await settle();
      expect(started).toHaveLength(Math.min(9, 4 + k + 1));
      const inFlight = started.length - (k + 1);
      expect(inFlight).toBe(Math.min(4, 9 - (k + 1)));
    }
    const r = await done;
    expect(E.isRight(r) && r.right.ranked.map((x) => x.id)).toEqual([8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect(logged(path.join(dir, 'log')).map((x) => x.id)).toEqual(order);
  });

  it('stops hopeless trials with the median rule and observes what they reached', async () => {
    const observed: TrialResult[] = [];
    const events: SearchEvent[] = [];
    // Random order mixes good and bad architectures, so some trials run behind the median.
    const r = await search({
      strategy: spy(strategy('random'), observed),
      trials: 40,
      earlyStop: { minTrials: 3, graceEpochs: 1 },
      onEvent: (e) => events.push(e),
    });
    expect(E.isRight(r)).toBe(true);
    const records = logged(path.join(dir, 'log'));
    const stopped = records.filter((x) => x.status === 'stopped');
    expect(stopped.length).toBeGreaterThan(0);
    for (const rec of stopped) {
      // Never within the grace period (the first report); judged at its last report, epoch e.
      expect(rec.curve.length).toBeGreaterThanOrEqual(2);
      const e = rec.curve.length - 1;
      const at = (x: TrialRecord): number => x.curve[e]!.metrics['objective']!;
      const finite = rec.curve.map((p) => p.metrics['objective']!).filter(Number.isFinite);
      // The NaN architecture reports NaN: stopped with nothing reached (observed as a failure).
      const bestSoFar = finite.length === 0 ? Number.NEGATIVE_INFINITY : Math.max(...finite);
      expect(rec.objective).toBe(finite.length === 0 ? null : bestSoFar);
      // At least 3 earlier non-failed trials had reached epoch e, and more than half did better there.
      const before = records.slice(0, records.indexOf(rec)).filter((x) => x.status !== 'failed' && x.curve.length > e);
      expect(before.length).toBeGreaterThanOrEqual(3);
      expect(before.filter((x) => at(x) > bestSoFar).length).toBeGreaterThan(before.length / 2);
      expect(observed.find((o) => architectureKey(o.arch) === architectureKey(rec.arch))?.objective).toBe(rec.objective);
    }
    const stopEvents = events.filter((e) => e.type === 'trial-epoch' && e.decision === 'stop');
    expect(stopEvents).toHaveLength(stopped.length);
  });

  it('reports progress: starts, finishes, failures, improving bests and an ETA', async () => {
    const events: SearchEvent[] = [];
    await search({ strategy: strategy('grid'), trials: 30, onEvent: (e) => events.push(e) });
    const of = <T extends SearchEvent['type']>(t: T): Extract<SearchEvent, { type: T }>[] => events.filter((e): e is Extract<SearchEvent, { type: T }> => e.type === t);
    expect(of('trial-started')).toHaveLength(30);
    expect(of('trial-finished').length + of('trial-failed').length).toBe(30);
    expect(of('trial-failed').map((e) => e.record.arch)).toEqual([{ a: [0], b: [1], c: [] }]); // the NaN one
    const progress = of('progress');
    expect(progress.map((p) => p.finished)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(progress.every((p) => p.etaMs !== null && p.etaMs >= 0)).toBe(true);
    expect(progress.at(-1)!.etaMs).toBe(0);
    const bests = of('best').map((e) => e.record.objective!);
    expect(bests.length).toBeGreaterThan(1);
    for (let i = 1; i < bests.length; i++) expect(bests[i]!).toBeGreaterThan(bests[i - 1]!);
  });

  it('refuses bad options and an unsearchable space before running anything, all errors at once', async () => {
    let calls = 0;
    const evaluate: Evaluate = async () => {
      calls++;
      return { objective: 1, metrics: {} };
    };
    const r = await search({ evaluate, trials: -1, concurrency: 0, seed: 1.5, earlyStop: { minTrials: 0 }, strategy: strategy('evolution', { population: 0 }) });
    expect(E.isLeft(r) && r.left.map((e) => ('option' in e ? e.option : e.tag))).toEqual(['trials', 'concurrency', 'seed', 'earlyStop', 'population']);
    expect(calls).toBe(0);
    expect(fs.existsSync(path.join(dir, 'log'))).toBe(false);
  });

  it('refuses to start over an existing log, and to resume where there is none', async () => {
    expect(E.isRight(await search({ trials: 2 }))).toBe(true);
    const again = await search({ trials: 2 });
    expect(E.isLeft(again) && again.left[0]).toMatchObject({ tag: 'LogExists' });
    const none = await search({ resume: true, logDir: path.join(dir, 'empty') });
    expect(E.isLeft(none) && none.left[0]).toMatchObject({ tag: 'NothingToResume' });
  });

  it('refuses to resume with another strategy, options, seed or space, naming each', async () => {
    expect(E.isRight(await search({ strategy: strategy('evolution', { population: 4, sample: 2 }), trials: 3 }))).toBe(true);
    const other = await search({ strategy: strategy('random'), resume: true, seed: 2 });
    expect(E.isLeft(other) && other.left.map((e) => e.message)).toEqual([
      expect.stringMatching(/cannot resume .*: it was run with strategy "evolution", not "random"/),
      expect.stringMatching(/it was run with seed 1, not 2/),
    ]);
    const options = await search({ strategy: strategy('evolution', { population: 5, sample: 2 }), resume: true });
    expect(E.isLeft(options) && options.left[0]!.message).toMatch(/it was run with strategy options .*"population":4.*not .*"population":5/);
    const space = { decisions: syntheticSpace.decisions.slice(0, 2), size: 12n };
    const moved = await search({ space, strategy: strategy('evolution', { population: 4, sample: 2 }), resume: true });
    expect(E.isLeft(moved) && moved.left[0]).toMatchObject({ tag: 'ResumeMismatch', field: 'space' });
  });

  it('refuses to resume a corrupt log, naming the file and line, and changes nothing', async () => {
    const logDir = path.join(dir, 'log');
    expect(E.isRight(await search({ trials: 4 }))).toBe(true);
    const file = path.join(logDir, 'trials.jsonl');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    lines[1] = lines[1]!.replace('"status":"succeeded"', '"status":"fine"');
    fs.writeFileSync(file, lines.join('\n'));
    const before = fs.readFileSync(path.join(logDir, 'experiment.json'), 'utf8');
    const r = await search({ trials: 8, resume: true });
    expect(E.isLeft(r) && r.left.map((e) => e.message)).toEqual([expect.stringMatching(/trials\.jsonl:2: not a valid trial record: field 'status'/)]);
    expect(fs.readFileSync(path.join(logDir, 'experiment.json'), 'utf8')).toBe(before); // the budget change was not recorded
  });

  it('resumes a log that crashed before its first state was saved as a fresh start', async () => {
    const logDir = path.join(dir, 'log');
    expect(E.isRight(await search({ trials: 5, logDir: path.join(dir, 'ref') }))).toBe(true);
    expect(E.isRight(await search({ trials: 0 }))).toBe(true);
    fs.rmSync(path.join(logDir, 'state.json'));
    const r = await search({ trials: 5, resume: true });
    expect(E.isRight(r) && r.right.ranked.length).toBe(5);
    const archs = (d: string): unknown => logged(d).map((x) => x.arch);
    expect(archs(logDir)).toEqual(archs(path.join(dir, 'ref')));
  });

  it('resumes a finished search with a larger budget as if it had been one search', async () => {
    const s = strategy('evolution', { population: 4, sample: 2 });
    const warnings: string[] = [];
    expect(E.isRight(await search({ strategy: s, trials: 6 }))).toBe(true);
    const more = await search({ strategy: s, trials: 15, resume: true, onEvent: (e) => e.type === 'warning' && warnings.push(e.message) });
    expect(warnings).toEqual(['budget changed from 6 to 15 trials']);
    expect(E.isRight(await search({ strategy: s, trials: 15, logDir: path.join(dir, 'ref') }))).toBe(true);
    expect(E.isRight(more)).toBe(true);
    const strip = (rs: readonly TrialRecord[]): unknown => rs.map((x) => ({ id: x.id, arch: x.arch, status: x.status, objective: x.objective }));
    expect(strip(logged(path.join(dir, 'log')))).toEqual(strip(logged(path.join(dir, 'ref'))));
  });

  it('on abort, leaves in-flight trials unrecorded and pending; a resume runs them once', async () => {
    const controller = new AbortController();
    const ends = new Map<number, number>();
    const evaluate = syntheticEvaluate({
      epochMs: () => 5,
      onEnd: (id) => ends.set(id, (ends.get(id) ?? 0) + 1),
    });
    const r = await search({
      evaluate,
      trials: 12,
      concurrency: 3,
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'progress' && e.finished === 5) controller.abort();
      },
    });
    expect(E.isRight(r) && r.right.aborted).toBe(true);
    expect(logged(path.join(dir, 'log'))).toHaveLength(5);
    const state = JSON.parse(fs.readFileSync(path.join(dir, 'log', 'state.json'), 'utf8')) as { pending: { id: number }[] };
    expect(state.pending.length).toBeGreaterThan(0);
    const events: SearchEvent[] = [];
    const resumed = await search({ evaluate: syntheticEvaluate(), trials: 12, concurrency: 3, resume: true, onEvent: (e) => events.push(e) });
    expect(E.isRight(resumed) && resumed.right.aborted).toBe(false);
    const rerun = events.flatMap((e) => (e.type === 'resumed' ? e.rerun : []));
    expect(rerun).toEqual(state.pending.map((p) => p.id));
    const ids = logged(path.join(dir, 'log')).map((x) => x.id);
    expect([...ids].sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i));
  });

  it('reports a failing log write as an error instead of losing results', async () => {
    const logDir = path.join(dir, 'log');
    const evaluate: Evaluate = async ({ id }) => {
      // Make trials.jsonl a directory after the first trial: the next append fails.
      if (id === 1) {
        fs.rmSync(path.join(logDir, 'trials.jsonl'));
        fs.mkdirSync(path.join(logDir, 'trials.jsonl'));
      }
      return { objective: id, metrics: {} };
    };
    const r = await search({ evaluate, trials: 4 });
    expect(E.isLeft(r) && r.left[0]).toMatchObject({ tag: 'LogIo', file: path.join(logDir, 'trials.jsonl') });
  });
});

describe('pure decisions', () => {
  const rec = (id: number, status: TrialRecord['status'], objective: number | null): TrialRecord => ({
    id,
    status,
    objective,
    architecture: {},
    arch: {},
    metrics: {},
    params: null,
    flops: null,
    wallTimeMs: 1,
    error: null,
    startedAt: '',
    finishedAt: '',
    curve: [],
  });
  const rs = [rec(0, 'failed', null), rec(1, 'succeeded', 0.5), rec(2, 'stopped', 0.9), rec(3, 'succeeded', 0.7), rec(4, 'succeeded', 0.5), rec(5, 'stopped', null)];

  it('ranks succeeded by objective, then stopped, then failed; ties by id; both directions', () => {
    expect(rankTrials('maximize', rs).map((r) => r.id)).toEqual([3, 1, 4, 2, 5, 0]);
    expect(rankTrials('minimize', rs).map((r) => r.id)).toEqual([1, 4, 3, 2, 5, 0]);
    expect(bestTrial('maximize', rs)?.id).toBe(3);
    expect(bestTrial('minimize', rs)?.id).toBe(1);
    expect(bestTrial('maximize', [rs[0]!, rs[2]!])).toBeNull(); // a stopped trial is never the best
  });

  it('plans a resume: replay the logged pending trials, re-run the others', () => {
    const a: Architecture = { a: [1] };
    const plan = planResume({ nextId: 6, pending: [{ id: 3, arch: a }, { id: 5, arch: a }] }, [rs[0]!, rs[1]!, rs[2]!, rs[3]!, rs[4]!]);
    expect(E.isRight(plan) && plan.right.replay.map((r) => r.id)).toEqual([3]);
    expect(E.isRight(plan) && plan.right.rerun.map((p) => p.id)).toEqual([5]);
    const lost = planResume({ nextId: 7, pending: [] }, rs);
    expect(E.isLeft(lost) && lost.left).toEqual(['trial 6 was proposed but is neither logged nor in flight']);
    const future = planResume({ nextId: 5, pending: [] }, rs);
    expect(E.isLeft(future) && future.left[0]).toMatch(/trial 5 is logged but was never proposed/);
  });

  it('estimates the time left from this run, else from past trials', () => {
    expect(estimateEtaMs({ remaining: 10, finishedThisRun: 2, elapsedMs: 4000, concurrency: 2, pastWallTimesMs: [1] })).toBe(20000);
    expect(estimateEtaMs({ remaining: 10, finishedThisRun: 0, elapsedMs: 0, concurrency: 2, pastWallTimesMs: [1000, 3000] })).toBe(10000);
    expect(estimateEtaMs({ remaining: 10, finishedThisRun: 0, elapsedMs: 0, concurrency: 1, pastWallTimesMs: [] })).toBeNull();
    expect(estimateEtaMs({ remaining: 0, finishedThisRun: 0, elapsedMs: 0, concurrency: 1, pastWallTimesMs: [] })).toBe(0);
  });
});
