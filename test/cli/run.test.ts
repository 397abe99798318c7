/**
 * `nasgraph run`, through the real bin in a child process. The successful runs need a WebGPU adapter: without one
 * the command exits 1, so these tests fail (they never skip) — under CI=true as everywhere else.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CliResult, irImport, lines, nasgraph, root, scratch } from './run-cli.ts';

process.env['XDG_RUNTIME_DIR'] ??= '/tmp';

/** Runs on the GPU take longer than run-cli's 60 s limit allows: lavapipe compiles a program's shaders on its
 * first run (DARTS' supernet: about 120 pipelines, tens of seconds on 2 loaded cores). */
const GPU_RUN_MS = 280_000;

/** `nasgraph ...args` as `nasgraph` in run-cli.ts, with the longer time limit of a GPU run. */
const nasgraphGpu = (...args: string[]): Promise<CliResult> =>
  new Promise((done) => {
    execFile(process.execPath, [join(root, 'bin', 'nasgraph.js'), ...args], { cwd: root, encoding: 'utf8', timeout: GPU_RUN_MS }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      done({ code, stdout, stderr });
    });
  });

/** The value after a report line's label (`output      [10] per sample, …` → `[10] per sample, …`). */
const field = (stdout: string, label: string): string | undefined =>
  lines(stdout)
    .find((l) => l.startsWith(`${label} `))
    ?.slice(label.length)
    .trim();

