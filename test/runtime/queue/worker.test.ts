/**
 * The queue worker in process on the test device, against a real redis-server, with the test playing the
 * controller through BullMQ: a trial reports every epoch's metrics and a final result whose curve and objective
 * agree with them; a stop key honoured (set before the trial: nothing trained; set after the first epoch: the
 * trial ends early with what it reached); a model file whose hash differs refused with its name, the job given
 * back to the queue (delayed), not failed.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Job, Queue, Worker } from 'bullmq';
import * as E from 'fp-ts/lib/Either.js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { firstArchitecture } from '../../../src/ir/architecture.ts';
import { searchSpace } from '../../../src/ir/index.ts';
import { loadModel } from '../../../src/runtime/load-model.ts';
import { type DataSettings, type ResultMessage, type TrialJob, dataHash, resultsQueueName, sha256, stopKey, trialJobId } from '../../../src/runtime/queue/protocol.ts';
import { type TrialWorker, loadTrialData, startTrialWorker } from '../../../src/runtime/queue/worker.ts';
import { describeGpu } from '../../gpu.ts';
import { redisFixture } from '../../support/redis-server.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'nasgraph-qworker-'));
const modelFile = join(dir, 'tiny.ts');
writeFileSync(
  modelFile,
  `import { block, conv2d, defineModel, flatten, layerChoice, linear, relu } from ${JSON.stringify(join(root, 'src', 'ir', 'index.ts'))};
export default defineModel({ name: 'tiny', input: [1, 6, 6], layer: block((ctx, x) => {
  const c = ctx.call('conv', layerChoice({ k3: conv2d({ out: 4, kernel: 3, padding: 1 }), k1: conv2d({ out: 4, kernel: 1 }) }), x);
  return ctx.call('fc', linear({ out: 3 }), flatten()(ctx, ctx.call('relu', relu(), c)));
}) });
`,
);

// Registered first so that it runs last (vitest runs after-hooks as a stack): after the workers and Redis are closed.
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
const fx = redisFixture(beforeAll, afterAll);
const { conn, closers } = fx;

const KEY = 'wk';
const QUEUE = 'wq';
const settings: DataSettings = { data: 'synthetic', dataDir: null, trainSize: 64, validSize: 32, testSize: 32, retrainSize: null, seed: 0 };

/** A trial job as `nasgraph search --queue` makes it: hashes of the model file and of the data built from it. */
const jobFor = async (id: number, epochs: number, modelHash?: string): Promise<TrialJob> => {
  const loaded = await loadModel(modelFile);
  if (E.isLeft(loaded)) throw new Error(loaded.left[0]!.message);
  const data = loadTrialData(settings, loaded.right.graph);
  if (E.isLeft(data)) throw new Error(data.left[0]!.message);
  return {
    version: 1,
    key: KEY,
    id,
    arch: firstArchitecture(searchSpace(loaded.right.graph)),
    model: modelFile,
    modelHash: modelHash ?? sha256(readFileSync(modelFile)),
    data: settings,
    dataHash: dataHash(data.right),
    training: { epochs, batch: 16, lr: 0.01, seed: 0 },
    results: resultsQueueName(QUEUE, KEY),
  };
};

/** Resolves once `pred` holds (checked every 50 ms): bounded by the test's timeout, nothing asserts on time. */
const until = async (pred: () => boolean | Promise<boolean>): Promise<void> => {
  while (!(await pred())) await new Promise((d) => setTimeout(d, 50));
};

