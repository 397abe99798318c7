/**
 * The NAS UI's view models: what each page view shows, built by pure functions from a run directory's decoded
 * files (`RunFiles`, read by `load.ts`). The server sends these as JSON; `nasgraph report` inlines them. Numbers
 * that are not finite are `null` ("no value") so that they survive JSON.
 *
 * @example
 * const summary = runSummary(files, Date.now());
 * const trials = trialsView(files);   // rows, history with the running best, parallel coordinates
 * const weights = weightsView(files, decisions); // per key: candidates' distribution per epoch
 */
import type { ExperimentInfo, ExportedArch, HistoryRow, RunResult, RunSettings, SavedState, TrialRecord } from './decode.ts';

/** The decoded files of one run directory; a file absent or undecodable is undefined (and named in `problems`). */
export interface RunFiles {
  /** The directory's id: its path relative to the root it was found under (the root's own name when it is one). */
  readonly id: string;
  readonly dir: string;
  readonly settings?: RunSettings | undefined;
  readonly experiment?: ExperimentInfo | undefined;
  readonly trials: readonly TrialRecord[];
  readonly state?: SavedState | undefined;
  readonly history?: readonly HistoryRow[] | undefined;
  readonly arch?: ExportedArch | undefined;
  readonly result?: RunResult | undefined;
  /** Unreadable files and corrupt lines, one line each. */
  readonly problems: readonly string[];
  /** The last modification of any run file (ms since the epoch), and the first. */
  readonly lastWriteMs: number;
  readonly firstWriteMs: number;
  /** True when a file named the model (result.json) or the server was told it, so the graph can be built. */
  readonly model?: string | undefined;
}

/** The status of a run: writing now, done, stopped before its end, or ended without a result. */
export type RunStatus = 'running' | 'finished' | 'interrupted' | 'failed';

/** One row of the Experiments view. */
export interface RunSummary {
  readonly id: string;
  readonly dir: string;
  readonly kind: 'classic' | 'oneshot';
  readonly model: string | null;
  readonly strategy: string;
  readonly status: RunStatus;
  /** Classic: the best objective (validation accuracy); one-shot: the derived architecture's validation accuracy. */
  readonly best: number | null;
  /** The retrained architecture's test accuracy, when retrained. */
  readonly testAccuracy: number | null;
  readonly bestArchitecture: ExportedArch | null;
  /** Trials logged (classic) or epochs recorded (one-shot), and the budget of either. */
  readonly progress: number;
  readonly budget: number | null;
  readonly elapsedSeconds: number | null;
  readonly updatedAt: string;
  readonly settings: Readonly<Record<string, unknown>>;
  readonly problems: readonly string[];
}

/** A directory given to the UI (or found under one) that holds no search, with the reason. */
export interface NotAnExperiment {
  readonly id: string;
  readonly dir: string;
  readonly reason: string;
}

/** A run counts as running while some file changed within this window (a trial or an epoch may take minutes). */
export const LIVE_WINDOW_MS = 10 * 60 * 1000;

const finite = (x: number | null | undefined): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);

/** Whether the run is one-shot (search.json says so, or it has history.json and no trial log). */
export const isOneShotRun = (f: RunFiles): boolean => f.settings?.kind === 'oneshot' || (f.history !== undefined && f.experiment === undefined && f.trials.length === 0);

const maximize = (f: RunFiles): boolean => f.experiment?.direction !== 'minimize';

/** The best of the logged trials (succeeded or stopped, with a finite objective), by the experiment's direction. */
export const bestTrial = (f: RunFiles): TrialRecord | null => {
  const sign = maximize(f) ? 1 : -1;
  let best: TrialRecord | null = null;
  for (const r of f.trials) {
    const v = finite(r.objective);
    if (r.status === 'failed' || v === null) continue;
    if (best === null || sign * v > sign * (best.objective as number)) best = r;
  }
  return best;
};

/**
 * The status of a run at time `nowMs`: finished with a result.json; running while a file changed within
 * `LIVE_WINDOW_MS`; otherwise failed when its whole budget ran without a result (e.g. no trial succeeded), else
 * interrupted (resume it with --resume).
 */
