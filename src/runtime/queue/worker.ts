/**
 * The worker side of the trial queue: pulls trial jobs (BullMQ), trains each on this machine's device, sends its
 * epoch metrics and its final result to the experiment's results queue, and stops a trial between epochs when
 * the controller asks (its stop key, median rule).
 *
 * Nothing from the queue is executed: a job names a model file, and the worker runs it only if that file is on
 * its own disk (relative paths against the worker's working directory) and its SHA-256 is the job's `modelHash`;
 * otherwise it refuses the trial with an error naming the file. The data split the worker builds from the job's
 * data settings must have the job's `dataHash` too. A refused trial is not failed: the worker tells the controller
 * (which warns once per worker and reason) and puts the job back in the queue, delayed by `refusalDelayMs`, for a
 * worker that has the file; so a misconfigured worker never drains the queue. A trial whose training fails (a
 * throw) is reported as a failed result: the controller records it as failed and the search goes on.
 *
 * A worker killed mid-trial holds the job's lock no longer; BullMQ's stalled-job check (run by the other workers)
 * puts it back in the queue after `lockDurationMs`, and another worker runs it. The controller records whichever
 * result arrives first and ignores a second one.
 *
 * @example
 * const w = startTrialWorker({ url, queueName: 'nasgraph', gpu, concurrency: 1, name: 'gpu-box:4242', log: console.log });
 * // … later
 * await w.close();
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { DelayedError, type Job, Queue, Worker } from 'bullmq';
import * as E from 'fp-ts/lib/Either.js';
import type { Redis } from 'ioredis';
import type { Graph } from '../../ir/graph.ts';
import { numel } from '../../ir/shape.ts';
import { loadFashionMnist, syntheticTrainTest } from '../data/index.ts';
import type { Gpu } from '../device.ts';
import { loadModel } from '../load-model.ts';
import { type SearchData, searchData, trialEvaluator } from '../trial-evaluator.ts';
import { quietRedis } from './connection.ts';
import { type DataSettings, type ResultMessage, type TrialJob, dataHash, decodeMessage, sha256, stopKey, trialJobCodec } from './protocol.ts';

/** Options of `startTrialWorker`. */
export interface TrialWorkerOptions {
  readonly url: string;
  readonly queueName: string;
  readonly gpu: Gpu;
  /** Trials trained at once on the device. */
  readonly concurrency: number;
  /** This worker's name in results and logs (host:pid). */
  readonly name: string;
  /** Where relative model paths are looked up (default the process's working directory). */
  readonly cwd?: string;
  /** BullMQ's lock duration (ms, default 30 000): a killed worker's trial is re-delivered after about this long. */
  readonly lockDurationMs?: number;
  /** BullMQ's stalled-job check interval (ms, default 30 000). */
  readonly stalledIntervalMs?: number;
  /** One line per trial started and finished. */
  readonly log: (line: string) => void;
  /** Warnings (Redis outages, refused trials). */
  readonly warn: (line: string) => void;
  /** How long a refused trial waits in the queue before any worker may take it again (ms, default 5 000). */
  readonly refusalDelayMs?: number;
  /** How often a running trial's stop key is polled (ms, default 500). */
  readonly stopPollMs?: number;
  /**
   * Called before each trial trains, after its model and data were checked; a throw fails the trial like a
   * training error. For fault injection in tests (a hang, a throw); nothing else needs it.
   */
  readonly beforeTrial?: (job: TrialJob) => Promise<void>;
  /**
   * Called after a trial's result was sent, before its job is completed (a worker dying here makes BullMQ deliver
   * the trial again: a duplicate result). For fault injection in tests; nothing else needs it.
   */
  readonly afterResult?: (job: TrialJob) => Promise<void>;
}

/** A running worker. */
export interface TrialWorker {
  /** Stops taking trials, waits for those running (or not, with `force`), and closes every connection. */
  readonly close: (force?: boolean) => Promise<void>;
}

/** The fallback test size of a synthetic set (the search always sends one). */
const SYNTHETIC_TEST_SIZE = 128;

