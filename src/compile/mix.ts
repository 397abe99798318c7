/**
 * The continuous relaxation of a supernet as an IR → IR transform: every layer choice becomes Σ wᵢ·candidateᵢ and
 * every summed input choice Σ wᵢ·inputᵢ, with the weights of each key read from one run-time leaf
 * (`choiceWeights`, unbatched [n]) shared by all sites of that key. The result is a choice-free graph, so
 * `grad` differentiates it and yields ∂L/∂w per key: what DARTS, GDAS and FBNet feed into their softmax
 * chain rule. One-hot weights compute exactly the fixed architecture's function.
 *
 * Input choices with reduction mean, concat or none have no weighted form here: DARTS sums its inputs, and a
 * weighted concat has no fixed width. They are reported, by key, as unsupported.
 *
 * @example
 * const mixed = mixGraph(supernet);        // Either<readonly MixError[], MixedGraph>
 * mixed.right.weights;                    // [{ key: 'conv1', n: 2, leaf }, ...] in the space's order
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Graph } from '../ir/graph.ts';
import { type Node, mkNode, rewrite } from '../ir/node.ts';

export interface MixedGraph {
  readonly graph: Graph;
  /** One weights leaf per key, in order of first appearance. */
  readonly weights: readonly { readonly key: string; readonly n: number; readonly leaf: Node }[];
}

export interface MixError {
  readonly tag: 'UnsupportedMix';
  readonly key: string;
  readonly message: string;
}

export const mixGraph = (g: Graph): E.Either<readonly MixError[], MixedGraph> => {
  const leaves = new Map<string, Node>();
  const errors: MixError[] = [];
  const leaf = (key: string, n: number): Node => {
    const seen = leaves.get(key);
    if (seen !== undefined) return seen;
    const w = mkNode({ kind: 'choiceWeights', key, n }, [], `weights:${key}`);
    leaves.set(key, w);
    return w;
  };
  const { roots } = rewrite(g.outputs, (n, inputs) => {
    const op = n.op;
    if (op.kind === 'layerChoice') return mkNode({ kind: 'weightedSum' }, [leaf(op.key, inputs.length), ...inputs], n.name);
    if (op.kind === 'inputChoice') {
      if (op.reduction !== 'sum') {
        if (!errors.some((e) => e.key === op.key)) {
          errors.push({
            tag: 'UnsupportedMix',
            key: op.key,
            message: `input choice '${op.key}' (at ${n.name}) reduces by ${op.reduction}; mixed mode weights summed input choices only`,
          });
        }
        return n;
      }
      return mkNode({ kind: 'weightedSum' }, [leaf(op.key, inputs.length), ...inputs], n.name);
    }
    return inputs.every((x, i) => x.id === n.inputs[i]!.id) ? n : mkNode(op, inputs, n.name);
  });
  if (errors.length > 0) return E.left(errors);
  return E.right({
    graph: { inputs: g.inputs, outputs: roots },
    weights: [...leaves.entries()].map(([key, l]) => ({ key, n: l.op.kind === 'choiceWeights' ? l.op.n : 0, leaf: l })),
  });
};