export const runStatus = (f: RunFiles, nowMs: number, liveWindowMs = LIVE_WINDOW_MS): RunStatus => {
  if (f.result !== undefined) return 'finished';
  if (nowMs - f.lastWriteMs <= liveWindowMs) return 'running';
  const { progress, budget } = runProgress(f);
  return budget !== null && progress >= budget ? 'failed' : 'interrupted';
};

const runProgress = (f: RunFiles): { progress: number; budget: number | null } =>
  isOneShotRun(f)
    ? { progress: (f.history ?? []).filter((h) => f.settings?.epochs === undefined || h.epoch <= f.settings.epochs).length, budget: f.settings?.epochs ?? null }
    : { progress: f.trials.length, budget: f.settings?.trials ?? f.experiment?.budget ?? null };

/** The Experiments view's row of a run at time `nowMs`. */
export const runSummary = (f: RunFiles, nowMs: number): RunSummary => {
  const oneShot = isOneShotRun(f);
  const { progress, budget } = runProgress(f);
  const lastEntry = f.history?.[f.history.length - 1];
  const best = oneShot ? finite(f.result?.validAccuracy ?? lastEntry?.metrics['validAccuracy']) : finite(bestTrial(f)?.objective);
  const bestArchitecture = oneShot ? (f.arch ?? null) : (bestTrial(f)?.architecture as ExportedArch | undefined) ?? f.result?.best?.architecture ?? null;
  const searchSeconds = finite(f.result?.searchSeconds);
  const elapsedSeconds =
    searchSeconds ??
    (oneShot
      ? (f.history ?? []).reduce<number | null>((s, h) => (finite(h.metrics['seconds']) === null ? s : (s ?? 0) + (h.metrics['seconds'] as number)), null)
      : f.trials.length > 0
        ? Math.max(0, (Date.parse(f.trials.map((r) => r.finishedAt).sort().at(-1)!) - Date.parse(f.experiment?.createdAt ?? f.trials[0]!.startedAt)) / 1000)
        : null);
  return {
    id: f.id,
    dir: f.dir,
    kind: oneShot ? 'oneshot' : 'classic',
    model: f.model ?? f.result?.model ?? null,
    strategy: f.settings?.strategy ?? f.experiment?.strategy ?? f.result?.strategy ?? 'unknown',
    status: runStatus(f, nowMs),
    best,
    testAccuracy: f.result?.retrain ? finite(f.result.retrain.testAccuracy) : null,
    bestArchitecture,
    progress,
    budget,
    elapsedSeconds: elapsedSeconds === null || Number.isNaN(elapsedSeconds) ? null : elapsedSeconds,
    updatedAt: new Date(f.lastWriteMs).toISOString(),
    settings: { ...(f.settings ?? {}) },
    problems: f.problems,
  };
};

// ---------------------------------------------------------------------------------------------------------
// Trials (classic)

/** A decision's candidates as the UI labels them. */
export interface DecisionInfo {
  readonly key: string;
  readonly kind: 'layer' | 'input';
  readonly names: readonly string[];
}

/** One row of the trial grid. */
export interface TrialRow {
  readonly id: number;
  readonly status: 'succeeded' | 'stopped' | 'failed' | 'running';
  /** Per key, the chosen candidates as text (names, or indices for unnamed inputs). */
  readonly architecture: Readonly<Record<string, string>>;
  /** Canonical: chosen candidate indices per key. */
  readonly arch: Readonly<Record<string, readonly number[]>>;
  readonly value: number | null;
  readonly params: number | null;
  readonly macs: number | null;
  readonly durationMs: number | null;
  readonly error: string | null;
  /** The objective (validation accuracy) reported after each epoch. */
  readonly curve: readonly { readonly epoch: number; readonly value: number | null }[];
}

/** One axis of the parallel coordinates: a decision, its categories (the values seen) in order. */
export interface ParallelAxis {
  readonly key: string;
  readonly categories: readonly string[];
}

/** The Trials view. */
export interface TrialsView {
  readonly direction: 'maximize' | 'minimize';
  readonly decisions: readonly DecisionInfo[];
  readonly rows: readonly TrialRow[];
  /** The optimization history: trials by id with a finite value, and the best so far after each. */
  readonly history: readonly { readonly id: number; readonly value: number; readonly best: number }[];
  readonly axes: readonly ParallelAxis[];
}

