/**
 * Emission helpers of the training and gradient ops' lowerings (lowerings.ts): row reductions with their scratch,
 * BatchNorm's shared batch statistics and backward sums, convolution options. Unbatched values (parameters'
 * gradients, the loss, choice weights) have buffers without the batch.
 *
 * Sharing between nodes: BatchNorm's batch statistics are computed once per (input, eps) by the forward
 * `batchNorm2dTrain` and reused by its gradient ops; the backward sums Σdy and Σdy·x̂ are computed once per
 * (input, dy, eps) and serve both ∂L/∂x and ∂L/∂γ.
 */
import type { Node } from '../ir/node.ts';
import { numel } from '../ir/shape.ts';
import type { Emitter } from './emitter.ts';
import type { Conv2dOptions } from './kernels/conv2d.ts';
import { type BatchNormTrainGeometry, batchNormGradSumsKernels, batchNormStatsKernels } from './kernels/norm-train.ts';
import type { RowReduce } from './kernels/reduce.ts';

/** The dispatches of a row reduction: its kernels over `values`, plus a partials scratch when it has parts. */
export const emitReduce = (e: Emitter, r: RowReduce, values: readonly number[], label: string): void => {
  const scratch = r.scratchBytes > 0 ? [e.scratch(r.scratchBytes, `partial sums of ${label}`)] : [];
  for (const k of r.kernels) e.dispatch(k, [...values, ...scratch], k.label === label ? label : `${label}: ${k.label}`, undefined);
};

/** The period of an unbatched operand read by a batched user (repeated per sample), else undefined. */
export const periodOf = (x: Node, user: Node): number | undefined => (user.batched && !x.batched ? numel(x.shape) : undefined);

export const bnGeometry = (label: string, x: Node, batch: number, eps: number): BatchNormTrainGeometry => {
  const c = x.shape[0]!;
  return { label, batch, channels: c, inner: numel(x.shape) / c, eps };
};

/**
 * The batch statistics (mean, inv_std values) of BatchNorm over `x`: made by the first user. `running` holds the
 * running statistics to update (the forward op); a gradient op arriving first (no forward in the graph) updates
 * throw-away scratch instead.
 */
export const bnStats = (e: Emitter, x: Node, eps: number, label: string, running?: { readonly mean: number; readonly var: number; readonly momentum: number }): readonly [number, number] => {
  const key = `bn:${x.id}:${eps}`;
  const seen = e.memo.get(`${key}:mean`);
  if (seen !== undefined && running === undefined) return [seen, e.memo.get(`${key}:inv`)!];
  const g = bnGeometry(label, x, e.rowsOf(x), eps);
  const mean = e.scratch(g.channels * 4, `batch mean of ${label}`);
  const inv = e.scratch(g.channels * 4, `batch 1/std of ${label}`);
  const rm = running?.mean ?? e.scratch(g.channels * 4, `unused running mean of ${label}`);
  const rv = running?.var ?? e.scratch(g.channels * 4, `unused running var of ${label}`);
  emitReduce(e, batchNormStatsKernels(g, running?.momentum ?? 0), [e.valueOf(x), rm, rv, mean, inv], label);
  if (seen === undefined) {
    e.memo.set(`${key}:mean`, mean);
    e.memo.set(`${key}:inv`, inv);
  }
  return [mean, inv];
};

/** Σdy and Σdy·x̂ per channel for BatchNorm over `x` with incoming gradient `dy` (made once per pair). */
export const bnSums = (e: Emitter, x: Node, dy: Node, eps: number, label: string): readonly [number, number, number, number] => {
  const [mean, inv] = bnStats(e, x, eps, label);
  const key = `bnsums:${x.id}:${dy.id}:${eps}`;
  const seen = e.memo.get(`${key}:dy`);
  if (seen !== undefined) return [mean, inv, seen, e.memo.get(`${key}:dyxh`)!];
  const g = bnGeometry(label, x, e.rowsOf(x), eps);
  const sumDy = e.scratch(g.channels * 4, `Σdy of ${label}`);
  const sumDyXh = e.scratch(g.channels * 4, `Σdy·x̂ of ${label}`);
  emitReduce(e, batchNormGradSumsKernels(g), [e.valueOf(x), e.valueOf(dy), mean, inv, sumDy, sumDyXh], label);
  e.memo.set(`${key}:dy`, sumDy);
  e.memo.set(`${key}:dyxh`, sumDyXh);
  return [mean, inv, sumDy, sumDyXh];
};

export const convOptions = (label: string, batch: number, inShape: readonly number[], wShape: readonly number[], op: { readonly stride: readonly [number, number]; readonly padding: readonly [number, number]; readonly dilation: readonly [number, number]; readonly groups: number }, e: Emitter): Conv2dOptions => ({
  label, batch, cin: inShape[0]!, h: inShape[1]!, w: inShape[2]!, cout: wShape[0]!, kh: wShape[2]!, kw: wShape[3]!,
  stride: op.stride, padding: op.padding, dilation: op.dilation, groups: op.groups, tile: e.tile,
});

