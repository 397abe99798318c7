/**
 * The trial runner of classic NAS: a strategy proposes architectures, each is evaluated as its own trial
 * (`evaluate`, supplied by the caller: apply → compile → train → validate), and the strategy observes the
 * results, with up to `concurrency` trials in flight. Every finished trial is appended to the experiment log as
 * it completes, and the strategy state is saved after every propose and every observe, so an interrupted search
 * resumes without losing or re-running a finished trial (see `experiment-log.ts` for the files).
 *
 * Resume works because `state.json` holds, beside the strategy state and the generator, the trials proposed and
 * not yet observed (`pending`). Saving after a propose means a crash can never make the strategy propose an
 * architecture it has already handed out; on resume, a pending trial that `trials.jsonl` has a record of (the
 * crash fell between the append and the next save) is observed from its record, and any other pending trial
 * (it was in flight) is run again with its id and architecture. With a deterministic strategy and concurrency 1
 * the resumed search is therefore the uninterrupted one.
 *
 * A trial that throws or returns a non-finite objective is recorded as failed with its error, the strategy
 * observes `null`, and the search goes on. With `earlyStop`, the median stopping rule (`early-stop.ts`) stops
 * hopeless trials through `report`'s answer and the trial's abort signal.
 *
 * The decisions (ranking, the best trial, the ETA) are pure functions below, and what a resume must replay and
 * re-run is `planResume` (trials-resume.ts, which opens the log); `runSearch` is the effectful loop.
 *
 * @example
 * const r = await runSearch({ space, strategy, trials: 20, seed: 1, logDir: 'runs/exp1', concurrency: 2,
 *   evaluate: async ({ arch, signal, report }) => train(arch, { signal, onEpoch: report }) });
 * if (E.isRight(r)) console.log(r.right.best?.architecture);
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Architecture } from '../ir/apply.ts';
import { exportArchitecture } from '../ir/architecture.ts';
import { type SearchSpace, ssGen } from '../ir/space.ts';
import { type AnyStrategy, type Direction, type StrategyError, spaceFingerprint } from '../search/strategy.ts';
import { type CurvePoint, type MedianStopOptions, bestOf, checkMedianStopRule, medianStop, medianStopRule } from './early-stop.ts';
import {
  type EpochReport,
  type ExperimentInfo,
  type LogError,
  type PendingTrial,
  type SavedState,
  type TrialRecord,
  appendTrialRecord,
  logPaths,
  writeJsonAtomic,
} from './experiment-log.ts';
import { observedObjective, openExperiment, planResume } from './trials-resume.ts';
import type { RunError, SearchEvent } from './trial-events.ts';

export { planResume };

// ---------------------------------------------------------------------------------------------------------
// The contract with the caller

/** What an evaluation returns: the objective the strategy optimises, other metrics, and optional costs. */
export interface TrialMetrics {
  readonly objective: number;
  readonly metrics: Readonly<Record<string, number>>;
  readonly params?: number;
  readonly flops?: number;
}

/** One trial as the evaluation sees it. */
export interface TrialContext {
  readonly id: number;
  readonly arch: Architecture;
  /** Aborted when the runner stops the trial (median rule) or the whole search is aborted. */
  readonly signal: AbortSignal;
  /**
   * Reports the metrics after an epoch; the answer is the runner's early-stop decision. On 'stop' the signal is
   * aborted too: return the metrics reached so far, or throw (the trial is recorded as stopped either way).
   */
  readonly report: (epoch: number, metrics: Readonly<Record<string, number>>) => 'continue' | 'stop';
}

/** Trains and evaluates one architecture. A throw or a non-finite objective records the trial as failed. */
export type Evaluate = (trial: TrialContext) => Promise<TrialMetrics>;

export type { RunError, SearchEvent } from './trial-events.ts';

/** Options of `runSearch`. */
export interface SearchOptions {
  readonly space: SearchSpace;
  readonly strategy: AnyStrategy;
  readonly evaluate: Evaluate;
  /** The budget: how many trials are proposed in all (failed and stopped ones count). */
  readonly trials: number;
  /** Trials in flight at once (default 1). */
  readonly concurrency?: number;
  readonly seed: number;
  /** The experiment directory (created when missing); a fresh search refuses one that already holds a log. */
  readonly logDir: string;
  /** Continue the search logged in `logDir` (same space, strategy, options and seed; the budget may change). */
  readonly resume?: boolean;
  /** Stop hopeless trials with the median rule. */
  readonly earlyStop?: MedianStopOptions;
  /** Called synchronously on every event; a throw propagates out of `runSearch`. */
  readonly onEvent?: (event: SearchEvent) => void;
  /** Aborts the search: trials in flight are aborted, not recorded, and run again by a later resume. */
  readonly signal?: AbortSignal;
}

