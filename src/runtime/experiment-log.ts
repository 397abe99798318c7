/**
 * The on-disk log of a classic (trial-based) search, in one directory:
 *
 * - `experiment.json`: what the search is (space fingerprint, strategy name and options, seed, budget); written
 *   once, and checked on resume so that a log is never continued with another space or strategy.
 * - `trials.jsonl`: one JSON object per finished trial, appended as each trial completes (JSON Lines).
 * - `state.json`: the strategy state, the generator, the next trial id and the trials in flight, replaced
 *   atomically (temp file + rename) after every propose and every observe.
 *
 * Non-finite numbers (a NaN loss is a result worth keeping) are written as the strings "NaN", "Infinity" and
 * "-Infinity", since JSON has no literal for them. Every file is decoded with io-ts; a corrupt file gives an
 * error naming the file and, for the trial log, the line. A last line cut short by a crash is not an error: the
 * reader reports it so that the runner can warn, drop it and run that trial again.
 *
 * @example
 * const paths = logPaths('runs/exp1');
 * appendTrialRecord(paths.trials, record);
 * const log = readTrialLog(paths.trials); // Either<readonly LogError[], TrialLog | undefined>
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import type { Architecture } from '../ir/apply.ts';
import { architectureCodec, directionCodec, rngCodec } from '../search/strategy.ts';

// ---------------------------------------------------------------------------------------------------------
// Codecs

const nonFinite: Readonly<Record<string, number>> = { NaN: Number.NaN, Infinity: Number.POSITIVE_INFINITY, '-Infinity': Number.NEGATIVE_INFINITY };

/** A JSON number, or one of the strings "NaN", "Infinity", "-Infinity" standing for a non-finite number. */
export const jsonNumber = new t.Type<number, number | string, unknown>(
  'JsonNumber',
  (u): u is number => typeof u === 'number',
  (u, c) => (typeof u === 'number' ? t.success(u) : typeof u === 'string' && u in nonFinite ? t.success(nonFinite[u]!) : t.failure(u, c)),
  (n) => (Number.isFinite(n) ? n : String(n)),
);

const metricsCodec = t.record(t.string, jsonNumber);
const exportedValueCodec = t.union([t.string, t.number, t.readonlyArray(t.union([t.string, t.number]))]);

/** How a trial ended: trained to the end, stopped early by the median rule, or failed (error, NaN objective). */
export type TrialStatus = 'succeeded' | 'stopped' | 'failed';

/** One report of a running trial. */
export const epochReportCodec = t.readonly(t.type({ epoch: t.number, metrics: t.readonly(metricsCodec) }));
/** One report of a running trial: its epoch and the metrics at that epoch. */
export type EpochReport = t.TypeOf<typeof epochReportCodec>;

/** Decodes one line of `trials.jsonl`. */
export const trialRecordCodec = t.readonly(
  t.type({
    id: t.number,
    status: t.keyof({ succeeded: null, stopped: null, failed: null }),
    /** Canonical (ascending indices per key): what the strategy saw. */
    arch: architectureCodec,
    /** NNI's export format (`exportArchitecture`): what a person or NNI reads. */
    architecture: t.record(t.string, exportedValueCodec),
    /** Null for a failed trial; for a stopped trial, its final or best reported value. */
    objective: t.union([jsonNumber, t.null]),
    metrics: t.readonly(metricsCodec),
    curve: t.readonlyArray(epochReportCodec),
    params: t.union([t.number, t.null]),
    flops: t.union([t.number, t.null]),
    wallTimeMs: t.number,
    /** The error message of a failed trial, null otherwise. */
    error: t.union([t.string, t.null]),
    startedAt: t.string,
    finishedAt: t.string,
  }),
);
/** One finished trial as logged. */
export type TrialRecord = t.TypeOf<typeof trialRecordCodec>;

/** A trial proposed and started, not finished: what `state.json` keeps of the trials in flight. */
export const pendingTrialCodec = t.readonly(t.type({ id: t.number, arch: architectureCodec }));
/** A trial in flight. */
export interface PendingTrial {
  readonly id: number;
  readonly arch: Architecture;
}

/** Decodes `state.json`. */
export const savedStateCodec = t.readonly(
  t.type({
    version: t.literal(1),
    /** The strategy's `encodeState`; decoded by its `decodeState`. */
    strategy: t.unknown,
    rng: rngCodec,
    /** The id the next proposed trial gets; every id below it was proposed. */
    nextId: t.number,
    /** Proposed and not yet observed, in proposal order: run again on resume unless `trials.jsonl` has them. */
    pending: t.readonlyArray(pendingTrialCodec),
    /** The strategy said it will never propose again. */
    exhausted: t.boolean,
  }),
);
/** The contents of `state.json`. */
export type SavedState = t.TypeOf<typeof savedStateCodec>;

