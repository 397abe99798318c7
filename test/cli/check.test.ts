import * as E from 'fp-ts/lib/Either.js';
import { afterAll, describe, expect, it } from 'vitest';
import darts from '../../examples/darts.ts';
import { DARTS_OPS } from '../../examples/darts-ops.ts';
import { buildModel, searchSpace } from '../../src/ir/index.ts';
import { lines, nasgraph, scratch } from './run-cli.ts';

describe('nasgraph check', () => {
  const tmp = scratch();
  afterAll(() => tmp.dispose());

  it('lists the fixed MNIST model, one op node per line, and its trainable parameter count', async () => {
    const arch = tmp.file('mnist.json', JSON.stringify({ conv1: 'conv5x5', skipcon: [0] }));
    const r = await nasgraph('check', 'examples/mnist.ts', arch);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = lines(r.stdout);
    const cells = (l: string): string[] => l.split(/\s{2,}/);
    expect(cells(out[0]!)).toEqual(['NODE', 'OP', 'SHAPE', 'PARAMS']);
    const rows = out.slice(1, -1).map(cells);
    expect(rows.map((c) => c[0])).toEqual([
      'conv1/conv5x5', 'relu1', 'conv2', 'conv3', 'add(conv3, skipcon)', 'pool', 'dropout1', 'flatten', 'fc1', 'relu2', 'dropout2', 'fc2', 'logSoftmax',
    ]);
    expect(rows[0]).toEqual(['conv1/conv5x5', 'conv2d 5x5 pad 1', '[32, 26, 26]', String(32 * 25 + 32)]);
    expect(rows.find((c) => c[0] === 'fc1')).toEqual(['fc1', 'linear', '[128]', String(9216 * 128 + 128)]);
    // conv5x5 1→32: 32·25+32; conv2 32→64 3x3: 64·32·9+64; conv3 64→64 1x1: 64·64+64; fc1; fc2 128→10.
    const total = 32 * 25 + 32 + (64 * 32 * 9 + 64) + (64 * 64 + 64) + (9216 * 128 + 128) + (128 * 10 + 10);
    expect(out.at(-1)).toBe(`trainable parameters: ${total}`);
    expect(rows.reduce((s, c) => s + Number(c[3]), 0)).toBe(total);
  });

  it('leaves the skip connection out when skipcon is []', async () => {
    const arch = tmp.file('noskip.json', '{"conv1": 0, "skipcon": []}');
    const r = await nasgraph('check', 'examples/mnist.ts', arch);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('add(');
    expect(r.stdout).toContain('conv1/conv3x3');
  });

  it('accepts every NNI value form: names, indices, lists of names, multi-hot booleans', async () => {
    const g = buildModel(darts);
    if (E.isLeft(g)) throw new Error('darts does not build');
    const arch: Record<string, unknown> = {};
    searchSpace(g.right).decisions.forEach((d, i) => {
      if (d.kind === 'layer') arch[d.key] = i % 3 === 0 ? DARTS_OPS[i % 8] : i % 3 === 1 ? i % 8 : d.names.map((_, j) => j === 3);
      else arch[d.key] = i % 2 === 0 ? [d.names[0], d.names[d.names.length - 1]] : [0, 1];
    });
    const r = await nasgraph('check', 'examples/darts.ts', tmp.file('darts.json', JSON.stringify(arch, null, 2)));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(lines(r.stdout).at(-1)).toMatch(/^trainable parameters: \d+$/);
  });

  it('exits 1 listing every error of the architecture, one per line, each naming the file', async () => {
    const arch = tmp.file('bad.json', JSON.stringify({ conv1: 7, skipcon: 'x', extra: 1 }));
    const r = await nasgraph('check', 'examples/mnist.ts', arch);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const errs = lines(r.stderr);
    expect(errs).toHaveLength(3);
    expect(errs.every((l) => l.includes(arch))).toBe(true);
    expect(errs.some((l) => l.includes("'extra'"))).toBe(true);
    expect(errs.some((l) => l.includes("'conv1'") && l.includes('7'))).toBe(true);
    expect(errs.some((l) => l.includes("'skipcon'"))).toBe(true);
  });

  it('exits 1 on a JSON syntax error and on missing keys', async () => {
    const [broken, missing] = await Promise.all([
      nasgraph('check', 'examples/mnist.ts', tmp.file('broken.json', '{"conv1": ')),
      nasgraph('check', 'examples/mnist.ts', tmp.file('missing.json', '{}')),
    ]);
    expect(broken.code).toBe(1);
    expect(lines(broken.stderr)).toHaveLength(1);
    expect(broken.stderr).toContain('broken.json');
    expect(missing.code).toBe(1);
    expect(lines(missing.stderr)).toHaveLength(2);
  });

  it('exits 2 with one line for a missing architecture file, model file or argument', async () => {
    const cases = [
      ['check', 'examples/mnist.ts', 'no/such/arch.json'],
      ['check', 'no/such/model.ts', 'x.json'],
      ['check', 'examples/mnist.ts'],
      ['check', '--nope', 'examples/mnist.ts', 'x.json'],
    ];
    const results = await Promise.all(cases.map((args) => nasgraph(...args)));
    results.forEach((r, i) => {
      expect(r.code, cases[i]!.join(' ')).toBe(2);
      expect(lines(r.stderr), cases[i]!.join(' ')).toHaveLength(1);
    });
    expect(results[0]!.stderr).toContain('no/such/arch.json: no such file');
  });
});
