/**
 * restrictCandidates: narrowing layer choices is the same as choosing among the kept candidates of the full space.
 * For random kept subsets and random architectures of the narrowed space, `apply` of the narrowed graph is the very
 * graph (equal structural ids) that `apply` of the full graph gives for the same candidates mapped back by name.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { type Architecture, apply, randomArchitecture, restrictCandidates, searchSpace, seedRng } from '../../src/ir/index.ts';
import fashionSmall from '../../examples/fashion-small.ts';
import { build } from '../examples/helpers.ts';

const full = build(fashionSmall);
const space = searchSpace(full);
const layers = space.decisions.filter((d) => d.kind === 'layer');

describe('restrictCandidates', () => {
  it('narrowed architectures apply to the same graphs as their full-space counterparts', () => {
    fc.assert(
      fc.property(
        fc.tuple(...layers.map((d) => fc.subarray(d.names.map((_, i) => i), { minLength: 1 }))),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (subsets, seed) => {
          const kept = Object.fromEntries(layers.map((d, i) => [d.key, subsets[i]!]));
          const narrowed = restrictCandidates(full, kept);
          if (E.isLeft(narrowed)) throw new Error(narrowed.left.map((e) => e.message).join('; '));
          const nspace = searchSpace(narrowed.right);
          for (const d of nspace.decisions) {
            const orig = space.decisions.find((x) => x.key === d.key)!;
            const want = kept[d.key] === undefined ? orig.names : [...kept[d.key]!].sort((a, b) => a - b).map((i) => orig.names[i]!);
            expect(d.names).toEqual(want);
          }
          const [arch] = randomArchitecture(nspace, seedRng(seed));
          const mapped: Architecture = Object.fromEntries(
            Object.entries(arch).map(([key, idx]) => {
              const d = nspace.decisions.find((x) => x.key === key)!;
              const orig = space.decisions.find((x) => x.key === key)!;
              return [key, d.kind === 'layer' ? idx.map((i) => orig.names.indexOf(d.names[i]!)) : idx];
            }),
          );
          const a = apply(narrowed.right, arch);
          const b = apply(full, mapped);
          expect(E.isRight(a) && E.isRight(b)).toBe(true);
          if (E.isRight(a) && E.isRight(b)) expect(a.right.outputs.map((n) => n.id)).toEqual(b.right.outputs.map((n) => n.id));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('names every bad request: unknown key, out-of-range or repeated index, nothing kept', () => {
    const r = restrictCandidates(full, { nope: [0], conv1: [5], conv2: [], head: [1, 1] });
    expect(E.isLeft(r)).toBe(true);
    const text = E.isLeft(r) ? r.left.map((e) => e.message).join('\n') : '';
    expect(text).toMatch(/'nope' is not a layer choice/);
    expect(text).toMatch(/'conv1' has 2 candidates; cannot keep \[5\]/);
    expect(text).toMatch(/'conv2' would keep no candidate/);
    expect(text).toMatch(/'head' keeps a candidate twice/);
  });
});
