/**
 * P-DARTS's stage plan, candidate masks and export mapping; and the export/apply round trip of EVERY
 * differentiable one-shot algorithm's output (DARTS, GDAS, ProxylessNAS, P-DARTS) over random alphas: the
 * architecture exports to NNI's format, resolves back to itself, and `apply` turns the supernet into a fixed graph.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import dartsDef from '../../../examples/darts.ts';
import {
  type Architecture,
  type Graph,
  apply,
  conv2d,
  defineModel,
  exportArchitecture,
  globalAvgPool,
  layerChoice,
  linear,
  relu,
  resolveArchitecture,
  restrictCandidates,
  searchSpace,
  seedRng,
  sequential,
} from '../../../src/ir/index.ts';
import { type Decision, type SearchSpace, decisionSize } from '../../../src/ir/space.ts';
import { layerDecisions, softmax } from '../../../src/search/oneshot/alphas.ts';
import { dartsExport, dartsInit } from '../../../src/search/oneshot/darts.ts';
import { gdasExport, gdasInit } from '../../../src/search/oneshot/gdas.ts';
import {
  pdartsCheck,
  pdartsCompact,
  pdartsExpand,
  pdartsExport,
  pdartsInitialKept,
  pdartsKeep,
  pdartsStages,
  pdartsSubspace,
} from '../../../src/search/oneshot/pdarts.ts';
import { proxylessCheck, proxylessExport, proxylessInit } from '../../../src/search/oneshot/proxyless.ts';
import type { KeyVectors } from '../../../src/search/oneshot/types.ts';
import { build } from '../../examples/helpers.ts';

const layer = (key: string, n: number): Decision => ({ kind: 'layer', key, names: Array.from({ length: n }, (_, i) => `op${i}`), scope: [], sites: [key] });
const spaceOf = (...decisions: Decision[]): SearchSpace => ({ decisions, size: decisions.reduce((p, d) => p * decisionSize(d), 1n) });

const dartsGraph = build(dartsDef);
const dartsSpace = searchSpace(dartsGraph);

/** A space of layer choices only, for ProxylessNAS (which refuses input choices). */
const layersOnlyGraph = build(
  defineModel({
    name: 'layers-only',
    input: [1, 8, 8],
    description: 'two layer choices in a row',
    layer: (ctx, x) => {
      const stem = ctx.call('stem', conv2d({ out: 4, kernel: 3, padding: 1 }), x);
      const op1 = ctx.call('op1', layerChoice({ conv3x3: conv2d({ out: 4, kernel: 3, padding: 1 }), conv5x5: conv2d({ out: 4, kernel: 5, padding: 2 }), relu: relu() }, { key: 'op1' }), stem);
      const op2 = ctx.call('op2', layerChoice([relu(), conv2d({ out: 4, kernel: 1 })], { key: 'op2' }), op1);
      return ctx.call('head', sequential({ gap: globalAvgPool(), fc: linear({ out: 3 }) }), op2);
    },
  }),
);
const layersOnlySpace = searchSpace(layersOnlyGraph);

// Logits in [-3, 3] on a grid of 1e-3, few distinct values so that ties occur too.
const logit = (): fc.Arbitrary<number> => fc.integer({ min: -3000, max: 3000 }).map((k) => k / 1000);
const alphasArb = (space: SearchSpace, extra: number, kept?: Readonly<Record<string, readonly number[]>>): fc.Arbitrary<KeyVectors> =>
  fc.record(
    Object.fromEntries(
      layerDecisions(space).map((d) => {
        const n = (kept?.[d.key]?.length ?? d.names.length) + extra;
        return [d.key, fc.array(fc.oneof(logit(), fc.constantFrom(0, 1)), { minLength: n, maxLength: n })] as const;
      }),
    ),
  ) as fc.Arbitrary<KeyVectors>;

/** The round trip every exported architecture must survive. */
const roundTrip = (g: Graph, space: SearchSpace, arch: Architecture): void => {
  const json = JSON.parse(JSON.stringify(exportArchitecture(space, arch))) as unknown;
  const back = resolveArchitecture(space, json);
  expect(back).toEqual(E.right(arch));
  const fixed = apply(g, arch);
  if (E.isLeft(fixed)) throw new Error(fixed.left.map((e) => e.message).join('\n'));
  // the fixed graph has no choices left: its space is empty
  expect(searchSpace(fixed.right).decisions).toEqual([]);
};

