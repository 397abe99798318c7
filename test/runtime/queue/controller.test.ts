/**
 * The queue controller in process, against a real redis-server, with the test playing the worker through BullMQ:
 * a result delivered twice is accepted once (the second ignored with a warning), results for unknown, already
 * recorded or foreign trials are ignored with a warning, a refusal is reported once per worker and reason, the
 * runner's 'stop' sets the trial's stop key, a trial that completed while no controller listened is collected
 * from the job's return value, and one BullMQ gave up on is a failed trial. No device needed.
 */
import { type Job, Queue, Worker } from 'bullmq';
import * as E from 'fp-ts/lib/Either.js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrialRecord } from '../../../src/runtime/experiment-log.ts';
import { type QueueController, queueController } from '../../../src/runtime/queue/controller.ts';
import { type ResultMessage, type TrialJob, resultsQueueName, stopKey, trialJobCodec, trialJobId } from '../../../src/runtime/queue/protocol.ts';
import type { SearchEvent, TrialContext } from '../../../src/runtime/trials.ts';
import { redisFixture } from '../../support/redis-server.ts';

const fx = redisFixture(beforeAll, afterAll);
const { conn, closers } = fx;

const JOB = {
  model: 'tiny.ts',
  modelHash: 'a'.repeat(64),
  data: { data: 'synthetic', dataDir: null, trainSize: 64, validSize: 32, testSize: 32, retrainSize: null, seed: 0 },
  dataHash: 'b'.repeat(64),
  training: { epochs: 2, batch: 16, lr: 0.003, seed: 0 },
} as const;

const controller = (queueName: string, key: string, more: { recorded?: number[]; known?: number[] } = {}): { c: QueueController; warnings: string[] } => {
  const warnings: string[] = [];
  const c = queueController({ url: fx.server().url, queueName, key, job: JOB, recorded: more.recorded ?? [], known: more.known ?? [], warn: (m) => warnings.push(m), lockDurationMs: 2000 });
  closers.push(() => c.close());
  return { c, warnings };
};

/** A worker played by the test: `process` gets each decoded trial job and the results queue. */
const fakeWorker = (queueName: string, process: (job: TrialJob, results: Queue, raw: Job) => Promise<unknown>): void => {
  const shared = conn();
  const queues = new Map<string, Queue>();
  const w = new Worker(
    queueName,
    async (raw) => {
      const decoded = trialJobCodec.decode(raw.data);
      if (E.isLeft(decoded)) throw new Error('not a trial job');
      const name = decoded.right.results;
      if (!queues.has(name)) queues.set(name, new Queue(name, { connection: shared }));
      return process(decoded.right, queues.get(name)!, raw);
    },
    { connection: conn() },
  );
  closers.push(async () => {
    await w.close(true);
    for (const q of queues.values()) await q.close();
  });
};

const final = (key: string, id: number, objective: number, worker = 'fake'): ResultMessage => ({
  kind: 'final',
  key,
  id,
  worker,
  curve: [{ epoch: 1, metrics: { objective } }],
  outcome: { ok: true, objective, metrics: { validAccuracy: objective }, params: 10, flops: 20 },
});

const trial = (id: number, report: TrialContext['report'] = () => 'continue'): TrialContext => ({ id, arch: { conv: [0] }, signal: new AbortController().signal, report });

const recordedEvent = (id: number): SearchEvent => ({ type: 'trial-finished', record: { id } as unknown as TrialRecord });

/** Resolves once `pred` holds (checked every 50 ms): the test's own timeout bounds it, nothing asserts on time. */
const until = async (pred: () => boolean | Promise<boolean>): Promise<void> => {
  while (!(await pred())) await new Promise((d) => setTimeout(d, 50));
};

