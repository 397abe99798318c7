/**
 * The controller side of the trial queue: an `Evaluate` for `runSearch` that, instead of training, enqueues the
 * trial as a BullMQ job and waits for a worker's result. The runner stays the same, so the experiment log
 * (trials.jsonl, state.json), `--resume`, the median rule and the ranked table work as they do in process.
 *
 * Exactly once, whatever is delivered twice:
 * - A trial job has the id `KEY-ID`; BullMQ ignores a second `add` with an existing id, so a resumed controller
 *   re-enqueueing the trials that were in flight never makes a second job: it waits for the first.
 * - Results come back on the experiment's own results queue. A result job is acknowledged only once the runner
 *   has appended the trial to trials.jsonl (the `onEvent` hook sees it), so a controller killed in between gets
 *   it again (BullMQ's stalled-job recovery) and nothing is lost.
 * - A result for a trial already recorded (or already accepted), a re-delivered worker's second run, is ignored
 *   with a warning; so is one for a trial this search never proposed. The log never has two lines for an id.
 * - A trial job that completed while no controller was listening gives its result through the job's return
 *   value when the resumed controller waits for it.
 *
 * A worker that refuses a trial (its model file or data differ) says so on the results queue and gives the job
 * back; the controller warns once per worker and reason, and the trial waits for a worker that has the file.
 *
 * Median stopping: a worker sends each epoch's metrics; the controller hands them to the runner's `report`, and
 * when the answer is 'stop' it sets the trial's stop key, which the worker polls between epochs.
 *
 * @example
 * const c = queueController({ url, queueName: 'nasgraph', key, job, recorded: [], known: [], warn });
 * await runSearch({ ...options, evaluate: c.evaluate, onEvent: (e) => { c.onEvent(e); display.onEvent(e); } });
 * await c.close();
 */
import { type Job, Queue, QueueEvents, Worker } from 'bullmq';
import * as E from 'fp-ts/lib/Either.js';
import type { Redis } from 'ioredis';
import type { Evaluate, SearchEvent, TrialMetrics } from '../trials.ts';
import { connectRedis, quietRedis } from './connection.ts';
import { type ResultMessage, type TrialJob, decodeMessage, resultMessageCodec, resultsQueueName, stopKey, trialJobId } from './protocol.ts';

/** Options of `queueController`. */
export interface QueueControllerOptions {
  /** The Redis URL (may hold a password: never printed). */
  readonly url: string;
  readonly queueName: string;
  /** The experiment's key (DIR/queue.json). */
  readonly key: string;
  /** What every trial job carries beside its id and architecture. */
  readonly job: Omit<TrialJob, 'version' | 'key' | 'id' | 'arch' | 'results'>;
  /** Trials trials.jsonl already holds. */
  readonly recorded: readonly number[];
  /** Trials state.json lists as in flight (the runner will wait for them again). */
  readonly known: readonly number[];
  /** Where warnings go (one line each, without the newline). */
  readonly warn: (message: string) => void;
  /** Lock duration of the results consumer, ms (default 10 s): how soon a killed controller's results come back. */
  readonly lockDurationMs?: number;
}

/** The controller: `evaluate` for `runSearch`, `onEvent` to be called with every runner event, and `close`. */
export interface QueueController {
  readonly evaluate: Evaluate;
  readonly onEvent: (event: SearchEvent) => void;
  /** Stops consuming results and closes every connection; results not yet recorded stay in the queue. */
  readonly close: () => Promise<void>;
}

type Final = Extract<ResultMessage, { kind: 'final' }>;

interface Waiting {
  readonly jobId: string;
  readonly report: (epoch: number, metrics: Readonly<Record<string, number>>) => 'continue' | 'stop';
  readonly epochs: Set<number>;
  inReport: boolean;
  stopAsked: boolean;
  readonly settle: (m: Final) => void;
}

/** The metrics a final message gives, or the error it carries (thrown: the runner records the trial as failed). */
const metricsOf = (m: Final): TrialMetrics => {
  if (!m.outcome.ok) throw new Error(`${m.outcome.error} (on worker ${m.worker})`);
  const o = m.outcome;
  return { objective: o.objective, metrics: o.metrics, ...(o.params === null ? {} : { params: o.params }), ...(o.flops === null ? {} : { flops: o.flops }) };
};

