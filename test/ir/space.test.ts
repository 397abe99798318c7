import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { architectureKey, enumerateArchitectures, firstArchitecture, resolveArchitecture } from '../../src/ir/architecture.ts';
import {
  type Decision,
  type IRError,
  block,
  buildModel,
  conv2d,
  defineModel,
  identity,
  inputChoice,
  layerChoice,
  relu,
  apply,
  globalAvgPool,
  searchSpace,
  sequential,
  shapeVaryingChoices,
  ssGen,
} from '../../src/ir/index.ts';
import { arbModelDef, arbSupernet, supernetOf } from './arbitraries.ts';

/** Every subset of 0..n-1 as an ascending index list (bitmask order). */
const allSubsets = (n: number): number[][] =>
  Array.from({ length: 2 ** n }, (_, m) => Array.from({ length: n }, (_, i) => i).filter((i) => (m >> i) & 1));

/** Whether `sel` is a valid value for `d`, by NNI's rules (stated here, not taken from the code under test). */
/** A value of the decision that counts as an architecture: one candidate per layer choice. */
const validFor = (d: Decision, sel: readonly number[]): boolean =>
  d.kind === 'layer' ? sel.length === 1 : d.nChosen === null || sel.length === d.nChosen;

/** What resolve accepts: also `[]` for a layer choice (NNI's DARTS export of an edge its switch dropped). */
const resolvable = (d: Decision, sel: readonly number[]): boolean => validFor(d, sel) || (d.kind === 'layer' && sel.length === 0);

const SMALL = 3000n;
const arbSmall = arbSupernet.filter((sn) => sn.space.size <= SMALL && sn.space.decisions.every((d) => d.names.length <= 6));

describe('search space size', () => {
  it('equals a brute-force count of all index combinations on small spaces', () => {
    fc.assert(
      fc.property(arbSmall, (sn) => {
        const perDecision = sn.space.decisions.map((d) => allSubsets(d.names.length).filter((s) => validFor(d, s)));
        // Walk the full cartesian product, one combination at a time.
        let count = 0n;
        const walk = (i: number): void => {
          if (i === perDecision.length) {
            count++;
            return;
          }
          for (const _ of perDecision[i]!) walk(i + 1);
        };
        walk(0);
        expect(sn.space.size).toBe(count);
      }),
    );
  });

  it('enumerateArchitectures yields every combination exactly once', () => {
    fc.assert(
      fc.property(arbSmall, (sn) => {
        let partial: Record<string, number[]>[] = [{}];
        for (const d of sn.space.decisions) {
          const values = allSubsets(d.names.length).filter((s) => validFor(d, s));
          partial = partial.flatMap((p) => values.map((v) => ({ ...p, [d.key]: v })));
        }
        const expected = new Set(partial.map(architectureKey));
        const got = [...enumerateArchitectures(sn.space)].map(architectureKey);
        expect(got.length).toBe(partial.length);
        expect(new Set(got)).toEqual(expected);
        expect(BigInt(got.length)).toBe(sn.space.size);
      }),
    );
  });

  it('resolveArchitecture accepts a selection exactly when it is valid for its decision', () => {
    fc.assert(
      fc.property(arbSmall, (sn) => {
        const base = firstArchitecture(sn.space);
        for (const d of sn.space.decisions) {
          for (const sel of allSubsets(d.names.length)) {
            const r = resolveArchitecture(sn.space, { ...base, [d.key]: sel });
            expect(E.isRight(r)).toBe(resolvable(d, sel));
          }
        }
      }),
      { numRuns: 50 },
    );
  });
});

describe('keys', () => {
  it('are identical across two builds of the same ModelDef, even with another model built in between', () => {
    fc.assert(
      fc.property(arbModelDef, arbModelDef, (def, other) => {
        const keysOf = (d: typeof def): string[] => {
          const g = buildModel(d);
          if (E.isLeft(g)) throw new Error(g.left.map((e) => e.message).join('; '));
          return searchSpace(g.right).decisions.map((x) => x.key);
        };
        const first = keysOf(def);
        keysOf(other); // NNI's global counter shifted keys here (NNI #2726)
        expect(keysOf(def)).toEqual(first);
      }),
      { numRuns: 50 },
    );
  });

  it('of shared choices list every site', () => {
    fc.assert(
      fc.property(
        arbSupernet.filter((sn) => sn.spec.shared.length > 0),
        (sn) => {
          for (const sh of sn.spec.shared) {
            const sites = sn.spec.body.filter((b) => b.kind === 'shared' && b.index === sn.spec.shared.indexOf(sh)).length;
            const d = sn.space.decisions.find((x) => x.key === sh.key)!;
            expect(d.sites.length).toBe(sites);
          }
        },
      ),
      { numRuns: 50 },
    );
  });

  it('equal keys with different candidates fail with KeyConflict naming both sites', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd'), { minLength: 1, maxLength: 3 }),
        fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd'), { minLength: 1, maxLength: 3 }),
        (names1, names2) => {
          fc.pre(names1.join() !== names2.join());
          const cands = (ns: string[]) => Object.fromEntries(ns.map((n) => [n, relu()] as const));
          const def = defineModel({
            name: 'conflict',
            input: [1, 2, 2],
            layer: sequential({ first: layerChoice(cands(names1), { key: 'k' }), second: layerChoice(cands(names2), { key: 'k' }) }),
          });
          const r = buildModel(def);
          expect(E.isLeft(r)).toBe(true);
          const errs = E.isLeft(r) ? r.left : [];
          const conflicts = errs.filter((e): e is Extract<IRError, { tag: 'KeyConflict' }> => e.tag === 'KeyConflict');
          expect(conflicts.length).toBe(1);
          expect([...conflicts[0]!.sites].sort()).toEqual(['first', 'second']);
          expect(conflicts[0]!.message).toContain('first');
          expect(conflicts[0]!.message).toContain('second');
          expect(conflicts[0]!.message).toContain("'k'");
        },
      ),
    );
  });
});

