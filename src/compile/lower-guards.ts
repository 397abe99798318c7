/**
 * Run conditions of nodes in sampled mode: a node is computed when some path from an output reaches it through
 * selected candidates. Conditions are disjunctions of conjunctions of literals `key ∋ index`, propagated from
 * the outputs (true) down the graph: a layer choice's input i adds `key ∋ i`, an input choice's input i adds
 * `key ∋ i` (the input is computed only when selected). Nested choices give conjunctions; sharing gives
 * disjunctions, simplified by contradiction (one layer choice cannot pick two candidates), absorption, and
 * merging a key's complete set of candidates back into the condition without it.
 */
import type { Node } from '../ir/node.ts';
import type { ChoiceLiteral, Guard } from './program.ts';

/** A conjunction: sorted literal strings `key\u0000index`. */
type Conj = readonly string[];
/** A disjunction of conjunctions; `[[]]` is true, `[]` is false. */
export type Dnf = readonly Conj[];

export const TRUE: Dnf = [[]];

const SEP = '\u0000';
const lit = (key: string, index: number): string => `${key}${SEP}${index}`;
const parse = (l: string): ChoiceLiteral => {
  const at = l.lastIndexOf(SEP);
  return { key: l.slice(0, at), index: Number(l.slice(at + 1)) };
};

/** Above this many conjunctions a condition is widened to true: running a dispatch more often is only waste. */
const MAX_TERMS = 128;

const isSubset = (a: Conj, b: Conj): boolean => a.every((x) => b.includes(x));

/** Simplifies a DNF; `layerKeys` maps each layer-choice key to its candidate count. */
const simplify = (d: Dnf, layerKeys: ReadonlyMap<string, number>): Dnf => {
  // Contradictions: two different candidates of one layer choice.
  let terms = d.filter((c) => {
    const seen = new Map<string, string>();
    for (const l of c) {
      const { key } = parse(l);
      if (!layerKeys.has(key)) continue;
      const prev = seen.get(key);
      if (prev !== undefined && prev !== l) return false;
      seen.set(key, l);
    }
    return true;
  });
  for (let changed = true; changed; ) {
    changed = false;
    // Absorption (also removes duplicates): drop a term that contains another.
    terms = terms.filter((c, i) => !terms.some((o, j) => j !== i && isSubset(o, c) && (o.length < c.length || j < i)));
    // Merging: C∧k∋0 ∨ … ∨ C∧k∋(n−1) = C for a layer key k with n candidates.
    outer: for (const c of terms) {
      for (const l of c) {
        const { key } = parse(l);
        const n = layerKeys.get(key);
        if (n === undefined) continue;
        const rest = c.filter((x) => x !== l);
        const all = Array.from({ length: n }, (_, i) => [...rest, lit(key, i)].sort());
        if (all.every((want) => terms.some((t) => t.length === want.length && isSubset(want, t)))) {
          terms = [...terms.filter((t) => !all.some((want) => t.length === want.length && isSubset(want, t))), rest];
          changed = true;
          break outer;
        }
      }
    }
  }
  return terms.length > MAX_TERMS ? TRUE : terms;
};

/** `d ∧ key∋index`. */
export const andLit = (d: Dnf, key: string, index: number, layerKeys: ReadonlyMap<string, number>): Dnf =>
  simplify(
    d.map((c) => (c.includes(lit(key, index)) ? c : [...c, lit(key, index)].sort())),
    layerKeys,
  );

/**
 * The run condition of every node under `outputs` (sampled mode).
 *
 * @example
 * const conds = nodeConditions(topoOrder(g.outputs), g.outputs);
 * toGuard(conds.get(candidate.id)!) // [[{ key: 'op1', index: 2 }]]
 */
export const nodeConditions = (order: readonly Node[], outputs: readonly Node[]): ReadonlyMap<string, Dnf> => {
  const layerKeys = new Map<string, number>();
  for (const n of order) if (n.op.kind === 'layerChoice') layerKeys.set(n.op.key, n.inputs.length);
  const cond = new Map<string, Dnf>();
  const add = (id: string, d: Dnf): void => {
    const prev = cond.get(id);
    cond.set(id, prev === undefined ? simplify(d, layerKeys) : simplify([...prev, ...d], layerKeys));
  };
  for (const o of outputs) add(o.id, TRUE);
  for (let i = order.length - 1; i >= 0; i--) {
    const n = order[i]!;
    const c = cond.get(n.id) ?? [];
    cond.set(n.id, c);
    const op = n.op;
    n.inputs.forEach((x, p) => {
      add(x.id, op.kind === 'layerChoice' || op.kind === 'inputChoice' ? andLit(c, op.key, p, layerKeys) : c);
    });
  }
  return cond;
};

/** The layer-choice keys of a node list with their candidate counts. */
export const layerKeysOf = (order: readonly Node[]): ReadonlyMap<string, number> => {
  const m = new Map<string, number>();
  for (const n of order) if (n.op.kind === 'layerChoice') m.set(n.op.key, n.inputs.length);
  return m;
};

/** A DNF as a dispatch guard: undefined when always true. */
export const toGuard = (d: Dnf): Guard | undefined =>
  d.some((c) => c.length === 0) ? undefined : d.map((c) => c.map(parse));