describe('export/apply round trip for every algorithm', () => {
  it('DARTS on the DARTS cell space (dropped edges export as [])', () => {
    const [s0] = dartsInit(dartsSpace, seedRng(0), {});
    let sawDropped = false;
    fc.assert(
      fc.property(alphasArb(dartsSpace, 1), (alphas) => {
        const arch = dartsExport(dartsSpace, { ...s0, alphas });
        if (Object.values(arch).some((v) => v.length === 0)) sawDropped = true;
        for (const d of dartsSpace.decisions) if (d.kind === 'input') expect(arch[d.key]).toHaveLength(2);
        roundTrip(dartsGraph, dartsSpace, arch);
      }),
      { numRuns: 30 },
    );
    expect(sawDropped).toBe(true);
  });

  it('GDAS on the DARTS cell space', () => {
    const [s0] = gdasInit(dartsSpace, seedRng(0), {});
    fc.assert(
      fc.property(alphasArb(dartsSpace, 0), (alphas) => roundTrip(dartsGraph, dartsSpace, gdasExport(dartsSpace, { ...s0, alphas }))),
      { numRuns: 30 },
    );
  });

  it('ProxylessNAS on a space of layer choices (and it refuses the DARTS cell space)', () => {
    expect(proxylessCheck(dartsSpace, {}).some((e) => e.tag === 'UnsupportedChoice' && e.key === 'normal_n2_switch')).toBe(true);
    const [s0] = proxylessInit(layersOnlySpace, seedRng(0), {});
    fc.assert(
      fc.property(alphasArb(layersOnlySpace, 0), (alphas) => {
        const arch = proxylessExport(layersOnlySpace, { ...s0, alphas });
        layerDecisions(layersOnlySpace).forEach((d) => expect(arch[d.key]).toEqual([softmax(alphas[d.key]!).indexOf(Math.max(...softmax(alphas[d.key]!)))]));
        roundTrip(layersOnlyGraph, layersOnlySpace, arch);
      }),
      { numRuns: 30 },
    );
  });

  it('P-DARTS after random stages, in the original indices', () => {
    const stages = pdartsStages({});
    fc.assert(
      fc.property(fc.array(alphasArb(dartsSpace, 1), { minLength: 2, maxLength: 2 }), fc.integer(), (stageAlphas, seed) => {
        // the first two stages drop by random logits; the last stage's logits are drawn for the kept candidates
        let kept = pdartsInitialKept(dartsSpace);
        stages.slice(0, 2).forEach((st, i) => {
          const sub = pdartsSubspace(dartsSpace, kept);
          const a = Object.fromEntries(layerDecisions(sub).map((d) => [d.key, stageAlphas[i]![d.key]!.slice(0, d.names.length + 1)] as const));
          kept = pdartsKeep(dartsSpace, a, kept, st.drop);
        });
        const final = fc.sample(alphasArb(dartsSpace, 1, kept), { numRuns: 1, seed })[0]!;
        const arch = pdartsExport(dartsSpace, kept, final);
        for (const d of layerDecisions(dartsSpace)) {
          const chosen = arch[d.key]!;
          if (chosen.length === 1) expect(kept[d.key]).toContain(chosen[0]);
        }
        roundTrip(dartsGraph, dartsSpace, arch);
      }),
      { numRuns: 20 },
    );
  });
});

