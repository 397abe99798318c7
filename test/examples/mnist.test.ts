import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import mnist, { mnistSeedVersion } from '../../examples/mnist.ts';
import { apply, buildModel, choiceNodes, fitCheck, graphEq, nodes, searchSpace, shapeVaryingChoices, ssGen } from '../../src/ir/index.ts';
import { build, fixedParams } from './helpers.ts';

describe('examples/mnist', () => {
  const g = build(mnist);
  const space = searchSpace(g);

  it('has the two NNI decisions: conv1 (layer) and skipcon (input, any number of one)', () => {
    expect(space.decisions.map((d) => [d.key, d.kind])).toEqual([
      ['conv1', 'layer'],
      ['skipcon', 'input'],
    ]);
    expect(ssGen(space)).toEqual({
      conv1: { _type: 'layer_choice', _value: ['conv3x3', 'conv5x5'] },
      skipcon: { _type: 'input_choice', _value: { candidates: [''], n_chosen: null } },
    });
  });

  it('counts 2 · 2^1 = 4 architectures', () => {
    // conv1: 2 candidates; skipcon: any subset of 1 input = 2^1.
    expect(space.size).toBe(2n * 2n ** 1n);
  });

  it('has the same keys and graph on every build', () => {
    const again = build(mnist);
    expect(searchSpace(again).decisions.map((d) => d.key)).toEqual(space.decisions.map((d) => d.key));
    expect(graphEq(again, g)).toBe(true);
  });

  it('outputs log-probabilities of 10 classes', () => {
    expect(g.outputs[0]!.shape).toEqual([10]);
    expect(g.outputs[0]!.op.kind).toBe('logSoftmax');
  });

  // Per layer: conv weight out·in·kh·kw + bias out; linear out·in + out.
  const conv3x3 = 32 * 1 * 3 * 3 + 32; // 320
  const conv5x5 = 32 * 1 * 5 * 5 + 32; // 832
  const conv2 = 64 * 32 * 3 * 3 + 64; // 18496
  const conv3 = 64 * 64 * 1 * 1 + 64; // 4160
  const fc1 = 9216 * 128 + 128; // 1179776
  const fc2 = 128 * 10 + 10; // 1290

  it('counts the parameters of fixed architectures by hand', () => {
    expect(fixedParams(g, { conv1: [0], skipcon: [] })).toBe(conv3x3 + conv2 + conv3 + fc1 + fc2);
    expect(fixedParams(g, { conv1: [1], skipcon: [0] })).toBe(conv5x5 + conv2 + conv3 + fc1 + fc2);
    expect(fixedParams(g, { conv1: [1], skipcon: [] })).toBe(1204554);
  });

  it('drops the skip connection when skipcon chooses nothing, and adds it otherwise', () => {
    const without = apply(g, { conv1: [0], skipcon: [] });
    const withSkip = apply(g, { conv1: [0], skipcon: [0] });
    if (E.isLeft(without) || E.isLeft(withSkip)) throw new Error('apply failed');
    expect(choiceNodes(without.right)).toEqual([]);
    expect(nodes(without.right).filter((n) => n.op.kind === 'add')).toHaveLength(0);
    const adds = nodes(withSkip.right).filter((n) => n.op.kind === 'add');
    expect(adds).toHaveLength(1);
    // conv3's output plus conv2's output (the skip source).
    expect(adds[0]!.inputs.map((n) => n.name)).toEqual(['conv3', 'conv2']);
  });

  it("builds the guide's literal conv5x5 (stride 3); the fit check and apply name conv1 = conv5x5 and fc1", () => {
    const r = buildModel(mnistSeedVersion);
    if (E.isLeft(r)) throw new Error(r.left.map((e) => e.message).join('\n'));
    // floor((28 − 5)/3) + 1 = 8; 28 − 3 + 1 = 26.
    expect(shapeVaryingChoices(r.right)).toEqual([
      {
        key: 'conv1',
        node: 'conv1',
        candidates: [
          { name: 'conv3x3', shape: [32, 26, 26] },
          { name: 'conv5x5', shape: [32, 8, 8] },
        ],
      },
    ]);
    // conv5x5: 8 → conv2 6 → conv3 6 → pool 3: 64·3·3 = 576 features, but fc1 was sized for conv3x3's 64·12·12 = 9,216.
    const want = 'with conv1 = conv5x5 → [32, 8, 8]: fc1: linear expects 9216 input features, got 576 (input shapes [576], [128, 9216], [128])';
    const fit = fitCheck(r.right);
    expect(E.isLeft(fit) && fit.left.map((e) => e.message)).toEqual([want]);
    const bad = apply(r.right, { conv1: [1], skipcon: [] });
    expect(E.isLeft(bad) && bad.left.map((e) => e.message)).toEqual([want]);
    expect(E.isRight(apply(r.right, { conv1: [0], skipcon: [0] }))).toBe(true);
  });
});