const archText = (v: string | number | readonly (string | number)[]): string => (Array.isArray(v) ? `[${v.join(', ')}]` : String(v));

/** The decisions of a classic run: from experiment.json's NNI search space, else from the trials' keys. */
export const classicDecisions = (f: RunFiles): readonly DecisionInfo[] => {
  const ss = f.experiment?.searchSpace;
  if (ss !== null && typeof ss === 'object') {
    const out: DecisionInfo[] = [];
    for (const [key, v] of Object.entries(ss as Record<string, unknown>)) {
      const e = v as { _type?: unknown; _value?: unknown };
      // 'choice': a value choice (candidates named by their values' text).
      if ((e._type === 'layer_choice' || e._type === 'choice') && Array.isArray(e._value)) out.push({ key, kind: 'layer', names: e._value.map(String) });
      else if (e._type === 'input_choice' && typeof e._value === 'object' && e._value !== null) {
        const c = (e._value as { candidates?: unknown }).candidates;
        out.push({ key, kind: 'input', names: Array.isArray(c) ? c.map((n, i) => (String(n) === '' ? String(i) : String(n))) : [] });
      }
    }
    if (out.length > 0) return out;
  }
  const keys = new Set<string>();
  for (const r of f.trials) for (const k of Object.keys(r.arch)) keys.add(k);
  return [...keys].map((key) => ({ key, kind: 'layer' as const, names: [] }));
};

const labelOf = (d: DecisionInfo | undefined, indices: readonly number[]): string => {
  const name = (i: number): string => d?.names[i] ?? String(i);
  return d?.kind === 'layer' && indices.length === 1 ? name(indices[0]!) : `[${indices.map(name).join(', ')}]`;
};

/** The Trials view of a classic run: the grid rows (trials in flight too), the history and the parallel axes. */
export const trialsView = (f: RunFiles): TrialsView => {
  const decisions = classicDecisions(f);
  const byKey = new Map(decisions.map((d) => [d.key, d]));
  const direction = maximize(f) ? 'maximize' : 'minimize';
  const done = new Set(f.trials.map((r) => r.id));
  const rows: TrialRow[] = f.trials.map((r) => ({
    id: r.id,
    status: r.status,
    architecture: Object.fromEntries(Object.entries(r.architecture).map(([k, v]) => [k, archText(v)])),
    arch: r.arch,
    value: finite(r.objective),
    params: finite(r.params),
    macs: finite(r.flops),
    durationMs: finite(r.wallTimeMs),
    error: r.error,
    curve: r.curve.map((c) => ({ epoch: c.epoch, value: finite(c.metrics['objective'] ?? c.metrics['validAccuracy']) })),
  }));
  for (const p of f.state?.pending ?? []) {
    if (done.has(p.id)) continue;
    rows.push({
      id: p.id,
      status: 'running',
      architecture: Object.fromEntries(Object.entries(p.arch).map(([k, v]) => [k, labelOf(byKey.get(k), v)])),
      arch: p.arch,
      value: null,
      params: null,
      macs: null,
      durationMs: null,
      error: null,
      curve: [],
    });
  }
  rows.sort((a, b) => a.id - b.id);
  const sign = direction === 'maximize' ? 1 : -1;
  const history: { id: number; value: number; best: number }[] = [];
  for (const r of rows) {
    if (r.value === null || r.status === 'failed' || r.status === 'running') continue;
    const prev = history.at(-1)?.best;
    history.push({ id: r.id, value: r.value, best: prev === undefined || sign * r.value > sign * prev ? r.value : prev });
  }
  const axes: ParallelAxis[] = decisions.map((d) => {
    const seen = new Set(rows.map((r) => r.architecture[d.key]).filter((v): v is string => v !== undefined));
    const ordered = d.kind === 'layer' && d.names.length > 0 ? d.names.filter((n) => seen.has(n)).concat([...seen].filter((s) => !d.names.includes(s))) : [...seen].sort();
    return { key: d.key, categories: ordered };
  });
  return { direction, decisions, rows, history, axes };
};