/** Decodes `experiment.json`. */
export const experimentCodec = t.readonly(
  t.type({
    version: t.literal(1),
    /** `spaceFingerprint` of the search space. */
    space: t.string,
    /** The number of architectures, as a decimal string (a bigint). */
    spaceSize: t.string,
    /** NNI's `ss_gen` form of the space, for a person reading the log without the model. */
    searchSpace: t.unknown,
    strategy: t.string,
    options: t.unknown,
    direction: directionCodec,
    seed: t.number,
    budget: t.number,
    createdAt: t.string,
  }),
);
/** The contents of `experiment.json`. */
export type ExperimentInfo = t.TypeOf<typeof experimentCodec>;

// ---------------------------------------------------------------------------------------------------------
// Errors

/** Why a log cannot be read or written; each names the file (and the line of the trial log). */
export type LogError =
  | { readonly tag: 'CorruptLog'; readonly file: string; readonly line: number | null; readonly message: string }
  | { readonly tag: 'LogIo'; readonly file: string; readonly message: string };

const corrupt = (file: string, line: number | null, what: string): LogError => ({
  tag: 'CorruptLog',
  file,
  line,
  message: `${file}${line === null ? '' : `:${line}`}: ${what}`,
});

const ioError = (file: string, e: unknown): LogError => ({
  tag: 'LogIo',
  file,
  message: `${file}: ${e instanceof Error ? e.message : String(e)}`,
});

/** Where each io-ts error is, as 'field a.b (got …)', at most five. */
const describeDecodeErrors = (errors: t.Errors): string => {
  const parts = errors.slice(0, 5).map((err) => {
    // A union adds an entry per alternative tried ('0', '1', …): not a field, so it is left out of the path.
    const at = err.context
      .filter((c, i) => c.key !== '' && !(err.context[i - 1]?.type instanceof t.UnionType))
      .map((c) => c.key)
      .join('.');
    return `${at === '' ? 'the top level' : `field '${at}'`} is invalid (got ${JSON.stringify(err.value) ?? 'nothing'})`;
  });
  return parts.join('; ') + (errors.length > 5 ? `; and ${errors.length - 5} more` : '');
};

/** `value` decoded by `codec`, or an error naming `file` (and `line`). */
const decodeAt = <A>(codec: t.Decoder<unknown, A>, file: string, line: number | null, value: unknown, what: string): E.Either<LogError, A> => {
  const r = codec.decode(value);
  return E.isRight(r) ? E.right(r.right) : E.left(corrupt(file, line, `not a valid ${what}: ${describeDecodeErrors(r.left)}`));
};

// ---------------------------------------------------------------------------------------------------------
// Pure parsing and printing

/** JSON text with non-finite numbers as the strings "NaN", "Infinity", "-Infinity" (see `jsonNumber`). */
export const toJsonText = (value: unknown, indent?: number): string =>
  JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), indent);

/** A trial record as one line of `trials.jsonl`, newline included. */
export const formatTrialRecord = (record: TrialRecord): string => `${toJsonText(trialRecordCodec.encode(record))}\n`;

/** The trial log as read back. */
export interface TrialLog {
  /** The records of complete lines, in file order. */
  readonly records: readonly TrialRecord[];
  /**
   * How many bytes of the file hold complete, valid lines. Less than the file's size when its last line was cut
   * short by a crash: the runner truncates the file there before appending again.
   */
  readonly validBytes: number;
  /** The 1-based number of a dropped, truncated last line. */
  readonly truncatedLine: number | null;
  /**
   * Lines that logged an id already logged above (two processes once ran on one directory): not in `records`,
   * which keep the first. `--resume` rewrites the file without them and warns.
   */
  readonly duplicates: readonly { readonly id: number; readonly line: number; readonly first: number }[];
}

/**
 * Parses the text of `trials.jsonl` (`file` names it in errors). Every corrupt line is reported (bad JSON, an
 * invalid record), except a last line without its newline that does not parse: that is a write cut short by a
 * crash, dropped and reported in `truncatedLine`. An id logged twice keeps its first record; the later lines are
 * listed in `duplicates` (not an error: a resume repairs the file).
 *
 * @example
 * parseTrialLog('trials.jsonl', text); // right({ records, validBytes, truncatedLine: null, duplicates: [] })
 */
