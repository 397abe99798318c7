/**
 * The trial queue's faults, end to end: real `nasgraph search --queue` controllers and real worker processes
 * (`nasgraph worker`, or test/support/queue-worker.ts, which runs the same `startTrialWorker` with a fault injected
 * before a trial: a hang or a throw) against a real redis-server (test/support/redis-server.ts: own port and
 * directory, append-only file on, a password). Faults are placed by waiting for a worker's line ("holding trial
 * N"), never by timing: a held trial stays held until the test kills its worker or creates the gate file.
 *
 * Every trial log is checked line by line (not through the parser, which would hide a duplicate): one line per
 * trial id, whatever was delivered twice.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, faultyWorker, killAll, nasgraphProc, root } from '../../support/procs.ts';
import { type RedisServer, startRedis } from '../../support/redis-server.ts';

process.env['XDG_RUNTIME_DIR'] ??= '/tmp';

const PASSWORD = 'pw-Zq9-never-shown';
const dir = mkdtempSync(join(tmpdir(), 'nasgraph-queue-'));
let redis: RedisServer;
const procs: Proc[] = [];
const track = (p: Proc): Proc => (procs.push(p), p);

// Four architectures: a 3x3 or 1x1 convolution, and an optional skip connection around the relu.
const MODEL = `import { add, block, conv2d, defineModel, flatten, inputChoice, layerChoice, linear, relu } from ${JSON.stringify(join(root, 'src', 'ir', 'index.ts'))};
export default defineModel({ name: 'tiny', input: [1, 6, 6], layer: block((ctx, x) => {
  const c = ctx.call('conv', layerChoice({ k3: conv2d({ out: 4, kernel: 3, padding: 1 }), k1: conv2d({ out: 4, kernel: 1 }) }), x);
  const s = ctx.call('skip', inputChoice({ nChosen: null }), [c]);
  return ctx.call('fc', linear({ out: 3 }), flatten()(ctx, add(ctx.call('relu', relu(), c), s)));
}) });
`;
const tinyFlags = ['--data', 'synthetic', '--train-size', '64', '--valid-size', '32', '--test-size', '32', '--batch', '16', '--epochs', '1', '--retrain-epochs', '0'];

beforeAll(async () => {
  redis = await startRedis({ password: PASSWORD });
  writeFileSync(join(dir, 'tiny.ts'), MODEL);
});
afterAll(async () => {
  await killAll();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** `nasgraph search tiny.ts --strategy grid` through the queue `queueName`, in the scratch directory. */
const search = (out: string, queueName: string, ...extra: string[]): Proc =>
  track(nasgraphProc(dir, 'search', 'tiny.ts', '--strategy', 'grid', '--out', out, ...tinyFlags, '--queue', redis.url, '--queue-name', queueName, ...extra));

const worker = (queueName: string, name: string, more: Readonly<Record<string, unknown>> = {}): Proc =>
  track(faultyWorker(dir, { url: redis.url, queueName, name, ...more }));

