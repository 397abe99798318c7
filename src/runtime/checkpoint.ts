/**
 * Training checkpoints as safetensors files: every tensor a training Program keeps on the device (the model's
 * parameters, BatchNorm running statistics, optimizer state under `__optimizer__/<slot>/<path>`), named by its
 * path, with metadata saying where training stood (completed epochs, optimizer steps, seed, the data-order RNG,
 * the architecture, the optimizer, the metrics so far). A checkpoint is written atomically (safetensors.ts writes
 * a temporary file and renames it), so a crash while writing leaves the previous one intact.
 *
 * The model's weights alone (`writeWeights`) are the same file without optimizer state or training metadata: what
 * `nasgraph retrain` leaves for users, loadable with `readSafetensorsFile` + `matchParameters` or from Python.
 *
 * @example
 * writeCheckpoint('run/checkpoint.safetensors', store, shapes, meta);
 * const r = readCheckpoint('run/checkpoint.safetensors', shapes); // Either<readonly CheckpointError[], Checkpoint>
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import type { Rng } from '../ir/rng.ts';
import type { Shape } from '../ir/shape.ts';
import type { ParamStore } from './params.ts';
import { type SafetensorsError, type TensorToWrite, matchParameters, readSafetensorsFile, writeSafetensorsFile } from './safetensors.ts';

/** The `format` metadata value of our checkpoints. */
export const CHECKPOINT_FORMAT = 'nasgraph-checkpoint/1';

/** One epoch's metrics (losses are mean cross-entropies; accuracies in [0, 1]). */
export interface EpochMetrics {
  /** 1-based. */
  readonly epoch: number;
  readonly trainLoss: number;
  readonly trainAccuracy: number;
  readonly validLoss?: number;
  readonly validAccuracy?: number;
  /**
   * The fraction of validation images whose label is among the 5 highest logits (top-min(5, classes); ties count
   * for the label, a NaN row as wrong: see `inTopK` in train-eval.ts). Absent in checkpoints written before it.
   */
  readonly validTop5Accuracy?: number;
  readonly testLoss?: number;
  readonly testAccuracy?: number;
  /** The same top-5 accuracy on the test set. */
  readonly testTop5Accuracy?: number;
  /** The learning rate of the epoch's last step. */
  readonly lr: number;
  /** Steps whose loss was not finite and were skipped (with `skipNonFinite`). */
  readonly skippedSteps: number;
  readonly seconds: number;
}

/** Where training stood when a checkpoint was written. */
export interface CheckpointMeta {
  /** Completed epochs. */
  readonly epoch: number;
  /** Optimizer steps taken (PyTorch's `state['step']`). */
  readonly step: number;
  readonly seed: number;
  /** The state of the data-order generator after the last completed epoch. */
  readonly rng: Rng;
  /** The architecture as NNI JSON, when the model came from a search space. */
  readonly arch?: string;
  /** What the optimizer was (JSON), so a resume with another one can be refused. */
  readonly optimizer: string;
  readonly history: readonly EpochMetrics[];
  /** The loss of the run's first step: the divergence check's reference (older checkpoints lack it). */
  readonly firstLoss?: number;
}

export interface Checkpoint {
  /** Every stored tensor matched to an expected path. */
  readonly tensors: ParamStore;
  readonly meta: CheckpointMeta;
}

export type CheckpointError =
  | { readonly tag: 'Safetensors'; readonly error: SafetensorsError; readonly message: string }
  | { readonly tag: 'BadMetadata'; readonly file: string; readonly message: string };

const fromSafetensors = (errors: readonly SafetensorsError[]): readonly CheckpointError[] =>
  errors.map((error) => ({ tag: 'Safetensors', error, message: error.message }));

const optionalNumber = t.union([t.number, t.undefined]);
const EpochMetricsCodec = t.intersection([
  t.type({ epoch: t.number, trainLoss: t.number, trainAccuracy: t.number, lr: t.number, skippedSteps: t.number, seconds: t.number }),
  // Optional, so that checkpoints written before a field existed (the top-5 accuracies) still decode.
  t.partial({
    validLoss: optionalNumber,
    validAccuracy: optionalNumber,
    validTop5Accuracy: optionalNumber,
    testLoss: optionalNumber,
    testAccuracy: optionalNumber,
    testTop5Accuracy: optionalNumber,
  }),
]);
const u32 = t.refinement(t.number, (n) => Number.isInteger(n) && n >= 0 && n <= 0xffffffff, 'u32');
const MetaCodec = t.intersection([
  t.type({
    format: t.literal(CHECKPOINT_FORMAT),
    epoch: t.string,
    step: t.string,
    seed: t.string,
    rng: t.string,
    optimizer: t.string,
    history: t.string,
  }),
  t.partial({ arch: t.string, firstLoss: t.string }),
]);
const RngState = t.tuple([u32, u32, u32, u32]);

/** JSON numbers cannot be NaN or ±Infinity; metrics may be (a diverged run), so they travel as strings then. */
const encodeNumber = (x: number): number | string => (Number.isFinite(x) ? x : String(x));
const decodeNumbers = (v: unknown): unknown => {
  if (Array.isArray(v)) return v.map(decodeNumbers);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decodeNumbers(x)]));
  return v === 'NaN' || v === 'Infinity' || v === '-Infinity' ? Number(v) : v;
};

/** Metrics as JSON (non-finite numbers as strings). */
export const metricsJson = (history: readonly EpochMetrics[]): string =>
  JSON.stringify(history.map((m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, typeof v === 'number' ? encodeNumber(v) : v]))));