export const parseTrialLog = (file: string, text: string): E.Either<readonly LogError[], TrialLog> => {
  const errors: LogError[] = [];
  const records: TrialRecord[] = [];
  const seen = new Map<number, number>();
  let offset = 0;
  let validBytes = 0;
  let truncatedLine: number | null = null;
  const duplicates: { id: number; line: number; first: number }[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const lineNo = i + 1;
    const complete = i < lines.length - 1; // the text after the last newline has none
    const bytes = Buffer.byteLength(line, 'utf8') + (complete ? 1 : 0);
    const start = offset;
    offset += bytes;
    if (line.trim() === '') {
      if (complete) validBytes = offset;
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (e) {
      if (!complete) {
        truncatedLine = lineNo;
        return;
      }
      errors.push(corrupt(file, lineNo, `not valid JSON (${e instanceof Error ? e.message : String(e)})`));
      return;
    }
    const r = decodeAt(trialRecordCodec, file, lineNo, json, 'trial record');
    if (E.isLeft(r)) {
      if (!complete) truncatedLine = lineNo;
      else errors.push(r.left);
      return;
    }
    const first = seen.get(r.right.id);
    if (first !== undefined) {
      duplicates.push({ id: r.right.id, line: lineNo, first });
      validBytes = start + bytes;
      return;
    }
    seen.set(r.right.id, lineNo);
    records.push(r.right);
    validBytes = start + bytes;
  });
  return errors.length > 0 ? E.left(errors) : E.right({ records, validBytes, truncatedLine, duplicates });
};

/** Decodes the text of a JSON file with `codec`; errors name `file`. */
export const parseJsonFile = <A>(codec: t.Decoder<unknown, A>, file: string, text: string, what: string): E.Either<readonly LogError[], A> => {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return E.left([corrupt(file, null, `not valid JSON (${e instanceof Error ? e.message : String(e)})`)]);
  }
  return E.mapLeft((e: LogError) => [e])(decodeAt(codec, file, null, json, what));
};

// ---------------------------------------------------------------------------------------------------------
// Effects

/** The files of an experiment directory. */
export interface LogPaths {
  readonly dir: string;
  readonly experiment: string;
  readonly trials: string;
  readonly state: string;
}

/** The paths of the log files in `dir`. */
export const logPaths = (dir: string): LogPaths => ({
  dir,
  experiment: path.join(dir, 'experiment.json'),
  trials: path.join(dir, 'trials.jsonl'),
  state: path.join(dir, 'state.json'),
});

/** A file's text, undefined when it does not exist. */
const readText = (file: string): E.Either<readonly LogError[], string | undefined> => {
  try {
    return E.right(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? E.right(undefined) : E.left([ioError(file, e)]);
  }
};

/** Reads and decodes a JSON log file; right(undefined) when it does not exist. */
export const readJsonFile = <A>(codec: t.Decoder<unknown, A>, file: string, what: string): E.Either<readonly LogError[], A | undefined> =>
  E.chain((text: string | undefined) => (text === undefined ? E.right(undefined) : parseJsonFile(codec, file, text, what)))(readText(file));

/** Reads `trials.jsonl` (see `parseTrialLog`); right(undefined) when it does not exist. */
export const readTrialLog = (file: string): E.Either<readonly LogError[], TrialLog | undefined> =>
  E.chain((text: string | undefined) => (text === undefined ? E.right(undefined) : parseTrialLog(file, text)))(readText(file));

/** Cuts the file to its first `bytes` bytes (dropping a truncated last line before appending again). */
export const truncateFile = (file: string, bytes: number): E.Either<readonly LogError[], void> => {
  try {
    fs.truncateSync(file, bytes);
    return E.right(undefined);
  } catch (e) {
    return E.left([ioError(file, e)]);
  }
};

/**
 * Appends one record as a line. One `write` call per line, so a crash leaves at worst a truncated last line
 * (which `parseTrialLog` tolerates), never two records interleaved.
 */
export const appendTrialRecord = (file: string, record: TrialRecord): E.Either<readonly LogError[], void> => {
  try {
    fs.appendFileSync(file, formatTrialRecord(record));
    return E.right(undefined);
  } catch (e) {
    return E.left([ioError(file, e)]);
  }
};

/**
 * Replaces `file` with `value` as JSON atomically: the text goes to a temp file, is flushed, and is renamed over
 * `file` (a rename within a directory is atomic on POSIX), so a crash leaves the old file or the new one, never
 * half of one. `indent` 0 writes one compact line (the state, rewritten after every trial).
 */
export const writeJsonAtomic = (file: string, value: unknown, indent = 2): E.Either<readonly LogError[], void> => {
  const tmp = `${file}.tmp`;
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, `${toJsonText(value, indent)}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    return E.right(undefined);
  } catch (e) {
    return E.left([ioError(file, e)]);
  }
};
