/**
 * Value choices and repeats (NNI 2.x's ValueChoice and Repeat), expanded into layer choices: ss_gen's HPO `choice`
 * form, architectures by value, parameter counts per architecture (arithmetic below), shared keys, channel values
 * followed by the layers keyed by them, the fit check naming a layer that is not, repeat's shared blocks, errors,
 * and which algorithms accept which value choices.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Architecture,
  apply,
  batchNorm2d,
  buildModel,
  chooseValue,
  conv2d,
  decodeGraph,
  defineModel,
  dropout,
  encodeGraph,
  exportArchitecture,
  fitCheck,
  globalAvgPool,
  graphEq,
  linear,
  paramCount,
  relu,
  repeat,
  residual,
  resolveArchitecture,
  searchSpace,
  sequential,
  ssGen,
  valueChoice,
  valueLayer,
  type Graph,
  type ModelDef,
} from '../../src/ir/index.ts';
import { dartsCheck, enasCheck } from '../../src/search/oneshot/index.ts';
import { sposEvolution } from '../../src/search/oneshot/spos-evolution.ts';

const build = (def: ModelDef): Graph => {
  const g = buildModel(def);
  if (E.isLeft(g)) throw new Error(g.left.map((e) => e.message).join('\n'));
  return g.right;
};
const fixed = (g: Graph, arch: Architecture): Graph => {
  const f = apply(g, arch);
  if (E.isLeft(f)) throw new Error(f.left.map((e) => e.message).join('\n'));
  return f.right;
};

const width = valueChoice([8, 16], { key: 'width' });
const def = defineModel({
  name: 'vc',
  input: [1, 8, 8],
  layer: sequential({
    conv: valueLayer(conv2d, { out: width, kernel: valueChoice([3, 5], { key: 'k' }), padding: valueChoice([1, 2], { key: 'k' }) }),
    bn: chooseValue(width, () => batchNorm2d()),
    act: relu(),
    proj: chooseValue(width, () => conv2d({ out: 16, kernel: 1 })),
    body: repeat(() => residual(sequential({ conv: conv2d({ out: 16, kernel: 3, padding: 1 }), act: relu() })), valueChoice([1, 2, 3], { key: 'depth' })),
    drop: chooseValue(valueChoice([0.1, 0.5], { key: 'p' }), (p) => dropout(p)),
    pool: globalAvgPool(),
    fc: linear({ out: 4 }),
  }),
});
const g = build(def);
const space = searchSpace(g);
const archOf = (json: Record<string, unknown>): Architecture => {
  const a = resolveArchitecture(space, json);
  if (E.isLeft(a)) throw new Error(a.left.map((e) => e.message).join('\n'));
  return a.right;
};

describe('valueChoice / valueLayer / chooseValue / repeat', () => {
  it("writes NNI's HPO choice form in ss_gen and counts 2·2·3·2 = 24 architectures", () => {
    expect(ssGen(space)).toEqual({
      depth: { _type: 'choice', _value: [1, 2, 3] },
      k: { _type: 'choice', _value: [3, 5] },
      p: { _type: 'choice', _value: [0.1, 0.5] },
      width: { _type: 'choice', _value: [8, 16] },
    });
    expect(space.size).toBe(24n);
  });

  it('takes an architecture by value or by its text, exports the value, and names a value that is not there', () => {
    const a = archOf({ width: 16, k: 5, depth: 3, p: 0.5 });
    expect(a).toEqual({ width: [1], k: [1], depth: [2], p: [1] });
    expect(archOf({ width: '16', k: '5', depth: '3', p: '0.5' })).toEqual(a);
    expect(exportArchitecture(space, a)).toEqual({ depth: 3, k: 5, p: 0.5, width: 16 });
    // A number is a value, never an index: 1 is not a width.
    const bad = resolveArchitecture(space, { width: 1, k: 3, depth: 1, p: 0.1 });
    expect(E.isLeft(bad) && bad.left.map((e) => e.message)).toEqual(["key 'width': 1 is not one of the value choice's values [8, 16]"]);
  });

  it("has each architecture's own parameter count", () => {
    // conv w×1×k×k + w; bn 2w (running statistics excluded); proj 16×w×1×1 + 16; each residual block 16·16·9 + 16;
    // fc 4·16 + 4.
    const expected = (w: number, k: number, d: number): number => w * k * k + w + 2 * w + (16 * w + 16) + d * (16 * 16 * 9 + 16) + (4 * 16 + 4);
    for (const w of [8, 16]) {
      for (const k of [3, 5]) {
        for (const d of [1, 2, 3]) {
          expect(paramCount(fixed(g, archOf({ width: w, k, depth: d, p: 0.1 }))), `w${w} k${k} d${d}`).toBe(expected(w, k, d));
        }
      }
    }
  });

  it("follows the width into the layers keyed by it; the kernel's padding is the kernel's (shared key 'k')", () => {
    const f = fixed(g, archOf({ width: 16, k: 5, depth: 2, p: 0.5 }));
    const params = new Map(
      f.outputs[0] === undefined ? [] : [...new Set(fixedParams(f))].map((n) => [n.op.kind === 'param' ? n.op.path : '', n.shape] as const),
    );
    expect(params.get('conv/16/5/weight')).toEqual([16, 1, 5, 5]);
    expect(params.get('bn/16/weight')).toEqual([16]);
    expect(params.get('proj/16/weight')).toEqual([16, 16, 1, 1]);
    // The blocks of every depth live at body/<i>: depth 2 uses body/0 and body/1, never a per-depth copy.
    expect([...params.keys()].filter((p) => p.startsWith('body/')).sort()).toEqual(['body/0/conv/bias', 'body/0/conv/weight', 'body/1/conv/bias', 'body/1/conv/weight']);
    const convs = fixedConvs(f);
    expect(convs[0]).toEqual({ shape: [16, 8, 8], padding: [2, 2] });
  });

  it('shares the blocks of repeat between depths (one parameter set per block index in the supernet)', () => {
    const paths = fixedParams({ inputs: g.inputs, outputs: g.outputs }).map((n) => (n.op.kind === 'param' ? n.op.path : ''));
    expect(paths.filter((p) => p.startsWith('body/') && p.endsWith('weight')).sort()).toEqual(['body/0/conv/weight', 'body/1/conv/weight', 'body/2/conv/weight']);
  });

  it('survives the IR JSON round trip with its values', () => {
    const back = decodeGraph(encodeGraph(g));
    expect(E.isRight(back) && graphEq(back.right, g)).toBe(true);
    if (E.isRight(back)) expect(ssGen(searchSpace(back.right))).toEqual(ssGen(space));
  });

  it('a layer not keyed by a channel value is sized for the first value: the fit check names it', () => {
    const bad = build(
      defineModel({
        name: 'bad',
        input: [1, 4, 4],
        layer: sequential({ conv: valueLayer(conv2d, { out: valueChoice([2, 3], { key: 'w' }), kernel: 1 }), pool: globalAvgPool(), fc: linear({ out: 2 }) }),
      }),
    );
    const r = fitCheck(bad);
    expect(E.isLeft(r) && r.left.map((e) => e.message)).toEqual(['with w = 3 → [3, 4, 4]: fc: linear expects 2 input features, got 3 (input shapes [3], [2, 2], [2])']);
  });

  it('mixed mode accepts value choices whose candidates agree in shape and refuses channel choices by key', () => {
    expect(dartsCheck(space)).toEqual([]); // width's last use (proj) restores 16 channels: whole paths are mixed
    const open = searchSpace(
      build(defineModel({ name: 'open', input: [1, 4, 4], layer: sequential({ conv: valueLayer(conv2d, { out: valueChoice([2, 3], { key: 'w' }), kernel: 1 }), pool: globalAvgPool() }) })),
    );
    expect(dartsCheck(open).map((e) => e.message)).toEqual([
      "darts cannot search 'w' (2 → [2, 4, 4], 3 → [3, 4, 4]): its candidates differ in output shape, and mixed mode sums every candidate's output; search this space with a classic strategy, enas or spos",
    ]);
    expect(sposEvolution().check(space)).toEqual([]);
    // ENAS needs equal candidate counts (depth has 3): refused by its own rule, naming the key.
    expect(enasCheck(space).map((e) => e.message).join('\n')).toContain("'depth'");
  });

  it('refuses repeated values, no values and bad depths, naming the key', () => {
    const err = (layer: Parameters<typeof sequential>[0]): string[] => {
      const r = buildModel(defineModel({ name: 'e', input: [1, 2, 2], layer: sequential(layer) }));
      return E.isLeft(r) ? r.left.map((e) => e.message) : [];
    };
    expect(err({ a: chooseValue(valueChoice([1, 1], { key: 'x' }), () => relu()) })).toEqual(["a: value choice 'x' has repeated values [1, 1]"]);
    expect(err({ a: chooseValue(valueChoice([], { key: 'x' }), () => relu()) })).toEqual(["a: value choice 'x' has no values"]);
    expect(err({ a: repeat(relu(), [1, -1]) })).toEqual(['a: repeat depths must be integers ≥ 0, got -1']);
  });

  it('without a key, each use is its own decision keyed by its module path (and field)', () => {
    const s = searchSpace(
      build(
        defineModel({
          name: 'k',
          input: [1, 4, 4],
          layer: sequential({ a: valueLayer(conv2d, { out: 2, kernel: valueChoice([1, 3]), padding: 0 }), b: chooseValue(valueChoice([0.1, 0.2]), (p) => dropout(p)) }),
        }),
      ),
    );
    expect(s.decisions.map((d) => d.key)).toEqual(['a/kernel', 'b']);
  });

  it('a value choice over any distinct values has one candidate per value, in order (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 5 }), (outs) => {
        const gg = build(defineModel({ name: 'p', input: [1, 3, 3], layer: sequential({ c: valueLayer(conv2d, { out: valueChoice(outs, { key: 'o' }), kernel: 1 }), pool: globalAvgPool(), fc: chooseValue(valueChoice(outs, { key: 'o' }), () => linear({ out: 2 })) }) }));
        const d = searchSpace(gg).decisions[0]!;
        expect(d.names).toEqual(outs.map(String));
        expect(ssGen(searchSpace(gg))['o']).toEqual({ _type: 'choice', _value: outs });
        // conv o·1·1·1 + o; fc (keyed by o, so sized per value) 2·o + 2.
        outs.forEach((o, i) => expect(paramCount(fixed(gg, { o: [i] }))).toBe(o + o + (2 * o + 2)));
      }),
      { numRuns: 30 },
    );
  });
});

function fixedParams(f: Graph) {
  const seen = new Map<string, (typeof f.outputs)[number]>();
  const stack = [...f.outputs];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (seen.has(n.id)) continue;
    seen.set(n.id, n);
    stack.push(...n.inputs);
  }
  return [...seen.values()].filter((n) => n.op.kind === 'param');
}

function fixedConvs(f: Graph): { shape: readonly number[]; padding: readonly number[] }[] {
  const out: { shape: readonly number[]; padding: readonly number[]; name: string }[] = [];
  const seen = new Set<string>();
  const stack = [...f.outputs];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (seen.has(n.id)) continue;
    seen.add(n.id);
    if (n.op.kind === 'conv2d' && n.name.startsWith('conv/')) out.push({ shape: n.shape, padding: n.op.padding, name: n.name });
    stack.push(...n.inputs);
  }
  return out.map(({ shape, padding }) => ({ shape, padding }));
}
