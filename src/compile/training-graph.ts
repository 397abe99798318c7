/**
 * From a model to what one training step computes: BatchNorm with batch statistics, active dropout, a labels
 * input, the cross-entropy loss and the gradient of every trainable parameter — all as one IR graph, so the
 * forward pass, the backward pass (and, in the runtime, the optimizer) become one Program and one submit.
 *
 * @example
 * const step = trainingGraph(fixed, { labelSmoothing: 0.1 });
 * step.graph.outputs; // [loss, logits, ...one gradient per parameter]
 */
import type { Graph } from '../ir/graph.ts';
import { type Node, mkNode, rewrite } from '../ir/node.ts';
import { grad } from './grad.ts';

export interface TrainingGraph {
  /** Inputs [x, labels]; outputs [loss, logits, ...gradients] (in `grads` order). */
  readonly graph: Graph;
  readonly loss: Node;
  readonly logits: Node;
  readonly labels: Node;
  /** Every trainable parameter reachable from the outputs, with its gradient node. */
  readonly grads: readonly { readonly path: string; readonly param: Node; readonly grad: Node }[];
  /** Extra differentiable leaves (e.g. choiceWeights of a mixed graph) with their gradients. */
  readonly leafGrads: readonly { readonly leaf: Node; readonly grad: Node }[];
}

export interface TrainingGraphOptions {
  readonly labelSmoothing?: number;
  /** Also differentiate with respect to these leaves (DARTS: the mixed graph's choiceWeights). */
  readonly extraWrt?: (g: Graph) => readonly Node[];
}

/** Rewrites evaluation-form ops into their training form (BatchNorm batch statistics, active dropout). */
export const toTrainingForm = (g: Graph): Graph => {
  const { roots } = rewrite(g.outputs, (n, inputs) => {
    const op = n.op;
    if (op.kind === 'batchNorm2d') return mkNode({ kind: 'batchNorm2dTrain', eps: op.eps, momentum: op.momentum, affine: op.affine }, inputs, n.name);
    if (op.kind === 'dropout') return op.p === 0 ? inputs[0]! : mkNode({ kind: 'dropoutTrain', p: op.p, channelwise: op.channelwise, site: op.site }, inputs, n.name);
    return inputs.every((x, i) => x.id === n.inputs[i]!.id) ? n : mkNode(op, inputs, n.name);
  });
  return { inputs: g.inputs, outputs: roots };
};

/** The training step of a single-output classifier `g` (its output: logits or log-probabilities [K]). */
export const trainingGraph = (g: Graph, o: TrainingGraphOptions = {}): TrainingGraph => {
  const t = toTrainingForm(g);
  const logits = t.outputs[0]!;
  const labels = mkNode({ kind: 'input', name: 'labels', shape: [1] }, [], 'labels');
  const loss = mkNode({ kind: 'crossEntropy', labelSmoothing: o.labelSmoothing ?? 0 }, [logits, labels], 'loss');
  const seen = new Set<string>();
  const ps: Node[] = [];
  const visit = (roots: readonly Node[]): void => {
    const stack = [...roots];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (seen.has(n.id)) continue;
      seen.add(n.id);
      if (n.op.kind === 'param' && n.op.trainable) ps.push(n);
      stack.push(...n.inputs);
    }
  };
  visit([loss]);
  ps.sort((a, b) => (a.op.kind === 'param' && b.op.kind === 'param' ? (a.op.path < b.op.path ? -1 : 1) : 0));
  const extra = o.extraWrt?.(t) ?? [];
  const gs = grad(loss, [...ps, ...extra]);
  const grads = ps.map((p, i) => ({ path: p.op.kind === 'param' ? p.op.path : '', param: p, grad: gs[i]! }));
  const leafGrads = extra.map((leaf, i) => ({ leaf, grad: gs[ps.length + i]! }));
  return {
    graph: { inputs: [...t.inputs, labels], outputs: [loss, logits, ...grads.map((x) => x.grad), ...leafGrads.map((x) => x.grad)] },
    loss,
    logits,
    labels,
    grads,
    leafGrads,
  };
};
