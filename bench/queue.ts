/**
 * Bench section `queue` (issue 12): the classic job's search (scripts/classic-job.sh: evolution on
 * examples/fashion-small.ts, real Fashion-MNIST, 1 epoch of 3000 samples per trial) with fewer trials and no
 * retrain, run four ways through the real CLI (child processes): in process (`--concurrency 1` and 2), through the
 * trial queue with one `nasgraph worker` (`--concurrency 1`), and with two workers (each `--concurrency 1`, the
 * search `--concurrency 2`), on a redis-server of its own (test/support/redis-server.ts). Per run: trials per
 * minute (first trial proposed to last trial logged, so process start-up is left out), the mean trial time the
 * runner logged, and the queue's overhead per trial: enqueue to start (BullMQ's job timestamp to processedOn) and
 * result to log (the worker's "trial N finished" line to the controller's log line, as this process receives them).
 *
 * `BENCH_QUEUE_TRIALS` (default 6) sets the trials. Not part of CI; the load average is printed beside the figures.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { startRedis } from '../test/support/redis-server.ts';
import type { BenchSection, Row } from './section.ts';
import { timing } from './section.ts';

const root = join(import.meta.dirname, '..');
const load = (): string => `load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`;

/** The classic job's search flags (scripts/classic-job.sh) without the retrain. */
const classicFlags = (trials: number): string[] => [
  ...['--strategy', 'evolution', '--strategy-options', '{"population":6,"sample":3}'],
  ...['--trials', String(trials), '--epochs', '1', '--train-size', '3000', '--valid-size', '1000', '--batch', '32', '--lr', '0.003'],
  ...['--retrain-epochs', '0', '--seed', '0'],
];

interface Line {
  readonly at: number;
  readonly text: string;
}

interface Child {
  readonly child: ChildProcess;
  readonly lines: Line[];
  readonly exited: Promise<number | null>;
  readonly waitFor: (re: RegExp) => Promise<void>;
}

