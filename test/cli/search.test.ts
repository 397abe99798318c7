/**
 * `nasgraph search` as a user runs it (a child process) on a tiny synthetic space: the ranked table, arch.json
 * (loadable by `nasgraph check`), result.json with the retrain's test accuracy; a search killed between trials
 * and resumed (no finished trial run again, none lost); and the error paths (exit 2 for wrong usage, exit 1 for a
 * space the strategy refuses, tested in process since no registered strategy refuses a space that builds).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type TrialRecord, parseTrialLog } from '../../src/runtime/experiment-log.ts';
import { EXIT_ERRORS, EXIT_USAGE } from '../../src/cli/io.ts';
import { searchErrorCode } from '../../src/cli/search.ts';
import { strategyNames } from '../../src/search/index.ts';
import { irImport, lines, nasgraph, root, scratch } from './run-cli.ts';

process.env['XDG_RUNTIME_DIR'] ??= '/tmp';

const tmp = scratch();
afterAll(() => tmp.dispose());

// Four architectures: a 3x3 or 1x1 convolution, and an optional skip connection around the relu.
const model = tmp.file(
  'tiny.ts',
  `${irImport('add, block, conv2d, defineModel, flatten, inputChoice, layerChoice, linear, relu')}
export default defineModel({ name: 'tiny', input: [1, 6, 6], layer: block((ctx, x) => {
  const c = ctx.call('conv', layerChoice({ k3: conv2d({ out: 4, kernel: 3, padding: 1 }), k1: conv2d({ out: 4, kernel: 1 }) }), x);
  const s = ctx.call('skip', inputChoice({ nChosen: null }), [c]);
  return ctx.call('fc', linear({ out: 3 }), flatten()(ctx, add(ctx.call('relu', relu(), c), s)));
}) });
`,
);

/** Small enough that a trial takes about a second on lavapipe. */
const tinyFlags = ['--data', 'synthetic', '--train-size', '64', '--valid-size', '32', '--test-size', '32', '--batch', '16', '--epochs', '1'];

const trialLog = (dir: string): readonly TrialRecord[] => {
  const log = parseTrialLog('trials.jsonl', readFileSync(join(dir, 'trials.jsonl'), 'utf8'));
  if (log._tag === 'Left') throw new Error(log.left.map((e) => e.message).join('\n'));
  return log.right.records;
};

