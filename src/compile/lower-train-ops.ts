/**
 * Kernel emission for the training and gradient ops (ir/ops.ts after `absent`): the counterpart of lower-ops.ts
 * for what `trainingGraph`, `mixGraph` and `grad` produce. Unbatched values (parameters' gradients, the loss,
 * choice weights) have buffers without the batch.
 *
 * Sharing between nodes: BatchNorm's batch statistics are computed once per (input, eps) by the forward
 * `batchNorm2dTrain` and reused by its gradient ops; the backward sums Σdy and Σdy·x̂ are computed once per
 * (input, dy, eps) and serve both ∂L/∂x and ∂L/∂γ.
 */
import type { Node } from '../ir/node.ts';
import { numel } from '../ir/shape.ts';
import type { ChainStep } from './fuse.ts';
import type { Kernel } from './kernel.ts';
import { type Emitter, labelOf } from './lower-ops.ts';
import type { Conv2dOptions } from './kernels/conv2d.ts';
import { conv2dGradInputKernel, conv2dGradWeightKernels, depthwiseGradInputKernel, depthwiseGradWeightKernels, isDepthwise } from './kernels/conv2d-grad.ts';
import { copyKernel } from './kernels/elementwise.ts';
import { crossEntropyGradKernel, crossEntropyKernels } from './kernels/loss.ts';
import { matmulKernel } from './kernels/matmul.ts';
import { MIX_CHUNK, MIX_GRAD_CHUNK, weightedScaleKernel, weightedSumChunkKernel, weightedSumGradKernels } from './kernels/mix.ts';
import {
  type BatchNormTrainGeometry,
  batchNormGradInputKernel,
  batchNormGradSumsKernels,
  batchNormNormalizeKernel,
  batchNormStatsKernels,
} from './kernels/norm-train.ts';
import { activationGradKernel, dropoutTrainKernel, fillKernel, sliceChannelsKernel, softmaxGradKernel } from './kernels/pointwise-grad.ts';
import { adaptiveAvgPoolGradKernel, avgPoolGradKernel, maxPoolArgmaxKernel, maxPoolGradKernel } from './kernels/pool-grad.ts';
import type { RowReduce } from './kernels/reduce.ts';
import { rowReduceKernels, sumPartsKernel } from './kernels/reduce.ts';

const chunks = <T>(xs: readonly T[], n: number): readonly (readonly T[])[] =>
  Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, i * n + n));

/** The dispatches of a row reduction: its kernels over `values`, plus a partials scratch when it has parts. */
const emitReduce = (e: Emitter, r: RowReduce, values: readonly number[], label: string): void => {
  const scratch = r.scratchBytes > 0 ? [e.scratch(r.scratchBytes, `partial sums of ${label}`)] : [];
  for (const k of r.kernels) e.dispatch(k, [...values, ...scratch], k.label === label ? label : `${label}: ${k.label}`, undefined);
};

/** The period of an unbatched operand read by a batched user (repeated per sample), else undefined. */
const periodOf = (x: Node, user: Node): number | undefined => (user.batched && !x.batched ? numel(x.shape) : undefined);

const bnGeometry = (label: string, x: Node, batch: number, eps: number): BatchNormTrainGeometry => {
  const c = x.shape[0]!;
  return { label, batch, channels: c, inner: numel(x.shape) / c, eps };
};

/**
 * The batch statistics (mean, inv_std values) of BatchNorm over `x`: made by the first user. `running` holds the
 * running statistics to update (the forward op); a gradient op arriving first (no forward in the graph) updates
 * throw-away scratch instead.
 */