describe('layerChoice', () => {
  it('with disagreeing candidate shapes builds, records each shape, and apply gives each candidate its own shape', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 2, maxLength: 4 }), (kernels) => {
        // A k×k convolution of a 5×5 input gives [2, 6 − k, 6 − k]; the global pool makes every output [2].
        const def = defineModel({
          name: 'shapes',
          input: [1, 5, 5],
          layer: sequential({ choice: layerChoice(kernels.map((k) => conv2d({ out: 2, kernel: k }))), act: relu(), pool: globalAvgPool() }),
        });
        const r = buildModel(def);
        if (E.isLeft(r)) throw new Error(r.left.map((e) => e.message).join('\n'));
        const d = searchSpace(r.right).decisions[0]!;
        const varies = new Set(kernels).size > 1;
        if (d.kind !== 'layer') throw new Error('expected a layer decision');
        expect(d.candidateShapes).toEqual(varies ? kernels.map((k) => [2, 6 - k, 6 - k]) : undefined);
        expect(shapeVaryingChoices(r.right).map((v) => v.key)).toEqual(varies ? ['choice'] : []);
        for (const [i, k] of kernels.entries()) {
          const f = apply(r.right, { choice: [i] });
          if (E.isLeft(f)) throw new Error(f.left.map((e) => e.message).join('\n'));
          expect(f.right.outputs[0]!.inputs[0]!.shape).toEqual([2, 6 - k, 6 - k]); // the relu before the pool
          expect(f.right.outputs[0]!.shape).toEqual([2]);
        }
      }),
    );
  });

  it('a fixed output whose shape differs from the supernet\'s is an error naming the choice and candidate', () => {
    const r = buildModel(defineModel({ name: 'out', input: [1, 3, 3], layer: sequential({ choice: layerChoice({ one: conv2d({ out: 1, kernel: 1 }), two: conv2d({ out: 2, kernel: 1 }) }) }) }));
    if (E.isLeft(r)) throw new Error(r.left.map((e) => e.message).join('\n'));
    const f = apply(r.right, { choice: [1] });
    expect(E.isLeft(f) && f.left.map((e) => e.message)).toEqual([
      "with choice = two → [2, 3, 3]: output 0 of the fixed model has shape [2, 3, 3], the supernet's has [1, 3, 3]",
    ]);
  });
});

describe('ssGen (NNI nnictl ss_gen)', () => {
  it('writes layer choices with their names and unnamed input sources as ""', () => {
    const valid = defineModel({
      name: 'ss',
      input: [1, 2, 2],
      layer: block((ctx, x) => {
        const a = ctx.call('conv1', layerChoice({ conv3x3: conv2d({ out: 1, kernel: 3, padding: 1 }), id: identity() }, { key: 'conv1' }), x);
        const b = ctx.call('mid', layerChoice([relu(), identity()], { key: 'mid_conv' }), a);
        return ctx.call('skip', inputChoice({ nChosen: 1, key: 'skip' }), [a, b]);
      }),
    });
    const g = buildModel(valid);
    if (E.isLeft(g)) throw new Error(g.left.map((e) => e.message).join('; '));
    expect(ssGen(searchSpace(g.right))).toEqual({
      conv1: { _type: 'layer_choice', _value: ['conv3x3', 'id'] },
      mid_conv: { _type: 'layer_choice', _value: ['0', '1'] },
      skip: { _type: 'input_choice', _value: { candidates: ['', ''], n_chosen: 1 } },
    });
  });

  it('lists every decision of a random supernet once', () => {
    fc.assert(
      fc.property(arbSupernet, (sn) => {
        const keys = sn.space.decisions.map((d) => d.key);
        expect(new Set(keys).size).toBe(keys.length);
        expect(Object.keys(ssGen(sn.space)).sort()).toEqual([...keys].sort());
      }),
    );
  });

  it('supernetOf builds the same space from the same spec', () => {
    fc.assert(
      fc.property(arbSupernet, (sn) => {
        expect(supernetOf(sn.spec).space).toEqual(sn.space);
      }),
      { numRuns: 30 },
    );
  });
});