/** Runs the search and SIGKILLs it as soon as `finished` trials are reported finished on stderr. */
const killAfter = (finished: number, args: readonly string[]): Promise<{ readonly stderr: string; readonly killed: boolean }> =>
  new Promise((done) => {
    const child = spawn(process.execPath, [join(root, 'bin', 'nasgraph.js'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let killed = false;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
      if (!killed && (stderr.match(/^trial #\d+ \(\d+\/\d+\)/gm) ?? []).length >= finished) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.stdout.resume();
    child.on('close', () => done({ stderr, killed }));
  });

describe('nasgraph search', () => {
  it.concurrent('searches, ranks, writes arch.json (accepted by check) and retrains the best', async () => {
    const out = join(dirname(model), 'run-a');
    const r = await nasgraph('search', model, '--strategy', 'grid', '--trials', '3', '--retrain-epochs', '1', '--out', out, ...tinyFlags);
    expect(r.stderr).not.toMatch(/error:/);
    expect(r.code).toBe(0);
    const table = lines(r.stdout);
    const header = table.findIndex((l) => l.startsWith('RANK'));
    expect(table[header]).toMatch(/RANK\s+TRIAL\s+STATUS\s+VALID ACC\s+PARAMS\s+MACS\s+TIME\s+ARCHITECTURE/);
    const rows = table.slice(header + 1, header + 4);
    expect(rows.map((l) => l.split(/\s+/)[0])).toEqual(['1', '2', '3']);
    // Ranked best first: the objectives (percentages) never increase down the table.
    const objectives = rows.map((l) => Number(/(\d+\.\d+)%/.exec(l)?.[1]));
    expect([...objectives].sort((a, b) => b - a)).toEqual(objectives);

    const records = trialLog(out);
    expect(records.map((t) => t.id).sort()).toEqual([0, 1, 2]);
    const best = [...records].sort((a, b) => (b.objective ?? -1) - (a.objective ?? -1) || a.id - b.id)[0]!;
    const check = await nasgraph('check', model, join(out, 'arch.json'));
    expect(check.code).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'arch.json'), 'utf8'))).toEqual(best.architecture);

    const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as {
      best: { trial: number; validAccuracy: number };
      retrain: { trainSize: number; testSize: number; testAccuracy: number; epochs: number; history: unknown[] };
    };
    expect(result.best.trial).toBe(best.id);
    expect(result.best.validAccuracy).toBe(best.objective);
    expect(result.retrain.trainSize).toBe(64 + 32); // the trials' train and valid sets together
    expect(result.retrain.testSize).toBe(32);
    expect(result.retrain.history.length).toBe(1);
    // The retrained best architecture learned the separable synthetic set (chance 1/3).
    expect(result.retrain.testAccuracy).toBeGreaterThanOrEqual(0.6);
    // So did the trials: the best one's validation accuracy is far above chance.
    expect(best.objective!).toBeGreaterThanOrEqual(0.6);
    expect(r.stdout).toContain(`test     accuracy ${(100 * result.retrain.testAccuracy).toFixed(2)}%`);
    expect(existsSync(join(out, 'weights.safetensors'))).toBe(true);
  });

  it.concurrent('resumes a search killed between trials without running a finished trial again', async () => {
    const out = join(dirname(model), 'run-b');
    const args = ['search', model, '--strategy', 'evolution', '--strategy-options', '{"population":2,"sample":1}', '--trials', '4', '--retrain-epochs', '0', '--out', out, ...tinyFlags];
    const first = await killAfter(1, args);
    expect(first.killed).toBe(true);
    const before = trialLog(out);
    expect(before.length).toBeGreaterThanOrEqual(1);
    expect(before.length).toBeLessThan(4);

    // Settings not given are taken from the saved search: only the model, --out and --resume.
    const resumed = await nasgraph('search', model, '--out', out, '--resume');
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toContain(`resuming: ${before.length} trials finished earlier`);
    const after = trialLog(out);
    expect(after.map((t) => t.id).sort()).toEqual([0, 1, 2, 3]);
    // The trials finished before the kill are the same records (not run again).
    for (const t of before) expect(after.find((a) => a.id === t.id)).toEqual(t);
    for (const t of before) expect(resumed.stderr).not.toMatch(new RegExp(`^trial #${t.id} started`, 'm'));
    expect(JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')).retrain).toBeNull();

    // A resume that would change what a trial computes is refused, naming the flag.
    const changed = await nasgraph('search', model, '--out', out, '--resume', '--epochs', '2');
    expect(changed.code).toBe(EXIT_USAGE);
    expect(changed.stderr).toMatch(/--epochs 2 differs from the search being resumed \(1\)/);
    // Starting afresh in a directory that holds a search is refused too.
    const again = await nasgraph('search', model, '--out', out, ...tinyFlags);
    expect(again.code).toBe(EXIT_USAGE);
    expect(again.stderr).toMatch(/already holds a search.*--resume/);
  });

  it.concurrent('refuses an unknown strategy with one line listing the known ones (exit 2)', async () => {
    const r = await nasgraph('search', model, '--strategy', 'bayes', '--out', join(dirname(model), 'run-c'));
    expect(r.code).toBe(EXIT_USAGE);
    expect(lines(r.stderr)).toHaveLength(1);
    for (const name of strategyNames) expect(r.stderr).toContain(name);
  });

  it.concurrent('refuses a missing model file, a missing --out, a bad flag value and bad strategy options (exit 2)', async () => {
    const out = join(dirname(model), 'run-d');
    const missing = await nasgraph('search', join(root, 'no-such-model.ts'), '--out', out);
    expect(missing.code).toBe(EXIT_USAGE);
    expect(lines(missing.stderr)).toEqual([expect.stringMatching(/no-such-model\.ts/)]);
    const noOut = await nasgraph('search', model);
    expect(noOut.code).toBe(EXIT_USAGE);
    expect(noOut.stderr).toMatch(/--out/);
    const badTrials = await nasgraph('search', model, '--out', out, '--trials', 'many');
    expect(badTrials.code).toBe(EXIT_USAGE);
    expect(lines(badTrials.stderr)).toEqual([expect.stringMatching(/--trials must be an integer ≥ 1, got 'many'/)]);
    // A batch larger than the training set: one error before any trial or device work.
    const bigBatch = await nasgraph('search', model, '--out', out, ...tinyFlags, '--batch', '3e4');
    expect(bigBatch.code).toBe(EXIT_USAGE);
    expect(lines(bigBatch.stderr).filter((l) => !l.startsWith('Warning:'))).toEqual([expect.stringMatching(/^error: --batch 30000 is larger than the training set \(\d+ samples\): no step would run; use --batch \d+ or less$/)]);
    expect(bigBatch.stdout).not.toMatch(/trial/);
    const halfBatch = await nasgraph('search', model, '--out', out, '--batch', '1.5');
    expect(lines(halfBatch.stderr)).toEqual([expect.stringMatching(/--batch must be an integer ≥ 1, got '1\.5'/)]);
    const badOptions = await nasgraph('search', model, '--out', out, '--strategy', 'evolution', '--strategy-options', '{"populaton":3}', ...tinyFlags);
    expect(badOptions.code).toBe(EXIT_USAGE);
    expect(badOptions.stderr).toMatch(/no option 'populaton'/);
    const resumeNothing = await nasgraph('search', model, '--out', out, '--resume');
    expect(resumeNothing.code).toBe(EXIT_USAGE);
    expect(resumeNothing.stderr).toMatch(/no search to resume/);
    expect(existsSync(out)).toBe(false);
  });

  it.concurrent('prints its help with every flag (exit 0)', async () => {
    const r = await nasgraph('search', '--help');
    expect(r.code).toBe(0);
    for (const flag of ['--strategy', '--data', '--trials', '--epochs', '--seed', '--out', '--resume', '--concurrency', '--train-size', '--valid-size', '--batch', '--lr', '--data-dir', '--device', '--early-stop', '--retrain-epochs']) {
      expect(r.stdout).toContain(flag);
    }
    // Each default where it applies: classic and one-shot searches differ in --epochs and --lr.
    const flat = r.stdout.replace(/\s+/g, ' ');
    expect(flat).toContain('--epochs <n> classic: training epochs per trial; one-shot: epochs of the supernet (per stage for pdarts) (default: classic 1, one-shot 3)');
    expect(flat).toContain("(default: classic 0.003, one-shot the algorithm's own (e.g. DARTS 0.025))");
    expect(flat).not.toMatch(/--epochs[^-]*\(default: 1\)/);
  });
});

describe('searchErrorCode', () => {
  it('is 1 for a space the strategy refuses (the message names the key) and 2 for wrong usage', () => {
    const refused = { tag: 'UnsupportedChoice', strategy: 'x', key: 'skipcon', kind: 'input-any', message: "strategy 'x' cannot search decision 'skipcon'" } as const;
    expect(searchErrorCode([refused])).toBe(EXIT_ERRORS);
    expect(searchErrorCode([{ tag: 'EmptyChoice', strategy: 'x', key: 'k', message: '' }])).toBe(EXIT_ERRORS);
    expect(searchErrorCode([{ tag: 'InvalidOption', strategy: 'evolution', option: 'sample', message: '' }])).toBe(EXIT_USAGE);
    expect(searchErrorCode([{ tag: 'LogExists', dir: 'd', message: '' }])).toBe(EXIT_USAGE);
    expect(searchErrorCode([{ tag: 'CorruptLog', file: 'f', line: 3, message: '' }])).toBe(EXIT_ERRORS);
    // A refusal wins over a usage error reported with it: the space cannot be searched whatever the flags.
    expect(searchErrorCode([refused, { tag: 'InvalidOption', strategy: 'x', option: 'o', message: '' }])).toBe(EXIT_ERRORS);
  });
});
