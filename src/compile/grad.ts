/**
 * Reverse-mode automatic differentiation as an IR → IR transform (in the spirit of JAX's `grad` over jaxprs):
 * `grad(loss, wrt)` returns, for each node of `wrt`, a node computing ∂loss/∂node. The result is ordinary IR,
 * lowered by the same compiler and evaluated by the same reference interpreter as the forward pass.
 *
 * Only nodes on a path from `wrt` to `loss` are differentiated. A `wrt` node that does not influence the loss
 * gets zeros. The loss must be a single-element unbatched value (e.g. `crossEntropy`), seeded with 1.
 *
 * @example
 * const { loss, graph } = trainingGraph(fixedModel);
 * const grads = grad(loss, params(fixedModel)); // one node per parameter, same shapes, unbatched
 */
import { fail } from '../ir/errors.ts';
import { type Node, mkNode, topoOrder } from '../ir/node.ts';
import { numel, shapeEq, showShape } from '../ir/shape.ts';
import { vjp } from '../ir/vjp.ts';

export const grad = (loss: Node, wrt: readonly Node[]): readonly Node[] => {
  if (loss.batched || numel(loss.shape) !== 1) {
    fail({
      tag: 'ShapeMismatch',
      node: loss.name,
      op: loss.op.kind,
      shapes: [loss.shape],
      message: `grad: the loss ${loss.name} must be one unbatched number (e.g. crossEntropy), got ${loss.batched ? 'a batched ' : ''}${showShape(loss.shape)}`,
    });
  }
  const order = topoOrder([loss]);
  // Nodes through which some `wrt` node reaches the loss: only these need a gradient.
  const targets = new Set(wrt.map((w) => w.id));
  const needed = new Set<string>();
  for (const n of order) if (targets.has(n.id) || n.inputs.some((i) => needed.has(i.id))) needed.add(n.id);

  const contributions = new Map<string, Node[]>();
  const push = (n: Node, g: Node): void => {
    if (!shapeEq(g.shape, n.shape) || g.batched !== n.batched) {
      fail({
        tag: 'ShapeMismatch',
        node: g.name,
        op: g.op.kind,
        shapes: [n.shape, g.shape],
        message: `grad: the gradient of ${n.name} has shape ${showShape(g.shape)}${g.batched ? ' (batched)' : ''}, the value ${showShape(n.shape)}${n.batched ? ' (batched)' : ''}: a VJP rule of ${n.op.kind}'s user is wrong`,
      });
    }
    const list = contributions.get(n.id);
    if (list === undefined) contributions.set(n.id, [g]);
    else list.push(g);
  };
  const total = (n: Node): Node | undefined => {
    const list = contributions.get(n.id);
    if (list === undefined) return undefined;
    return list.length === 1 ? list[0]! : mkNode({ kind: 'add' }, list, `grad:${n.name}`);
  };

  push(loss, mkNode({ kind: 'fill', value: 1, shape: loss.shape }, [], `grad:${loss.name}`));
  for (let k = order.length - 1; k >= 0; k--) {
    const n = order[k]!;
    if (!needed.has(n.id)) continue;
    const dy = total(n);
    if (dy === undefined) continue;
    const dxs = vjp(n, dy);
    n.inputs.forEach((input, i) => {
      const dx = dxs[i];
      if (dx !== undefined && dx !== null && needed.has(input.id)) push(input, dx);
    });
  }
  // A node that does not influence the loss has a zero gradient (batched values: zeros shaped like them).
  return wrt.map(
    (w) => total(w) ?? (w.batched ? mkNode({ kind: 'zero', stride: 1 }, [w], `grad:${w.name}`) : mkNode({ kind: 'fill', value: 0, shape: w.shape }, [], `grad:${w.name}`)),
  );
};