/** The trial log's lines, parsed one by one (a duplicate line stays visible). */
const logLines = (out: string): { readonly id: number; readonly status: string; readonly error: string | null }[] =>
  readFileSync(join(dir, out, 'trials.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { id: number; status: string; error: string | null });

const ids = (out: string): number[] => logLines(out).map((r) => r.id).sort((a, b) => a - b);
const count = (text: string, re: RegExp): number => (text.match(re) ?? []).length;
const why = (p: Proc): string => `stdout:\n${p.out()}\nstderr:\n${p.err()}`;

describe('the trial queue under faults (real redis-server, worker processes)', () => {
  it('a worker SIGKILLed mid-trial: the trial is re-delivered to another worker and recorded exactly once', async () => {
    const fast = { lockDurationMs: 2000, stalledIntervalMs: 1000 }; // BullMQ's stalled-job check, made short
    const w1 = worker('kill', 'w1', { hold: [1], ...fast });
    const s = search('run-kill', 'kill', '--trials', '3', '--concurrency', '2');
    await w1.waitFor(/^holding trial 1$/m);
    w1.child.kill('SIGKILL');
    await w1.exited;
    const w2 = worker('kill', 'w2', fast);
    expect(await s.exited, why(s)).toBe(0);
    expect(ids('run-kill')).toEqual([0, 1, 2]);
    expect(logLines('run-kill').map((r) => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(w2.out()).toMatch(/^trial 1 started \(job [0-9a-f]+-1\) \(re-delivered\)$/m);
    expect(w1.out()).not.toMatch(/^trial 1 finished/m);
    expect(count(s.err(), /^trial #1 \(/gm)).toBe(1);
  });

  it('a worker SIGKILLed after sending its result: the trial runs again, and its second result is ignored with a warning', async () => {
    const fast = { lockDurationMs: 2000, stalledIntervalMs: 1000 };
    const gate = join(dir, 'gate-dup');
    const w1 = worker('dup', 'w1', { holdAfterResult: [0], ...fast });
    const s = search('run-dup', 'dup', '--trials', '2');
    await w1.waitFor(/^holding trial 0 after its result$/m);
    // Trial 0's result is in; its job is not completed: killing w1 now makes BullMQ deliver it again.
    await s.waitFor(/^trial #0 \(1\/2\)/m);
    w1.child.kill('SIGKILL');
    await w1.exited;
    // w2 holds trial 1 (so the search cannot end) until the duplicate result of trial 0 has been seen.
    const w2 = worker('dup', 'w2', { hold: [1], gate, concurrency: 2, ...fast });
    await s.waitFor(/^warning: ignored a result for trial 0 from worker w2: the trial is already recorded \(a duplicate delivery\)$/m);
    writeFileSync(gate, '');
    expect(await s.exited, why(s)).toBe(0);
    expect(w2.out()).toMatch(/^trial 0 started \(job [0-9a-f]+-0\) \(re-delivered\)$/m);
    expect(w2.out()).toMatch(/^trial 0 finished/m);
    expect(ids('run-dup')).toEqual([0, 1]);
    expect(count(s.err(), /^trial #0 \(/gm)).toBe(1);
  });

  it('a worker whose training throws: the trial is recorded failed with the error, and the search goes on', async () => {
    const w = worker('throw', 'wt', { throwOn: [1] });
    const s = search('run-throw', 'throw', '--trials', '3');
    expect(await s.exited, why(s)).toBe(0);
    const lines = logLines('run-throw').sort((a, b) => a.id - b.id);
    expect(lines.map((r) => [r.id, r.status])).toEqual([
      [0, 'succeeded'],
      [1, 'failed'],
      [2, 'succeeded'],
    ]);
    expect(lines[1]!.error).toMatch(/injected fault in trial 1 \(on worker wt\)/);
    expect(w.out()).toMatch(/^trial 1 failed: injected fault in trial 1$/m);
  });

  it('the controller SIGKILLed and resumed: the trials in flight are collected, none lost, none run twice', async () => {
    const gate = join(dir, 'gate-resume');
    const w = worker('resume', 'wr', { hold: [2], gate });
    const s1 = search('run-resume', 'resume', '--trials', '4', '--concurrency', '2');
    await w.waitFor(/^holding trial 2$/m);
    s1.child.kill('SIGKILL');
    await s1.exited;
    // Trial 2 (and whatever else was queued) finishes while no controller listens.
    writeFileSync(gate, '');
    await w.waitFor(/^trial 2 finished/m);
    const s2 = track(nasgraphProc(dir, 'search', 'tiny.ts', '--resume', '--out', 'run-resume', '--queue', redis.url));
    expect(await s2.exited, why(s2)).toBe(0);
    expect(ids('run-resume')).toEqual([0, 1, 2, 3]);
    expect(logLines('run-resume').every((r) => r.status === 'succeeded')).toBe(true);
    for (const id of [0, 1, 2, 3]) expect(count(w.out(), new RegExp(`^trial ${id} started`, 'gm')), `trial ${id}:\n${w.out()}`).toBe(1);
    // Trial 2 was in flight when the first controller died: the resumed one recorded it.
    expect(count(s1.err(), /^trial #2 \(/gm)).toBe(0);
    expect(count(s2.err(), /^trial #2 \(/gm)).toBe(1);
    // The resumed controller kept the experiment's key and queue (queue.json), so it waited for the old jobs.
    expect(JSON.parse(readFileSync(join(dir, 'run-resume', 'queue.json'), 'utf8'))).toMatchObject({ queueName: 'resume' });
  });

  it('Redis restarted mid-search (append-only file on): the search completes with every trial', async () => {
    const gate = join(dir, 'gate-restart');
    const w = worker('restart', 'wx', { hold: [1], gate });
    const s = search('run-restart', 'restart', '--trials', '3');
    await w.waitFor(/^holding trial 1$/m);
    await redis.restart();
    writeFileSync(gate, '');
    expect(await s.exited, why(s)).toBe(0);
    expect(ids('run-restart')).toEqual([0, 1, 2]);
    expect(logLines('run-restart').every((r) => r.status === 'succeeded')).toBe(true);
    expect(w.out()).toMatch(/^trial 1 finished/m);
  });

  it('`nasgraph worker` refuses a model file whose hash differs, naming the file; the trials wait for a worker that has it', async () => {
    const other = join(dir, 'elsewhere');
    mkdirSync(other, { recursive: true });
    writeFileSync(join(other, 'tiny.ts'), `${MODEL}// not the controller's file\n`);
    const s = search('run-refuse', 'refuse', '--trials', '2');
    const bad = track(nasgraphProc(other, 'worker', '--queue', redis.url, '--queue-name', 'refuse'));
    // The controller hears of the refusal (once per worker and reason); no trial is failed by it.
    await s.waitFor(/^warning: worker \S+ refused trial \d+: model file .*elsewhere\/tiny\.ts differs from the controller's/m);
    expect(bad.err()).toMatch(/refused trial \d+ of experiment [0-9a-f]+ .*model file .*elsewhere\/tiny\.ts differs/);
    const good = track(nasgraphProc(dir, 'worker', '--queue', redis.url, '--queue-name', 'refuse'));
    expect(await s.exited, why(s)).toBe(0);
    expect(ids('run-refuse')).toEqual([0, 1]);
    expect(logLines('run-refuse').every((r) => r.status === 'succeeded')).toBe(true);
    expect(bad.out()).not.toMatch(/finished|started/);
    expect(good.out()).toMatch(/^trial 0 finished/m);
    good.child.kill('SIGTERM');
    expect(await good.exited, why(good)).toBe(0);
    bad.child.kill('SIGTERM');
    expect(await bad.exited).toBe(0);
  });

  it('the password in the queue URL is never printed nor saved', () => {
    expect(procs.length).toBeGreaterThan(8);
    for (const p of procs) {
      expect(p.out()).not.toContain(PASSWORD);
      expect(p.err()).not.toContain(PASSWORD);
    }
    // Every run printed the URL at least once, redacted.
    expect(procs.filter((p) => p.err().includes('redis://:***@127.0.0.1')).length).toBeGreaterThan(4);
    const files = (d: string): string[] => readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? files(join(d, f)) : [join(d, f)]));
    const saved = readdirSync(dir)
      .filter((d) => d.startsWith('run-'))
      .flatMap((d) => files(join(dir, d)));
    expect(saved.some((f) => f.endsWith('search.json'))).toBe(true);
    for (const f of saved) expect(readFileSync(f, 'utf8'), f).not.toContain(PASSWORD);
    expect(existsSync(join(dir, 'run-kill', 'queue.json'))).toBe(true);
  });
});