await describeGpu('the trial worker (in process)', (gpu) => {
  const messages: ResultMessage[] = [];
  let trials: Queue;
  let probe: Redis;
  let worker: TrialWorker;
  const lines: string[] = [];
  const warnings: string[] = [];
  /** Called with each epoch message as it arrives (the test's controller side). */
  let onEpoch: (m: Extract<ResultMessage, { kind: 'epoch' }>) => Promise<void> = async () => undefined;

  beforeAll(() => {
    trials = new Queue(QUEUE, { connection: conn() });
    probe = conn();
    const results = new Worker(
      resultsQueueName(QUEUE, KEY),
      async (job: Job) => {
        const m = job.data as ResultMessage;
        messages.push(m);
        if (m.kind === 'epoch') await onEpoch(m);
      },
      { connection: conn() },
    );
    worker = startTrialWorker({ url: fx.server().url, queueName: QUEUE, gpu, concurrency: 1, name: 'test-worker', stopPollMs: 100, refusalDelayMs: 60_000, log: (l) => lines.push(l), warn: (l) => warnings.push(l) });
    closers.push(
      () => worker.close(true),
      () => results.close(true),
      () => trials.close(),
    );
  });

  const finalOf = async (id: number): Promise<Extract<ResultMessage, { kind: 'final' }>> => {
    await until(() => messages.some((m) => m.kind === 'final' && m.id === id));
    return messages.find((m): m is Extract<ResultMessage, { kind: 'final' }> => m.kind === 'final' && m.id === id)!;
  };
  const epochsOf = (id: number): number[] => messages.flatMap((m) => (m.kind === 'epoch' && m.id === id ? [m.epoch] : []));

  it('reports every epoch and a final result that agrees with them', async () => {
    await trials.add('trial', await jobFor(0, 3), { jobId: trialJobId(KEY, 0) });
    const f = await finalOf(0);
    if (!f.outcome.ok) throw new Error(f.outcome.error);
    expect(f.curve.map((p) => p.epoch)).toEqual([1, 2, 3]);
    await until(() => epochsOf(0).length === 3); // epoch messages are sent without waiting: they may trail the final
    expect(epochsOf(0).sort()).toEqual([1, 2, 3]);
    expect(f.outcome.objective).toBe(f.curve[2]!.metrics['objective']);
    expect(f.outcome.params).toBeGreaterThan(0);
    expect(f.worker).toBe('test-worker');
    // The job's return value is the same result (a controller that missed the message reads it there).
    await until(async () => (await trials.getJobState(trialJobId(KEY, 0))) === 'completed');
    expect((await trials.getJob(trialJobId(KEY, 0)))?.returnvalue).toEqual(f);
  });

  it('honours a stop key set before the trial: nothing is trained', async () => {
    await probe.set(stopKey(QUEUE, trialJobId(KEY, 1)), '1');
    await trials.add('trial', await jobFor(1, 3), { jobId: trialJobId(KEY, 1) });
    const f = await finalOf(1);
    expect(f.outcome).toEqual({ ok: false, error: 'trial 1 stopped by the controller (median rule) before its first epoch' });
    expect(f.curve).toEqual([]);
    expect(epochsOf(1)).toEqual([]);
  });

  it('honours a stop key set after the first epoch: the trial ends early with what it reached', async () => {
    const epochs = 400;
    onEpoch = async (m) => {
      if (m.id === 2 && m.epoch === 1) await probe.set(stopKey(QUEUE, trialJobId(KEY, 2)), '1');
    };
    await trials.add('trial', await jobFor(2, epochs), { jobId: trialJobId(KEY, 2) });
    const f = await finalOf(2);
    if (!f.outcome.ok) throw new Error(f.outcome.error);
    expect(f.curve.length).toBeGreaterThanOrEqual(1);
    expect(f.curve.length).toBeLessThan(epochs);
    expect(f.outcome.objective).toBe(f.curve.at(-1)!.metrics['objective']);
    expect(lines).toContain(`trial 2 finished: objective ${f.outcome.objective.toFixed(4)} (stopped by the controller after epoch ${f.curve.length})`);
  });

  it('refuses a model file whose hash differs, naming the file, and gives the job back to the queue', async () => {
    await trials.add('trial', await jobFor(3, 1, 'c'.repeat(64)), { jobId: trialJobId(KEY, 3) });
    await until(() => messages.some((m) => m.kind === 'refused' && m.id === 3));
    const r = messages.find((m) => m.kind === 'refused' && m.id === 3)!;
    expect(r).toMatchObject({ kind: 'refused', worker: 'test-worker' });
    expect(r.kind === 'refused' && r.error).toContain(`model file ${modelFile} differs from the controller's`);
    await until(async () => (await trials.getJobState(trialJobId(KEY, 3))) === 'delayed');
    expect(messages.some((m) => m.kind === 'final' && m.id === 3)).toBe(false);
    expect(warnings.filter((w) => w.includes('refused trial 3'))).toHaveLength(1);
    expect(lines.some((l) => l.startsWith('trial 3'))).toBe(false);
  });
});
