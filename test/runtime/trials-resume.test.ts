/**
 * Resume after a crash: a search runs in a child process (test/runtime/fixtures/search-child.ts), is killed
 * with SIGKILL at a chosen point (between trials, after a trial's record is appended but before the strategy
 * observed it, after a proposal before its evaluation started, mid-trial), and is resumed in a second child.
 * Then no trial is lost, none is run twice, and the log equals an uninterrupted run with the same seed (the
 * strategies here are deterministic given the seed at these concurrencies).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as E from 'fp-ts/lib/Either.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TrialRecord, parseTrialLog } from '../../src/runtime/experiment-log.ts';
import { runSearch } from '../../src/runtime/trials.ts';
import { createStrategy } from '../../src/search/index.ts';
import { syntheticEvaluate, syntheticSpace } from './fixtures/synthetic-search.ts';

const fixture = fileURLToPath(new URL('./fixtures/search-child.ts', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));

interface Setup {
  readonly strategy: string;
  readonly options: Record<string, unknown>;
  readonly seed: number;
  readonly trials: number;
  readonly concurrency: number;
}

/** Runs the child to its end, or until a stdout line matches `killOn`, then SIGKILLs it. */
const runChild = (args: Record<string, unknown>, killOn?: RegExp): Promise<{ stdout: string; code: number | null; signal: NodeJS.Signals | null }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, JSON.stringify(args)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (killOn !== undefined && killOn.test(stdout)) child.kill('SIGKILL');
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal === null && code !== 0) reject(new Error(`child exited with ${code}: ${stdout}\n${stderr}`));
      else resolve({ stdout, code, signal });
    });
  });

const readLog = (logDir: string): readonly TrialRecord[] => {
  const parsed = parseTrialLog('trials.jsonl', fs.readFileSync(path.join(logDir, 'trials.jsonl'), 'utf8'));
  if (E.isLeft(parsed)) throw new Error(parsed.left.map((e) => e.message).join('\n'));
  return parsed.right.records;
};

/** What must agree between two runs: per trial id, the architecture and the result (not the timings). */
const results = (records: readonly TrialRecord[]): unknown =>
  [...records]
    .sort((a, b) => a.id - b.id)
    .map((r) => ({ id: r.id, arch: r.arch, architecture: r.architecture, status: r.status, objective: r.objective, metrics: r.metrics, curve: r.curve, error: r.error?.replace(/trial \d+/, 'trial N') }));

/** How many times each trial id ran to its end, from the children's evaluation log. */
const endCounts = (evalLog: string): Map<number, number> => {
  const counts = new Map<number, number>();
  for (const line of fs.readFileSync(evalLog, 'utf8').split('\n')) {
    const m = /^end (\d+)$/.exec(line);
    if (m !== null) counts.set(Number(m[1]), (counts.get(Number(m[1])) ?? 0) + 1);
  }
  return counts;
};

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nasgraph-resume-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The log of an uninterrupted run of `setup`, in process. */
const reference = async (setup: Setup, name: string): Promise<readonly TrialRecord[]> => {
  const s = createStrategy(setup.strategy, setup.options);
  if (E.isLeft(s)) throw new Error('bad strategy');
  const logDir = path.join(dir, `${name}-reference`);
  const r = await runSearch({ space: syntheticSpace, strategy: s.right, evaluate: syntheticEvaluate(), seed: setup.seed, trials: setup.trials, concurrency: setup.concurrency, logDir });
  expect(E.isRight(r)).toBe(true);
  return readLog(logDir);
};

const evolution: Setup = { strategy: 'evolution', options: { population: 4, sample: 2 }, seed: 7, trials: 12, concurrency: 1 };
const random: Setup = { strategy: 'random', options: {}, seed: 3, trials: 12, concurrency: 1 };
const grid2: Setup = { strategy: 'grid', options: {}, seed: 0, trials: 14, concurrency: 2 };

