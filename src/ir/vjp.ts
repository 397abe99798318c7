/**
 * Vector–Jacobian products: for each op, the IR nodes that compute ∂L/∂input from ∂L/∂output (`dy`). The rules
 * live with the ops' other definitions (`OP_DEFS[kind].vjp` in ops.ts); this module applies them to nodes. They
 * are ordinary IR, so the backward pass lowers through the same compiler and runs on the same reference
 * interpreter.
 *
 * A rule returns one entry per input: a node, or `null` where no gradient flows (labels, running statistics,
 * indices, the "none" op). An op registered as not differentiable gives a GraphError naming the node.
 */
import { fail } from './errors.ts';
import { type Node, mkNode } from './node.ts';
import { type Op, opDef } from './ops.ts';

/**
 * ∂L/∂inputs of `n` given ∂L/∂n = `dy`.
 *
 * @example
 * vjp(reluNode, dy); // [activationGrad(relu)(x, dy)]
 */
export const vjp = (n: Node, dy: Node): readonly (Node | null)[] => {
  const rule = opDef(n.op).vjp;
  if ('notDifferentiable' in rule) {
    return fail({ tag: 'InvalidAttribute', node: n.name, op: n.op.kind, message: `${n.name}: ${n.op.kind} ${rule.notDifferentiable}` });
  }
  const mk = (op: Op, inputs: readonly Node[]): Node => mkNode(op, inputs, `grad:${n.name}`);
  return rule<Node>({
    op: n.op,
    node: n,
    inputs: n.inputs,
    dy,
    mk,
    // The gradient of an input repeated over the batch (an unbatched value, such as a parameter, meeting
    // batched ones in add or mul): the batched gradient summed over the batch.
    unbroadcast: (input, g) => (!input.batched && g.batched ? mk({ kind: 'sumBatch', spatial: false }, [g]) : g),
  });
};
