/**
 * How the reference interpreter treats choice nodes: resolving a decision into the candidates to evaluate
 * (with their weights), and combining the candidates' values.
 *
 * Two semantics:
 * - `select`: an `Architecture` (canonical choice map). A layer choice is its chosen candidate; an input choice
 *   is the reduction of its chosen inputs, exactly as `apply` builds it (sum: an n-ary add; mean: that sum times
 *   1/k; concat: channel concatenation; none: the chosen input at the node's position; one chosen: the input
 *   itself). An empty selection is absent, and `add` ignores absent values.
 * - `mix`: real weights per key (DARTS' softmax, Gumbel weights, a mask). A layer choice is Σ wᵢ·candidateᵢ;
 *   an input choice reduces wᵢ·xᵢ: sum → Σ wᵢxᵢ; mean → (Σ wᵢxᵢ)·(1/Σ wᵢ), the weighted mean; concat and none →
 *   the inputs with non-zero weight, each scaled by its weight, in index order (their count must be nChosen).
 *   Candidates of weight 0 are not evaluated and contribute nothing, not even NaN. When no candidate has a
 *   non-zero weight (or every weighted one is absent) the value is ZEROS, not absent: a mixed program has a
 *   tensor everywhere (the compiler's weighted-sum kernel leaves its zero sum). So for 0/1 weights mix computes
 *   the same numbers as select wherever select is defined (an absent value only ever meets add, where zeros are
 *   its sum's identity; −0 may become +0 there).
 */
import type { Architecture } from '../ir/apply.ts';
import type { ChoiceOp } from '../ir/ops.ts';

export type ChoiceSemantics =
  | { readonly kind: 'select'; readonly arch: Architecture }
  | { readonly kind: 'mix'; readonly weights: Readonly<Record<string, readonly number[]>> };

/** The candidates a choice node needs, with their weights (1 for select). */
export interface Resolved {
  readonly indices: readonly number[];
  readonly weights: readonly number[];
}

export type ChoiceError =
  | { readonly tag: 'MissingChoice'; readonly key: string; readonly message: string }
  | { readonly tag: 'BadChoice'; readonly key: string; readonly message: string };

/** The candidates (and weights) `choices` selects at a choice node with `n` candidates, or why it cannot. */
export const resolveChoice = (op: ChoiceOp, n: number, at: string, choices: ChoiceSemantics | undefined): Resolved | ChoiceError => {
  const key = op.key;
  if (choices === undefined) {
    return { tag: 'MissingChoice', key, message: `the graph has a choice '${key}' (at ${at}); pass choices (select an architecture or mix weights)` };
  }
  const nChosenOk = (k: number): boolean => op.kind === 'layerChoice' || op.nChosen === null || op.nChosen === k;
  const needs = op.kind === 'layerChoice' ? 'exactly one candidate' : `${op.nChosen ?? 'any number of'} inputs`;
  switch (choices.kind) {
    case 'select': {
      const chosen = choices.arch[key];
      if (chosen === undefined) return { tag: 'MissingChoice', key, message: `the architecture has no value for key '${key}' (needed at ${at})` };
      const bad = chosen.filter((i) => !(Number.isInteger(i) && i >= 0 && i < n));
      if (bad.length > 0) return { tag: 'BadChoice', key, message: `architecture value for '${key}' has index ${bad.join(', ')}, but ${at} has ${n} candidates` };
      if (!chosen.every((i, j) => j === 0 || i > chosen[j - 1]!)) {
        return { tag: 'BadChoice', key, message: `architecture value for '${key}' must list distinct indices in ascending order, got [${chosen.join(', ')}]` };
      }
      if ((op.kind === 'layerChoice' && chosen.length !== 1) || !nChosenOk(chosen.length)) {
        return { tag: 'BadChoice', key, message: `choice '${key}' at ${at} needs ${needs}, got [${chosen.join(', ')}]` };
      }
      return { indices: chosen, weights: chosen.map(() => 1) };
    }
    case 'mix': {
      const w = choices.weights[key];
      if (w === undefined) return { tag: 'MissingChoice', key, message: `the mix weights have no entry for key '${key}' (needed at ${at})` };
      if (w.length !== n) return { tag: 'BadChoice', key, message: `mix weights for '${key}' have ${w.length} values, but ${at} has ${n} candidates` };
      if (!w.every(Number.isFinite)) return { tag: 'BadChoice', key, message: `mix weights for '${key}' must be finite, got [${w.join(', ')}]` };
      const indices = w.flatMap((v, i) => (v !== 0 ? [i] : []));
      if (op.kind === 'inputChoice' && (op.reduction === 'concat' || op.reduction === 'none') && !nChosenOk(indices.length)) {
        return { tag: 'BadChoice', key, message: `choice '${key}' at ${at} (reduction ${op.reduction}) needs ${needs} with non-zero weight, got ${indices.length}` };
      }
      return { indices, weights: indices.map((i) => w[i]!) };
    }
    default: {
      const never: never = choices;
      throw new Error(`unknown choice semantics ${JSON.stringify(never)}`);
    }
  }
};

/** Σ wᵢ·xᵢ over the given terms, starting from the first term (so a single term of weight 1 is returned exactly). */
export const weightedSum = (terms: readonly { readonly x: Float64Array; readonly w: number }[]): Float64Array => {
  const first = terms[0]!;
  const out = first.w === 1 ? Float64Array.from(first.x) : first.x.map((v) => v * first.w);
  for (const t of terms.slice(1)) for (let i = 0; i < out.length; i++) out[i]! += t.w === 1 ? t.x[i]! : t.x[i]! * t.w;
  return out;
};