const bnStats = (e: Emitter, x: Node, eps: number, label: string, running?: { readonly mean: number; readonly var: number; readonly momentum: number }): readonly [number, number] => {
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
const bnSums = (e: Emitter, x: Node, dy: Node, eps: number, label: string): readonly [number, number, number, number] => {
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

const convOptions = (label: string, batch: number, inShape: readonly number[], wShape: readonly number[], op: { readonly stride: readonly [number, number]; readonly padding: readonly [number, number]; readonly dilation: readonly [number, number]; readonly groups: number }, e: Emitter): Conv2dOptions => ({
  label, batch, cin: inShape[0]!, h: inShape[1]!, w: inShape[2]!, cout: wShape[0]!, kh: wShape[2]!, kw: wShape[3]!,
  stride: op.stride, padding: op.padding, dilation: op.dilation, groups: op.groups, tile: e.tile,
});

/**
 * Emits the kernels of training op `head` (with fused elementwise `steps` where its kernel takes them), writing
 * value `out`. Returns false when `head` is not a training op.
 */
export const emitTraining = (e: Emitter, head: Node, steps: readonly ChainStep[], out: number): boolean => {
  const op = head.op;
  const label = labelOf(head, steps);
  const kernelLabel = [head.op.kind, ...steps.map((s) => s.node.op.kind)].join('+');
  const ins = head.inputs.map((i) => e.valueOf(i));
  const res = steps.flatMap((s) => (s.residual === undefined ? [] : [e.valueOf(s.residual)]));
  const epi = steps.map((s) => s.step);
  const R = e.rowsOf(head);
  const n = R * numel(head.shape);
  const x = head.inputs[0]!;
  const one = (k: Kernel, values: readonly number[]): void => e.dispatch(k, values, label, undefined);
  switch (op.kind) {
    case 'fill':
      one(fillKernel(label, n, op.value), [out]);
      return true;
    case 'weightedSum': {
      const cands = head.inputs.slice(1);
      chunks(cands.map((c, j) => ({ c, j })), MIX_CHUNK).forEach((part, k, all) => {
        const l = all.length > 1 ? `${label} (part ${k + 1}/${all.length})` : label;
        const kernel = weightedSumChunkKernel({ label: l, n, periods: part.map(({ c }) => periodOf(c, head)), offset: part[0]!.j, accumulate: k > 0 });
        e.dispatch(kernel, [ins[0]!, ...part.map(({ j }) => ins[j + 1]!), out], l, undefined);
      });
      return true;
    }
    case 'weightedScale': {
      const period = periodOf(head.inputs[1]!, head);
      one(weightedScaleKernel({ label, n, index: op.index, ...(period === undefined ? {} : { period }) }), [ins[0]!, ins[1]!, out]);
      return true;
    }
    case 'weightedSumGrad': {
      const dy = x;
      const cands = head.inputs.slice(1);
      const length = e.rowsOf(dy) * numel(dy.shape);
      chunks(cands.map((c, j) => ({ c, j })), MIX_GRAD_CHUNK).forEach((part, k, all) => {
        const l = all.length > 1 ? `${label} (part ${k + 1}/${all.length})` : label;
        const r = weightedSumGradKernels({ label: l, length, periods: part.map(({ c }) => periodOf(c, dy)), offset: part[0]!.j });
        emitReduce(e, r, [ins[0]!, ...part.map(({ j }) => ins[j + 1]!), out], l);
      });
      return true;
    }
    case 'batchNorm2dTrain': {
      const [mean, inv] = bnStats(e, x, op.eps, label, { mean: ins[1]!, var: ins[2]!, momentum: op.momentum });
      const g = bnGeometry(label, x, R, op.eps);
      one(batchNormNormalizeKernel(g, op.affine, epi), [ins[0]!, mean, inv, ...(op.affine ? [ins[3]!, ins[4]!] : []), ...res, out]);
      return true;
    }
    case 'batchNorm2dGradInput': {
      const [mean, inv, sumDy, sumDyXh] = bnSums(e, x, head.inputs[1]!, op.eps, label);
      const g = bnGeometry(label, x, R, op.eps);
      one(batchNormGradInputKernel(g, op.affine), [ins[0]!, ins[1]!, mean, inv, sumDy, sumDyXh, ...(op.affine ? [ins[2]!] : []), out]);
      return true;
    }
    case 'batchNorm2dGradWeight': {
      const [, , , sumDyXh] = bnSums(e, x, head.inputs[1]!, op.eps, label);
      one(copyKernel(label, head.shape[0]!), [sumDyXh, out]);
      return true;
    }
    case 'sumBatch': {
      const rows = e.rowsOf(x);
      if (!op.spatial) {
        one(sumPartsKernel({ label, n: numel(x.shape), parts: rows }), [ins[0]!, out]);
        return true;
      }
      const c = x.shape[0]!;
      const inner = numel(x.shape) / c;
      const r = rowReduceKernels({
        label,
        rows: c,
        length: rows * inner,
        bindings: [
          { name: 'x', access: 'read' },
          { name: 'out', access: 'read_write' },
        ],
        prelude: `let idx = (k / ${inner}u) * ${c * inner}u + r * ${inner}u + k % ${inner}u;`,
        terms: ['x[idx]'],
        finish: 'out[r] = s0;',
      });
      emitReduce(e, r, [ins[0]!, out], label);
      return true;
    }
    case 'conv2dGradInput': {
      const o = convOptions(kernelLabel, R, op.inputShape, head.inputs[1]!.shape, op, e);
      one(isDepthwise(o) ? depthwiseGradInputKernel(o) : conv2dGradInputKernel(o), [ins[0]!, ins[1]!, out]);
      return true;
    }
    case 'conv2dGradWeight': {
      const o = convOptions(kernelLabel, e.rowsOf(x), x.shape, op.weightShape, op, e);
      if (isDepthwise(o)) {
        emitReduce(e, depthwiseGradWeightKernels(o), [ins[0]!, ins[1]!, out], label);
        return true;
      }
      const k = conv2dGradWeightKernels(o);
      if (k.scratchBytes === 0) {
        one(k.kernels[0]!, [ins[0]!, ins[1]!, out]);
        return true;
      }
      const parts = e.scratch(k.scratchBytes, `split-K partials of ${label}`);
      e.dispatch(k.kernels[0]!, [ins[0]!, ins[1]!, parts], `${label} (parts)`, undefined);
      e.dispatch(k.kernels[1]!, [parts, out], `${label} (sum of parts)`, undefined);
      return true;
    }
    case 'linearGradInput': {
      // dx[B, in] = dy[B, out]·W[out, in].
      const w = head.inputs[1]!.shape;
      one(matmulKernel({ label: kernelLabel, M: R, N: w[1]!, K: w[0]!, tile: e.tile }), [ins[0]!, ins[1]!, out]);
      return true;
    }
    case 'linearGradWeight': {
      // dW[out, in] = dyᵀ·x: A = dy stored [B][out] (transposed), B = x stored [B][in]; the batch is the K loop.
      const dy = head.inputs[1]!;
      one(matmulKernel({ label: kernelLabel, M: dy.shape[0]!, N: x.shape[0]!, K: e.rowsOf(x), transA: true, tile: e.tile }), [ins[1]!, ins[0]!, out]);
      return true;
    }
    case 'dropoutTrain': {
      const perChannel = op.channelwise ? numel(x.shape.slice(1)) : 1;
      one(dropoutTrainKernel({ label, n, p: op.p, site: op.site, perChannel }), [ins[0]!, e.scalar('seed', 'u32'), out]);
      return true;
    }
    case 'activationGrad':
      one(activationGradKernel({ label, n, fn: op.fn, epilogue: epi }), [ins[0]!, ins[1]!, ...res, out]);
      return true;
    case 'maxPool2dGrad':
    case 'avgPool2dGrad':
    case 'adaptiveAvgPool2dGrad':
    case 'globalAvgPoolGrad': {
      const inShape = head.shape;
      const dy = op.kind === 'maxPool2dGrad' ? head.inputs[1]! : x;
      const [oh, ow] = op.kind === 'globalAvgPoolGrad' ? [1, 1] : [dy.shape[1]!, dy.shape[2]!];
      const g = { label, batch: R, channels: inShape[0]!, inH: inShape[1]!, inW: inShape[2]!, outH: oh, outW: ow };
      if (op.kind === 'maxPool2dGrad') {
        const argmax = e.scratch(R * numel(dy.shape) * 4, `argmax of ${label}`);
        e.dispatch(maxPoolArgmaxKernel(g, op.kernel, op.stride, op.padding), [ins[0]!, argmax], `${label} (argmax)`, undefined);
        one(maxPoolGradKernel(g, op.kernel, op.stride, op.padding), [argmax, ins[1]!, out]);
      } else if (op.kind === 'avgPool2dGrad') {
        one(avgPoolGradKernel(g, op.kernel, op.stride, op.padding, op.countIncludePad), [ins[0]!, out]);
      } else {
        one(adaptiveAvgPoolGradKernel(g), [ins[0]!, out]);
      }
      return true;
    }
    case 'sliceChannels':
      one(sliceChannelsKernel({ label, rows: R, channels: x.shape[0]!, inner: numel(x.shape) / x.shape[0]!, start: op.start, count: op.count }), [ins[0]!, out]);
      return true;
    case 'softmaxGrad':
    case 'logSoftmaxGrad': {
      const c = x.shape[0]!;
      one(softmaxGradKernel({ label, rows: R, channels: c, inner: numel(x.shape) / c, log: op.kind === 'logSoftmaxGrad' }), [ins[0]!, ins[1]!, out]);
      return true;
    }
    case 'crossEntropy':
      emitReduce(e, crossEntropyKernels({ label, batch: e.rowsOf(x), classes: x.shape[0]!, labelSmoothing: op.labelSmoothing }), [ins[0]!, ins[1]!, out], label);
      return true;
    case 'crossEntropyGrad':
      one(crossEntropyGradKernel({ label, batch: R, classes: x.shape[0]!, labelSmoothing: op.labelSmoothing }), [ins[0]!, ins[1]!, ins[2]!, out]);
      return true;
    default:
      return false;
  }
};
