import { describe, expect, it } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import fashionSmall from '../../examples/fashion-small.ts';
import { apply, enumerateArchitectures, graphEq, searchSpace } from '../../src/ir/index.ts';
import { countMacs } from '../../src/runtime/trial-evaluator.ts';
import { build, fixedParams } from './helpers.ts';

describe('examples/fashion-small', () => {
  const g = build(fashionSmall);
  const space = searchSpace(g);

  it('has five decisions with their candidate names', () => {
    expect(space.decisions.map((d) => [d.key, d.kind, d.names])).toEqual([
      ['conv1', 'layer', ['conv3x3', 'conv5x5']],
      ['conv2', 'layer', ['conv3x3', 'conv5x5', 'sepconv3x3']],
      ['conv3', 'layer', ['conv3x3', 'conv1x1', 'dilconv3x3']],
      ['skip', 'input', ['']],
      ['head', 'layer', ['gap', 'mlp']],
    ]);
  });

  it('counts 2 · 3 · 3 · 2 · 2 = 72 architectures, every one of which applies', () => {
    expect(space.size).toBe(72n);
    let n = 0;
    for (const a of enumerateArchitectures(space)) {
      expect(E.isRight(apply(g, a))).toBe(true);
      n++;
    }
    expect(n).toBe(72);
  });

  it('builds the same graph twice and maps [1, 28, 28] to 10 logits', () => {
    expect(graphEq(build(fashionSmall), g)).toBe(true);
    expect(g.inputs[0]!.shape).toEqual([1, 28, 28]);
    expect(g.outputs[0]!.shape).toEqual([10]);
  });

  // Per layer: conv out·(in/groups)·kh·kw + out; batch norm weight + bias = 2·C; linear out·in + out.
  const conv1 = { conv3x3: 8 * 9 + 8, conv5x5: 8 * 25 + 8 }; // 80, 208
  const conv2 = { conv3x3: 16 * 8 * 9 + 16, conv5x5: 16 * 8 * 25 + 16, sepconv3x3: 8 * 9 + 8 + 16 * 8 + 16 }; // 1168, 3216, 224
  const conv3 = { conv3x3: 16 * 16 * 9 + 16, conv1x1: 16 * 16 + 16, dilconv3x3: 16 * 16 * 9 + 16 }; // 2320, 272, 2320
  const bn = 2 * (8 + 16 + 16); // 80
  const head = { gap: 16 * 10 + 10, mlp: 16 * 7 * 7 * 32 + 32 + 32 * 10 + 10 }; // 170, 25482

  it('counts the parameters of fixed architectures by hand', () => {
    expect(fixedParams(g, { conv1: [0], conv2: [0], conv3: [0], skip: [], head: [0] })).toBe(conv1.conv3x3 + conv2.conv3x3 + conv3.conv3x3 + bn + head.gap);
    expect(fixedParams(g, { conv1: [1], conv2: [2], conv3: [1], skip: [0], head: [1] })).toBe(conv1.conv5x5 + conv2.sepconv3x3 + conv3.conv1x1 + bn + head.mlp);
  });

  it('costs what its documentation says: 0.15 M to 1.26 M MACs per image', () => {
    const macs = [...enumerateArchitectures(space)].map((a) => {
      const f = apply(g, a);
      if (E.isLeft(f)) throw new Error('apply');
      return countMacs(f.right);
    });
    // Cheapest: conv1 3x3 (28·28·8·9), separable conv2 (14·14·(8·9 + 16·8)), conv3 1x1 (14·14·16·16), gap head (16·10).
    expect(Math.min(...macs)).toBe(28 * 28 * 8 * 9 + 14 * 14 * (8 * 9 + 16 * 8) + 14 * 14 * 16 * 16 + 16 * 10);
    // Dearest: conv1 5x5, conv2 5x5, conv3 3x3, mlp head.
    expect(Math.max(...macs)).toBe(28 * 28 * 8 * 25 + 14 * 14 * 16 * 8 * 25 + 14 * 14 * 16 * 16 * 9 + 784 * 32 + 32 * 10);
  });
});
