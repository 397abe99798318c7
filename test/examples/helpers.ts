// Shared by the example tests: build a model definition or fail the test with every build error.
import * as E from 'fp-ts/lib/Either.js';
import { type Architecture, type Graph, type ModelDef, apply, buildModel, paramCount } from '../../src/ir/index.ts';

export const build = (def: ModelDef): Graph => {
  const g = buildModel(def);
  if (E.isLeft(g)) throw new Error(`${def.name} does not build:\n${g.left.map((e) => e.message).join('\n')}`);
  return g.right;
};

export const fixedParams = (g: Graph, arch: Architecture): number => {
  const f = apply(g, arch);
  if (E.isLeft(f)) throw new Error(`apply failed:\n${f.left.map((e) => e.message).join('\n')}`);
  return paramCount(f.right);
};
