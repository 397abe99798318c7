/**
 * Opening an experiment directory for `runSearch`: a fresh one (refusing a directory that already holds a log),
 * or a logged one to resume, checked against this search (same space, strategy, options and seed) and brought
 * up to date with what the crash left: a truncated last line of `trials.jsonl` is dropped, the strategy state and
 * the generator are restored, trials logged but not yet observed are observed from their records, and trials
 * that were in flight are returned to be run again (`planResume`, pure).
 *
 * @example
 * const opened = openExperiment(logPaths(dir), info, { space, strategy, seed }, true, onEvent);
 * // Either<readonly RunError[], OpenedExperiment>: the state to continue from and the trials to run again
 */
import * as fs from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import { canonicalJson } from '../ir/hash.ts';
import { type Rng, seedRng } from '../ir/rng.ts';
import type { SearchSpace } from '../ir/space.ts';
import type { AnyStrategy } from '../search/strategy.ts';
import {
  type ExperimentInfo,
  type LogPaths,
  type PendingTrial,
  type SavedState,
  type TrialRecord,
  experimentCodec,
  formatTrialRecord,
  readJsonFile,
  readTrialLog,
  savedStateCodec,
  truncateFile,
  writeJsonAtomic,
} from './experiment-log.ts';
import type { RunError, SearchEvent } from './trial-events.ts';

/** What opening needs of the search. */
interface Subject {
  readonly space: SearchSpace;
  readonly strategy: AnyStrategy;
  readonly seed: number;
}

/** The objective the strategy observes for a record: null for a failed trial. */
export const observedObjective = (r: TrialRecord): number | null => (r.status === 'failed' ? null : r.objective);

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * What a resume does with the trials `state.json` lists as pending: those `trials.jsonl` has a record of are
 * observed from it (`replay`, in log order), the others were in flight and run again (`rerun`, in proposal
 * order). A record the state does not account for (an id never proposed), or a proposed trial neither logged
 * nor pending, makes the log inconsistent.
 */
export const planResume = (
  saved: Pick<SavedState, 'nextId' | 'pending'>,
  records: readonly TrialRecord[],
): E.Either<readonly string[], { readonly replay: readonly TrialRecord[]; readonly rerun: readonly PendingTrial[] }> => {
  const pendingIds = new Set(saved.pending.map((p) => p.id));
  const done = new Set(records.map((r) => r.id));
  const errors = records.filter((r) => r.id >= saved.nextId || r.id < 0).map((r) => `trial ${r.id} is logged but was never proposed (the state's next id is ${saved.nextId})`);
  // Every proposed trial is logged or pending: a trial in neither was lost (a log edited or from another run).
  for (let id = 0; id < saved.nextId; id++) {
    if (!done.has(id) && !pendingIds.has(id)) errors.push(`trial ${id} was proposed but is neither logged nor in flight`);
  }
  return errors.length > 0
    ? E.left(errors)
    : E.right({ replay: records.filter((r) => pendingIds.has(r.id)), rerun: saved.pending.filter((p) => !done.has(p.id)) });
};

/** The differences between the logged experiment and this one that forbid resuming it. */
const resumeMismatches = (file: string, logged: ExperimentInfo, now: ExperimentInfo): readonly RunError[] => {
  const out: RunError[] = [];
  const differ = (field: string, what: string, a: unknown, b: unknown): void => {
    if (canonicalJson(a) !== canonicalJson(b)) {
      out.push({ tag: 'ResumeMismatch', field, message: `cannot resume ${file}: it was run with ${what} ${JSON.stringify(a)}, not ${JSON.stringify(b)}` });
    }
  };
  if (logged.space !== now.space) {
    out.push({ tag: 'ResumeMismatch', field: 'space', message: `cannot resume ${file}: it was run on another search space (its decisions differ from this model's)` });
  }
  differ('strategy', 'strategy', logged.strategy, now.strategy);
  if (logged.strategy === now.strategy) differ('options', `strategy options`, logged.options, now.options);
  differ('seed', 'seed', logged.seed, now.seed);
  return out;
};

/** Where a search continues from: the strategy state and generator, ids, and the trials to run again. */
export interface OpenedExperiment {
  readonly state: unknown;
  readonly rng: Rng;
  readonly nextId: number;
  readonly pending: readonly PendingTrial[];
  readonly exhausted: boolean;
  readonly records: readonly TrialRecord[];
  readonly rerun: readonly PendingTrial[];
}

/** Prepares a fresh experiment directory: refuses one holding a log, writes `experiment.json`. */
const startFresh = (paths: LogPaths, info: ExperimentInfo, o: Subject): E.Either<readonly RunError[], OpenedExperiment> => {
  const present = [paths.experiment, paths.trials, paths.state].filter((f) => fs.existsSync(f));
  if (present.length > 0) {
    return E.left([{ tag: 'LogExists', dir: paths.dir, message: `${paths.dir} already holds an experiment (${present.join(', ')}); resume it or choose another directory` }]);
  }
  try {
    fs.mkdirSync(paths.dir, { recursive: true });
  } catch (e) {
    return E.left([{ tag: 'LogIo', file: paths.dir, message: `${paths.dir}: ${errorText(e)}` }]);
  }
  const written = writeJsonAtomic(paths.experiment, info);
  if (E.isLeft(written)) return written;
  return E.right({ state: o.strategy.init(o.space), rng: seedRng(o.seed), nextId: 0, pending: [], exhausted: false, records: [], rerun: [] });
};