/** The outcome of a search. */
export interface SearchResult {
  /** Every finished trial, best first (see `rankTrials`). */
  readonly ranked: readonly TrialRecord[];
  /** The best succeeded trial, null when none succeeded. */
  readonly best: TrialRecord | null;
  /** The strategy has nothing left to propose (the space is used up). */
  readonly exhausted: boolean;
  /** The search was aborted through `signal` before its budget was spent. */
  readonly aborted: boolean;
}

// ---------------------------------------------------------------------------------------------------------
// Pure decisions

const statusRank = { succeeded: 0, stopped: 1, failed: 2 } as const;

/**
 * Finished trials best first: succeeded trials by objective (direction-aware), then stopped ones by the
 * objective they reached, then failed ones; ties in id order.
 *
 * @example
 * rankTrials('minimize', records)[0]; // the succeeded trial with the lowest objective
 */
export const rankTrials = (direction: Direction, records: readonly TrialRecord[]): readonly TrialRecord[] =>
  [...records].sort((a, b) => {
    if (a.status !== b.status) return statusRank[a.status] - statusRank[b.status];
    const x = a.objective ?? Number.NaN;
    const y = b.objective ?? Number.NaN;
    const fx = Number.isFinite(x);
    const fy = Number.isFinite(y);
    if (fx && fy && x !== y) return direction === 'maximize' ? y - x : x - y;
    if (fx !== fy) return fx ? -1 : 1;
    return a.id - b.id;
  });

/** The best succeeded trial (the first of `rankTrials`), or null. */
export const bestTrial = (direction: Direction, records: readonly TrialRecord[]): TrialRecord | null => {
  const first = rankTrials(direction, records)[0];
  return first !== undefined && first.status === 'succeeded' ? first : null;
};

/**
 * The time left, from this run's pace when a trial has finished in it (elapsed / finished, which accounts for
 * concurrency), else from earlier trials' mean wall time divided by the concurrency; null with neither.
 *
 * @example
 * estimateEtaMs({ remaining: 10, finishedThisRun: 2, elapsedMs: 4000, concurrency: 1, pastWallTimesMs: [] }); // 20000
 */
export const estimateEtaMs = (p: {
  readonly remaining: number;
  readonly finishedThisRun: number;
  readonly elapsedMs: number;
  readonly concurrency: number;
  readonly pastWallTimesMs: readonly number[];
}): number | null => {
  if (p.remaining <= 0) return 0;
  if (p.finishedThisRun > 0) return (p.elapsedMs / p.finishedThisRun) * p.remaining;
  if (p.pastWallTimesMs.length === 0) return null;
  const mean = p.pastWallTimesMs.reduce((s, x) => s + x, 0) / p.pastWallTimesMs.length;
  return (mean * p.remaining) / p.concurrency;
};

/** The points of the compared metric in a curve. */
const metricCurve = (metric: string, curve: readonly EpochReport[]): readonly CurvePoint[] =>
  curve.flatMap((p) => {
    const v = p.metrics[metric];
    return v === undefined ? [] : [{ epoch: p.epoch, value: v }];
  });

const errorText = (e: unknown): string => (e instanceof Error ? e.message : typeof e === 'string' ? e : JSON.stringify(e) ?? String(e));

/** Options whose values the runner itself checks, every error collected. */
const checkOptions = (o: SearchOptions): readonly RunError[] => {
  const bad = (option: string, ok: boolean, message: string): readonly RunError[] => (ok ? [] : [{ tag: 'BadOption', option, message }]);
  return [
    ...bad('trials', Number.isInteger(o.trials) && o.trials >= 0, `option 'trials' must be an integer ≥ 0, got ${o.trials}`),
    ...bad('concurrency', o.concurrency === undefined || (Number.isInteger(o.concurrency) && o.concurrency >= 1), `option 'concurrency' must be an integer ≥ 1, got ${o.concurrency}`),
    ...bad('seed', Number.isInteger(o.seed), `option 'seed' must be an integer, got ${o.seed}`),
    ...(o.earlyStop === undefined ? [] : checkMedianStopRule(medianStopRule(o.earlyStop)).map((message): RunError => ({ tag: 'BadOption', option: 'earlyStop', message }))),
  ];
};

// ---------------------------------------------------------------------------------------------------------
// The runner

/** A log write failed mid-search: the search stops and reports it. */
class LogWriteFailed extends Error {
  constructor(readonly errors: readonly RunError[]) {
    super(errors.map((e) => e.message).join('; '));
  }
}

