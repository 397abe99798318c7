import { describe, expect, it } from 'vitest';
import enas, { ENAS_MACRO_OPS, enasMacroSpace, poolLayers } from '../../examples/enas-macro.ts';
import { type Architecture, graphEq, nodes, searchSpace } from '../../src/ir/index.ts';
import { build, fixedParams } from './helpers.ts';

const OPS = ['conv3x3', 'sepconv3x3', 'conv5x5', 'sepconv5x5', 'avgpool3x3', 'maxpool3x3'];

/** 6^L op choices, and for layer k ≥ 1 any subset of its k skip sources: Π 2^k = 2^(L(L−1)/2). */
const size = (layers: number): bigint => 6n ** BigInt(layers) * 2n ** BigInt((layers * (layers - 1)) / 2);

describe('examples/enas-macro (default: 6 layers, 12 channels, [1, 28, 28])', () => {
  const g = build(enas);
  const space = searchSpace(g);

  it('has one op choice per layer and one skip choice per layer after the first', () => {
    const expected: string[] = [];
    for (let k = 0; k < 6; k++) expected.push(`layer_${k}/op`, ...(k > 0 ? [`layer_${k}/skip`] : []));
    expect(space.decisions.map((d) => d.key).sort()).toEqual(expected.sort());
    expect(space.decisions).toHaveLength(6 + 5);
  });

  it('counts 6^6 · 2^15 architectures', () => {
    expect(space.size).toBe(size(6));
    expect(space.size).toBe(46656n * 32768n);
  });

  it('offers the six branches in NNI order, and skips from the stem and every output before the previous one', () => {
    expect([...ENAS_MACRO_OPS]).toEqual(OPS);
    for (const d of space.decisions) {
      const k = Number(/^layer_(\d+)\//.exec(d.key)![1]);
      expect(d.scope).toEqual([`layer_${k}`]);
      if (d.kind === 'layer') expect(d.names).toEqual(OPS);
      else {
        expect(d.nChosen).toBeNull();
        expect(d.reduction).toBe('sum');
        expect(d.names).toEqual(['stem', ...Array.from({ length: k - 1 }, (_, i) => `layer_${i}`)]);
      }
    }
  });

  it('keeps keys and graph identical across two builds', () => {
    const again = build(enas);
    expect(searchSpace(again)).toEqual(space);
    expect(graphEq(again, g)).toBe(true);
  });

  it('halves the maps after layers 1 and 3 and outputs 10 logits', () => {
    expect(poolLayers(6)).toEqual([1, 3]);
    expect(g.outputs[0]!.shape).toEqual([10]);
    const bnShapes = (k: number): (readonly number[])[] =>
      nodes(g)
        .filter((n) => n.op.kind === 'batchNorm2d' && n.name === `layer_${k}/bn`)
        .map((n) => n.shape);
    expect(bnShapes(0)).toEqual([[12, 28, 28]]);
    expect(bnShapes(2)).toEqual([[12, 14, 14]]);
    expect(bnShapes(5)).toEqual([[12, 7, 7]]);
  });

  // channels C = 12, one input channel, 10 classes. Per layer:
  const C = 12;
  const stem = 1 * C * 3 * 3 + 2 * C; // conv 1→12 3x3 without bias + BN weight/bias = 132
  const reduces = 2 * (2 * (C / 2) * C); // two FactorizedReduces, each two 1x1 convs 12→6 = 288
  const dense = C * 10 + 10; // 130
  const fixedPart = stem + reduces + dense; // 550
  // Every branch starts with a 1x1 conv C→C without bias (C² = 144); BNs have no affine weights.
  const branch = {
    conv3x3: C * C + (C * C * 9 + C), // + dense 3x3 conv with bias = 144 + 1308 = 1452
    sepconv3x3: C * C + (C * 9 + C * C), // + depthwise 3x3 + pointwise = 144 + 252 = 396
    conv5x5: C * C + (C * C * 25 + C), // 144 + 3612 = 3756
    sepconv5x5: C * C + (C * 25 + C * C), // 144 + 444 = 588
    avgpool3x3: C * C, // 144
    maxpool3x3: C * C, // 144
  };
  const arch = (ops: readonly (keyof typeof branch)[], skips: (k: number) => number[]): Architecture => {
    const a: Record<string, number[]> = {};
    ops.forEach((op, k) => {
      a[`layer_${k}/op`] = [OPS.indexOf(op)];
      if (k > 0) a[`layer_${k}/skip`] = skips(k);
    });
    return a;
  };

  it('counts the parameters of fixed architectures by hand', () => {
    expect(fixedPart).toBe(550);
    const convs = Array(6).fill('conv3x3') as (keyof typeof branch)[];
    expect(fixedParams(g, arch(convs, () => []))).toBe(fixedPart + 6 * 1452);
    // Skips add no parameters (the FactorizedReduce of each position is shared by every output).
    const pools = Array(6).fill('maxpool3x3') as (keyof typeof branch)[];
    expect(fixedParams(g, arch(pools, (k) => Array.from({ length: k }, (_, i) => i)))).toBe(fixedPart + 6 * 144);
    const mixed: (keyof typeof branch)[] = ['sepconv3x3', 'conv5x5', 'sepconv5x5', 'avgpool3x3', 'conv3x3', 'maxpool3x3'];
    expect(mixed.reduce((s, op) => s + branch[op], 0)).toBe(396 + 3756 + 588 + 144 + 1452 + 144);
    expect(fixedParams(g, arch(mixed, (k) => (k % 2 === 0 ? [0] : [])))).toBe(fixedPart + 6480);
  });
});

describe('enasMacroSpace options', () => {
  it("NNI's defaults (12 layers, 24 channels): reductions after layers 3 and 7, 6^12 · 2^66 architectures", () => {
    expect(poolLayers(12)).toEqual([3, 7]);
    const space = searchSpace(build(enasMacroSpace({ input: [3, 32, 32] })));
    expect(space.decisions).toHaveLength(12 + 11);
    expect(space.size).toBe(size(12));
  });

  it('adds dropout before the classifier when asked', () => {
    const g = build(enasMacroSpace({ layers: 3, channels: 4, input: [1, 8, 8], dropout: 0.3 }));
    expect(nodes(g).filter((n) => n.op.kind === 'dropout').map((n) => n.name)).toEqual(['classifier/dropout']);
  });
});
