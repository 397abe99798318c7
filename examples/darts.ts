/**
 * The DARTS CNN search space (Liu et al., ICLR 2019), wired as NNI's examples/nas/darts/model.py (v1.9).
 *
 * - Stem: conv 3x3 (no bias) to `stemMultiplier·channels` channels, BN.
 * - `cells` cells; the ones at index ⌊cells/3⌋ and ⌊2·cells/3⌋ are reduction cells (stride 2 on the edges
 *   leaving the cell inputs, channels doubled). A cell takes the outputs of the two previous cells (the stem
 *   for both at first), preprocesses them to its channel count (ReLU-conv1x1-BN, or FactorizedReduce for the
 *   older input when the previous cell was a reduction cell), then builds `nodes` intermediate nodes.
 * - Node `n{d}` (d = 2 … nodes+1; 0 and 1 are the cell inputs, NNI's numbering) has one edge from each of its d
 *   predecessors; edge `p{j}` is a layer choice over the 8 DARTS ops (key `normal_n{d}_p{j}` or
 *   `reduce_n{d}_p{j}`), and the node sums 2 of its edges, chosen by an input choice (key `normal_n{d}_switch`,
 *   candidates named by the edge keys, as NNI's `choose_from`).
 * - Keys are shared by every cell of one type, so there is one normal and one reduction cell to search.
 * - Cell output: the intermediate nodes concatenated; then global average pool and a linear classifier.
 *
 * Deviations from PyTorch/NNI: the shifted branch of FactorizedReduce uses an exact pooling identity instead
 * of a slice (see darts-ops.ts); "none" is an explicit eighth candidate (NNI adds it as an implicit logit);
 * no auxiliary head and no drop-path (retraining features, not part of the space).
 *
 * The default export is a small space for CI and a first search on Fashion-MNIST: 5 cells (reductions at
 * cells 1 and 3), 4 nodes, 8 channels, input [1, 28, 28], 10 classes.
 *
 * @example
 * import { dartsSpace } from './examples/darts.ts';
 * const def = dartsSpace({ cells: 8, channels: 16, input: [3, 32, 32] }); // the DARTS CIFAR-10 search network
 */
import {
  type Ctx,
  type Layer,
  type ModelDef,
  type Node,
  batchNorm2d,
  conv2d,
  defineModel,
  fail,
  globalAvgPool,
  inputChoice,
  layerChoice,
  linear,
  pathOf,
  sequential,
  concat,
} from '../src/ir/index.ts';
import { dartsCandidates, factorizedReduce, stdConv } from './darts-ops.ts';

export interface DartsOptions {
  /** Number of cells (NNI's `n_layers`), default 8. */
  readonly cells?: number;
  /** Intermediate nodes per cell, default 4. */
  readonly nodes?: number;
  /** Channels of the first cells (doubled at each reduction), default 16; must be even. */
  readonly channels?: number;
  /** Per-sample input shape, default [1, 28, 28] (Fashion-MNIST). */
  readonly input?: readonly [number, number, number];
  readonly classes?: number;
  /** The stem has `stemMultiplier · channels` channels, default 3. */
  readonly stemMultiplier?: number;
}

/** Cell indices that are reduction cells: ⌊cells/3⌋ and ⌊2·cells/3⌋ (one index when they coincide). */
export const reductionCells = (cells: number): readonly number[] => [...new Set([Math.floor(cells / 3), Math.floor((2 * cells) / 3)])];

/** The key prefix of a cell type. */
const cellType = (reduction: boolean): string => (reduction ? 'reduce' : 'normal');

interface CellSpec {
  readonly nodes: number;
  readonly channels: number;
  readonly reduction: boolean;
  readonly reductionPrev: boolean;
}

