/**
 * A synthetic tabular benchmark for search strategies: a small space built with the IR (three layer choices of
 * four ops and one input choice of 2 of 3 skip sources: 4·4·4·3 = 192 architectures) and an objective table
 * generated deterministically from a seed: a smooth function of the choices (per-layer op effects, one
 * interaction between the first and last layer, a per-skip effect) plus small seeded noise, scaled like a
 * validation accuracy. It stands in for a table of real trained accuracies until one is shipped.
 *
 * Because strategies are pure, a whole search on the table is a loop of propose/observe with no I/O.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Architecture } from '../../src/ir/apply.ts';
import { architectureKey, enumerateArchitectures } from '../../src/ir/architecture.ts';
import { inputChoice, layerChoice } from '../../src/ir/choice.ts';
import { buildModel, defineModel } from '../../src/ir/graph.ts';
import { add, block, conv2d, flatten, identity, linear, maxPool2d, sequential } from '../../src/ir/layers.ts';
import { type Rng, nextNormal, seedRng } from '../../src/ir/rng.ts';
import { type SearchSpace, searchSpace } from '../../src/ir/space.ts';
import type { Strategy } from '../../src/search/strategy.ts';

const op = () =>
  layerChoice({
    conv3x3: conv2d({ out: 4, kernel: 3, padding: 1 }),
    conv5x5: conv2d({ out: 4, kernel: 5, padding: 2 }),
    maxpool: maxPool2d({ kernel: 3, stride: 1, padding: 1 }),
    identity: identity(),
  });

/** The benchmark's model: stem, three searched layers, a searched skip (2 of 3 sources), a linear head. */
export const tabularModel = defineModel({
  name: 'tabular',
  input: [1, 6, 6],
  layer: block((ctx, x) => {
    const s = ctx.call('stem', conv2d({ out: 4, kernel: 1 }), x);
    const a = ctx.call('l1', op(), s);
    const b = ctx.call('l2', op(), a);
    const c = ctx.call('l3', op(), b);
    const skip = ctx.call('skip', inputChoice({ nChosen: 2 }), [s, a, b]);
    return ctx.call('head', sequential({ flat: flatten(), fc: linear({ out: 10 }) }), add(c, skip));
  }),
});

const built = buildModel(tabularModel);
if (E.isLeft(built)) throw new Error(`tabular model does not build: ${built.left.map((e) => e.message).join('; ')}`);

/** The benchmark's search space (192 architectures). */
export const tabularSpace: SearchSpace = searchSpace(built.right);

const normals = (rng: Rng, n: number): [number[], Rng] => {
  const out: number[] = [];
  let r = rng;
  for (let i = 0; i < n; i++) {
    const [v, next] = nextNormal(r);
    out.push(v);
    r = next;
  }
  return [out, r];
};

/** The objective table (architecture key → accuracy-like value in about [0.7, 0.95]) for table seed `seed`. */
export const makeTable = (seed: number): ReadonlyMap<string, number> => {
  let r = seedRng(seed);
  const effects: number[][] = [];
  for (let j = 0; j < 3; j++) {
    const [e, next] = normals(r, 4);
    r = next;
    effects.push(e.map((v) => 0.03 * v));
  }
  const [inter, r2] = normals(r, 16);
  const [skipEff, r3] = normals(r2, 3);
  let noiseRng = r3;
  const table = new Map<string, number>();
  for (const arch of enumerateArchitectures(tabularSpace)) {
    const ops = ['l1', 'l2', 'l3'].map((k) => arch[k]![0]!);
    let v = 0.85;
    ops.forEach((o, j) => (v += effects[j]![o]!));
    v += 0.015 * inter[ops[0]! * 4 + ops[2]!]!;
    for (const i of arch['skip']!) v += 0.01 * skipEff[i]!;
    const [eps, next] = nextNormal(noiseRng);
    noiseRng = next;
    table.set(architectureKey(arch), v + 0.004 * eps);
  }
  return table;
};

/** The best value of a table. */
export const optimum = (table: ReadonlyMap<string, number>): number => Math.max(...table.values());

/**
 * Runs `strategy` on `table` for `budget` trials, proposing `batch` at a time (trials "in flight" together),
 * and returns the best value found and every architecture proposed, in order.
 */
export const runOnTable = <S>(
  strategy: Strategy<S>,
  table: ReadonlyMap<string, number>,
  budget: number,
  seed: number,
  batch = 1,
  space: SearchSpace = tabularSpace,
): { readonly best: number; readonly proposed: readonly Architecture[]; readonly state: S } => {
  let state = strategy.init(space);
  let rng = seedRng(seed);
  const proposed: Architecture[] = [];
  let best = -Infinity;
  while (proposed.length < budget) {
    const p = strategy.propose(space, state, Math.min(batch, budget - proposed.length), rng);
    rng = p.rng;
    const results = p.archs.map((arch) => {
      const objective = table.get(architectureKey(arch));
      if (objective === undefined) throw new Error(`proposal ${architectureKey(arch)} is not in the table`);
      return { arch, objective };
    });
    proposed.push(...p.archs);
    for (const x of results) best = Math.max(best, x.objective);
    state = strategy.observe(space, p.state, results);
    if (p.exhausted || p.archs.length === 0) break;
  }
  return { best, proposed, state };
};