const orThrow = (r: E.Either<readonly LogError[], unknown>): void => {
  if (E.isLeft(r)) throw new LogWriteFailed(r.left);
};

type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

interface Running {
  readonly trial: PendingTrial;
  readonly controller: AbortController;
  readonly curve: EpochReport[];
  readonly startedAt: string;
  readonly t0: number;
  stopRequested: boolean;
  finished: boolean;
  readonly done: Promise<{ readonly id: number; readonly outcome: Outcome }>;
}

/** The record of a settled trial (see `Evaluate` for what counts as failed). */
const recordOf = (space: SearchSpace, direction: Direction, metric: string, run: Running, outcome: Outcome): TrialRecord => {
  const value = outcome.ok ? (outcome.value as Partial<TrialMetrics> | null | undefined) : undefined;
  const objective = typeof value?.objective === 'number' ? value.objective : undefined;
  const verdict = ((): Pick<TrialRecord, 'status' | 'objective' | 'error'> => {
    if (run.stopRequested) {
      // Stopped by the median rule: keep what the trial reached, its returned objective or its best report.
      const reached = objective !== undefined && Number.isFinite(objective) ? objective : bestOf(direction, metricCurve(metric, run.curve));
      return { status: 'stopped', objective: reached ?? null, error: null };
    }
    if (!outcome.ok) return { status: 'failed', objective: null, error: errorText(outcome.error) };
    if (objective === undefined) return { status: 'failed', objective: null, error: `evaluate returned no numeric objective (got ${JSON.stringify(outcome.value)})` };
    if (!Number.isFinite(objective)) return { status: 'failed', objective: null, error: `the objective is ${objective}` };
    return { status: 'succeeded', objective, error: null };
  })();
  // Fields in reading order: what a person looks for first comes first on the line.
  return {
    id: run.trial.id,
    status: verdict.status,
    objective: verdict.objective,
    architecture: exportArchitecture(space, run.trial.arch),
    arch: run.trial.arch,
    metrics: value?.metrics ?? {},
    params: typeof value?.params === 'number' ? value.params : null,
    flops: typeof value?.flops === 'number' ? value.flops : null,
    wallTimeMs: performance.now() - run.t0,
    error: verdict.error,
    startedAt: run.startedAt,
    finishedAt: new Date().toISOString(),
    curve: run.curve,
  };
};

/**
 * Runs (or resumes) a search: see the module comment. Right with the ranked trials once the budget is spent, the
 * space is used up, or `signal` aborted it; left, before any trial runs, when the strategy refuses the space,
 * an option is out of range, or the log cannot be resumed (every error collected), or when a log write fails.
 */