/** One DARTS cell over the outputs of the two previous cells. */
const cell =
  (spec: CellSpec): Layer<readonly [Node, Node]> =>
  (ctx: Ctx, [s0, s1]) => {
    const type = cellType(spec.reduction);
    const pre0 = spec.reductionPrev ? factorizedReduce({ out: spec.channels, relu: true }) : stdConv(spec.channels);
    const states: Node[] = [ctx.call('preproc0', pre0, s0), ctx.call('preproc1', stdConv(spec.channels), s1)];
    for (let d = 2; d < spec.nodes + 2; d++) {
      const id = `${type}_n${d}`;
      const node = (nctx: Ctx, preds: readonly Node[]): Node => {
        const edges: Record<string, Node> = {};
        preds.forEach((s, j) => {
          // Edges from the two cell inputs of a reduction cell halve the map.
          const stride = spec.reduction && j < 2 ? 2 : 1;
          const key = `${id}_p${j}`;
          edges[key] = nctx.call(`p${j}`, layerChoice(dartsCandidates(stride), { key }), s);
        });
        return nctx.call('switch', inputChoice({ nChosen: 2, key: `${id}_switch` }), edges);
      };
      states.push(ctx.call(`n${d}`, node, [...states]));
    }
    return concat(states.slice(2));
  };

/**
 * The DARTS search space as a model definition.
 *
 * @example
 * const def = dartsSpace({ cells: 5, channels: 8 });
 * const space = E.map(searchSpace)(buildModel(def)); // 36 decisions: normal_n2_p0 … reduce_n5_switch
 */
export const dartsSpace = (o: DartsOptions = {}): ModelDef => {
  const cells = o.cells ?? 8;
  const nodes = o.nodes ?? 4;
  const channels = o.channels ?? 16;
  const input = o.input ?? [1, 28, 28];
  const classes = o.classes ?? 10;
  const stemMultiplier = o.stemMultiplier ?? 3;
  const reductions = reductionCells(cells);

  const layer: Layer = (ctx, x) => {
    const bad = (what: string): never =>
      fail({ tag: 'InvalidAttribute', node: pathOf(ctx) || 'darts', op: 'dartsSpace', message: `dartsSpace: ${what}` });
    if (!(Number.isInteger(cells) && cells >= 1)) bad(`cells must be a positive integer, got ${cells}`);
    if (!(Number.isInteger(nodes) && nodes >= 1)) bad(`nodes must be a positive integer, got ${nodes}`);
    if (!(Number.isInteger(channels) && channels >= 2 && channels % 2 === 0)) bad(`channels must be a positive even integer (FactorizedReduce halves it), got ${channels}`);

    const stem = ctx.call('stem', sequential({ conv: conv2d({ out: stemMultiplier * channels, kernel: 3, padding: 1, bias: false }), bn: batchNorm2d() }), x);
    let [s0, s1] = [stem, stem];
    let c = channels;
    let reductionPrev = false;
    for (let i = 0; i < cells; i++) {
      const reduction = reductions.includes(i);
      if (reduction) c *= 2;
      const out = ctx.call(`cell${i}`, cell({ nodes, channels: c, reduction, reductionPrev }), [s0, s1] as const);
      [s0, s1] = [s1, out];
      reductionPrev = reduction;
    }
    return ctx.call('classifier', sequential({ gap: globalAvgPool(), linear: linear({ out: classes }) }), s1);
  };

  return defineModel({
    name: `darts-${cells}c${nodes}n${channels}ch`,
    input,
    layer,
    description: `DARTS CNN search space: ${cells} cells (reductions at ${reductions.join(', ')}), ${nodes} nodes per cell, ${channels} channels, input [${input.join(', ')}], ${classes} classes`,
  });
};

/** The small DARTS space used by CI and a first search: 5 cells, 4 nodes, 8 channels on [1, 28, 28]. */
export default dartsSpace({ cells: 5, nodes: 4, channels: 8, input: [1, 28, 28], classes: 10 });

/** The default space with `addLayers` more cells: P-DARTS' deeper stages (`nasgraph search --strategy pdarts`). */
export const deeper = (addLayers: number): ModelDef => dartsSpace({ cells: 5 + addLayers, nodes: 4, channels: 8, input: [1, 28, 28], classes: 10 });
