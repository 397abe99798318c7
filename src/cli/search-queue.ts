/**
 * The controller path of `nasgraph search MODEL ... --queue redis://HOST:PORT [--queue-name NAME]`: the search
 * runs as in process (same strategy, log, resume, ranked table, retrain of the best on this machine's device),
 * but each trial is a job on the queue, trained by `nasgraph worker`s (src/runtime/queue/). `--concurrency` is
 * the number of trials in the queue at once: set it to the workers' slots in all.
 *
 * `DIR/queue.json` keeps the queue's name and the experiment's key (never the URL, which may hold a password), so
 * that `--resume` (given `--queue URL` again) collects the trials that were in flight instead of running them again.
 *
 * @example
 * $ nasgraph search examples/fashion-small.ts --strategy evolution --trials 12 --concurrency 2 --out runs/q \
 *     --queue redis://10.0.0.5:6379
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { logPaths, readJsonFile, readTrialLog, savedStateCodec, writeJsonAtomic } from '../runtime/experiment-log.ts';
import { probeRedis } from '../runtime/queue/connection.ts';
import { queueController } from '../runtime/queue/controller.ts';
import { DEFAULT_QUEUE_NAME, checkQueueName, checkQueueUrl, dataHash, redactUrl, sha256 } from '../runtime/queue/protocol.ts';
import type { SearchData } from '../runtime/trial-evaluator.ts';
import type { Evaluate, SearchEvent } from '../runtime/trials.ts';
import { EXIT_ERRORS, EXIT_USAGE, type Io } from './io.ts';

/** `DIR/queue.json`. */
const queueFileCodec = t.readonly(t.type({ version: t.literal(1), queueName: t.string, key: t.string }));

/** What the queue path needs of the search (a subset of search.ts's job). */
export interface QueueSearchJob {
  readonly model: string;
  readonly data: SearchData;
  readonly dir: string;
  readonly resume: boolean;
  readonly s: {
    readonly data: 'fashion-mnist' | 'synthetic';
    readonly dataDir: string | null;
    readonly trainSize: number;
    readonly validSize: number;
    readonly testSize: number | null;
    readonly retrainSize: number | null;
    readonly seed: number;
    readonly epochs: number;
    readonly batch: number;
    readonly lr: number;
    readonly concurrency: number;
  };
}

/** What the queue path hands to the in-process search: the evaluation, an event hook, and a concurrency. */
export interface QueueHooks {
  readonly evaluate: Evaluate;
  readonly onEvent: (e: SearchEvent) => void;
  readonly concurrency: number;
}

/** The model path as a worker should look it up: relative to the working directory when inside it. */
const modelPathForWorkers = (model: string): string => {
  const abs = resolve(model);
  const rel = relative(process.cwd(), abs);
  return rel.startsWith('..') || isAbsolute(rel) ? abs : rel;
};

/**
 * Runs the search of `job` through the queue at `url`: checks the flags and Redis, sets up the controller, and
 * calls `run` (search.ts's in-process search) with its hooks; closes the controller after. Returns the exit code.
 */
export const searchThroughQueue = async <J extends QueueSearchJob>(
  job: J,
  flags: { readonly queue: string; readonly queueName?: string },
  given: (name: string) => boolean,
  io: Io,
  run: (job: J, hooks: QueueHooks) => Promise<number>,
): Promise<number> => {
  const url = checkQueueUrl('--queue', flags.queue);
  if (E.isLeft(url)) {
    io.err(`error: ${url.left}\n`);
    return EXIT_USAGE;
  }
  const file = join(job.dir, 'queue.json');
  const saved = job.resume && existsSync(file) ? readJsonFile(queueFileCodec, file, 'queue description') : E.right(undefined);
  if (E.isLeft(saved)) {
    for (const e of saved.left) io.err(`error: ${e.message}\n`);
    return EXIT_ERRORS;
  }
  const queueName = given('queueName') || saved.right === undefined ? (flags.queueName ?? DEFAULT_QUEUE_NAME) : saved.right.queueName;
  const nameOk = checkQueueName(queueName);
  if (E.isLeft(nameOk)) {
    io.err(`error: ${nameOk.left}\n`);
    return EXIT_USAGE;
  }
  if (saved.right !== undefined && queueName !== saved.right.queueName) {
    io.err(`error: --queue-name ${queueName} differs from the search being resumed (${saved.right.queueName}); its trials in flight are on that queue\n`);
    return EXIT_USAGE;
  }
  const reach = await probeRedis(flags.queue);
  if (E.isLeft(reach)) {
    io.err(`error: --queue: ${reach.left}\n`);
    return EXIT_ERRORS;
  }
  const key = saved.right?.key ?? randomBytes(8).toString('hex');
  mkdirSync(job.dir, { recursive: true });
  const wrote = writeJsonAtomic(file, { version: 1, queueName, key });
  if (E.isLeft(wrote)) {
    for (const e of wrote.left) io.err(`error: ${e.message}\n`);
    return EXIT_ERRORS;
  }

  // What a resume finds: trials logged (a result for one is a duplicate) and in flight (a result is expected).
  const paths = logPaths(job.dir);
  const log = job.resume ? readTrialLog(paths.trials) : E.right(undefined);
  const state = job.resume ? readJsonFile(savedStateCodec, paths.state, 'search state') : E.right(undefined);
  const recorded = E.isRight(log) ? (log.right?.records.map((r) => r.id) ?? []) : [];
  const pending = E.isRight(state) ? (state.right?.pending.map((p) => p.id) ?? []) : []; // a corrupt file: runSearch reports it
  const warn = (m: string): void => io.err(`warning: ${m}\n`);
  let concurrency = job.s.concurrency;
  if (pending.length > concurrency) {
    warn(`${pending.length} trials were in flight: collecting them all (--concurrency ${pending.length} for this run)`);
    concurrency = pending.length;
  }

  const s = job.s;
  const controller = queueController({
    url: flags.queue,
    queueName,
    key,
    job: {
      model: modelPathForWorkers(job.model),
      modelHash: sha256(readFileSync(resolve(job.model))),
      data: { data: s.data, dataDir: s.dataDir, trainSize: s.trainSize, validSize: s.validSize, testSize: s.testSize, retrainSize: s.retrainSize, seed: s.seed },
      dataHash: dataHash(job.data),
      training: { epochs: s.epochs, batch: s.batch, lr: s.lr, seed: s.seed },
    },
    recorded,
    known: pending,
    warn,
  });
  io.err(`queue    ${queueName} at ${redactUrl(flags.queue)} (experiment ${key}): trials run on workers (nasgraph worker --queue URL${queueName === DEFAULT_QUEUE_NAME ? '' : ` --queue-name ${queueName}`}), ${concurrency} at once\n`);
  try {
    return await run(job, { evaluate: controller.evaluate, onEvent: controller.onEvent, concurrency });
  } finally {
    await controller.close();
  }
};
