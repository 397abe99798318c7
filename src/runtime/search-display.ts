/**
 * What a person sees while a classic search runs, and its final ranking. On a terminal one status line is
 * redrawn in place (trials done of the budget, trials running, the best so far, the ETA, the running trial's
 * epoch and step) and a permanent line is printed above it as each trial finishes; elsewhere (a pipe, a log
 * file, CI) only plain lines: one per finished trial, the progress after it, and each new best. The formatting
 * is pure functions; `searchDisplay` is the small effectful part that writes to a stream.
 *
 * @example
 * const display = searchDisplay(process.stderr, { budget: 12 });
 * const r = await runSearch({ ...options, onEvent: display.onEvent });
 * display.close();
 */
import type { TrialRecord } from './experiment-log.ts';
import { type ProgressSink, type ProgressStream, bar } from './progress.ts';
import type { SearchEvent } from './trials.ts';

// ---------------------------------------------------------------------------------------------------------
// Pure formatting

/**
 * A duration for people: `850ms`, `12.3s`, `2m05s`, `1h02m`.
 *
 * @example
 * formatDuration(125_000); // '2m05s'
 */
export const formatDuration = (ms: number): string => {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const totalS = Math.round(s);
  if (totalS < 3600) return `${Math.floor(totalS / 60)}m${String(totalS % 60).padStart(2, '0')}s`;
  const totalM = Math.round(totalS / 60);
  return `${Math.floor(totalM / 60)}h${String(totalM % 60).padStart(2, '0')}m`;
};

/**
 * A count with an SI suffix and three significant digits: `812`, `2.92k`, `1.25M`, `3.40G`.
 *
 * @example
 * formatCount(1_254_000); // '1.25M'
 */
export const formatCount = (n: number | null): string => {
  if (n === null || !Number.isFinite(n)) return '-';
  const units: readonly [number, string][] = [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [size, suffix] of units) if (Math.abs(n) >= size) return `${(n / size).toPrecision(3)}${suffix}`;
  return String(Math.round(n));
};

/** An objective in [0, 1] (an accuracy) as a percentage, anything else as a number; '-' for none. */
export const formatObjective = (x: number | null): string => {
  if (x === null) return '-';
  if (!Number.isFinite(x)) return String(x);
  return x >= 0 && x <= 1 ? `${(100 * x).toFixed(2)}%` : x.toPrecision(4);
};

/**
 * An architecture in NNI's export form on one line: `key=value` pairs, lists in brackets.
 *
 * @example
 * formatArchitecture({ conv1: 'conv5x5', skip: [] }); // 'conv1=conv5x5 skip=[]'
 */
export const formatArchitecture = (architecture: Readonly<Record<string, unknown>>): string =>
  Object.entries(architecture)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.join(',')}]` : String(v)}`)
    .join(' ');

/** Left-aligned text columns separated by two spaces (the last column is not padded). */
export const formatColumns = (header: readonly string[], rows: readonly (readonly string[])[]): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
};

/**
 * The ranked table of a search's trials (best first, as `rankTrials` orders them): rank, trial id, status,
 * objective, parameters, MACs per sample, wall time and the architecture (or the error of a failed trial).
 *
 * @example
 * io.out(`${formatRankedTable(result.ranked, 'valid acc')}\n`);
 */
export const formatRankedTable = (ranked: readonly TrialRecord[], objectiveName = 'objective'): string =>
  formatColumns(
    ['RANK', 'TRIAL', 'STATUS', objectiveName.toUpperCase(), 'PARAMS', 'MACS', 'TIME', 'ARCHITECTURE'],
    ranked.map((r, i) => [
      String(i + 1),
      `#${r.id}`,
      r.status,
      formatObjective(r.objective),
      formatCount(r.params),
      formatCount(r.flops),
      formatDuration(r.wallTimeMs),
      r.status === 'failed' ? `${formatArchitecture(r.architecture)}  error: ${r.error ?? ''}` : formatArchitecture(r.architecture),
    ]),
  );

/** The permanent line printed when a trial finishes. */
export const formatTrialLine = (r: TrialRecord, finished: number, budget: number): string => {
  const what =
    r.status === 'failed'
      ? `FAILED: ${r.error ?? 'unknown error'}`
      : `${r.status === 'stopped' ? 'stopped early, ' : ''}objective ${formatObjective(r.objective)}  params ${formatCount(r.params)}  MACs ${formatCount(r.flops)}`;
  return `trial #${r.id} (${finished}/${budget}) ${what}  ${formatDuration(r.wallTimeMs)}  ${formatArchitecture(r.architecture)}`;
};

/** What the status line shows. */
export interface StatusState {
  readonly finished: number;
  readonly budget: number;
  readonly running: readonly number[];
  readonly best: TrialRecord | null;
  readonly etaMs: number | null;
  /** The latest training progress of a running trial, e.g. 'epoch 1/2 [###.....] 40/128'. */
  readonly trial: string | null;
}

/**
 * The one-line summary of a search in progress.
 *
 * @example
 * formatStatus({ finished: 3, budget: 12, running: [3], best, etaMs: 130_000, trial: null });
 * // 'trials 3/12 done, 1 running  best 81.20% (#2)  ETA 2m10s'
 */
