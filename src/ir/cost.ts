/** Costs of a graph that do not depend on a device: multiply-accumulates per sample. */
import { type Graph, nodes } from './graph.ts';
import { numel } from './shape.ts';

/**
 * Multiply-accumulates per sample of the convolutions and linear layers of a graph (the ops that dominate a
 * CNN's cost; pooling, activations and additions are not counted). A convolution costs, per output value, one
 * MAC per weight of its group: `numel(output) · (Cin / groups) · kh · kw`; a linear layer `in · out`. Choices
 * are not looked through: count a fixed graph (after `apply`). NNI's and thop's counters report the same MAC
 * count under the name "FLOPs".
 *
 * @example
 * countMacs(fixed); // e.g. 452_000 for a [16, 14, 14] 3x3 convolution over 16 channels, plus the rest
 */
export const countMacs = (g: Graph): number =>
  nodes(g).reduce((sum, n) => {
    const w = n.inputs[1]?.shape;
    if (w === undefined) return sum;
    // conv2d weight: [out, cin / groups, kh, kw]; each output value reads one group's cin/groups·kh·kw weights.
    if (n.op.kind === 'conv2d') return sum + numel(n.shape) * numel(w.slice(1));
    // linear weight: [out, in].
    if (n.op.kind === 'linear') return sum + numel(w);
    return sum;
  }, 0);
