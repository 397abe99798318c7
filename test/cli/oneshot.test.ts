/**
 * `nasgraph search --strategy <one-shot>` as a user runs it (a child process) on a tiny synthetic space: arch.json
 * (loadable by `nasgraph check`), history.json with one entry per epoch, result.json with the retrain's test
 * accuracy and the retrained weights; a finished search resumed without --strategy; the refusals (unknown or
 * mistyped options: exit 2 naming the option; a space the algorithm cannot search: exit 1 naming the key).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { CHILD_TIMEOUT_MS, irImport, lines, nasgraph, root, scratch } from './run-cli.ts';

process.env['XDG_RUNTIME_DIR'] ??= '/tmp';

const tmp = scratch();
afterAll(() => tmp.dispose());

// 3 x 3 = 9 architectures; every layer choice has 3 candidates (ENAS), no input choice (ProxylessNAS).
const model = tmp.file(
  'tiny-cells.ts',
  `${irImport('block, conv2d, defineModel, flatten, identity, layerChoice, linear, maxPool2d, relu, sequential')}
const ops = () => layerChoice({ conv: sequential({ c: conv2d({ out: 4, kernel: 3, padding: 1 }), r: relu() }), pool: maxPool2d({ kernel: 3, stride: 1, padding: 1 }), skip: identity() });
export default defineModel({ name: 'tiny-cells', input: [1, 6, 6], layer: block((ctx, x) => {
  const s = ctx.call('stem', conv2d({ out: 4, kernel: 3, padding: 1 }), x);
  const h = ctx.call('op2', ops(), ctx.call('op1', ops(), s));
  return ctx.call('fc', linear({ out: 3 }), flatten()(ctx, h));
}) });
`,
);
// Unequal candidate counts: ENAS refuses it.
const uneven = tmp.file(
  'uneven.ts',
  `${irImport('defineModel, flatten, identity, layerChoice, linear, relu, sequential')}
export default defineModel({ name: 'uneven', input: [1, 4, 4], layer: sequential({
  a: layerChoice({ r: relu(), i: identity() }), b: layerChoice({ r: relu(), i: identity(), r2: relu() }), f: flatten(), fc: linear({ out: 2 }) }) });
`,
);

const tiny = ['--data', 'synthetic', '--train-size', '32', '--valid-size', '32', '--test-size', '32', '--batch', '16', '--epochs', '2', '--retrain-epochs', '1'];
// Enough to learn the separable synthetic set for certain (seen at 100 % retrain test accuracy for darts and enas;
// the supernet's training loss falls every epoch).
const learn = ['--data', 'synthetic', '--train-size', '64', '--valid-size', '64', '--test-size', '64', '--batch', '16', '--epochs', '3', '--retrain-epochs', '3'];

describe('nasgraph search (one-shot)', () => {
  for (const strategy of ['darts', 'enas']) {
    it(`${strategy}: writes arch.json, history.json, result.json and weights; resumes a finished search`, async () => {
      const out = join(tmp.file(`${strategy}.keep`, ''), '..', `run-${strategy}`);
      const r = await nasgraph('search', model, '--strategy', strategy, ...learn, '--out', out);
      expect(r.stderr).not.toMatch(/error/);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^derived {2}op1=/m);
      expect(r.stdout).toMatch(/^test {5}accuracy \d+\.\d+%/m);
      const history = JSON.parse(readFileSync(join(out, 'history.json'), 'utf8')) as { epoch: number; distribution: Record<string, number[]>; metrics: Record<string, number> }[];
      expect(history.map((h) => h.epoch)).toEqual([1, 2, 3]);
      for (const h of history) expect(Object.keys(h.distribution).sort()).toEqual(['op1', 'op2']);
      // The supernet learns: its training loss falls, and it ends far above chance (1/3).
      const losses = history.map((h) => h.metrics['trainLoss']!);
      expect(losses[2]!).toBeLessThan(losses[0]!);
      expect(history[2]!.metrics['trainAccuracy']).toBeGreaterThan(0.6);
      const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as { retrain: { testAccuracy: number }; strategy: string };
      expect(result.strategy).toBe(strategy);
      // The retrained architecture learns the separable set (chance 1/3).
      expect(result.retrain.testAccuracy).toBeGreaterThanOrEqual(0.9);
      expect(existsSync(join(out, 'weights.safetensors'))).toBe(true);
      expect(existsSync(join(out, 'supernet.safetensors'))).toBe(true);
      const check = await nasgraph('check', model, join(out, 'arch.json'));
      expect(check.code).toBe(0);
      // A finished search resumed (without --strategy) redoes no epoch and derives the same architecture.
      const again = await nasgraph('search', model, '--out', out, '--resume', '--retrain-epochs', '0');
      expect(again.code).toBe(0);
      expect(again.stderr).toMatch(/resuming/);
      expect(again.stdout.match(/^derived .*$/m)?.[0]).toBe(r.stdout.match(/^derived .*$/m)?.[0]);
    });
  }

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} mid-epoch: the epoch finishes and is checkpointed, exit ${signal === 'SIGINT' ? 130 : 143} with the resume command, no architecture; the resumed search derives what an uninterrupted one does`, async () => {
      const base = join(tmp.file(`${signal}.keep`, ''), '..');
      const whole = await nasgraph('search', model, '--strategy', 'darts', ...learn, '--retrain-epochs', '0', '--out', join(base, `whole-${signal}`));
      expect(whole.code).toBe(0);
      const out = join(base, `cut-${signal}`);
      // Signalled as soon as epoch 1 reports its first step (a line per quarter of an epoch when not a terminal).
      const cut = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
        const child = spawn(process.execPath, [join(root, 'bin', 'nasgraph.js'), 'search', model, '--strategy', 'darts', ...learn, '--retrain-epochs', '0', '--out', out], { cwd: root });
        let stdout = '';
        let stderr = '';
        let sent = false;
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
          if (!sent && /epoch 1\/3: \d+\/\d+ steps/.test(stderr)) {
            sent = true;
            child.kill(signal);
          }
        });
        const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
        child.on('close', (code) => {
          clearTimeout(timer);
          done({ code, stdout, stderr });
        });
      });
      expect(cut.code).toBe(signal === 'SIGINT' ? 130 : 143);
      expect(cut.stderr).toMatch(new RegExp(`interrupted \\(${signal}\\): finishing the epoch in progress`));
      // Epoch 1 (or, on a machine so loaded that the signal arrives late, epoch 2) ran to its end.
      const stoppedAfter = Number(/^search interrupted after epoch (\d) of 3 \(checkpointed\); no architecture derived\. Continue it with:$/m.exec(cut.stdout)?.[1]);
      expect([1, 2]).toContain(stoppedAfter);
      expect(cut.stdout).toContain(`nasgraph search ${model} --out ${out} --resume`);
      expect(cut.stdout).not.toMatch(/^derived/m);
      expect(existsSync(join(out, 'arch.json'))).toBe(false);
      // Whole epochs only were run and checkpointed.
      const history = JSON.parse(readFileSync(join(out, 'history.json'), 'utf8')) as { epoch: number }[];
      expect(history.map((h) => h.epoch)).toEqual(Array.from({ length: stoppedAfter }, (_, i) => i + 1));
      const resumed = await nasgraph('search', model, '--out', out, '--resume');
      expect(resumed.code).toBe(0);
      expect(resumed.stderr).toMatch(new RegExp(`resuming darts .* after epoch ${stoppedAfter} of 3`));
      expect(resumed.stdout.match(/^derived .*$/m)?.[0]?.replace(out, '')).toBe(whole.stdout.match(/^derived .*$/m)?.[0]?.replace(join(base, `whole-${signal}`), ''));
      const h1 = JSON.parse(readFileSync(join(out, 'history.json'), 'utf8')) as { metrics: Record<string, number> }[];
      const h2 = JSON.parse(readFileSync(join(base, `whole-${signal}`, 'history.json'), 'utf8')) as { metrics: Record<string, number> }[];
      expect(h1.map((h) => ({ ...h, metrics: { ...h.metrics, seconds: 0 } }))).toEqual(h2.map((h) => ({ ...h, metrics: { ...h.metrics, seconds: 0 } })));
    });
  }

  it('exits 2 naming an unknown or mistyped option, and 1 naming the key of a space the algorithm refuses', async () => {
    const bad = await nasgraph('search', model, '--strategy', 'darts', '--strategy-options', '{"order":3,"nope":1}', ...tiny, '--out', join(tmp.file('x', ''), '..', 'bad'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown option 'nope'/);
    expect(bad.stderr).toMatch(/'order'/);
    const typo = await nasgraph('search', model, '--strategy', 'darts', '--strategy-options', '{"order":"2","lr":true}', ...tiny, '--out', join(tmp.file('x2', ''), '..', 'typo'));
    expect(typo.code).toBe(2);
    expect(lines(typo.stderr)).toEqual([
      `error: --strategy-options: darts: option 'lr' has the wrong type (expected number, got true)`,
      `error: --strategy-options: darts: option 'order' has the wrong type (expected (1 | 2), got "2")`,
    ]);
    const refused = await nasgraph('search', uneven, '--strategy', 'enas', ...tiny, '--out', join(tmp.file('y', ''), '..', 'refused'));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/'b' has 3, expected 2/);
    const inherit = await nasgraph('search', model, '--strategy', 'random', '--inherit', ...tiny, '--out', join(tmp.file('z', ''), '..', 'inh'));
    expect(inherit.code).toBe(2);
    expect(inherit.stderr).toMatch(/--inherit is for one-shot searches/);
  });
});