/** Starts a controller (see the module comment); it connects at once and consumes results from the first trial on. */
export const queueController = (o: QueueControllerOptions): QueueController => {
  const connections: Redis[] = [];
  const own = (r: Redis): Redis => {
    connections.push(r);
    return r;
  };
  const trials = new Queue(o.queueName, { connection: own(quietRedis(o.url, o.warn)) });
  trials.on('error', () => undefined); // the connection reports outages once (quietRedis)
  const redis = own(quietRedis(o.url, () => undefined));
  const events = new QueueEvents(o.queueName, { connection: own(connectRedis(o.url)) });
  events.on('error', () => undefined);
  const resultsName = resultsQueueName(o.queueName, o.key);

  const recorded = new Set(o.recorded);
  const known = new Set(o.known);
  /** Results accepted and handed to the runner, not yet in trials.jsonl. */
  const accepted = new Set<number>();
  const awaiting = new Map<number, Waiting>();
  const buffered = new Map<number, Final>();
  const recordWaiters = new Map<number, (() => void)[]>();
  const refusals = new Set<string>();
  let closed = false;

  const whenRecorded = (id: number): Promise<void> =>
    recorded.has(id)
      ? Promise.resolve()
      : new Promise((done) => {
          recordWaiters.set(id, [...(recordWaiters.get(id) ?? []), done]);
        });

  const onEpoch = (w: Waiting, epoch: number, metrics: Readonly<Record<string, number>>): void => {
    if (w.epochs.has(epoch)) return;
    w.epochs.add(epoch);
    w.inReport = true;
    let decision: 'continue' | 'stop';
    try {
      decision = w.report(epoch, metrics);
    } finally {
      w.inReport = false;
    }
    if (decision === 'stop' && !w.stopAsked) {
      w.stopAsked = true;
      void redis.set(stopKey(o.queueName, w.jobId), '1', 'EX', 7 * 24 * 3600).catch((e: unknown) => o.warn(`could not ask a worker to stop ${w.jobId}: ${String(e)}`));
    }
  };

  /** Hands a final result to the runner, once per trial. */
  const accept = (id: number, m: Final): void => {
    const w = awaiting.get(id);
    if (w === undefined) return;
    awaiting.delete(id);
    accepted.add(id);
    for (const p of m.curve) onEpoch(w, p.epoch, p.metrics);
    w.settle(m);
  };

  const process = async (job: Job): Promise<void> => {
    const decoded = decodeMessage(resultMessageCodec, 'result message', job.data);
    if (E.isLeft(decoded)) {
      o.warn(`ignored message ${job.id ?? '?'} on ${resultsName}: ${decoded.left}`);
      return;
    }
    const m = decoded.right;
    if (m.key !== o.key) {
      o.warn(`ignored a ${m.kind === 'final' ? 'result' : m.kind === 'refused' ? 'refusal' : 'report'} for trial ${m.id} of another experiment (key ${m.key})`);
      return;
    }
    if (m.kind === 'refused') {
      // The trial stays queued for a worker that has the file: said once per worker and reason.
      const said = `${m.worker}\n${m.error}`;
      if (!refusals.has(said)) {
        refusals.add(said);
        o.warn(`worker ${m.worker} refused trial ${m.id}: ${m.error}; the trial waits for a worker that has the file`);
      }
      return;
    }
    if (m.kind === 'epoch') {
      const w = awaiting.get(m.id);
      if (w !== undefined) onEpoch(w, m.epoch, m.metrics);
      else if (!known.has(m.id) && !recorded.has(m.id)) o.warn(`ignored an epoch report for trial ${m.id} from worker ${m.worker}: no such trial in this search`);
      return;
    }
    if (recorded.has(m.id) || accepted.has(m.id) || buffered.has(m.id)) {
      o.warn(`ignored a result for trial ${m.id} from worker ${m.worker}: the trial is already recorded (a duplicate delivery)`);
      return;
    }
    if (awaiting.has(m.id)) accept(m.id, m);
    else if (known.has(m.id)) buffered.set(m.id, m); // its runner wait starts in a moment
    else {
      o.warn(`ignored a result for trial ${m.id} from worker ${m.worker}: no such trial in this search`);
      return;
    }
    // Acknowledged (the job completes) only once trials.jsonl holds the trial: a crash before re-delivers it.
    await whenRecorded(m.id);
  };

  let results: Worker | undefined;
  const startResults = (): void => {
    if (results !== undefined || closed) return;
    const lockDuration = o.lockDurationMs ?? 10_000;
    results = new Worker(resultsName, process, {
      connection: own(connectRedis(o.url)),
      concurrency: 64,
      lockDuration,
      stalledInterval: Math.max(1000, Math.floor(lockDuration / 2)),
      // A result must never be dropped for having been re-delivered too often (killed controllers).
      maxStalledCount: 1_000_000,
      removeOnComplete: { count: 0 },
      removeOnFail: { count: 10_000 },
    });
    results.on('error', () => undefined);
  };

  // A trial job BullMQ itself gave up on (stalled more often than the workers allow): recorded as failed.
  events.on('failed', ({ jobId, failedReason }) => {
    if (!jobId.startsWith(`${o.key}-`)) return;
    const id = Number(jobId.slice(o.key.length + 1));
    const w = awaiting.get(id);
    if (w === undefined) return;
    awaiting.delete(id);
    accepted.add(id);
    w.settle({ kind: 'final', key: o.key, id, worker: 'the queue', curve: [], outcome: { ok: false, error: `the queue gave up on the trial: ${failedReason}` } });
  });

  const evaluate: Evaluate = ({ id, arch, signal, report }) => {
    known.add(id);
    startResults();
    const jobId = trialJobId(o.key, id);
    return new Promise<TrialMetrics>((resolve, reject) => {
      const w: Waiting = {
        jobId,
        report,
        epochs: new Set(),
        inReport: false,
        stopAsked: false,
        settle: (m) => {
          signal.removeEventListener('abort', onAbort);
          try {
            resolve(metricsOf(m));
          } catch (e) {
            reject(e);
          }
        },
      };
      // The search aborted (Ctrl-C): stop waiting; the job stays queued and a resume collects it. A stop asked by
      // the median rule aborts the signal from inside `report`: then the worker's final result is awaited.
      const onAbort = (): void => {
        if (w.inReport || w.stopAsked) return;
        awaiting.delete(id);
        reject(signal.reason instanceof Error ? signal.reason : new Error('interrupted'));
      };
      signal.addEventListener('abort', onAbort);
      awaiting.set(id, w);
      const early = buffered.get(id);
      if (early !== undefined) {
        buffered.delete(id);
        accept(id, early);
        return;
      }
      const payload: TrialJob = { version: 1, key: o.key, id, arch, ...o.job, results: resultsName };
      void (async () => {
        await trials.add('trial', payload, { jobId, attempts: 1, removeOnComplete: false, removeOnFail: false });
        // An existing job (a resume): it may have finished while no controller listened.
        const state = await trials.getJobState(jobId);
        if (state !== 'completed' && state !== 'failed') return;
        const job = await trials.getJob(jobId);
        if (state === 'failed') {
          if (!awaiting.has(id)) return;
          awaiting.delete(id);
          accepted.add(id);
          w.settle({ kind: 'final', key: o.key, id, worker: 'the queue', curve: [], outcome: { ok: false, error: `the queue gave up on the trial: ${job?.failedReason ?? 'no reason given'}` } });
          return;
        }
        const r = decodeMessage(resultMessageCodec, 'result', job?.returnvalue);
        if (E.isRight(r) && r.right.kind === 'final' && r.right.id === id && r.right.key === o.key) accept(id, r.right);
      })().catch((e: unknown) => {
        if (!closed) o.warn(`enqueueing trial ${id}: ${e instanceof Error ? e.message : String(e)}`);
      });
    });
  };

  const onEvent = (e: SearchEvent): void => {
    if (e.type !== 'trial-finished' && e.type !== 'trial-failed') return;
    const id = e.record.id;
    recorded.add(id);
    accepted.delete(id);
    for (const done of recordWaiters.get(id) ?? []) done();
    recordWaiters.delete(id);
  };

  const close = async (): Promise<void> => {
    closed = true;
    // Forced: result jobs still waiting for their record stay unacknowledged, and come back to a resume.
    await results?.close(true);
    await events.close();
    await trials.close();
    for (const c of connections) c.disconnect();
  };

  return { evaluate, onEvent, close };
};