interface Crash {
  readonly name: string;
  readonly setup: Setup;
  /** Where the first child is killed: a frozen event, or mid-trial in a slow trial. */
  readonly block?: { readonly type: string; readonly id: number };
  readonly slowIds?: readonly number[];
  readonly killOn: RegExp;
  /** Cut the last line of trials.jsonl in half after the kill (an append cut short). */
  readonly truncate?: boolean;
  /** Trials expected to run to their end twice (their first result was lost with the truncated line). */
  readonly twice?: readonly number[];
  /** What the resume must do: observe logged-but-unobserved trials, run again those in flight. */
  readonly resumed: { readonly replayed: readonly number[]; readonly rerun: readonly number[] };
}

const crashes: readonly Crash[] = [
  { name: 'evolution, between trials (after observe, before propose)', setup: evolution, block: { type: 'progress', id: 5 }, killOn: /BLOCKED/, resumed: { replayed: [], rerun: [] } },
  {
    name: 'evolution, after the record is appended, before it is observed',
    setup: evolution,
    block: { type: 'trial-finished', id: 5 },
    killOn: /BLOCKED/,
    resumed: { replayed: [5], rerun: [] },
  },
  {
    name: 'evolution, the last trial appended, not observed',
    setup: evolution,
    block: { type: 'trial-finished', id: 11 },
    killOn: /BLOCKED/,
    resumed: { replayed: [11], rerun: [] },
  },
  { name: 'evolution, after a proposal, before its evaluation', setup: evolution, block: { type: 'trial-started', id: 6 }, killOn: /BLOCKED/, resumed: { replayed: [], rerun: [6] } },
  { name: 'evolution, mid-trial', setup: evolution, slowIds: [6], killOn: /EVALUATING 6/, resumed: { replayed: [], rerun: [6] } },
  {
    name: 'random, with a truncated last line',
    setup: random,
    block: { type: 'trial-finished', id: 4 },
    killOn: /BLOCKED/,
    truncate: true,
    twice: [4],
    resumed: { replayed: [], rerun: [4] },
  },
  // Trials 6 and 7 both sleep: the kill comes with both in flight.
  { name: 'grid with 2 in flight, mid-trial', setup: grid2, slowIds: [6, 7], killOn: /EVALUATING 7/, resumed: { replayed: [], rerun: [6, 7] } },
];

