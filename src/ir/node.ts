/**
 * Value nodes of the IR: immutable records of an op, its inputs and its inferred per-sample shape.
 *
 * A node's `id` is a structural hash of its op and its inputs' ids: two nodes with equal ids are the same
 * value (hash-consing without a global table). `name` is where the node was built (a module path), kept for
 * messages only: it is not part of the identity.
 */
import { canonicalJson, hash128 } from './hash.ts';
import { inferShape, type Op, outputBatched } from './ops.ts';
import type { Shape } from './shape.ts';

export interface Node {
  readonly id: string;
  readonly op: Op;
  readonly inputs: readonly Node[];
  readonly shape: Shape;
  /** Whether the value carries the batch (activations) or not (parameters, gradients of parameters, losses). */
  readonly batched: boolean;
  readonly name: string;
}

/** The identity of a node built from `op` over inputs with `inputIds`. */
export const nodeId = (op: Op, inputIds: readonly string[]): string => hash128(`${canonicalJson(op)}|${inputIds.join(',')}`);

/**
 * Builds a node, inferring its shape; throws a GraphError naming `name`, the op and the shapes when the
 * inputs do not fit.
 */
export const mkNode = (op: Op, inputs: readonly Node[], name: string): Node => {
  const shape = inferShape(name, op, inputs.map((i) => i.shape));
  return Object.freeze({
    id: nodeId(op, inputs.map((i) => i.id)),
    op: Object.freeze({ ...op }), // a copy: the caller's object stays its own
    inputs: Object.freeze([...inputs]),
    shape: Object.freeze([...shape]),
    batched: outputBatched(op, inputs.map((i) => i.batched)),
    name,
  });
};

/**
 * Every node reachable from `roots`, each once, inputs before users (a topological order that is stable:
 * depth-first, inputs in order). Iterative, so deep graphs do not overflow the stack.
 */
export const topoOrder = (roots: readonly Node[]): readonly Node[] => {
  const seen = new Set<string>();
  const order: Node[] = [];
  for (const root of roots) {
    if (seen.has(root.id)) continue;
    const stack: { node: Node; next: number }[] = [{ node: root, next: 0 }];
    seen.add(root.id);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const child = top.node.inputs[top.next];
      if (child === undefined) {
        order.push(top.node);
        stack.pop();
      } else {
        top.next++;
        if (!seen.has(child.id)) {
          seen.add(child.id);
          stack.push({ node: child, next: 0 });
        }
      }
    }
  }
  return order;
};

/**
 * Rebuilds the graph under `roots` bottom-up: `f` receives each node with its inputs already rewritten and
 * returns the replacement. Memoised by id, so shared sub-graphs are rewritten once.
 */
export const rewrite = (
  roots: readonly Node[],
  f: (node: Node, inputs: readonly Node[]) => Node,
): { readonly roots: readonly Node[]; readonly map: ReadonlyMap<string, Node> } => {
  const map = new Map<string, Node>();
  for (const n of topoOrder(roots)) {
    map.set(n.id, f(n, n.inputs.map((i) => map.get(i.id)!)));
  }
  return { roots: roots.map((r) => map.get(r.id)!), map };
};

/** Rebuilds `node` with new inputs, or returns it unchanged when the inputs are the same values. */
export const withInputs = (node: Node, inputs: readonly Node[]): Node =>
  inputs.length === node.inputs.length && inputs.every((x, i) => x.id === node.inputs[i]!.id)
    ? node
    : mkNode(node.op, inputs, node.name);