// ---------------------------------------------------------------------------------------------------------
// Architecture weights over time (one-shot)

/** One decision's distribution over its candidates per epoch. */
export interface KeyWeights {
  readonly key: string;
  readonly names: readonly string[];
  readonly epochs: readonly number[];
  /** `series[c][e]`: candidate c's weight at epochs[e] (null where not recorded). */
  readonly series: readonly (readonly (number | null)[])[];
  /** The derived architecture's chosen indices per epoch. */
  readonly chosen: readonly (readonly number[])[];
}

/** The Architecture-weights view. */
export interface WeightsView {
  readonly epochs: readonly number[];
  readonly keys: readonly KeyWeights[];
  /** Per epoch, each metric recorded (validAccuracy: the derived architecture's with the shared weights). */
  readonly metrics: Readonly<Record<string, readonly (number | null)[]>>;
}

/** The Architecture-weights view of a one-shot run; candidate names from `decisions` (else indices). */
export const weightsView = (f: RunFiles, decisions: readonly DecisionInfo[] = []): WeightsView => {
  const hist = [...(f.history ?? [])].sort((a, b) => a.epoch - b.epoch);
  const epochs = hist.map((h) => h.epoch);
  const keys = new Set<string>();
  for (const h of hist) for (const k of Object.keys(h.distribution)) keys.add(k);
  const names = new Map(decisions.map((d) => [d.key, d.names]));
  const out: KeyWeights[] = [...keys].map((key) => {
    const width = Math.max(names.get(key)?.length ?? 0, ...hist.map((h) => h.distribution[key]?.length ?? 0));
    const series = Array.from({ length: width }, (_, c) => hist.map((h) => finite(h.distribution[key]?.[c])));
    return {
      key,
      // One weight past the named candidates is DARTS' zero op (alphas.ts: extraZero), which has no node of its own.
      names: Array.from({ length: width }, (_, c) => names.get(key)?.[c] || (c > 0 && c === names.get(key)?.length ? 'zero op' : String(c))),
      epochs,
      series,
      chosen: hist.map((h) => h.arch[key] ?? []),
    };
  });
  const metricNames = new Set<string>();
  for (const h of hist) for (const m of Object.keys(h.metrics)) metricNames.add(m);
  const metrics = Object.fromEntries([...metricNames].map((m) => [m, hist.map((h) => finite(h.metrics[m]))]));
  return { epochs, keys: out, metrics };
};

// ---------------------------------------------------------------------------------------------------------
// Training curves

/** The Training-curves view: the retrain's metrics per epoch, and (one-shot) the supernet's per search epoch. */
export interface CurvesView {
  readonly retrain: { readonly epochs: readonly number[]; readonly metrics: Readonly<Record<string, readonly (number | null)[]>> } | null;
  readonly testAccuracy: number | null;
  readonly testLoss: number | null;
  readonly search: { readonly epochs: readonly number[]; readonly metrics: Readonly<Record<string, readonly (number | null)[]>> } | null;
}

/** The Training-curves view of a run. */
export const curvesView = (f: RunFiles): CurvesView => {
  const hist = f.result?.retrain?.history ?? [];
  const names = new Set<string>();
  for (const h of hist) for (const k of Object.keys(h)) if (k !== 'epoch' && !k.endsWith('seconds') && k !== 'seconds') names.add(k);
  const retrain =
    hist.length === 0
      ? null
      : { epochs: hist.map((h, i) => finite(h['epoch']) ?? i + 1), metrics: Object.fromEntries([...names].map((m) => [m, hist.map((h) => finite(h[m]))])) };
  const w = isOneShotRun(f) && (f.history ?? []).length > 0 ? weightsView(f) : null;
  const search = w === null ? null : { epochs: w.epochs, metrics: Object.fromEntries(Object.entries(w.metrics).filter(([k]) => k !== 'seconds' && k !== 'stage')) };
  return {
    retrain,
    testAccuracy: f.result?.retrain ? finite(f.result.retrain.testAccuracy) : null,
    testLoss: f.result?.retrain ? finite(f.result.retrain.testLoss) : null,
    search,
  };
};
