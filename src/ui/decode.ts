/**
 * Decoding the files of a run directory for the NAS UI, from their text (no I/O here: `load.ts` reads the files).
 *
 * A search writes these files while the UI reads them, so every decoder is tolerant where a live search makes a
 * file look broken for a moment: a last line of `trials.jsonl` without its newline (being appended) is skipped
 * until it is complete, never an error; a corrupt complete line is reported as a problem naming the file and the
 * line, and the other lines are kept. JSON files (`search.json`, `history.json`, `result.json`, ...) are written
 * whole or atomically, so one that does not decode is a problem, named, and left out.
 *
 * Non-finite numbers: `JSON.stringify` writes NaN as `null` (history.json, result.json) and the experiment log
 * writes the strings "NaN"/"Infinity" (trials.jsonl); both decode to `null` here, "no value", which is what a
 * chart or a table can show.
 *
 * @example
 * const t = parseTrialsText('trials.jsonl', text); // { records, problems, partialLine }
 * const h = decodeJsonText(historyCodec, 'history.json', text); // Either<string, History>
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { experimentCodec, savedStateCodec, trialRecordCodec, type ExperimentInfo, type SavedState, type TrialRecord } from '../runtime/experiment-log.ts';

export { experimentCodec, savedStateCodec, trialRecordCodec };
export type { ExperimentInfo, SavedState, TrialRecord };

/** A number, or null for a value JSON could not hold (NaN written as null). */
export const nullableNumber = t.union([t.number, t.null]);

/** `search.json`, loosely: the fields the UI shows; classic and one-shot settings both decode. */
export const settingsCodec = t.intersection([
  t.type({ strategy: t.string }),
  t.partial({
    kind: t.string,
    strategyOptions: t.UnknownRecord,
    data: t.string,
    trainSize: t.number,
    validSize: t.number,
    epochs: t.number,
    batch: t.number,
    lr: nullableNumber,
    seed: t.number,
    trials: t.number,
    concurrency: t.number,
    retrainEpochs: t.number,
    earlyStop: t.boolean,
  }),
]);
/** The settings of a search as the UI reads them. */
export type RunSettings = t.TypeOf<typeof settingsCodec>;

/** One entry of `history.json` (one-shot): each key's distribution, the derived architecture and the metrics. */
export const historyEntryCodec = t.type({
  epoch: t.number,
  distribution: t.record(t.string, t.array(nullableNumber)),
  arch: t.record(t.string, t.array(t.number)),
  metrics: t.record(t.string, nullableNumber),
});
/** `history.json`. */
export const historyCodec = t.array(historyEntryCodec);
/** One epoch of a one-shot search's history. */
export type HistoryRow = t.TypeOf<typeof historyEntryCodec>;

/** NNI's export form of an architecture (`arch.json`, a trial's `architecture`). */
export const exportedArchCodec = t.record(t.string, t.union([t.string, t.number, t.array(t.union([t.string, t.number]))]));
/** An architecture in NNI's export form. */
export type ExportedArch = t.TypeOf<typeof exportedArchCodec>;

/** One epoch of a retrain (`result.json`'s `retrain.history`): numbers by metric name, `epoch` among them. */
export const epochMetricsCodec = t.record(t.string, nullableNumber);

/** `result.json` of a classic or a one-shot search. */
export const resultCodec = t.intersection([
  t.type({ model: t.string, strategy: t.string }),
  t.partial({
    searchSeconds: nullableNumber,
    trials: t.number,
    epochs: t.number,
    best: t.partial({ trial: t.number, validAccuracy: nullableNumber, architecture: exportedArchCodec, params: nullableNumber, macs: nullableNumber }),
    arch: t.record(t.string, t.array(t.number)),
    params: nullableNumber,
    macs: nullableNumber,
    validAccuracy: nullableNumber,
    retrain: t.union([
      t.null,
      t.intersection([
        t.type({ epochs: t.number, testAccuracy: nullableNumber }),
        t.partial({ testLoss: nullableNumber, seconds: nullableNumber, trainSize: t.number, testSize: t.number, inherit: t.boolean, history: t.array(epochMetricsCodec) }),
      ]),
    ]),
  }),
]);
/** The contents of `result.json`. */
export type RunResult = t.TypeOf<typeof resultCodec>;

/** Where each io-ts error is, as "field a.b", at most three. */
export const describeErrors = (errors: t.Errors): string => {
  const parts = errors.slice(0, 3).map((e) => {
    const at = e.context
      .map((c) => c.key)
      .filter((k) => k !== '' && !/^\d+$/.test(k))
      .join('.');
    return `${at === '' ? 'the top level' : `field '${at}'`} is invalid (got ${JSON.stringify(e.value)?.slice(0, 60) ?? 'nothing'})`;
  });
  return parts.join('; ') + (errors.length > 3 ? `; and ${errors.length - 3} more` : '');
};

/** Decodes the text of a JSON file; left with one line naming `file` and what is wrong. */
export const decodeJsonText = <A>(codec: t.Decoder<unknown, A>, file: string, text: string): E.Either<string, A> => {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return E.left(`${file}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const r = codec.decode(json);
  return E.isRight(r) ? E.right(r.right) : E.left(`${file}: ${describeErrors(r.left)}`);
};

/** What `parseTrialsText` makes of `trials.jsonl`. */
export interface ParsedTrials {
  /** The records of complete, valid lines, in file order (a repeated id keeps its first line). */
  readonly records: readonly TrialRecord[];
  /** One line per corrupt complete line, naming the file and the line. */
  readonly problems: readonly string[];
  /** True when the text ends in a line without its newline that is not (yet) a record: skipped. */
  readonly partialLine: boolean;
}

/**
 * Parses the text of `trials.jsonl`, keeping every valid complete line. A last line without its newline is kept
 * when it is already a whole record (a writer that omits the final newline) and otherwise skipped: a search still
 * writing it. Never throws.
 *
 * @example
 * parseTrialsText('trials.jsonl', '{"id":0,...}\n{"id":1,"sta'); // records: [trial 0], partialLine: true
 */
export const parseTrialsText = (file: string, text: string): ParsedTrials => {
  const records: TrialRecord[] = [];
  const problems: string[] = [];
  const seen = new Set<number>();
  let partialLine = false;
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const complete = i < lines.length - 1;
    if (line.trim() === '') return;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      if (complete) problems.push(`${file}:${i + 1}: not valid JSON`);
      else partialLine = true;
      return;
    }
    const r = trialRecordCodec.decode(json);
    if (E.isLeft(r)) {
      if (complete) problems.push(`${file}:${i + 1}: not a trial record: ${describeErrors(r.left)}`);
      else partialLine = true;
      return;
    }
    if (seen.has(r.right.id)) {
      problems.push(`${file}:${i + 1}: trial ${r.right.id} is logged twice`);
      return;
    }
    seen.add(r.right.id);
    records.push(r.right);
  });
  return { records, problems, partialLine };
};