const metaStrings = (m: CheckpointMeta): Record<string, string> => ({
  format: CHECKPOINT_FORMAT,
  epoch: String(m.epoch),
  step: String(m.step),
  seed: String(m.seed),
  rng: JSON.stringify(m.rng.s),
  optimizer: m.optimizer,
  history: metricsJson(m.history),
  ...(m.arch === undefined ? {} : { arch: m.arch }),
  ...(m.firstLoss === undefined ? {} : { firstLoss: String(m.firstLoss) }),
});

const tensorsOf = (store: ParamStore, shapes: ReadonlyMap<string, Shape>): Map<string, TensorToWrite> => {
  const out = new Map<string, TensorToWrite>();
  for (const [path, data] of store) out.set(path, { shape: shapes.get(path) ?? [data.length], data });
  return out;
};

/**
 * Writes a checkpoint (atomically): every tensor of `store` under its path, shaped by `shapes` (flat when a path
 * has no shape there), and `meta`.
 */
export const writeCheckpoint = (
  file: string,
  store: ParamStore,
  shapes: ReadonlyMap<string, Shape>,
  meta: CheckpointMeta,
): E.Either<readonly CheckpointError[], void> => {
  const r = writeSafetensorsFile(file, tensorsOf(store, shapes), metaStrings(meta));
  return E.isLeft(r) ? E.left(fromSafetensors(r.left)) : r;
};

/**
 * Writes model weights only (atomically), with free-form string metadata (e.g. the architecture).
 *
 * @example
 * writeWeights('out/weights.safetensors', params, paramShapes(graph), { arch: '{"conv1":"conv3x3"}' });
 */
export const writeWeights = (
  file: string,
  store: ParamStore,
  shapes: ReadonlyMap<string, Shape>,
  metadata: Readonly<Record<string, string>> = {},
): E.Either<readonly CheckpointError[], void> => {
  const r = writeSafetensorsFile(file, tensorsOf(store, shapes), { format: 'pt', ...metadata });
  return E.isLeft(r) ? E.left(fromSafetensors(r.left)) : r;
};

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
};

const decodeMeta = (file: string, raw: Readonly<Record<string, string>> | undefined): E.Either<readonly CheckpointError[], CheckpointMeta> => {
  const bad = (why: string): E.Either<readonly CheckpointError[], CheckpointMeta> =>
    E.left([{ tag: 'BadMetadata', file, message: `${file}: not a nasgraph training checkpoint (${why})` }]);
  const m = MetaCodec.decode(raw ?? {});
  if (E.isLeft(m)) {
    const fields = [...new Set(m.left.map((e) => e.context.map((c) => c.key).filter((k) => k !== '' && !/^\d+$/.test(k)).join('.')))].filter((f) => f !== '');
    return bad(`missing or invalid metadata: ${fields.join(', ') || 'format'}`);
  }
  const v = m.right;
  const ints = { epoch: Number(v.epoch), step: Number(v.step), seed: Number(v.seed) };
  const wrong = Object.entries(ints).filter(([, n]) => !Number.isSafeInteger(n)).map(([k]) => k);
  if (wrong.length > 0) return bad(`${wrong.join(', ')} must be integers`);
  const rng = RngState.decode(parseJson(v.rng));
  if (E.isLeft(rng)) return bad('rng must be four u32 values');
  const history = t.array(EpochMetricsCodec).decode(decodeNumbers(parseJson(v.history)));
  if (E.isLeft(history)) return bad('history must be a list of epoch metrics');
  const { epoch, step, seed } = ints;
  const clean = history.right.map((h) => Object.fromEntries(Object.entries(h).filter(([, x]) => x !== undefined)) as unknown as EpochMetrics);
  return E.right({ epoch, step, seed, rng: { s: rng.right }, optimizer: v.optimizer, history: clean, ...(v.arch === undefined ? {} : { arch: v.arch }), ...(v.firstLoss === undefined || !Number.isFinite(Number(v.firstLoss)) ? {} : { firstLoss: Number(v.firstLoss) }) });
};

/** Reads only a checkpoint's metadata (e.g. to check it belongs to this run before matching its tensors). */
export const readCheckpointMeta = (file: string): E.Either<readonly CheckpointError[], CheckpointMeta> => {
  const f = readSafetensorsFile(file);
  return E.isLeft(f) ? E.left(fromSafetensors(f.left)) : decodeMeta(file, f.right.metadata);
};

/**
 * Reads a checkpoint: its metadata (every problem reported) and the tensors of every path in `expected` (matched
 * by path or PyTorch name, shapes checked; all missing or mis-shaped tensors reported).
 */
export const readCheckpoint = (file: string, expected: ReadonlyMap<string, Shape>): E.Either<readonly CheckpointError[], Checkpoint> => {
  const f = readSafetensorsFile(file);
  if (E.isLeft(f)) return E.left(fromSafetensors(f.left));
  const meta = decodeMeta(file, f.right.metadata);
  const tensors = matchParameters(f.right, expected, file);
  const errors = [...(E.isLeft(meta) ? meta.left : []), ...(E.isLeft(tensors) ? fromSafetensors(tensors.left) : [])];
  if (errors.length > 0 || E.isLeft(meta) || E.isLeft(tensors)) return E.left(errors);
  return E.right({ tensors: tensors.right.values, meta: meta.right });
};
