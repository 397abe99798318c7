/**
 * What travels through the trial queue (Redis, through BullMQ): the trial job a controller enqueues and the
 * messages a worker sends back (an epoch's metrics, the final result). Everything is plain JSON decoded with
 * io-ts on arrival; nothing in a payload is ever executed: a worker only runs a model file from its own disk
 * whose SHA-256 matches the job's `modelHash` (see `worker.ts`).
 *
 * Names: the trial queue is the `--queue-name` (default `nasgraph`); each experiment has a random `key` (kept in
 * `DIR/queue.json`), its trial jobs have the BullMQ job id `KEY-ID` (BullMQ refuses a second job with the same id,
 * so a trial is never enqueued twice), and its results come back on the queue `NAME-results-KEY`, read only by
 * that experiment's controller.
 *
 * @example
 * const url = redactUrl('redis://:secret@10.0.0.5:6379'); // 'redis://:***@10.0.0.5:6379'
 */
import { createHash } from 'node:crypto';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { architectureCodec } from '../../search/strategy.ts';
import type { Dataset } from '../data/batches.ts';

/** The default `--queue-name`. */
export const DEFAULT_QUEUE_NAME = 'nasgraph';

/** The data settings a worker needs to build the same train/valid split as the controller. */
export const dataSettingsCodec = t.readonly(
  t.type({
    data: t.keyof({ 'fashion-mnist': null, synthetic: null }),
    /** The controller's `--data-dir` (absolute); null: the worker's default (Debian's dataset-fashion-mnist). */
    dataDir: t.union([t.string, t.null]),
    trainSize: t.number,
    validSize: t.number,
    testSize: t.union([t.number, t.null]),
    retrainSize: t.union([t.number, t.null]),
    seed: t.number,
  }),
);
/** See `dataSettingsCodec`. */
export type DataSettings = t.TypeOf<typeof dataSettingsCodec>;

/** How a trial trains. */
export const trainingSettingsCodec = t.readonly(t.type({ epochs: t.number, batch: t.number, lr: t.number, seed: t.number }));
/** See `trainingSettingsCodec`. */
export type TrainingSettings = t.TypeOf<typeof trainingSettingsCodec>;

/** The payload of a trial job. */
export const trialJobCodec = t.readonly(
  t.type({
    version: t.literal(1),
    /** The experiment's key (names the job ids and the results queue). */
    key: t.string,
    id: t.number,
    arch: architectureCodec,
    /** The model file as the controller named it: relative to the worker's working directory, or absolute. */
    model: t.string,
    /** SHA-256 (hex) of the model file's bytes. */
    modelHash: t.string,
    data: dataSettingsCodec,
    /** SHA-256 (hex) of the train and valid splits (images and labels) the controller built. */
    dataHash: t.string,
    training: trainingSettingsCodec,
    /** Where the worker sends epoch reports and the result. */
    results: t.string,
  }),
);
/** See `trialJobCodec`. */
export type TrialJob = t.TypeOf<typeof trialJobCodec>;

const numberRecord = t.record(t.string, t.number);
const epochPointCodec = t.readonly(t.type({ epoch: t.number, metrics: numberRecord }));

/**
 * A message on the results queue: an epoch's metrics, the final outcome of a run of a trial, or a worker's
 * refusal of a trial (its model file or data do not match: the trial stays queued for another worker).
 */
export const resultMessageCodec = t.union([
  t.readonly(t.type({ kind: t.literal('refused'), key: t.string, id: t.number, worker: t.string, error: t.string })),
  t.readonly(t.type({ kind: t.literal('epoch'), key: t.string, id: t.number, epoch: t.number, metrics: numberRecord, worker: t.string })),
  t.readonly(
    t.type({
      kind: t.literal('final'),
      key: t.string,
      id: t.number,
      worker: t.string,
      /** Every epoch the run reported, so the logged curve is complete even if an epoch message was missed. */
      curve: t.readonlyArray(epochPointCodec),
      outcome: t.union([
        t.readonly(
          t.type({
            ok: t.literal(true),
            objective: t.number,
            metrics: numberRecord,
            params: t.union([t.number, t.null]),
            flops: t.union([t.number, t.null]),
          }),
        ),
        t.readonly(t.type({ ok: t.literal(false), error: t.string })),
      ]),
    }),
  ),
]);
/** See `resultMessageCodec`. */
export type ResultMessage = t.TypeOf<typeof resultMessageCodec>;

/** The BullMQ job id of trial `id` of the experiment `key` (BullMQ forbids ':' in custom ids). */
export const trialJobId = (key: string, id: number): string => `${key}-${id}`;

/** The name of the experiment's results queue. */
export const resultsQueueName = (queueName: string, key: string): string => `${queueName}-results-${key}`;

/** The Redis key through which the controller asks the worker running `jobId` to stop (median rule). */
export const stopKey = (queueName: string, jobId: string): string => `nasgraph:${queueName}:stop:${jobId}`;

/** The hex SHA-256 of some bytes. */
export const sha256 = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex');

/** The hex SHA-256 of the train and valid splits: images, labels and shapes, in that order. */
export const dataHash = (d: { readonly train: Dataset; readonly valid: Dataset }): string => {
  const h = createHash('sha256');
  for (const ds of [d.train, d.valid]) {
    h.update(JSON.stringify({ n: ds.n, shape: ds.shape, classes: ds.classes }));
    h.update(new Uint8Array(ds.images.buffer, ds.images.byteOffset, ds.images.byteLength));
    h.update(new Uint8Array(ds.labels.buffer, ds.labels.byteOffset, ds.labels.byteLength));
  }
  return h.digest('hex');
};

/**
 * A queue URL fit to print: the password (and user) replaced by `***`. Never print or save the URL itself.
 *
 * @example
 * redactUrl('redis://:pw@host:6379/0'); // 'redis://:***@host:6379/0'
 */
export const redactUrl = (url: string): string => {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    if (u.username !== '' && u.username !== 'default') u.username = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(an unparsable URL)';
  }
};

/**
 * Checks a `--queue` URL: redis:// or rediss://, with a host. Right with the URL unchanged; left with a message
 * naming the flag (and the URL without its password).
 */
export const checkQueueUrl = (flag: string, url: string): E.Either<string, string> => {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return E.left(`${flag} must be a URL like redis://HOST:PORT (with :PASSWORD@ before the host if Redis asks for one)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') return E.left(`${flag} ${redactUrl(url)}: not a redis:// or rediss:// URL`);
  if (u.hostname === '') return E.left(`${flag} ${redactUrl(url)}: no host`);
  return E.right(url);
};

/** Checks a `--queue-name`: letters, digits, '.', '_' and '-' (it names Redis keys and BullMQ job ids). */
export const checkQueueName = (name: string): E.Either<string, string> =>
  /^[A-Za-z0-9._-]{1,64}$/.test(name) ? E.right(name) : E.left(`--queue-name must be 1–64 letters, digits, '.', '_' or '-', got '${name}'`);

/** Decodes external input with `codec`; left with a one-line summary of what is wrong. */
export const decodeMessage = <A>(codec: t.Decoder<unknown, A>, what: string, value: unknown): E.Either<string, A> => {
  const r = codec.decode(value);
  if (E.isRight(r)) return E.right(r.right);
  const where = r.left
    .slice(0, 3)
    .map((e) => e.context.map((c) => c.key).filter((k) => k !== '' && !/^\d+$/.test(k)).join('.') || 'the top level')
    .join(', ');
  return E.left(`not a valid ${what} (at ${where})`);
};
