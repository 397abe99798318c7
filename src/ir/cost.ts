/** Costs of a graph that do not depend on a device: multiply-accumulates per sample. */
import { type Graph, nodes } from './graph.ts';
import type { Node } from './node.ts';
import { opDef } from './ops.ts';

/**
 * Multiply-accumulates per sample of one node, by its op's registered cost (`OP_DEFS[kind].macs`): a
 * convolution costs, per output value, one MAC per weight of its group; a linear layer `in · out`; pooling,
 * activations and additions are memory-bound and cost 0.
 *
 * @example
 * nodeMacs(conv); // numel(output) · (Cin / groups) · kh · kw
 */
export const nodeMacs = (n: Node): number =>
  opDef(n.op).macs(
    n.op,
    n.shape,
    n.inputs.map((i) => i.shape),
  );

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
export const countMacs = (g: Graph): number => nodes(g).reduce((sum, n) => sum + nodeMacs(n), 0);
