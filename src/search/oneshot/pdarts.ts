/**
 * P-DARTS (Chen et al., ICCV 2019) as NNI runs it: DARTS in stages on deeper and deeper supernets (+0, +6, +12
 * cells by default), each stage with fresh alphas over the candidates still alive, and after each stage the
 * weakest candidates of every layer key dropped (3, 2, 1 by default), judged by their logits (the zero op's
 * aside). The export maps the last stage's argmax back to the candidate indices of the ORIGINAL space.
 *
 * This module gives the plan, the candidate masks ("kept": per layer key, the original indices still alive,
 * ascending) and the mapping; a stage is ordinary DARTS (darts.ts) on `pdartsSubspace(space, kept)`, whose k-th
 * candidate of a key is the original candidate kept[key][k]. A runtime that keeps the full supernet can instead
 * run it with `pdartsExpand` of the stage's mix weights (dropped candidates weighted 0) and hand DARTS
 * `pdartsCompact` of ∂L/∂w. Not done here: P-DARTS's dropout on skip connections and its limit on the number of
 * skip connections in the final cell (regularisation of a specific operation set, not of the choice semantics).
 *
 * @example
 * const stages = pdartsStages({});
 * let kept = pdartsInitialKept(space);
 * for (const stage of stages) {
 *   const sub = pdartsSubspace(space, kept);       // run DARTS on `sub` with stage.addLayers more cells
 *   const st = runDartsStage(sub, stage);          // (the runtime's) final DARTS state of the stage
 *   if (stage.index === stages.length - 1) arch = pdartsExport(space, kept, st.alphas);
 *   else kept = pdartsKeep(space, st.alphas, kept, stage.drop);
 * }
 */
import * as t from 'io-ts';
import type { Architecture } from '../../ir/apply.ts';
import { type SearchSpace, decisionSize } from '../../ir/space.ts';
import { type StrategyError, optionError } from '../strategy.ts';
import { deriveArchitecture, layerDecisions, softmax } from './alphas.ts';
import { type DartsOptions, dartsCheckAs } from './darts.ts';
import type { KeyVectors } from './types.ts';

const NAME = 'pdarts';

/** The stage plan's options (NNI's defaults). */
export interface PdartsStageOptions {
  /** Number of stages, 3. */
  readonly stages?: number;
  /** Cells added to the base supernet in each stage, [0, 6, 12]. */
  readonly addLayers?: readonly number[];
  /** Candidates dropped per layer key after each stage, [3, 2, 1] (the last stage's drop is not applied: the export follows it). */
  readonly drop?: readonly number[];
}

/** P-DARTS options: the stage plan plus DARTS's options for every stage. */
export interface PdartsOptions extends PdartsStageOptions, DartsOptions {}

/** Decodes the stage plan's options from JSON (every field optional). */
export const pdartsStageOptionsCodec = t.partial({ stages: t.number, addLayers: t.readonlyArray(t.number), drop: t.readonlyArray(t.number) });

/** One stage of the plan. */
export interface PdartsStage {
  /** 0-based. */
  readonly index: number;
  /** Cells added to the base supernet in this stage. */
  readonly addLayers: number;
  /** Candidates to drop per layer key after this stage (by `pdartsKeep`); the last stage's is not applied. */
  readonly drop: number;
}

const resolveStages = (o: PdartsStageOptions): { readonly stages: number; readonly addLayers: readonly number[]; readonly drop: readonly number[] } => ({
  stages: o.stages ?? 3,
  addLayers: o.addLayers ?? [0, 6, 12],
  drop: o.drop ?? [3, 2, 1],
});

/**
 * The stage plan. Options must have passed `pdartsCheck` (a list shorter than `stages` reads as 0 past its end).
 *
 * @example
 * pdartsStages({}); // [{ index: 0, addLayers: 0, drop: 3 }, { index: 1, addLayers: 6, drop: 2 }, { index: 2, addLayers: 12, drop: 1 }]
 */
export const pdartsStages = (o: PdartsStageOptions = {}): readonly PdartsStage[] => {
  const r = resolveStages(o);
  return Array.from({ length: r.stages }, (_, i) => ({ index: i, addLayers: r.addLayers[i] ?? 0, drop: r.drop[i] ?? 0 }));
};

/**
 * Every reason P-DARTS cannot search `space` with `options`: DARTS's reasons, and a stage plan that is not
 * `stages` ≥ 1 stages with one non-negative integer per stage in `addLayers` and in `drop`.
 *
 * @example
 * pdartsCheck(space, { stages: 2 }); // InvalidOption addLayers and drop: 3 entries for 2 stages
 */
export const pdartsCheck = (space: SearchSpace, options: PdartsOptions = {}): readonly StrategyError[] => {
  const r = resolveStages(options);
  const counts = (name: string, v: readonly number[]): readonly StrategyError[] =>
    optionError(
      NAME,
      name,
      v.length === r.stages && v.every((x) => Number.isInteger(x) && x >= 0),
      `must have one non-negative integer per stage (${r.stages}), got [${v.join(', ')}]`,
    );
  return [
    ...dartsCheckAs(NAME, space, options),
    ...optionError(NAME, 'stages', Number.isInteger(r.stages) && r.stages >= 1, `must be a positive integer, got ${r.stages}`),
    ...counts('addLayers', r.addLayers),
    ...counts('drop', r.drop),
  ];
};

/** Every candidate of every layer key: the mask of the first stage. */
export const pdartsInitialKept = (space: SearchSpace): Readonly<Record<string, readonly number[]>> =>
  Object.fromEntries(layerDecisions(space).map((d) => [d.key, d.names.map((_, i) => i)] as const));

const keptOf = (kept: Readonly<Record<string, readonly number[]>>, key: string, n: number): readonly number[] =>
  kept[key] ?? Array.from({ length: n }, (_, i) => i);

