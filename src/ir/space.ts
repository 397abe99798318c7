/**
 * The search space of a graph: its decisions in a stable order (first occurrence in the graph's topological
 * order), the exact number of architectures, and NNI's `ss_gen` JSON.
 *
 * @example
 * const space = searchSpace(graph);
 * space.decisions.map((d) => d.key); // ['conv1', 'skipcon']
 * space.size;                        // 4n (a bigint)
 * ssGen(space);                      // { conv1: { _type: 'layer_choice', _value: ['conv3x3', 'conv5x5'] }, ... }
 */
import { type Graph, choiceNodes } from './graph.ts';
import type { Reduction } from './ops.ts';
import { type Shape, shapeEq } from './shape.ts';

export type Decision =
  | {
      readonly kind: 'layer';
      readonly key: string;
      readonly names: readonly string[];
      readonly scope: readonly string[];
      /** Module paths of every choice node that takes this decision (more than one for shared keys). */
      readonly sites: readonly string[];
      /**
       * Present only when the candidates differ in output shape (as built in the supernet): each candidate's
       * shape. Classic and sampled one-shot search handle such a key; mixed-mode algorithms refuse it.
       */
      readonly candidateShapes?: readonly Shape[];
      /** Present for a `valueChoice`/`repeat` decision: the value of each candidate (ss_gen writes a `choice`). */
      readonly values?: readonly (number | string | boolean)[];
    }
  | {
      readonly kind: 'input';
      readonly key: string;
      readonly names: readonly string[];
      /** A fixed count, or null: any number, including none. */
      readonly nChosen: number | null;
      readonly reduction: Reduction;
      readonly scope: readonly string[];
      readonly sites: readonly string[];
    };

export interface SearchSpace {
  readonly decisions: readonly Decision[];
  /** The number of distinct choice maps (product over decisions), exact. */
  readonly size: bigint;
}

export const binomial = (n: number, k: number): bigint => {
  if (k < 0 || k > n) return 0n;
  let r = 1n;
  for (let i = 0; i < k; i++) r = (r * BigInt(n - i)) / BigInt(i + 1);
  return r;
};

/** How many values a decision can take: n for a layer choice, C(n, k) or 2^n for an input choice. */
export const decisionSize = (d: Decision): bigint =>
  d.kind === 'layer' ? BigInt(d.names.length) : d.nChosen === null ? 1n << BigInt(d.names.length) : binomial(d.names.length, d.nChosen);

/** The decisions of a graph (which `buildModel` has validated: shared keys agree on their candidates). */
export const searchSpace = (g: Graph): SearchSpace => {
  const byKey = new Map<string, Decision>();
  for (const n of choiceNodes(g)) {
    const seen = byKey.get(n.op.key);
    if (seen !== undefined) {
      if (!seen.sites.includes(n.name)) byKey.set(n.op.key, { ...seen, sites: [...seen.sites, n.name] });
      continue;
    }
    const op = n.op;
    const shapes = n.inputs.map((x) => x.shape);
    const varies = !shapes.every((s) => shapeEq(s, shapes[0]!));
    byKey.set(
      op.key,
      op.kind === 'layerChoice'
        ? {
            kind: 'layer',
            key: op.key,
            names: op.names,
            scope: op.scope,
            sites: [n.name],
            ...(varies ? { candidateShapes: shapes } : {}),
            ...(op.values === undefined ? {} : { values: op.values }),
          }
        : { kind: 'input', key: op.key, names: op.names, nChosen: op.nChosen, reduction: op.reduction, scope: op.scope, sites: [n.name] },
    );
  }
  const decisions = [...byKey.values()];
  return { decisions, size: decisions.reduce((p, d) => p * decisionSize(d), 1n) };
};

export type SsGenEntry =
  | { readonly _type: 'layer_choice'; readonly _value: readonly string[] }
  /** A value choice (NNI's HPO format, as NNI 2.x writes `ValueChoice`). */
  | { readonly _type: 'choice'; readonly _value: readonly (number | string | boolean)[] }
  | { readonly _type: 'input_choice'; readonly _value: { readonly candidates: readonly string[]; readonly n_chosen: number | null } };

/**
 * NNI's `nnictl ss_gen` format, keys sorted; scopes are omitted as in NNI. A value choice (`valueChoice`, `repeat`)
 * is written in NNI's HPO form `{"_type": "choice", "_value": [values]}`.
 */
export const ssGen = (space: SearchSpace): Readonly<Record<string, SsGenEntry>> => {
  const out: Record<string, SsGenEntry> = {};
  for (const d of [...space.decisions].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))) {
    out[d.key] =
      d.kind === 'layer'
        ? d.values !== undefined
          ? { _type: 'choice', _value: d.values }
          : { _type: 'layer_choice', _value: d.names }
        : { _type: 'input_choice', _value: { candidates: d.names, n_chosen: d.nChosen } };
  }
  return out;
};

export const decisionOf = (space: SearchSpace, key: string): Decision | undefined => space.decisions.find((d) => d.key === key);