/** The data of a search as the controller builds it (`src/cli/search.ts`), from the job's data settings. */
export const loadTrialData = (s: DataSettings, graph: Graph): E.Either<readonly { readonly message: string }[], SearchData> => {
  const sizes = { validSize: s.validSize, trainSize: s.trainSize, seed: s.seed, ...(s.testSize === null ? {} : { testSize: s.testSize }), ...(s.retrainSize === null ? {} : { retrainSize: s.retrainSize }) };
  if (s.data === 'synthetic') {
    const out = graph.outputs[0]?.shape ?? [];
    const shape = graph.inputs[0]?.shape ?? [];
    const pool = Math.max(s.trainSize + s.validSize, s.retrainSize ?? 0);
    const full = syntheticTrainTest({ n: pool, nTest: s.testSize ?? SYNTHETIC_TEST_SIZE, shape, classes: numel(out), seed: s.seed });
    return searchData(full, sizes);
  }
  const full = loadFashionMnist(s.dataDir === null ? {} : { dir: s.dataDir });
  if (E.isLeft(full)) return full;
  return searchData(full.right, sizes);
};

interface Prepared {
  readonly graph: Graph;
  readonly data: SearchData;
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * The model and data of a job, checked against its hashes; throws an error naming the file (or the data) when
 * the worker cannot match them.
 */
const prepare = async (p: TrialJob, cwd: string): Promise<Prepared> => {
  const file = isAbsolute(p.model) ? p.model : resolve(cwd, p.model);
  if (!existsSync(file)) throw new Error(`model file ${file} is not on this worker's disk (the job names ${p.model}); refusing the trial`);
  const hash = sha256(readFileSync(file));
  if (hash !== p.modelHash) {
    throw new Error(`model file ${file} differs from the controller's (SHA-256 ${hash.slice(0, 12)}… here, ${p.modelHash.slice(0, 12)}… in the job); refusing to run it`);
  }
  const loaded = await loadModel(file);
  if (E.isLeft(loaded)) throw new Error(loaded.left.map((e) => e.message).join('; '));
  const data = loadTrialData(p.data, loaded.right.graph);
  if (E.isLeft(data)) throw new Error(data.left.map((e) => e.message).join('; '));
  const h = dataHash(data.right);
  if (h !== p.dataHash) {
    throw new Error(`the ${p.data.data} data built here (${p.data.dataDir ?? 'the default directory'}) differ from the controller's (SHA-256 ${h.slice(0, 12)}… here, ${p.dataHash.slice(0, 12)}… in the job)`);
  }
  return { graph: loaded.right.graph, data: data.right };
};

/** Starts a worker on `o.queueName` (see the module comment). */
export const startTrialWorker = (o: TrialWorkerOptions): TrialWorker => {
  const connections: Redis[] = [];
  const own = (r: Redis): Redis => {
    connections.push(r);
    return r;
  };
  const cwd = o.cwd ?? process.cwd();
  const redis = own(quietRedis(o.url, () => undefined));
  const resultQueues = new Map<string, Queue>();
  const resultsTo = (name: string): Queue => {
    let q = resultQueues.get(name);
    if (q === undefined) {
      q = new Queue(name, { connection: redis });
      q.on('error', () => undefined);
      resultQueues.set(name, q);
    }
    return q;
  };
  // One preparation per model, hash and data: later trials of the experiment reuse it.
  const prepared = new Map<string, Promise<Prepared>>();

  /** Refusals already logged, one line per experiment and reason. */
  const refusalsLogged = new Set<string>();

  const run = async (job: Job, token?: string): Promise<ResultMessage> => {
    const decoded = decodeMessage(trialJobCodec, 'trial job', job.data);
    if (E.isLeft(decoded)) throw new Error(`job ${job.id ?? '?'}: ${decoded.left}`); // BullMQ fails it; the controller records that
    const p = decoded.right;
    const results = resultsTo(p.results);

    // The model file and the data: a worker that cannot match them gives the trial back (see the module comment).
    const key = `${p.model}\n${p.modelHash}\n${p.dataHash}`;
    if (!prepared.has(key)) prepared.set(key, prepare(p, cwd));
    let env: Prepared;
    try {
      env = await prepared.get(key)!;
    } catch (e) {
      prepared.delete(key); // the file may be fixed before the next trial
      const error = errorText(e);
      if (!refusalsLogged.has(`${p.key}\n${error}`)) {
        refusalsLogged.add(`${p.key}\n${error}`);
        o.warn(`refused trial ${p.id} of experiment ${p.key} (and will refuse its others while this holds): ${error}`);
      }
      await results.add('refused', { kind: 'refused', key: p.key, id: p.id, worker: o.name, error } satisfies ResultMessage, { removeOnComplete: true });
      await job.moveToDelayed(Date.now() + (o.refusalDelayMs ?? 5000), token);
      throw new DelayedError();
    }

    const again = job.attemptsStarted > 1 || job.stalledCounter > 0 ? ' (re-delivered)' : '';
    o.log(`trial ${p.id} started (job ${job.id ?? '?'})${again}`);
    const controller = new AbortController();
    const stop = stopKey(o.queueName, job.id ?? '');
    const stopIfAsked = (v: string | null): void => {
      if (v !== null && !controller.signal.aborted) controller.abort(new Error(`trial ${p.id} stopped by the controller (median rule)`));
    };
    const poll = setInterval(() => redis.get(stop).then(stopIfAsked, () => undefined), o.stopPollMs ?? 500);
    const curve: { epoch: number; metrics: Record<string, number> }[] = [];
    let final: ResultMessage;
    try {
      // A stop asked before the trial began (a re-delivered trial the controller already stopped) is honoured at once.
      stopIfAsked(await redis.get(stop));
      await o.beforeTrial?.(p);
      const evaluate = trialEvaluator({
        gpu: o.gpu,
        supernet: env.graph,
        data: env.data,
        epochs: p.training.epochs,
        batchSize: p.training.batch,
        optimizer: { kind: 'adam', lr: p.training.lr },
        seed: p.training.seed,
      });
      const m = await evaluate({
        id: p.id,
        arch: p.arch,
        signal: controller.signal,
        report: (epoch, metrics) => {
          curve.push({ epoch, metrics: { ...metrics } });
          void results.add('epoch', { kind: 'epoch', key: p.key, id: p.id, epoch, metrics: { ...metrics }, worker: o.name }, { removeOnComplete: true }).catch(() => undefined);
          return controller.signal.aborted ? 'stop' : 'continue';
        },
      });
      final = {
        kind: 'final',
        key: p.key,
        id: p.id,
        worker: o.name,
        curve,
        outcome: { ok: true, objective: m.objective, metrics: { ...m.metrics }, params: m.params ?? null, flops: m.flops ?? null },
      };
    } catch (e) {
      const error = controller.signal.aborted && curve.length === 0 ? `trial ${p.id} stopped by the controller (median rule) before its first epoch` : errorText(e);
      final = { kind: 'final', key: p.key, id: p.id, worker: o.name, curve, outcome: { ok: false, error } };
    } finally {
      clearInterval(poll);
    }
    await results.add('final', final, { removeOnComplete: true });
    await o.afterResult?.(p);
    const stopped = controller.signal.aborted ? ` (stopped by the controller after epoch ${curve.length})` : '';
    o.log(final.outcome.ok ? `trial ${p.id} finished: objective ${final.outcome.objective.toFixed(4)}${stopped}` : `trial ${p.id} failed: ${final.outcome.error}`);
    // The result is also the job's return value: a controller that missed the message reads it there.
    return final;
  };

  const worker = new Worker(o.queueName, run, {
    connection: own(quietRedis(o.url, o.warn)),
    concurrency: o.concurrency,
    lockDuration: o.lockDurationMs ?? 30_000,
    stalledInterval: o.stalledIntervalMs ?? 30_000,
    maxStalledCount: 2,
  });
  worker.on('error', () => undefined); // outages are reported once by the connection

  return {
    close: async (force = false) => {
      await worker.close(force);
      for (const q of resultQueues.values()) await q.close();
      for (const c of connections) c.disconnect();
    },
  };
};