/** The stage's logits of `key` over its kept candidates (the zero op's, if any, cut off), or a RangeError. */
const stageLogits = (alphas: KeyVectors, key: string, k: number): readonly number[] => {
  const a = alphas[key];
  if (a === undefined || (a.length !== k && a.length !== k + 1)) {
    throw new RangeError(`P-DARTS: layer choice '${key}' has ${k} candidates kept, so its logits must number ${k} or ${k + 1} (with the zero op), got ${a === undefined ? 'none' : a.length}`);
  }
  return a.slice(0, k);
};

/**
 * The masks after a stage: for every layer key, drop the `dropCount` kept candidates with the smallest logits
 * (`alphasPerKey`: the stage's alphas, one per kept candidate in `kept`'s order, plus the zero op's, which is
 * never dropped nor counted; ties: the earlier candidate goes first), never leaving fewer than 1. A key missing
 * from `kept` has all its candidates alive.
 *
 * @example
 * pdartsKeep(space, { op: [0.3, -1, 0.2, 0.1, 0] }, { op: [0, 2, 5, 7] }, 2); // { op: [0, 5] }
 */
export const pdartsKeep = (
  space: SearchSpace,
  alphasPerKey: KeyVectors,
  kept: Readonly<Record<string, readonly number[]>>,
  dropCount: number,
): Readonly<Record<string, readonly number[]>> =>
  Object.fromEntries(
    layerDecisions(space).map((d) => {
      const alive = keptOf(kept, d.key, d.names.length);
      const a = stageLogits(alphasPerKey, d.key, alive.length);
      const n = Math.min(Math.max(0, dropCount), alive.length - 1);
      const dropped = new Set(
        a
          .map((x, k) => [x, k] as const)
          .sort((p, q) => p[0] - q[0] || p[1] - q[1])
          .slice(0, n)
          .map(([, k]) => k),
      );
      return [d.key, alive.filter((_, k) => !dropped.has(k))] as const;
    }),
  );

/**
 * The space of a stage: every layer key keeps only its `kept` candidates (in `kept`'s order, names kept), so
 * DARTS's state, weights and export on it refer to kept positions. Input choices are unchanged.
 *
 * @example
 * pdartsSubspace(space, { op: [0, 5] }).decisions[0].names; // ['conv3x3', 'maxpool']
 */
export const pdartsSubspace = (space: SearchSpace, kept: Readonly<Record<string, readonly number[]>>): SearchSpace => {
  const decisions = space.decisions.map((d) => (d.kind === 'layer' ? { ...d, names: keptOf(kept, d.key, d.names.length).map((i) => d.names[i]!) } : d));
  return { decisions, size: decisions.reduce((p, d) => p * decisionSize(d), 1n) };
};

/**
 * Per layer key, a stage vector over the kept candidates (e.g. its mix weights) spread over ALL original
 * candidates, 0 for the dropped ones. Input keys pass through.
 *
 * @example
 * pdartsExpand(space, { op: [0, 2] }, { op: [0.7, 0.3] }); // { op: [0.7, 0, 0.3, 0] } for 4 candidates
 */
export const pdartsExpand = (space: SearchSpace, kept: Readonly<Record<string, readonly number[]>>, stage: KeyVectors): KeyVectors =>
  Object.fromEntries(
    space.decisions.flatMap((d) => {
      const v = stage[d.key];
      if (v === undefined) return [];
      if (d.kind === 'input') return [[d.key, v] as const];
      const alive = keptOf(kept, d.key, d.names.length);
      if (v.length < alive.length) throw new RangeError(`pdartsExpand: layer choice '${d.key}' has ${alive.length} candidates kept but a vector of ${v.length}`);
      const out = d.names.map(() => 0);
      alive.forEach((i, k) => (out[i] = v[k]!));
      return [[d.key, out] as const];
    }),
  );

/**
 * The inverse of `pdartsExpand`: per layer key, the entries of the kept candidates (e.g. ∂L/∂w read from the full
 * supernet, for the stage's DARTS step). Input keys pass through.
 *
 * @example
 * pdartsCompact({ op: [0, 2] }, { op: [0.1, 0.2, 0.3, 0.4] }); // { op: [0.1, 0.3] }
 */
export const pdartsCompact = (kept: Readonly<Record<string, readonly number[]>>, full: KeyVectors): KeyVectors =>
  Object.fromEntries(
    Object.entries(full).map(([key, v]) => {
      const alive = kept[key];
      return [key, alive === undefined ? v : alive.map((i) => v[i] ?? NaN)] as const;
    }),
  );

/**
 * The architecture of the last stage, in the ORIGINAL space's indices: per layer key the argmax of
 * softmax(`finalAlphas`) over its kept candidates (logits numbering the kept candidates, or one more for the zero
 * op: both are accepted), mapped back through `kept`; input keys and dropped edges by DARTS's rule
 * (`deriveArchitecture`, with each edge's strength its strongest kept op's weight).
 *
 * @example
 * pdartsExport(space, { op: [1, 4, 6] }, { op: [0.1, 0.9, 0.2, 0] }); // { op: [4] }
 */
export const pdartsExport = (space: SearchSpace, kept: Readonly<Record<string, readonly number[]>>, finalAlphas: KeyVectors): Architecture => {
  const stageWeights = Object.fromEntries(
    layerDecisions(space).map((d) => {
      const k = keptOf(kept, d.key, d.names.length).length;
      const a = stageLogits(finalAlphas, d.key, k);
      const full = finalAlphas[d.key]!;
      return [d.key, softmax(full).slice(0, a.length)] as const;
    }),
  );
  return deriveArchitecture(space, pdartsExpand(space, kept, stageWeights));
};