describe('queueController', () => {
  it('accepts a result delivered twice once, and ignores (with a warning) unknown, recorded and foreign ones', async () => {
    const key = 'k1';
    const { c, warnings } = controller('dup', key, { recorded: [5] });
    fakeWorker('dup', async (job, results) => {
      expect(job).toMatchObject({ version: 1, key, id: 0, arch: { conv: [0] }, model: 'tiny.ts', results: resultsQueueName('dup', key) });
      await results.add('epoch', { kind: 'epoch', key, id: 0, epoch: 1, metrics: { objective: 0.5 }, worker: 'fake' });
      await results.add('final', final(key, 0, 0.5));
      await results.add('final', final(key, 0, 0.9, 'second')); // a re-delivered run's result
      await results.add('final', final(key, 99, 0.9)); // a trial this search never proposed
      await results.add('final', final(key, 5, 0.9)); // a trial already in trials.jsonl
      await results.add('final', final('other', 0, 0.9)); // another experiment's
      return null;
    });
    const reports: number[] = [];
    const m = await c.evaluate(
      trial(0, (epoch) => {
        reports.push(epoch);
        return 'continue';
      }),
    );
    expect(m).toEqual({ objective: 0.5, metrics: { validAccuracy: 0.5 }, params: 10, flops: 20 });
    c.onEvent(recordedEvent(0));
    await until(() => warnings.length >= 4);
    expect(reports).toEqual([1]); // the epoch message and the final's curve: reported once
    expect(warnings.filter((w) => /trial 0 from worker second: the trial is already recorded \(a duplicate delivery\)/.test(w))).toHaveLength(1);
    expect(warnings.filter((w) => /trial 99 .*no such trial in this search/.test(w))).toHaveLength(1);
    expect(warnings.filter((w) => /trial 5 .*already recorded/.test(w))).toHaveLength(1);
    expect(warnings.filter((w) => /trial 0 of another experiment \(key other\)/.test(w))).toHaveLength(1);
    expect(warnings).toHaveLength(4);
  });

  it("sets the trial's stop key when the runner's report answers 'stop' (median rule), then takes the worker's result", async () => {
    const key = 'k2';
    const { c } = controller('stop', key);
    const probe = conn();
    fakeWorker('stop', async (job, results, raw) => {
      await results.add('epoch', { kind: 'epoch', key, id: job.id, epoch: 1, metrics: { objective: 0.1 }, worker: 'fake' });
      await until(async () => (await probe.get(stopKey('stop', raw.id!))) !== null); // what the real worker polls
      await results.add('final', final(key, job.id, 0.1));
      return null;
    });
    const m = await c.evaluate(trial(3, () => 'stop'));
    expect(m.objective).toBe(0.1);
    expect(await probe.get(stopKey('stop', trialJobId(key, 3)))).toBe('1');
  });

  it('reports a refusal once per worker and reason, and keeps waiting for the result', async () => {
    const key = 'k3';
    const { c, warnings } = controller('refuse', key);
    fakeWorker('refuse', async (job, results) => {
      for (let i = 0; i < 3; i++) await results.add('refused', { kind: 'refused', key, id: job.id, worker: 'bad', error: 'model file /x/tiny.ts differs' });
      await results.add('refused', { kind: 'refused', key, id: job.id, worker: 'bad2', error: 'model file /y/tiny.ts is not on this disk' });
      await until(() => warnings.length >= 2);
      await results.add('final', final(key, job.id, 0.7, 'good'));
      return null;
    });
    expect((await c.evaluate(trial(1))).objective).toBe(0.7);
    expect(warnings).toEqual([
      'worker bad refused trial 1: model file /x/tiny.ts differs; the trial waits for a worker that has the file',
      'worker bad2 refused trial 1: model file /y/tiny.ts is not on this disk; the trial waits for a worker that has the file',
    ]);
  });

  it('collects a trial that completed while no controller listened from the job, and records one BullMQ failed as failed', async () => {
    const key = 'k4';
    // A worker finishes trial 0 (its result message lost) and fails trial 1, before any controller exists.
    const trials = new Queue('gone', { connection: conn() });
    closers.push(() => trials.close());
    const base = { version: 1, key, arch: { conv: [0] }, ...JOB, results: resultsQueueName('gone', key) } as const;
    await trials.add('trial', { ...base, id: 0 }, { jobId: trialJobId(key, 0) });
    await trials.add('trial', { ...base, id: 1 }, { jobId: trialJobId(key, 1) });
    fakeWorker('gone', async (job) => {
      if (job.id === 1) throw new Error('out of memory on the worker');
      return final(key, 0, 0.625);
    });
    await until(async () => (await trials.getJobState(trialJobId(key, 0))) === 'completed' && (await trials.getJobState(trialJobId(key, 1))) === 'failed');
    const { c } = controller('gone', key, { known: [0, 1] });
    expect((await c.evaluate(trial(0))).objective).toBe(0.625);
    await expect(c.evaluate(trial(1))).rejects.toThrow(/the queue gave up on the trial: out of memory on the worker/);
  });
});