describe('resume after SIGKILL', () => {
  it.each(crashes)('$name: nothing lost, nothing run twice, same log as without the crash', async (crash) => {
    const name = crash.name.replace(/[^a-z0-9]+/gi, '-');
    const logDir = path.join(dir, name);
    const evalLog = path.join(dir, `${name}.evals`);
    const base = { ...crash.setup, logDir, evalLog };

    const first = await runChild({ ...base, resume: false, block: crash.block, slowIds: crash.slowIds ?? [] }, crash.killOn);
    expect(first.signal).toBe('SIGKILL');
    const before = readLog(logDir);
    expect(first.stdout).not.toMatch(/DONE/); // it really was interrupted
    if (crash.truncate === true) {
      const file = path.join(logDir, 'trials.jsonl');
      const text = fs.readFileSync(file, 'utf8');
      const lastStart = text.lastIndexOf('\n', text.length - 2) + 1;
      fs.writeFileSync(file, text.slice(0, lastStart + Math.floor((text.length - lastStart) / 2)));
    }

    const second = await runChild({ ...base, resume: true });
    expect(second.stdout).toMatch(/DONE/);
    expect(JSON.parse(/RESUMED (.*)/.exec(second.stdout)![1]!)).toEqual(crash.resumed);
    if (crash.truncate === true) expect(second.stdout).toMatch(/WARNING .*trials\.jsonl:\d+: dropped a truncated last line/);

    const after = readLog(logDir);
    expect(after.map((r) => r.id).sort((a, b) => a - b)).toEqual(Array.from({ length: crash.setup.trials }, (_, i) => i));
    // Every trial finished before the crash is logged unchanged.
    for (const r of before.filter((b) => crash.truncate !== true || b.id !== crash.twice?.[0])) {
      expect(after.find((a) => a.id === r.id)).toEqual(r);
    }
    const ends = endCounts(evalLog);
    for (let id = 0; id < crash.setup.trials; id++) expect(ends.get(id), `trial ${id}`).toBe(crash.twice?.includes(id) === true ? 2 : 1);
    expect(results(after)).toEqual(results(await reference(crash.setup, name)));
    const state = JSON.parse(fs.readFileSync(path.join(logDir, 'state.json'), 'utf8')) as { nextId: number; pending: unknown[] };
    expect(state).toMatchObject({ nextId: crash.setup.trials, pending: [] });
  });

  it('refuses to resume a crashed log with a different strategy, and leaves it intact', async () => {
    const logDir = path.join(dir, 'refuse');
    const evalLog = path.join(dir, 'refuse.evals');
    const base = { ...evolution, logDir, evalLog };
    await runChild({ ...base, resume: false, block: { type: 'progress', id: 3 } }, /BLOCKED/);
    const files = Object.fromEntries(fs.readdirSync(logDir).map((f) => [f, fs.readFileSync(path.join(logDir, f), 'utf8')]));
    const other = await runChild({ ...base, strategy: 'random', options: {}, resume: true }).catch((e: Error) => ({ stdout: e.message }));
    expect(other.stdout).toMatch(/ERROR .*it was run with strategy \\"evolution\\", not \\"random\\"/);
    expect(Object.fromEntries(fs.readdirSync(logDir).map((f) => [f, fs.readFileSync(path.join(logDir, f), 'utf8')]))).toEqual(files);
  });
});

describe('a log with duplicate trial ids (two processes once ran on one directory)', () => {
  it('is repaired by --resume: the first record of each id is kept, a warning names each dropped line, the search completes', async () => {
    const setup = random;
    const s = createStrategy(setup.strategy, setup.options);
    if (E.isLeft(s)) throw new Error('bad strategy');
    const logDir = path.join(dir, 'duplicates');
    // A search of 6 trials, then the lines of trials 2 and 3 appended again with other objectives (as a second process would).
    const first = await runSearch({ space: syntheticSpace, strategy: s.right, evaluate: syntheticEvaluate(), seed: setup.seed, trials: 6, concurrency: 1, logDir });
    expect(E.isRight(first)).toBe(true);
    const file = path.join(logDir, 'trials.jsonl');
    const original = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
    const dup = (line: string): string => JSON.stringify({ ...(JSON.parse(line) as object), objective: -1 });
    fs.appendFileSync(file, `${dup(original[2]!)}\n${dup(original[3]!)}\n`);
    const warnings: string[] = [];
    const s2 = createStrategy(setup.strategy, setup.options);
    if (E.isLeft(s2)) throw new Error('bad strategy');
    const resumed = await runSearch({
      space: syntheticSpace,
      strategy: s2.right,
      evaluate: syntheticEvaluate(),
      seed: setup.seed,
      trials: setup.trials,
      concurrency: 1,
      logDir,
      resume: true,
      onEvent: (e) => {
        if (e.type === 'warning') warnings.push(e.message);
      },
    });
    expect(E.isRight(resumed), JSON.stringify(resumed)).toBe(true);
    expect(warnings.filter((w) => w.includes('twice'))).toEqual([
      `${file}:7: trial 2 was logged twice (first on line 3); kept the first record, dropped this one`,
      `${file}:8: trial 3 was logged twice (first on line 4); kept the first record, dropped this one`,
    ]);
    const after = readLog(logDir);
    expect(after.every((r) => r.objective !== -1)).toBe(true);
    expect(results(after)).toEqual(results(await reference(setup, 'duplicates')));
  });
});