describe('P-DARTS stages and masks', () => {
  it('the default plan is NNI’s: +0/+6/+12 cells, dropping 3, 2, 1', () => {
    expect(pdartsStages({})).toEqual([
      { index: 0, addLayers: 0, drop: 3 },
      { index: 1, addLayers: 6, drop: 2 },
      { index: 2, addLayers: 12, drop: 1 },
    ]);
    expect(pdartsStages({ stages: 2, addLayers: [0, 4], drop: [4, 2] })).toHaveLength(2);
  });

  it('checks the plan and DARTS’s options under its own name', () => {
    const errs = pdartsCheck(dartsSpace, { stages: 2, lr: 0 });
    expect(errs.map((e) => (e.tag === 'InvalidOption' ? e.option : e.tag)).sort()).toEqual(['addLayers', 'drop', 'lr']);
    expect(errs.every((e) => e.strategy === 'pdarts' && e.message.includes("'pdarts'"))).toBe(true);
    expect(pdartsCheck(dartsSpace, {})).toEqual([]);
  });

  it('drops the weakest candidates by logit among the kept ones: 8 → 5 → 3 → 2 on the DARTS space', () => {
    fc.assert(
      fc.property(fc.array(alphasArb(dartsSpace, 1), { minLength: 3, maxLength: 3 }), (stageAlphas) => {
        let kept = pdartsInitialKept(dartsSpace);
        const sizes: number[] = [];
        for (const [i, st] of pdartsStages({}).entries()) {
          const a = Object.fromEntries(Object.entries(kept).map(([k, v]) => [k, stageAlphas[i]![k]!.slice(0, v.length + 1)] as const));
          const next = pdartsKeep(dartsSpace, a, kept, st.drop);
          for (const [key, alive] of Object.entries(kept)) {
            const now = next[key]!;
            expect(now.every((x) => alive.includes(x))).toBe(true); // a subset, ascending
            expect([...now].sort((x, y) => x - y)).toEqual(now);
            // every dropped candidate's logit ≤ every kept one's (the zero op's logit never counts)
            const logitOf = (orig: number): number => a[key]![alive.indexOf(orig)]!;
            const dropped = alive.filter((x) => !now.includes(x));
            for (const d of dropped) for (const k of now) expect(logitOf(d)).toBeLessThanOrEqual(logitOf(k));
          }
          sizes.push(Object.values(next)[0]!.length);
          kept = next;
        }
        expect(sizes).toEqual([5, 3, 2]);
      }),
      { numRuns: 30 },
    );
  });

  it('never drops below one candidate; ties drop the earlier candidate', () => {
    const sp = spaceOf(layer('op', 3));
    expect(pdartsKeep(sp, { op: [0.1, 0.3, 0.2, 5] }, {}, 10)).toEqual({ op: [1] });
    expect(pdartsKeep(sp, { op: [0, 0, 0] }, {}, 2)).toEqual({ op: [2] });
    // logits number the kept candidates (0, 2, 5, 7) plus the zero op
    expect(pdartsKeep(spaceOf(layer('op', 8)), { op: [0.3, -1, 0.2, 0.1, -9] }, { op: [0, 2, 5, 7] }, 2)).toEqual({ op: [0, 5] });
  });

  it('the subspace is the narrowed supernet’s space; expand and compact are inverse', () => {
    const kept = pdartsKeep(dartsSpace, Object.fromEntries(layerDecisions(dartsSpace).map((d) => [d.key, d.names.map((_, i) => (i * 7919) % 13).concat([0])] as const)), pdartsInitialKept(dartsSpace), 3);
    const narrowed = restrictCandidates(dartsGraph, kept);
    if (E.isLeft(narrowed)) throw new Error('restrictCandidates failed');
    expect(pdartsSubspace(dartsSpace, kept)).toEqual(searchSpace(narrowed.right));
    const stage: KeyVectors = Object.fromEntries(Object.entries(kept).map(([k, v]) => [k, v.map((_, i) => i + 1)] as const));
    const full = pdartsExpand(dartsSpace, kept, stage);
    for (const [k, v] of Object.entries(full)) expect(v.filter((x) => x !== 0)).toHaveLength(kept[k]!.length);
    expect(pdartsCompact(kept, full)).toEqual(stage);
  });

  it('exports the argmax over the kept candidates in original indices', () => {
    const sp = spaceOf(layer('op', 8));
    expect(pdartsExport(sp, { op: [1, 4, 6] }, { op: [0.1, 0.9, 0.2, 5] })).toEqual({ op: [4] }); // zero op ignored
    expect(pdartsExport(sp, { op: [1, 4, 6] }, { op: [0.1, 0.2, 0.9] })).toEqual({ op: [6] }); // no zero op
    expect(() => pdartsExport(sp, { op: [1, 4, 6] }, { op: [0.1] })).toThrow(/'op'/);
  });
});
