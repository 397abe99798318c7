/**
 * examples/classic-mnist.ts: NNI's classic NAS MNIST example (v1.9) as NNI wrote it. Its `first_conv` candidates
 * differ in output shape, which nasgraph now allows: the space, its ss_gen form, every architecture's shapes and
 * parameter counts (equal to PyTorch's, arithmetic below), the fit check, the refusal by mixed-mode algorithms,
 * and the CLI's `space --json` and `check`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { afterAll, describe, expect, it } from 'vitest';
import classicMnistDef, { classicMnist } from '../../examples/classic-mnist.ts';
import {
  type Architecture,
  apply,
  block,
  buildModel,
  conv2d,
  defineModel,
  fitCheck,
  flatten,
  layerChoice,
  linear,
  nodes,
  searchSpace,
  shapeVaryingChoices,
  ssGen,
} from '../../src/ir/index.ts';
import { dartsCheck, enasCheck, fbnetCheck, gdasCheck, pdartsCheck, proxylessCheck } from '../../src/search/oneshot/index.ts';
import { createStrategy, strategyNames } from '../../src/search/index.ts';
import { sposEvolution } from '../../src/search/oneshot/spos-evolution.ts';
import { lines, nasgraph, scratch } from '../cli/run-cli.ts';
import { build, fixedParams } from './helpers.ts';

const g = build(classicMnistDef);
const space = searchSpace(g);
const all: readonly Architecture[] = [0, 1].flatMap((a) => [0, 1].flatMap((b) => [0, 1].map((s) => ({ first_conv: [a], mid_conv: [b], skip: [s] }))));

describe('examples/classic-mnist (NNI classic_nas/mnist.py)', () => {
  it("has NNI's three keys, 8 architectures and NNI's ss_gen form", () => {
    expect(space.decisions.map((d) => d.key)).toEqual(['first_conv', 'mid_conv', 'skip']);
    expect(space.size).toBe(8n); // 2 · 2 · C(2, 1)
    // What NNI's classic mode dumps for this model: list candidates are named "0", "1"; InputChoice(n_candidates=2)
    // has two unnamed sources ("").
    expect(ssGen(space)).toEqual({
      first_conv: { _type: 'layer_choice', _value: ['0', '1'] },
      mid_conv: { _type: 'layer_choice', _value: ['0', '1'] },
      skip: { _type: 'input_choice', _value: { candidates: ['', ''], n_chosen: 1 } },
    });
  });

  it('records first_conv as a choice whose candidates differ in shape (and only it)', () => {
    // 28 − 5 + 1 = 24; 28 − 3 + 1 = 26.
    expect(shapeVaryingChoices(g)).toEqual([
      {
        key: 'first_conv',
        node: 'conv1',
        candidates: [
          { name: '0', shape: [20, 24, 24] },
          { name: '1', shape: [20, 26, 26] },
        ],
      },
    ]);
    expect(space.decisions.find((d) => d.key === 'mid_conv')).not.toHaveProperty('candidateShapes');
  });

  it("infers each architecture's own shapes: 24 → 12 → 8 → 4 or 26 → 13 → 9 → 4", () => {
    const shapesOf = (arch: Architecture): string[] => {
      const f = apply(g, arch);
      if (E.isLeft(f)) throw new Error(f.left.map((e) => e.message).join('\n'));
      return nodes(f.right)
        .filter((n) => n.op.kind === 'conv2d' || n.op.kind === 'maxPool2d')
        .map((n) => `${n.op.kind}:${n.shape.join('x')}`);
    };
    expect(shapesOf({ first_conv: [0], mid_conv: [1], skip: [1] })).toEqual([
      'conv2d:20x24x24',
      'maxPool2d:20x12x12',
      'conv2d:20x12x12',
      'conv2d:50x8x8',
      'maxPool2d:50x4x4',
    ]);
    // floor(26 / 2) = 13; 13 − 5 + 1 = 9; floor(9 / 2) = 4: both reach x.view(-1, 4*4*50).
    expect(shapesOf({ first_conv: [1], mid_conv: [0], skip: [0] })).toEqual([
      'conv2d:20x26x26',
      'maxPool2d:20x13x13',
      'conv2d:20x13x13',
      'conv2d:50x9x9',
      'maxPool2d:50x4x4',
    ]);
  });

  it("has PyTorch's parameter count for every architecture (hidden_size 512)", () => {
    // Conv2d(i, o, k): o·i·k·k + o; Linear(i, o): o·i + o.
    const firstConv = [20 * 1 * 5 * 5 + 20, 20 * 1 * 3 * 3 + 20]; // 520, 200
    const midConv = [20 * 20 * 3 * 3 + 20, 20 * 20 * 5 * 5 + 20]; // 3,620, 10,020
    const conv2 = 50 * 20 * 5 * 5 + 50; // 25,050
    const fc1 = 512 * 800 + 512; // 410,112
    const fc2 = 10 * 512 + 10; // 5,130
    const expected: Record<string, number> = {
      '0,0': 444432, // 520 + 3,620 + 25,050 + 410,112 + 5,130
      '0,1': 450832, // 520 + 10,020 + …
      '1,0': 444112, // 200 + 3,620 + …
      '1,1': 450512, // 200 + 10,020 + …
    };
    for (const arch of all) {
      const [a, b] = [arch['first_conv']![0]!, arch['mid_conv']![0]!];
      expect(firstConv[a]! + midConv[b]! + conv2 + fc1 + fc2).toBe(expected[`${a},${b}`]);
      // The skip connection (zeros or old_x) has no parameters.
      expect(fixedParams(g, arch), JSON.stringify(arch)).toBe(expected[`${a},${b}`]);
    }
    // hidden_size is NNI's argument: fc1 and fc2 follow it.
    expect(fixedParams(build(classicMnist(64)), all[0]!)).toBe(520 + 3620 + 25050 + (64 * 800 + 64) + (10 * 64 + 10));
  });

  it('passes the fit check: both first_conv candidates reach [50, 4, 4]', () => {
    expect(fitCheck(g)).toEqual(E.right({ combinations: 2, complete: true }));
  });

  it('is refused by mixed-mode algorithms naming first_conv and its shapes; enas, spos and classic strategies accept it', () => {
    for (const [name, errors] of [
      ['darts', dartsCheck(space)],
      ['gdas', gdasCheck(space)],
      ['pdarts', pdartsCheck(space)],
      ['fbnet', fbnetCheck(space)],
      ['proxyless', proxylessCheck(space)],
    ] as const) {
      // fbnet and proxyless also refuse the input choice 'skip' (layer choices only), by its own key.
      const shape = errors.filter((e) => e.tag === 'UnsupportedChoice' && e.key === 'first_conv');
      expect(shape, name).toHaveLength(1);
      expect(shape[0]!.message).toContain(`${name} cannot search 'first_conv' (0 → [20, 24, 24], 1 → [20, 26, 26])`);
      expect(errors.filter((e) => e.tag === 'UnsupportedChoice' && e.key === 'mid_conv'), name).toEqual([]);
    }
    expect(enasCheck(space)).toEqual([]);
    expect(sposEvolution().check(space)).toEqual([]);
    for (const name of strategyNames) {
      const s = createStrategy(name, { direction: 'maximize' });
      if (E.isRight(s)) expect(s.right.check(space), name).toEqual([]);
    }
  });
});

describe('a shape-varying space where one architecture does not fit', () => {
  // first_conv 7x7 gives [20, 22, 22]; flattened after one pool: 20·11·11 = 2,420, but fc was sized for the
  // first candidate: 20·12·12 = 2,880 inputs.
  const bad = defineModel({
    name: 'bad',
    input: [1, 28, 28],
    layer: block((ctx, x) => {
      const c = ctx.call('conv1', layerChoice({ k5: conv2d({ out: 20, kernel: 5 }), k7: conv2d({ out: 20, kernel: 7 }) }, { key: 'first_conv' }), x);
      const p = ctx.call('pool', conv2d({ out: 20, kernel: 2, stride: 2 }), c);
      return ctx.call('fc', linear({ out: 10 }), flatten()(ctx, p));
    }),
  });
  const bg = buildModel(bad);

  it('builds; the fit check names the key, the candidate, the layer and the sizes', () => {
    if (E.isLeft(bg)) throw new Error(bg.left.map((e) => e.message).join('\n'));
    const r = fitCheck(bg.right);
    expect(E.isLeft(r)).toBe(true);
    if (E.isRight(r)) return;
    expect(r.left).toHaveLength(1);
    expect(r.left[0]!.message).toBe(
      'with first_conv = k7 → [20, 22, 22]: fc: linear expects 2880 input features, got 2420 (input shapes [2420], [10, 2880], [10])',
    );
    // apply of that architecture says the same; the other one fits.
    const f = apply(bg.right, { first_conv: [1] });
    expect(E.isLeft(f) && f.left[0]!.message).toBe(r.left[0]!.message);
    expect(E.isRight(apply(bg.right, { first_conv: [0] }))).toBe(true);
  });

  const tmp = scratch();
  afterAll(() => tmp.dispose());

  it('`nasgraph space --json` of examples/classic-mnist.ts prints the ss_gen form', async () => {
    const r = await nasgraph('space', 'examples/classic-mnist.ts', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(ssGen(space));
  });

  it('`nasgraph check` prints the fixed layers of a fitting architecture and names the break of one that does not', async () => {
    const ok = tmp.file('ok.json', JSON.stringify({ first_conv: 1, mid_conv: 0, skip: 1 }));
    const r = await nasgraph('check', 'examples/classic-mnist.ts', ok);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('trainable parameters: 444112');
    const arch = tmp.file('k7.json', JSON.stringify({ first_conv: 'k7' }));
    const file = tmp.file('bad-model.ts', BAD_MODEL_SOURCE);
    const b = await nasgraph('check', file, arch);
    expect(b.code).toBe(1);
    expect(lines(b.stderr)).toHaveLength(1);
    expect(b.stderr).toContain('first_conv = k7 → [20, 22, 22]');
    expect(b.stderr).toContain('fc: linear expects 2880 input features, got 2420');
    writeFileSync(arch, JSON.stringify({ first_conv: 'k5' }));
    expect((await nasgraph('check', file, arch)).code).toBe(0);
  });
});

const BAD_MODEL_SOURCE = `import { block, conv2d, defineModel, flatten, layerChoice, linear } from ${JSON.stringify(join(process.cwd(), 'src/ir/index.ts'))};
export default defineModel({ name: 'bad', input: [1, 28, 28], layer: block((ctx, x) => {
  const c = ctx.call('conv1', layerChoice({ k5: conv2d({ out: 20, kernel: 5 }), k7: conv2d({ out: 20, kernel: 7 }) }, { key: 'first_conv' }), x);
  const p = ctx.call('pool', conv2d({ out: 20, kernel: 2, stride: 2 }), c);
  return ctx.call('fc', linear({ out: 10 }), flatten()(ctx, p));
}) });
`;