describe('nasgraph run', () => {
  const tmp = scratch();
  afterAll(() => tmp.dispose());

  it('runs examples/mnist.ts: prints the adapter, the output shape [10] and a throughput figure', async () => {
    const arch = tmp.file('mnist.json', JSON.stringify({ conv1: 'conv3x3', skipcon: [] }));
    const r = await nasgraphGpu('run', 'examples/mnist.ts', '--arch', arch, '--batch', '2', '--iters', '2');
    expect(r.stderr.split('\n').filter((l) => l.startsWith('error'))).toEqual([]);
    expect(r.code).toBe(0);
    expect(field(r.stdout, 'adapter')).toMatch(/\S/);
    expect(field(r.stdout, 'mode')).toBe('fixed, batch 2');
    expect(field(r.stdout, 'arch')).toContain('"conv1":"conv3x3"');
    expect(field(r.stdout, 'output')).toMatch(/^\[10\] per sample, \[2, 10\] per batch, all finite$/);
    const tp = /^([\d.]+) images\/s, ([\d.]+) ms per batch .*2 timed runs/.exec(field(r.stdout, 'throughput') ?? '');
    expect(tp).not.toBeNull();
    const [imagesPerS, msPerBatch] = [Number(tp![1]), Number(tp![2])];
    expect(imagesPerS).toBeGreaterThan(0);
    // images/s and ms per batch describe the same mean: batch / (ms / 1000), to the printed precision.
    expect(Math.abs(imagesPerS - 2 / (msPerBatch / 1000)) / imagesPerS).toBeLessThan(0.01);
    const mem = /^peak ([\d.]+) (B|KiB|MiB)/.exec(field(r.stdout, 'memory') ?? '');
    expect(mem).not.toBeNull();
    // The parameters alone (fc1 is 9216·128 floats) exceed 4 MiB.
    expect(mem![2] === 'MiB' && Number(mem![1]) > 4).toBe(true);
    expect(field(r.stdout, 'program')).toMatch(/^\d+ dispatches, \d+ pipelines/);
  }, GPU_RUN_MS + 10_000);

  it('without --arch runs the first architecture and says so; sampled mode runs examples/darts.ts', async () => {
    const r = await nasgraphGpu('run', 'examples/darts.ts', '--mode', 'sampled', '--batch', '2', '--iters', '1', '--seed', '3');
    expect(r.stderr.split('\n').filter((l) => l.startsWith('error'))).toEqual([]);
    expect(r.code).toBe(0);
    expect(field(r.stdout, 'arch')).toMatch(/^none given: the first architecture/);
    expect(field(r.stdout, 'mode')).toBe('sampled, batch 2');
    expect(field(r.stdout, 'output')).toMatch(/^\[10\] per sample, \[2, 10\] per batch, all finite$/);
    expect(field(r.stdout, 'program')).toContain('a run records only the selected ones');
    expect(field(r.stdout, 'throughput')).toMatch(/^[\d.]+ images\/s/);
  }, GPU_RUN_MS + 10_000);

  it('mixed mode runs the supernet with uniform weights without --arch, one-hot weights with it', async () => {
    // A tiny model: mnist's 5×5 candidate alone takes minutes to compile on a loaded lavapipe.
    const model = tmp.file(
      'tiny.ts',
      `${irImport('defineModel, layerChoice, linear, relu, sequential, tanh')}export default defineModel({ name: 'tiny', input: [4], ` +
        `layer: sequential({ fc: linear({ out: 6 }), act: layerChoice({ relu: relu(), tanh: tanh() }, { key: 'act' }), out: linear({ out: 3 }) }) });\n`,
    );
    const arch = tmp.file('tiny.json', '{"act": "tanh"}');
    const [uniform, onehot] = await Promise.all([
      nasgraphGpu('run', model, '--mode', 'mixed', '--batch', '3', '--iters', '1'),
      nasgraphGpu('run', model, '--mode', 'mixed', '--batch', '3', '--iters', '1', '--arch', arch),
    ]);
    for (const r of [uniform, onehot]) {
      expect(r.stderr.split('\n').filter((l) => l.startsWith('error'))).toEqual([]);
      expect(r.code).toBe(0);
      expect(field(r.stdout, 'mode')).toBe('mixed, batch 3');
      expect(field(r.stdout, 'output')).toMatch(/^\[3\] per sample, \[3, 3\] per batch, all finite$/);
    }
    expect(field(uniform.stdout, 'arch')).toBe('none given: uniform weights over every candidate');
    expect(field(onehot.stdout, 'arch')).toBe(`${arch} {"act":"tanh"}`);
  }, GPU_RUN_MS + 10_000);

  it('exits 1 listing every error of a bad architecture file, one per line, before touching the device', async () => {
    const arch = tmp.file('bad.json', JSON.stringify({ conv1: 7, skipcon: 'x', extra: 1 }));
    const r = await nasgraph('run', 'examples/mnist.ts', '--arch', arch, '--batch', '2', '--iters', '1');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const errs = lines(r.stderr).filter((l) => l.startsWith('error:'));
    expect(errs).toHaveLength(3);
    expect(errs.every((l) => l.includes(arch))).toBe(true);
    expect(errs.some((l) => l.includes("'conv1'") && l.includes('7'))).toBe(true);
    expect(errs.some((l) => l.includes("'extra'"))).toBe(true);
  });

  it('exits 1 with one line when no adapter matches --device', async () => {
    const r = await nasgraph('run', 'examples/mnist.ts', '--device', 'no-such-adapter-xyz', '--iters', '0');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const errs = lines(r.stderr).filter((l) => l.startsWith('error:'));
    expect(errs).toHaveLength(1);
    expect(errs[0]).toContain('no-such-adapter-xyz');
  });

  it('a batch the device cannot hold is one error naming the largest buffer, the limit and the batch that fits (no RangeError)', async () => {
    for (const batch of ['1000000000', '1e9', '100000']) {
      const r = await nasgraph('run', 'examples/mnist.ts', '--batch', batch, '--iters', '0');
      expect(r.code).toBe(1);
      expect(r.stderr).not.toMatch(/RangeError|at <anonymous>|Dawn|validation/i);
      const errs = lines(r.stderr).filter((l) => l.startsWith('error:'));
      expect(errs).toEqual([expect.stringMatching(/^error: examples\/mnist\.ts: batch \d+: the largest buffer, \w+ '.+', needs [\d.]+ [KMGT]iB, above this device's max\w+ of [\d.]+ [KMGT]iB; a batch of at most \d+ fits/)]);
      const fits = Number(/at most (\d+) fits/.exec(errs[0]!)![1]);
      if (batch === '100000') {
        // The batch it names does fit.
        const ok = await nasgraph('run', 'examples/mnist.ts', '--batch', String(Math.min(fits, 64)), '--iters', '0');
        expect(lines(ok.stderr).filter((l) => l.startsWith('error'))).toEqual([]);
        expect(ok.code).toBe(0);
      }
    }
  });

  it('exits 2 on bad flags, a missing architecture file or a missing model argument', async () => {
    const cases: readonly (readonly string[])[] = [
      ['run', 'examples/mnist.ts', '--batch', '0'],
      ['run', 'examples/mnist.ts', '--batch', 'many'],
      ['run', 'examples/mnist.ts', '--batch', '1.5'],
      ['run', 'examples/mnist.ts', '--batch', '1e400'],
      ['run', 'examples/mnist.ts', '--iters', '-1'],
      ['run', 'examples/mnist.ts', '--mode', 'gated'],
      ['run', 'examples/mnist.ts', '--seed', '1.5'],
      ['run', 'examples/mnist.ts', '--no-such-flag'],
      ['run', 'examples/mnist.ts', '--arch', tmp.file('present.json', '{}').replace(/present\.json$/, 'absent.json')],
      ['run'],
    ];
    const results = await Promise.all(cases.map((c) => nasgraph(...c)));
    results.forEach((r, i) => {
      expect({ args: cases[i], code: r.code }).toEqual({ args: cases[i], code: 2 });
      expect(r.stdout).toBe('');
      expect(r.stderr).not.toBe('');
    });
  });
});