/** Replaces `file` with `text` atomically (a temp file renamed over it). */
const writeTextAtomic = (file: string, text: string): E.Either<readonly RunError[], void> => {
  try {
    fs.writeFileSync(`${file}.tmp`, text);
    fs.renameSync(`${file}.tmp`, file);
    return E.right(undefined);
  } catch (e) {
    return E.left([{ tag: 'LogIo', file, message: `${file}: ${errorText(e)}` }]);
  }
};

/** Reads a logged experiment back, checks it is this one, and replays what the crash left unobserved. */
const loadResume = (paths: LogPaths, info: ExperimentInfo, o: Subject, emit: (e: SearchEvent) => void): E.Either<readonly RunError[], OpenedExperiment> => {
  const logged = readJsonFile(experimentCodec, paths.experiment, 'experiment description');
  if (E.isLeft(logged)) return logged;
  if (logged.right === undefined) {
    return E.left([{ tag: 'NothingToResume', dir: paths.dir, message: `cannot resume ${paths.dir}: it holds no experiment (no ${paths.experiment})` }]);
  }
  const mismatches = resumeMismatches(paths.dir, logged.right, info);
  if (mismatches.length > 0) return E.left(mismatches);
  const log = readTrialLog(paths.trials);
  const saved = readJsonFile(savedStateCodec, paths.state, 'search state');
  if (E.isLeft(log) || E.isLeft(saved)) return E.left([...(E.isLeft(log) ? log.left : []), ...(E.isLeft(saved) ? saved.left : [])]);
  const records = log.right?.records ?? [];
  // The crash may have fallen between writing experiment.json and the first state: then nothing ran yet.
  if (saved.right === undefined && records.length > 0) {
    return E.left([{ tag: 'InconsistentLog', file: paths.state, message: `${paths.state} is missing, but ${paths.trials} holds ${records.length} trials` }]);
  }
  const s = saved.right ?? { version: 1, strategy: o.strategy.encodeState(o.strategy.init(o.space)), rng: seedRng(o.seed), nextId: 0, pending: [], exhausted: false };
  const decoded = o.strategy.decodeState(o.space, s.strategy);
  if (E.isLeft(decoded)) return E.left(decoded.left.map((e) => ({ ...e, message: `${paths.state}: ${e.message}` })));
  const plan = planResume(s, records);
  if (E.isLeft(plan)) return E.left(plan.left.map((m): RunError => ({ tag: 'InconsistentLog', file: paths.trials, message: `${paths.trials}: ${m}` })));

  // Every check passed: only now touch the files.
  if (logged.right.budget !== info.budget) {
    emit({ type: 'warning', message: `budget changed from ${logged.right.budget} to ${info.budget} trials` });
    const w = writeJsonAtomic(paths.experiment, { ...logged.right, budget: info.budget });
    if (E.isLeft(w)) return w;
  }
  if (log.right !== undefined && log.right.truncatedLine !== null) {
    emit({ type: 'warning', message: `${paths.trials}:${log.right.truncatedLine}: dropped a truncated last line (a write cut short by a crash); its trial runs again` });
  }
  if (log.right !== undefined && log.right.duplicates.length > 0) {
    // Two processes once ran on this directory (before it was locked): keep each trial's first record.
    for (const d of log.right.duplicates) {
      emit({ type: 'warning', message: `${paths.trials}:${d.line}: trial ${d.id} was logged twice (first on line ${d.first}); kept the first record, dropped this one` });
    }
    const rewrite = writeTextAtomic(paths.trials, records.map(formatTrialRecord).join(''));
    if (E.isLeft(rewrite)) return rewrite;
  } else if (log.right !== undefined && log.right.truncatedLine !== null) {
    const cut = truncateFile(paths.trials, log.right.validBytes);
    if (E.isLeft(cut)) return cut;
  }
  const replayed = plan.right.replay;
  const state = replayed.length === 0 ? decoded.right : o.strategy.observe(o.space, decoded.right, replayed.map((r) => ({ arch: r.arch, objective: observedObjective(r) })));
  const replayedIds = new Set(replayed.map((r) => r.id));
  const loaded: OpenedExperiment = { state, rng: s.rng, nextId: s.nextId, pending: s.pending.filter((p) => !replayedIds.has(p.id)), exhausted: s.exhausted, records, rerun: plan.right.rerun };
  emit({ type: 'resumed', finished: records.length, replayed: [...replayedIds], rerun: plan.right.rerun.map((p) => p.id) });
  return E.right(loaded);
};

/**
 * Opens `paths.dir` for a search described by `info`: fresh (`resume` false) or resumed. Every refusal is an
 * error naming the file or the field at fault, and nothing is written before every check has passed (then a
 * changed budget is recorded and a truncated last trial line is cut off).
 */
export const openExperiment = (
  paths: LogPaths,
  info: ExperimentInfo,
  subject: Subject,
  resume: boolean,
  emit: (e: SearchEvent) => void,
): E.Either<readonly RunError[], OpenedExperiment> => (resume ? loadResume(paths, info, subject, emit) : startFresh(paths, info, subject));