/** `nasgraph ...args`, every stdout and stderr line kept with the time this process received it. */
const run = (...args: string[]): Child => {
  const child = spawn(process.execPath, [join(root, 'bin', 'nasgraph.js'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Line[] = [];
  const waiters: (() => void)[] = [];
  for (const s of [child.stdout!, child.stderr!]) {
    let rest = '';
    s.setEncoding('utf8').on('data', (c: string) => {
      const at = performance.now();
      const parts = (rest + c).split('\n');
      rest = parts.pop() ?? '';
      for (const text of parts) lines.push({ at, text });
      for (const w of [...waiters]) w();
    });
  }
  const exited = new Promise<number | null>((done) => child.on('close', (code) => (waiters.forEach((w) => w()), done(code))));
  const waitFor = (re: RegExp): Promise<void> =>
    new Promise((done, fail) => {
      const check = (): void => {
        if (lines.some((l) => re.test(l.text))) return (waiters.splice(waiters.indexOf(check), 1), done());
        if (child.exitCode !== null) fail(new Error(`exited before ${re}: ${lines.map((l) => l.text).join('\n')}`));
      };
      waiters.push(check);
      check();
    });
  return { child, lines, exited, waitFor };
};

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? Number.NaN : s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Measured {
  readonly trials: number;
  readonly spanS: number;
  readonly meanTrialS: number;
  readonly enqueueToStartMs: number | null;
  readonly resultToLogMs: number | null;
}

/** The search's figures from its lines and trials.jsonl. */
const measure = (search: Child, out: string, workers: readonly Child[]): Omit<Measured, 'enqueueToStartMs'> => {
  const started = search.lines.find((l) => /^trial #\d+ started/.test(l.text));
  const logged = search.lines.filter((l) => /^trial #\d+ \(\d+\/\d+\)/.test(l.text));
  if (started === undefined || logged.length === 0) throw new Error(`no trials in the search's output:\n${search.lines.map((l) => l.text).join('\n')}`);
  const records = readFileSync(join(out, 'trials.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { id: number; wallTimeMs: number });
  const gaps: number[] = [];
  for (const l of logged) {
    const id = Number(/^trial #(\d+)/.exec(l.text)![1]);
    const done = workers.flatMap((w) => w.lines).find((w) => w.text.startsWith(`trial ${id} finished`) || w.text.startsWith(`trial ${id} failed`));
    if (done !== undefined) gaps.push(l.at - done.at);
  }
  return {
    trials: records.length,
    spanS: (logged.at(-1)!.at - started.at) / 1000,
    meanTrialS: records.reduce((a, r) => a + r.wallTimeMs, 0) / records.length / 1000,
    resultToLogMs: gaps.length === 0 ? null : median(gaps),
  };
};

const inProcess = async (trials: number, concurrency: number, out: string): Promise<Measured> => {
  const s = run('search', 'examples/fashion-small.ts', ...classicFlags(trials), '--concurrency', String(concurrency), '--out', out);
  const code = await s.exited;
  if (code !== 0) throw new Error(`the in-process search failed (${code}): ${s.lines.slice(-5).map((l) => l.text).join(' | ')}`);
  return { ...measure(s, out, []), enqueueToStartMs: null, resultToLogMs: null };
};

const throughQueue = async (url: string, trials: number, workers: number, out: string): Promise<Measured> => {
  const name = `bench-${workers}`;
  const ws = Array.from({ length: workers }, () => run('worker', '--queue', url, '--queue-name', name, '--concurrency', '1'));
  await Promise.all(ws.map((w) => w.waitFor(/^worker /)));
  const s = run('search', 'examples/fashion-small.ts', ...classicFlags(trials), '--concurrency', String(workers), '--out', out, '--queue', url, '--queue-name', name);
  const code = await s.exited;
  for (const w of ws) w.child.kill('SIGTERM');
  await Promise.all(ws.map((w) => w.exited));
  if (code !== 0) throw new Error(`the queued search failed (${code}): ${s.lines.slice(-5).map((l) => l.text).join(' | ')}`);
  const m = measure(s, out, ws);
  // BullMQ's own timestamps of each trial job: added (the controller) and taken (a worker).
  const conn = new Redis(url, { maxRetriesPerRequest: null });
  const q = new Queue(name, { connection: conn });
  const jobs = await q.getJobs(['completed', 'failed']);
  await q.close();
  conn.disconnect();
  const waits = jobs.flatMap((j) => (j.processedOn === undefined ? [] : [j.processedOn - j.timestamp]));
  return { ...m, enqueueToStartMs: waits.length === 0 ? null : median(waits) };
};

const describeRun = (m: Measured): string =>
  `${m.trials} trials in ${m.spanS.toFixed(1)} s = ${((60 * m.trials) / m.spanS).toFixed(2)} trials/min; mean trial ${m.meanTrialS.toFixed(1)} s (as logged)` +
  (m.enqueueToStartMs === null ? '' : `; enqueue→start median ${m.enqueueToStartMs.toFixed(0)} ms`) +
  (m.resultToLogMs === null ? '' : `; result→log median ${m.resultToLogMs.toFixed(0)} ms`);

export const queueSection: BenchSection = {
  name: 'queue',
  description: "the classic job's search in process vs through the trial queue (Redis + BullMQ) with 1 and 2 workers",
  run: async ({ log }) => {
    const trials = Number(process.env['BENCH_QUEUE_TRIALS'] ?? 6);
    const redis = await startRedis();
    const tmp = mkdtempSync(join(os.tmpdir(), 'nasgraph-bench-queue-'));
    const rows: Row[] = [];
    try {
      const cases: readonly [string, (out: string) => Promise<Measured>][] = [
        ['in process, --concurrency 1', (out) => inProcess(trials, 1, out)],
        ['in process, --concurrency 2', (out) => inProcess(trials, 2, out)],
        ['queue, 1 worker (--concurrency 1)', (out) => throughQueue(redis.url, trials, 1, out)],
        ['queue, 2 workers (each --concurrency 1)', (out) => throughQueue(redis.url, trials, 2, out)],
      ];
      for (const [i, [name, go]] of cases.entries()) {
        const before = load();
        log(`queue: ${name}; ${before}`);
        const m = await go(join(tmp, `run-${i}`));
        const note = `${describeRun(m)}; ${before} before, ${load()} after`;
        log(`queue: ${name}: ${note}`);
        rows.push({ section: 'queue', name: `${name}: seconds per trial`, flops: null, ours: timing(m.spanS / m.trials, null), tfjs: null, note });
      }
    } finally {
      await redis.stop();
      rmSync(tmp, { recursive: true, force: true });
    }
    return rows;
  },
};
