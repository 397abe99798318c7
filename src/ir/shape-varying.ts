/**
 * Layer choices whose candidates differ in output shape, and the check that every architecture's fixed graph fits.
 *
 * A layer choice may offer candidates of different output shapes (NNI's classic MNIST: `first_conv` is a 5x5 or a
 * 3x3 convolution, [20, 24, 24] or [20, 26, 26]). The supernet is built for the first candidate's shape; each
 * architecture's shapes are inferred again by `apply`. Whether a fixed graph fits depends only on which
 * shape-varying candidates are chosen (given that the others' shapes agree), so `fitCheck` tries every
 * combination of them against the rest of the space (every other choice kept, all its candidates rebuilt) and
 * reports each one that breaks, naming the keys, the candidates and the layer — before anything trains.
 *
 * @example
 * shapeVaryingChoices(graph);   // [{ key: 'first_conv', candidates: [{ name: '0', shape: [20, 24, 24] }, { name: '1', shape: [20, 26, 26] }] }]
 * fitCheck(graph);              // Either<readonly IRError[], { combinations: 2, complete: true }>
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Architecture, applyPartial } from './apply.ts';
import type { IRError } from './errors.ts';
import { type Graph, choiceNodes } from './graph.ts';
import { type Shape, shapeEq, showShape } from './shape.ts';
import type { SearchSpace } from './space.ts';

/** A layer choice whose candidates do not all have one output shape (in the supernet). */
export interface ShapeVaryingChoice {
  readonly key: string;
  /** Module path of the (first) choice node with this key. */
  readonly node: string;
  readonly candidates: readonly { readonly name: string; readonly shape: Shape }[];
}

/** The layer choices of `g` whose candidates differ in output shape, one per key, in graph order. */
export const shapeVaryingChoices = (g: Graph): readonly ShapeVaryingChoice[] => {
  const out = new Map<string, ShapeVaryingChoice>();
  for (const n of choiceNodes(g)) {
    if (n.op.kind !== 'layerChoice' || out.has(n.op.key)) continue;
    const first = n.inputs[0]!.shape;
    if (n.inputs.every((x) => shapeEq(x.shape, first))) continue;
    const names = n.op.names;
    out.set(n.op.key, { key: n.op.key, node: n.name, candidates: n.inputs.map((x, i) => ({ name: names[i]!, shape: x.shape })) });
  }
  return [...out.values()];
};

/** `first_conv (0 → [20, 24, 24], 1 → [20, 26, 26])`, for messages. */
export const describeShapeVarying = (c: ShapeVaryingChoice): string =>
  `'${c.key}' (${c.candidates.map((x) => `${x.name} → ${showShape(x.shape)}`).join(', ')})`;

/**
 * The keys of `space` whose layer choices differ in candidate shape, with the shapes (`SearchSpace` decisions carry
 * them as `candidateShapes`). What a mixed-mode algorithm checks before it starts.
 */
export const shapeVaryingKeys = (space: SearchSpace): readonly ShapeVaryingChoice[] =>
  space.decisions.flatMap((d) =>
    d.kind === 'layer' && d.candidateShapes !== undefined
      ? [{ key: d.key, node: d.sites[0] ?? d.key, candidates: d.names.map((name, i) => ({ name, shape: d.candidateShapes![i]! })) }]
      : [],
  );

export interface FitCheckOptions {
  /** At most this many combinations of shape-varying candidates are tried (default 4,096). */
  readonly limit?: number;
}

export interface FitReport {
  /** Combinations of shape-varying candidates tried. */
  readonly combinations: number;
  /** False when there were more than `limit` (the rest is found by `apply`, per architecture). */
  readonly complete: boolean;
}

/**
 * Tries every combination of shape-varying candidates against the rest of the space; every combination that does
 * not fit is an error naming its keys and candidates, the layer and the shapes (`with first_conv = 1 → [20, 26,
 * 26]: fc1: linear expects 800 input features, got 1014`). A space without shape-varying choices passes at once.
 */
export const fitCheck = (g: Graph, o: FitCheckOptions = {}): E.Either<readonly IRError[], FitReport> => {
  const varying = shapeVaryingChoices(g);
  const limit = o.limit ?? 4096;
  const total = varying.reduce((p, v) => p * v.candidates.length, 1);
  const count = Math.min(total, limit);
  const errors: IRError[] = [];
  const seen = new Set<string>();
  for (let c = 0; c < count; c++) {
    const arch: Record<string, readonly number[]> = {};
    let rest = c;
    for (const v of varying) {
      arch[v.key] = [rest % v.candidates.length];
      rest = Math.floor(rest / v.candidates.length);
    }
    const r = applyPartial(g, arch as Architecture);
    if (E.isLeft(r)) {
      for (const e of r.left) {
        if (seen.has(e.message)) continue;
        seen.add(e.message);
        errors.push(e);
      }
    }
  }
  return errors.length > 0 ? E.left(errors) : E.right({ combinations: count, complete: count === total });
};
