import * as E from 'fp-ts/lib/Either.js';
import { afterAll, describe, expect, it } from 'vitest';
import darts from '../../examples/darts.ts';
import mnist from '../../examples/mnist.ts';
import { buildModel, searchSpace, ssGen } from '../../src/ir/index.ts';
import { irImport, lines, nasgraph, scratch } from './run-cli.ts';

const spaceOf = (def: typeof mnist) => {
  const g = buildModel(def);
  if (E.isLeft(g)) throw new Error(g.left.map((e) => e.message).join('\n'));
  return searchSpace(g.right);
};

describe('nasgraph space', () => {
  const tmp = scratch();
  afterAll(() => tmp.dispose());

  it('lists the decisions of examples/mnist.ts and the exact count', async () => {
    const r = await nasgraph('space', 'examples/mnist.ts');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const out = lines(r.stdout);
    const row = (key: string): string[] => out.find((l) => l.startsWith(`${key} `))!.split(/\s{2,}/);
    expect(row('conv1')).toEqual(['conv1', 'layer', '1', '-', 'conv3x3, conv5x5', '1: conv1']);
    expect(row('skipcon')).toEqual(['skipcon', 'input', 'any', '-', '1 unnamed input', '1: skipcon']);
    expect(out.at(-1)).toBe('2 decisions, 4 architectures');
  });

  it('prints the exact count of the DARTS space and the shared sites of a key', async () => {
    const r = await nasgraph('space', 'examples/darts.ts');
    expect(r.code).toBe(0);
    const size = spaceOf(darts).size;
    expect(lines(r.stdout).at(-1)).toBe(`36 decisions, ${size} (≈ ${Number(size).toExponential(2).replace('+', '')}) architectures`);
    expect(r.stdout).toMatch(/normal_n2_p0 .* 3: cell0\/n2\/p0, cell2\/n2\/p0, cell4\/n2\/p0/);
  });

  it("--json prints exactly NNI's ss_gen JSON (sorted keys, 2-space indent) of examples/darts.ts", async () => {
    const r = await nasgraph('space', 'examples/darts.ts', '--json');
    expect(r.code).toBe(0);
    const expected = ssGen(spaceOf(darts));
    expect(JSON.parse(r.stdout)).toEqual(expected);
    // No key here looks like an integer, so JavaScript's insertion order is the sorted order and
    // JSON.stringify's layout with indent 2 is Python's json.dump(indent=2).
    const keys = Object.keys(expected);
    expect(keys).toEqual([...keys].sort());
    expect(r.stdout).toBe(`${JSON.stringify(expected, null, 2)}\n`);
  });

  it('--json of examples/mnist.ts is the ss_gen file of the guide', async () => {
    const r = await nasgraph('space', 'examples/mnist.ts', '--json');
    expect(r.stdout).toBe(
      '{\n  "conv1": {\n    "_type": "layer_choice",\n    "_value": [\n      "conv3x3",\n      "conv5x5"\n    ]\n  },\n' +
        '  "skipcon": {\n    "_type": "input_choice",\n    "_value": {\n      "candidates": [\n        ""\n      ],\n      "n_chosen": null\n    }\n  }\n}\n',
    );
  });

  it('takes a default export that is a function of no arguments', async () => {
    const f = tmp.file('fn.ts', `${irImport('defineModel, flatten, linear, sequential, layerChoice')}export default () => defineModel({ name: 'fn', input: [1, 2, 2], layer: sequential([flatten(), layerChoice({ a: linear({ out: 2 }), b: linear({ out: 2, bias: false }) }, { key: 'head' })]) });\n`);
    const r = await nasgraph('space', f, '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ head: { _type: 'layer_choice', _value: ['a', 'b'] } });
  });

  it('exits 2 with a one-line error for an unknown flag, a missing argument or a missing model file', async () => {
    const cases = [['space', '--bogus', 'examples/mnist.ts'], ['space'], ['space', 'no/such/model.ts'], ['frobnicate']];
    const results = await Promise.all(cases.map((args) => nasgraph(...args)));
    results.forEach((r, i) => {
      const what = cases[i]!.join(' ');
      expect(r.code, what).toBe(2);
      expect(lines(r.stderr), what).toHaveLength(1);
      expect(r.stdout, what).toBe('');
    });
    expect(results[0]!.stderr).toContain("unknown option '--bogus'");
    expect(results[2]!.stderr).toContain('no/such/model.ts: no such file');
  });

  it('exits 1 naming the file on a syntax error, without a stack', async () => {
    const f = tmp.file('broken.ts', 'export default {{{ ;\n');
    const r = await nasgraph('space', f);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toContain(`${f}: import failed`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 1 when there is no default export, naming the ModelDefs it does export', async () => {
    const f = tmp.file('named.ts', `${irImport('defineModel, flatten')}export const tiny = defineModel({ name: 't', input: [1, 2, 2], layer: flatten() });\n`);
    const r = await nasgraph('space', f);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('has no default export');
    expect(r.stderr).toContain('tiny');
  });

  it('exits 1 when the default export is not a ModelDef', async () => {
    const f = tmp.file('notmodel.js', 'export default { name: 3, input: [1, 0] };\n');
    const r = await nasgraph('space', f);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('not a ModelDef');
    expect(r.stderr).toContain("'name' must be a string");
    expect(r.stderr).toContain("'layer' must be a layer");
  });

  it("lists the guide's literal MNIST space (its conv1 candidates differ in shape); check names the architecture that does not fit", async () => {
    const f = tmp.file('seed.ts', `export { mnistSeedVersion as default } from ${JSON.stringify(`${process.cwd()}/examples/mnist.ts`)};\n`);
    const r = await nasgraph('space', f);
    expect(r.code).toBe(0);
    expect(lines(r.stdout).at(-1)).toBe('2 decisions, 4 architectures');
    const arch = tmp.file('conv5x5.json', JSON.stringify({ conv1: 'conv5x5', skipcon: [] }));
    const c = await nasgraph('check', f, arch);
    expect(c.code).toBe(1);
    expect(lines(c.stderr)).toHaveLength(1);
    expect(c.stderr).toContain('conv1 = conv5x5 → [32, 8, 8]');
    expect(c.stderr).toContain('fc1: linear expects 9216 input features, got 576');
  });

  it('lists every build error, one per line', async () => {
    // Two shared keys with different candidates: two KeyConflict errors from one build.
    const f = tmp.file(
      'conflicts.ts',
      `${irImport('defineModel, block, layerChoice, identity, relu, add')}export default defineModel({ name: 'c', input: [2, 3, 3], layer: block((ctx, x) => {\n` +
        `  const a = ctx.call('a', layerChoice([identity(), relu()], { key: 'k1' }), x);\n` +
        `  const b = ctx.call('b', layerChoice([identity()], { key: 'k1' }), x);\n` +
        `  const c = ctx.call('c', layerChoice([identity(), relu()], { key: 'k2' }), x);\n` +
        `  const d = ctx.call('d', layerChoice([relu()], { key: 'k2' }), x);\n` +
        `  return add(a, b, c, d);\n}) });\n`,
    );
    const r = await nasgraph('space', f);
    expect(r.code).toBe(1);
    const errs = lines(r.stderr);
    expect(errs).toHaveLength(2);
    expect(errs.every((l) => l.includes(f))).toBe(true);
    expect(errs[0]).toContain("'k1'");
    expect(errs[1]).toContain("'k2'");
  });

  it('--help works for the program and each command', async () => {
    const cases = [['--help'], ['space', '--help'], ['check', '--help'], ['help', 'check']];
    const results = await Promise.all(cases.map((args) => nasgraph(...args)));
    results.forEach((r, i) => {
      expect(r.code, cases[i]!.join(' ')).toBe(0);
      expect(r.stdout, cases[i]!.join(' ')).toContain('Usage: nasgraph');
    });
    expect(results[1]!.stdout).toContain('--json');
    expect(results[3]!.stdout).toContain('<model> <arch>');
  });
});