export const formatStatus = (s: StatusState): string => {
  const parts = [`trials ${s.finished}/${s.budget} done, ${s.running.length} running`];
  parts.push(s.best === null ? 'best -' : `best ${formatObjective(s.best.objective)} (#${s.best.id})`);
  parts.push(`ETA ${s.etaMs === null ? '?' : formatDuration(s.etaMs)}`);
  if (s.trial !== null) parts.push(s.trial);
  return parts.join('  ');
};

// ---------------------------------------------------------------------------------------------------------
// The display

/** A live display of a search (see the module comment). */
export interface SearchDisplay {
  /** Pass as `runSearch`'s `onEvent`. */
  readonly onEvent: (e: SearchEvent) => void;
  /** A training progress sink for trial `id` (its epochs and steps feed the status line). */
  readonly trialProgress: (id: number) => ProgressSink;
  /** A permanent line (e.g. 'stopping after the current epoch'). */
  readonly note: (text: string) => void;
  /** Clears the status line (call before printing the final results). */
  readonly close: () => void;
}

/**
 * A display on `stream`: redrawn on a TTY, plain lines otherwise. `now` (milliseconds) is injectable for tests.
 */
export const searchDisplay = (stream: ProgressStream, o: { readonly budget: number; readonly now?: () => number }): SearchDisplay => {
  const tty = stream.isTTY === true;
  const now = o.now ?? ((): number => performance.now());
  let state: StatusState = { finished: 0, budget: o.budget, running: [], best: null, etaMs: null, trial: null };
  let drawn = false;
  let lastDraw = -Infinity;
  // The runner estimates the ETA when a trial finishes; between two, the display counts it down.
  let etaSetAt = now();

  const clear = (): void => {
    if (drawn) stream.write('\r\x1b[2K');
    drawn = false;
  };
  const draw = (force: boolean): void => {
    if (!tty) return;
    const t = now();
    if (!force && t - lastDraw < 100) return;
    lastDraw = t;
    // A width under 20 is a terminal that does not know its size (some report 0), not a usable one.
    const width = (stream.columns ?? 0) >= 20 ? stream.columns! : 100;
    const etaMs = state.etaMs === null ? null : Math.max(0, state.etaMs - (t - etaSetAt));
    stream.write(`\r\x1b[2K${formatStatus({ ...state, etaMs }).slice(0, Math.max(10, width - 1))}`);
    drawn = true;
  };
  const line = (text: string): void => {
    clear();
    stream.write(`${text}\n`);
    draw(true);
  };

  const onEvent = (e: SearchEvent): void => {
    switch (e.type) {
      case 'resumed':
        line(`resuming: ${e.finished} trials finished earlier${e.replayed.length > 0 ? `, ${e.replayed.length} recovered from the log` : ''}${e.rerun.length > 0 ? `, ${e.rerun.length} interrupted (run again: #${e.rerun.join(', #')})` : ''}`);
        state = { ...state, finished: e.finished };
        return;
      case 'warning':
        line(`warning: ${e.message}`);
        return;
      case 'trial-started':
        state = { ...state, running: [...state.running, e.id] };
        if (!tty) stream.write(`trial #${e.id} started${e.rerun ? ' (run again after an interruption)' : ''}\n`);
        draw(true);
        return;
      case 'trial-epoch':
        if (!tty) stream.write(`  trial #${e.id} epoch ${e.epoch}: ${Object.entries(e.metrics).filter(([k]) => k !== 'seconds').map(([k, v]) => `${k} ${v.toFixed(4)}`).join('  ')}${e.decision === 'stop' ? '  -> stopped by the median rule' : ''}\n`);
        return;
      case 'trial-finished':
      case 'trial-failed':
        state = { ...state, running: state.running.filter((id) => id !== e.record.id), trial: null };
        line(formatTrialLine(e.record, state.finished + 1, state.budget));
        return;
      case 'best':
        if (!tty) stream.write(`new best: trial #${e.record.id} ${formatObjective(e.record.objective)}\n`);
        return;
      case 'progress':
        state = { ...state, finished: e.finished, budget: e.budget, best: e.best, etaMs: e.etaMs };
        etaSetAt = now();
        if (!tty) stream.write(`${formatStatus({ ...state, trial: null })}\n`);
        draw(true);
        return;
      default: {
        const never: never = e;
        return never;
      }
    }
  };

  const trialProgress = (id: number): ProgressSink => {
    let label = '';
    return {
      epochStart: (epoch, epochs) => {
        label = `#${id} epoch ${epoch}/${epochs}`;
        state = { ...state, trial: label };
        draw(true);
      },
      step: (done, steps) => {
        if (!tty) return;
        state = { ...state, trial: `${label} ${bar(done / steps, 16)} ${done}/${steps}` };
        draw(done === steps);
      },
      epochEnd: () => undefined, // the runner's 'trial-epoch' event reports it
      note: (text) => line(`trial #${id}: ${text}`),
    };
  };

  return { onEvent, trialProgress, note: line, close: clear };
};
