/**
 * A synthetic search space where one candidate per key is clearly best, for the one-shot algorithms' end-to-end
 * tests: after a conv stem, two layer choices in a chain each pick `none` (zeros) or `skip` (identity). Only
 * (skip, skip) passes the image on: every other architecture gives the head zeros, hence chance accuracy (0.25),
 * while (skip, skip) learns the 4-class synthetic task. Equal candidate counts (ENAS), layer choices only
 * (ProxylessNAS). (A third, partly informative candidate — a blur — made the ranking depend on how the shared
 * weights happened to train: blurred maps of these smooth prototypes still classify well.)
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Graph, buildModel, conv2d, defineModel, flatten, layerChoice, linear, relu, sequential, zero, identity } from '../../../src/ir/index.ts';
import { syntheticTrainTest } from '../../../src/runtime/data/index.ts';

export const clearBestGraph = (): Graph => {
  const choice = () => layerChoice({ none: zero(1), skip: identity() });
  const g = buildModel(
    defineModel({
      name: 'clear-best',
      input: [1, 8, 8],
      layer: sequential({ stem: conv2d({ out: 4, kernel: 3, padding: 1 }), act: relu(), op1: choice(), op2: choice(), flat: flatten(), fc: linear({ out: 4 }) }),
    }),
  );
  if (E.isLeft(g)) throw new Error(g.left.map((e) => e.message).join('; '));
  return g.right;
};

/** The architecture every algorithm must find: `skip` (index 1) for both keys. */
export const BEST = { op1: [1], op2: [1] } as const;

export const clearBestData = (seed = 7) => {
  const { train, test } = syntheticTrainTest({ n: 256, nTest: 128, shape: [1, 8, 8], classes: 4, seed, noise: 1 });
  return { train, valid: test };
};