export const runSearch = async (o: SearchOptions): Promise<E.Either<readonly RunError[], SearchResult>> => {
  const optionErrors = [...checkOptions(o), ...o.strategy.check(o.space)];
  if (optionErrors.length > 0) return E.left(optionErrors);
  const emit = (e: SearchEvent): void => o.onEvent?.(e);
  const direction = o.strategy.direction;
  const concurrency = o.concurrency ?? 1;
  const rule = o.earlyStop === undefined ? undefined : medianStopRule(o.earlyStop);
  const metric = rule?.metric ?? 'objective';
  const paths = logPaths(o.logDir);
  const info: ExperimentInfo = {
    version: 1,
    space: spaceFingerprint(o.space),
    spaceSize: o.space.size.toString(),
    searchSpace: ssGen(o.space),
    strategy: o.strategy.name,
    options: o.strategy.options,
    direction,
    seed: o.seed,
    budget: o.trials,
    createdAt: new Date().toISOString(),
  };
  const loaded = openExperiment(paths, info, o, o.resume === true, emit);
  if (E.isLeft(loaded)) return loaded;

  let { state, rng, nextId, exhausted } = loaded.right;
  let pending: readonly PendingTrial[] = loaded.right.pending;
  const records: TrialRecord[] = [...loaded.right.records];
  const rerunQueue: PendingTrial[] = [...loaded.right.rerun];
  const running = new Map<number, Running>();
  const t0 = performance.now();
  let finishedThisRun = 0;
  let best = bestTrial(direction, records);
  const aborted = (): boolean => o.signal?.aborted === true;

  const save = (): void =>
    orThrow(writeJsonAtomic(paths.state, { version: 1, strategy: o.strategy.encodeState(state), rng, nextId, pending, exhausted } satisfies SavedState, 0));

  const launch = (trial: PendingTrial, rerun: boolean): void => {
    const controller = new AbortController();
    const curve: EpochReport[] = [];
    emit({ type: 'trial-started', id: trial.id, arch: trial.arch, rerun });
    const run: Running = {
      trial,
      controller,
      curve,
      startedAt: new Date().toISOString(),
      t0: performance.now(),
      stopRequested: false,
      finished: false,
      done: Promise.resolve().then(() =>
        o.evaluate({ id: trial.id, arch: trial.arch, signal: controller.signal, report: (epoch, metrics) => report(run, epoch, metrics) }),
      ).then(
        (value): { id: number; outcome: Outcome } => ({ id: trial.id, outcome: { ok: true, value } }),
        (error: unknown): { id: number; outcome: Outcome } => ({ id: trial.id, outcome: { ok: false, error } }),
      ),
    };
    running.set(trial.id, run);
  };

  const report = (run: Running, epoch: number, metrics: Readonly<Record<string, number>>): 'continue' | 'stop' => {
    if (run.finished || run.stopRequested || run.controller.signal.aborted) return 'stop';
    run.curve.push({ epoch, metrics: { ...metrics } });
    let decision: 'continue' | 'stop' = 'continue';
    if (rule !== undefined && metrics[rule.metric] !== undefined) {
      const others = records.filter((r) => r.status !== 'failed').map((r) => metricCurve(rule.metric, r.curve));
      decision = medianStop(rule, direction, metricCurve(rule.metric, run.curve), others);
    }
    emit({ type: 'trial-epoch', id: run.trial.id, epoch, metrics, decision });
    if (decision === 'stop') {
      run.stopRequested = true;
      run.controller.abort(new Error(`trial ${run.trial.id} stopped early by the median rule at epoch ${epoch}`));
    }
    return decision;
  };

  /** Keeps `concurrency` trials in flight: re-runs first, then new proposals while the budget lasts. */
  const fill = (): void => {
    while (!aborted() && running.size < concurrency && rerunQueue.length > 0) launch(rerunQueue.shift()!, true);
    while (!aborted() && !exhausted) {
      const n = Math.min(concurrency - running.size, o.trials - nextId);
      if (n <= 0) return;
      const p = o.strategy.propose(o.space, state, n, rng);
      const fresh = p.archs.map((arch, i) => ({ id: nextId + i, arch }));
      state = p.state;
      rng = p.rng;
      nextId += fresh.length;
      // Nothing new while trials are in flight may change once they are observed; with none in flight it cannot.
      exhausted = p.exhausted || (fresh.length === 0 && running.size === 0);
      pending = [...pending, ...fresh];
      save(); // before the trials start: a crash from here on re-runs them, never re-proposes
      for (const t of fresh) launch(t, false);
      if (fresh.length < n) return;
    }
  };

  const finish = (run: Running, outcome: Outcome): void => {
    const record = recordOf(o.space, direction, metric, run, outcome);
    orThrow(appendTrialRecord(paths.trials, record));
    records.push(record);
    finishedThisRun++;
    emit({ type: record.status === 'failed' ? 'trial-failed' : 'trial-finished', record });
    state = o.strategy.observe(o.space, state, [{ arch: record.arch, objective: observedObjective(record) }]);
    pending = pending.filter((p) => p.id !== record.id);
    save();
    const nextBest = bestTrial(direction, records);
    if (nextBest !== null && nextBest.id !== best?.id) emit({ type: 'best', record: nextBest });
    best = nextBest;
    const remaining = exhausted ? running.size + rerunQueue.length : Math.max(0, o.trials - records.length);
    const pastWallTimesMs = records.map((r) => r.wallTimeMs);
    const etaMs = estimateEtaMs({ remaining, finishedThisRun, elapsedMs: performance.now() - t0, concurrency, pastWallTimesMs });
    emit({ type: 'progress', finished: records.length, budget: o.trials, inFlight: running.size, best, etaMs });
  };

  const onAbort = (): void => {
    for (const r of running.values()) r.controller.abort(o.signal?.reason);
  };
  o.signal?.addEventListener('abort', onAbort);
  try {
    save(); // a resume's replayed observations are kept even if nothing else runs
    fill();
    while (running.size > 0) {
      const { id, outcome } = await Promise.race([...running.values()].map((r) => r.done));
      const run = running.get(id)!;
      running.delete(id);
      run.finished = true;
      if (aborted()) continue; // not recorded: still pending, so a resume runs it again
      finish(run, outcome);
      fill();
    }
  } catch (e) {
    if (!(e instanceof LogWriteFailed)) throw e;
    for (const r of running.values()) r.controller.abort(e);
    await Promise.all([...running.values()].map((r) => r.done));
    return E.left(e.errors);
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
  return E.right({ ranked: rankTrials(direction, records), best, exhausted, aborted: aborted() });
};
