import { describe, expect, it } from 'vitest';
import naive from '../../examples/naive.ts';
import { graphEq, searchSpace, ssGen } from '../../src/ir/index.ts';
import { build, fixedParams } from './helpers.ts';

describe('examples/naive', () => {
  const g = build(naive);
  const space = searchSpace(g);

  it('has three decisions with default keys (module paths)', () => {
    expect(space.decisions.map((d) => [d.key, d.kind])).toEqual([
      ['conv1', 'layer'],
      ['conv2', 'layer'],
      ['skipconnect', 'input'],
    ]);
    expect(ssGen(space)).toEqual({
      conv1: { _type: 'layer_choice', _value: ['0', '1'] },
      conv2: { _type: 'layer_choice', _value: ['0', '1'] },
      skipconnect: { _type: 'input_choice', _value: { candidates: [''], n_chosen: null } },
    });
  });

  it('counts 2 · 2 · 2^1 = 8 architectures', () => {
    expect(space.size).toBe(2n * 2n * 2n ** 1n);
  });

  it('gets the same default keys and graph on a second build', () => {
    const again = build(naive);
    expect(searchSpace(again)).toEqual(space);
    expect(graphEq(again, g)).toBe(true);
  });

  it('maps [3, 32, 32] to 10 logits', () => {
    expect(g.inputs[0]!.shape).toEqual([3, 32, 32]);
    expect(g.outputs[0]!.shape).toEqual([10]);
  });

  // Per layer: conv out·in·kh·kw + out; BN weight + bias = 2·C; linear out·in + out.
  const conv1_3 = 6 * 3 * 3 * 3 + 6; // 168
  const conv1_5 = 6 * 3 * 5 * 5 + 6; // 456
  const conv2_3 = 16 * 6 * 3 * 3 + 16; // 880
  const conv2_5 = 16 * 6 * 5 * 5 + 16; // 2416
  const conv3 = 16 * 16 + 16; // 272
  const bn = 2 * 16; // 32
  const fc1 = 256 * 120 + 120; // 30840 (16·4·4 = 256 inputs)
  const fc2 = 120 * 84 + 84; // 10164
  const fc3 = 84 * 10 + 10; // 850
  const rest = conv3 + bn + fc1 + fc2 + fc3;

  it('counts the parameters of fixed architectures by hand', () => {
    expect(fixedParams(g, { conv1: [0], conv2: [0], skipconnect: [] })).toBe(conv1_3 + conv2_3 + rest);
    expect(fixedParams(g, { conv1: [1], conv2: [1], skipconnect: [0] })).toBe(conv1_5 + conv2_5 + rest);
    expect(fixedParams(g, { conv1: [0], conv2: [1], skipconnect: [0] })).toBe(168 + 2416 + 272 + 32 + 30840 + 10164 + 850);
  });
});
