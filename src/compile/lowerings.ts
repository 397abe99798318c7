/**
 * The lowering table: for every op kind, how `lower` and `lowerTraining` compile it (`LOWERINGS`, typed
 * `{ [K in OpKind]: Lowering<K> }`, so an op without a lowering is a type error, never a run-time
 * "unsupported op"). A kernel op names its generator (kernels/*.ts) and the epilogues it accepts; leaves, views and
 * choices are bound by the scheduler (lower.ts). The op's other definitions are in ir/ops.ts (shape, VJP, cost,
 * codec, printing) and reference/ops.ts (CPU reference); CONTRIBUTING.md, "Adding an op", has the recipe.
 *
 * Sharing between nodes (training): BatchNorm's batch statistics are computed once per (input, eps) by the forward
 * `batchNorm2dTrain` and reused by its gradient ops; the backward sums Σdy and Σdy·x̂ are computed once per
 * (input, dy, eps) and serve both ∂L/∂x and ∂L/∂γ (lower-train-ops.ts).
 */
import type { Op, OpOf } from '../ir/ops.ts';
import { numel } from '../ir/shape.ts';
import type { Emission, Emitter, HeadKind, Lowering, Lowerings } from './emitter.ts';
import { conv2dKernel } from './kernels/conv2d.ts';
import { conv2dGradInputKernel, conv2dGradWeightKernels, depthwiseGradInputKernel, depthwiseGradWeightKernels, isDepthwise } from './kernels/conv2d-grad.ts';
import { addExpr, concatSliceKernel, copyKernel, ewKernel, stridedCopyKernel, zeroKernel } from './kernels/elementwise.ts';
import { crossEntropyGradKernel, crossEntropyKernels } from './kernels/loss.ts';
import { matmulKernel } from './kernels/matmul.ts';
import { MIX_CHUNK, MIX_GRAD_CHUNK, weightedScaleKernel, weightedSumChunkKernel, weightedSumGradKernels } from './kernels/mix.ts';
import { batchNormKernel } from './kernels/norm.ts';
import { batchNormGradInputKernel, batchNormNormalizeKernel } from './kernels/norm-train.ts';
import { activationGradKernel, dropoutTrainKernel, fillKernel, sliceChannelsKernel, softmaxGradKernel } from './kernels/pointwise-grad.ts';
import { adaptiveAvgPoolKernel, windowPoolKernel } from './kernels/pool.ts';
import { adaptiveAvgPoolGradKernel, avgPoolGradKernel, maxPoolArgmaxKernel, maxPoolGradKernel } from './kernels/pool-grad.ts';
import { rowReduceKernels, sumPartsKernel } from './kernels/reduce.ts';
import { softmaxKernel } from './kernels/softmax.ts';
import { ADD_CHUNK, chunks, ewIndexOf, gemmEpilogue } from './lower-ops.ts';
import { bnGeometry, bnStats, bnSums, convOptions, emitReduce, periodOf } from './lower-train-ops.ts';

type Emit<O extends Op> = (e: Emitter, m: Emission<O>) => void;

const kernel = <O extends Op>(phase: 'any' | 'training', epilogue: HeadKind, emit: Emit<O>): Lowering<O> => ({ phase, kind: 'kernel', epilogue, emit });
const leaf = <O extends Op>(phase: 'any' | 'training'): Lowering<O> => ({ phase, kind: 'leaf' });
const VIEW: Lowering<Op> = { phase: 'any', kind: 'view' };
const CHOICE: Lowering<Op> = { phase: 'any', kind: 'choice' };

/** Activations and scale: one elementwise kernel applying the op's own step, then the fused ones. */
const ownStep: Emit<OpOf<'relu' | 'relu6' | 'sigmoid' | 'tanh' | 'gelu' | 'scale'>> = (e, m) => {
  const own = m.op.kind === 'scale' ? ({ kind: 'scale', factor: m.op.factor } as const) : ({ kind: 'act', act: m.op.kind } as const);
  const k = ewKernel({ label: m.label, n: m.rows * numel(m.head.shape), inputs: [ewIndexOf(m.head.inputs[0]!, m.head)], expr: 'v0', epilogue: [own, ...m.epi] });
  m.one(k, [...m.ins, ...m.res, m.out]);
};

const activation = kernel<OpOf<'relu' | 'relu6' | 'sigmoid' | 'tanh' | 'gelu'>>('any', 'elementwise', ownStep);

/** Window and adaptive pools (forward). */
const poolEmit: Emit<OpOf<'maxPool2d' | 'avgPool2d' | 'globalAvgPool' | 'adaptiveAvgPool2d'>> = (e, m) => {
  const op = m.op;
  const [c, h, w] = m.head.inputs[0]!.shape as [number, number, number];
  const [oh, ow] = op.kind === 'globalAvgPool' ? [1, 1] : [m.head.shape[1]!, m.head.shape[2]!];
  const g = { label: m.label, batch: e.batch, channels: c, inH: h, inW: w, outH: oh, outW: ow };
  const k =
    op.kind === 'maxPool2d'
      ? windowPoolKernel(g, { kind: 'max' }, op.kernel, op.stride, op.padding, m.epi)
      : op.kind === 'avgPool2d'
        ? windowPoolKernel(g, { kind: 'avg', countIncludePad: op.countIncludePad }, op.kernel, op.stride, op.padding, m.epi)
        : adaptiveAvgPoolKernel(g, m.epi);
  m.one(k, [m.ins[0]!, m.out]);
};

/** Gradients of the pools: max routes dy through an argmax scratch; the averages spread it over their windows. */
const poolGradEmit: Emit<OpOf<'maxPool2dGrad' | 'avgPool2dGrad' | 'adaptiveAvgPool2dGrad' | 'globalAvgPoolGrad'>> = (e, m) => {
  const op = m.op;
  const inShape = m.head.shape;
  const dy = op.kind === 'maxPool2dGrad' ? m.head.inputs[1]! : m.head.inputs[0]!;
  const [oh, ow] = op.kind === 'globalAvgPoolGrad' ? [1, 1] : [dy.shape[1]!, dy.shape[2]!];
  const g = { label: m.label, batch: m.rows, channels: inShape[0]!, inH: inShape[1]!, inW: inShape[2]!, outH: oh, outW: ow };
  if (op.kind === 'maxPool2dGrad') {
    const argmax = e.scratch(m.rows * numel(dy.shape) * 4, `argmax of ${m.label}`);
    e.dispatch(maxPoolArgmaxKernel(g, op.kernel, op.stride, op.padding), [m.ins[0]!, argmax], `${m.label} (argmax)`, m.group);
    m.one(maxPoolGradKernel(g, op.kernel, op.stride, op.padding), [argmax, m.ins[1]!, m.out]);
  } else if (op.kind === 'avgPool2dGrad') {
    m.one(avgPoolGradKernel(g, op.kernel, op.stride, op.padding, op.countIncludePad), [m.ins[0]!, m.out]);
  } else {
    m.one(adaptiveAvgPoolGradKernel(g), [m.ins[0]!, m.out]);
  }
};

const softmaxEmit: Emit<OpOf<'softmax' | 'logSoftmax'>> = (_, m) => {
  const c = m.head.shape[0]!;
  m.one(softmaxKernel({ label: m.label, batch: m.rows, channels: c, inner: numel(m.head.shape) / c, log: m.op.kind === 'logSoftmax' }), [m.ins[0]!, m.out]);
};

const softmaxGradEmit: Emit<OpOf<'softmaxGrad' | 'logSoftmaxGrad'>> = (_, m) => {
  const x = m.head.inputs[0]!;
  const c = x.shape[0]!;
  m.one(softmaxGradKernel({ label: m.label, rows: m.rows, channels: c, inner: numel(x.shape) / c, log: m.op.kind === 'logSoftmaxGrad' }), [m.ins[0]!, m.ins[1]!, m.out]);
};

/** Σ over the batch (and space): a stacked sum without space, a row reduction per channel with it. */
const sumBatchEmit: Emit<OpOf<'sumBatch'>> = (e, m) => {
  const x = m.head.inputs[0]!;
  const rows = e.rowsOf(x);
  if (!m.op.spatial) {
    m.one(sumPartsKernel({ label: m.label, n: numel(x.shape), parts: rows }), [m.ins[0]!, m.out]);
    return;
  }
  const c = x.shape[0]!;
  const inner = numel(x.shape) / c;
  const r = rowReduceKernels({
    label: m.label,
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
  emitReduce(e, r, [m.ins[0]!, m.out], m.label);
};

const conv2dGradWeightEmit: Emit<OpOf<'conv2dGradWeight'>> = (e, m) => {
  const x = m.head.inputs[0]!;
  const o = convOptions(m.kernelLabel, e.rowsOf(x), x.shape, m.op.weightShape, m.op, e);
  if (isDepthwise(o)) {
    emitReduce(e, depthwiseGradWeightKernels(o), [m.ins[0]!, m.ins[1]!, m.out], m.label);
    return;
  }
  const k = conv2dGradWeightKernels(o);
  if (k.scratchBytes === 0) {
    m.one(k.kernels[0]!, [m.ins[0]!, m.ins[1]!, m.out]);
    return;
  }
  const parts = e.scratch(k.scratchBytes, `split-K partials of ${m.label}`);
  e.dispatch(k.kernels[0]!, [m.ins[0]!, m.ins[1]!, parts], `${m.label} (parts)`, m.group);
  e.dispatch(k.kernels[1]!, [parts, m.out], `${m.label} (sum of parts)`, m.group);
};

/** Σ wᵢ·cᵢ over a mixed choice's candidates, in chunks of at most MIX_CHUNK (storage bindings are limited). */
const weightedSumEmit: Emit<OpOf<'weightedSum'>> = (e, m) => {
  const cands = m.head.inputs.slice(1);
  const n = m.rows * numel(m.head.shape);
  chunks(cands.map((c, j) => ({ c, j })), MIX_CHUNK).forEach((part, k, all) => {
    const l = all.length > 1 ? `${m.label} (part ${k + 1}/${all.length})` : m.label;
    const kern = weightedSumChunkKernel({ label: l, n, periods: part.map(({ c }) => periodOf(c, m.head)), offset: part[0]!.j, accumulate: k > 0 });
    e.dispatch(kern, [m.ins[0]!, ...part.map(({ j }) => m.ins[j + 1]!), m.out], l, m.group);
  });
};

const weightedSumGradEmit: Emit<OpOf<'weightedSumGrad'>> = (e, m) => {
  const dy = m.head.inputs[0]!;
  const cands = m.head.inputs.slice(1);
  const length = e.rowsOf(dy) * numel(dy.shape);
  chunks(cands.map((c, j) => ({ c, j })), MIX_GRAD_CHUNK).forEach((part, k, all) => {
    const l = all.length > 1 ? `${m.label} (part ${k + 1}/${all.length})` : m.label;
    const r = weightedSumGradKernels({ label: l, length, periods: part.map(({ c }) => periodOf(c, dy)), offset: part[0]!.j });
    emitReduce(e, r, [m.ins[0]!, ...part.map(({ j }) => m.ins[j + 1]!), m.out], l);
  });
};

/** Elementwise sum, in chunks of ADD_CHUNK inputs (the later chunks accumulate); the epilogue goes last. */
const addEmit: Emit<OpOf<'add'>> = (e, m) => {
  const n = m.rows * numel(m.head.shape);
  const kinds = m.head.inputs.map((i) => ewIndexOf(i, m.head));
  const parts = chunks(m.ins, ADD_CHUNK);
  parts.forEach((part, i) => {
    const last = i === parts.length - 1;
    const accumulate = i > 0;
    const k = ewKernel({
      label: parts.length > 1 ? `${m.label} (part ${i + 1}/${parts.length})` : m.label,
      n,
      inputs: part.map((__, j) => kinds[i * ADD_CHUNK + j]!),
      expr: addExpr(part.length, accumulate),
      accumulate,
      epilogue: last ? m.epi : [],
    });
    e.dispatch(k, [...part, ...(last ? m.res : []), m.out], k.label, m.group);
  });
};

/**
 * Every op kind's lowering. Adding an op: its lowering here, next to its definition in ir/ops.ts and its
 * reference in reference/ops.ts (CONTRIBUTING.md, "Adding an op").
 */
export const LOWERINGS: Lowerings = {
  input: leaf('any'),
  param: leaf('any'),
  conv2d: kernel('any', 'gemm', (e, m) => {
    const [c, h, w] = m.head.inputs[0]!.shape as [number, number, number];
    const wt = m.head.inputs[1]!.shape;
    const k = conv2dKernel({
      label: m.kernelLabel, batch: e.batch, cin: c, h, w, cout: wt[0]!, kh: wt[2]!, kw: wt[3]!,
      stride: m.op.stride, padding: m.op.padding, dilation: m.op.dilation, groups: m.op.groups,
      epilogue: gemmEpilogue(m.op.bias, m.steps), tile: e.tile,
    });
    m.one(k, [...m.ins, ...m.res, m.out]);
  }),
  linear: kernel('any', 'gemm', (e, m) => {
    const k = matmulKernel({
      label: m.kernelLabel, M: e.batch, N: m.head.shape[0]!, K: m.head.inputs[0]!.shape[0]!, transB: true, epilogue: gemmEpilogue(m.op.bias, m.steps), tile: e.tile,
    });
    m.one(k, [...m.ins, ...m.res, m.out]);
  }),
  batchNorm2d: kernel('any', 'elementwise', (e, m) => {
    const x = m.head.inputs[0]!;
    const [c] = x.shape as [number];
    m.one(batchNormKernel({ label: m.label, batch: e.batch, channels: c, inner: numel(x.shape) / c, eps: m.op.eps, affine: m.op.affine, epilogue: m.epi }), [...m.ins, ...m.res, m.out]);
  }),
  relu: activation,
  relu6: activation,
  sigmoid: activation,
  tanh: activation,
  gelu: activation,
  identity: VIEW,
  scale: kernel('any', 'elementwise', ownStep),
  zero: kernel('any', 'none', (_, m) => m.one(zeroKernel(m.label, m.rows * numel(m.head.shape)), [m.out])),
  add: kernel('any', 'elementwise', addEmit),
  mul: kernel('any', 'elementwise', (_, m) => {
    const k = ewKernel({ label: m.label, n: m.rows * numel(m.head.shape), inputs: m.head.inputs.map((i) => ewIndexOf(i, m.head)), expr: 'v0 * v1', epilogue: m.epi });
    m.one(k, [...m.ins, ...m.res, m.out]);
  }),
  concat: kernel('any', 'none', (e, m) => {
    const total = m.head.shape[0]!;
    const inner = numel(m.head.shape) / total;
    let offset = 0;
    m.head.inputs.forEach((inp, j) => {
      const c = inp.shape[0]!;
      const l = `${m.label} (input ${j})`;
      e.dispatch(concatSliceKernel(l, m.rows, c, inner, total, offset), [m.ins[j]!, m.out], l, m.group);
      offset += c;
    });
  }),
  slice: kernel('any', 'none', (_, m) => {
    const src = m.head.inputs[0]!.shape;
    const ones = src.map(() => 1);
    const zeros = src.map(() => 0);
    const copy = { label: m.label, rows: m.rows, src, dst: m.head.shape, window: m.head.shape, srcStart: m.op.start, srcStep: m.op.step, dstStart: zeros, dstStep: ones };
    m.one(stridedCopyKernel({ ...copy, zeroElsewhere: false }), [m.ins[0]!, m.out]);
  }),
  maxPool2d: kernel('any', 'pool', poolEmit),
  avgPool2d: kernel('any', 'pool', poolEmit),
  globalAvgPool: kernel('any', 'pool', poolEmit),
  adaptiveAvgPool2d: kernel('any', 'pool', poolEmit),
  flatten: VIEW,
  reshape: VIEW,
  dropout: VIEW, // the identity at inference; training steps use dropoutTrain
  softmax: kernel('any', 'none', softmaxEmit),
  logSoftmax: kernel('any', 'none', softmaxEmit),
  layerChoice: CHOICE,
  inputChoice: CHOICE,
  absent: { phase: 'any', kind: 'unlowerable' },
  // ---- Training and gradient ops: lowered only in a training step ----
  fill: kernel('training', 'none', (_, m) => m.one(fillKernel(m.label, m.rows * numel(m.head.shape), m.op.value), [m.out])),
  choiceWeights: leaf('training'),
  weightedSum: kernel('training', 'none', weightedSumEmit),
  weightedScale: kernel('training', 'none', (_, m) => {
    const period = periodOf(m.head.inputs[1]!, m.head);
    m.one(weightedScaleKernel({ label: m.label, n: m.rows * numel(m.head.shape), index: m.op.index, ...(period === undefined ? {} : { period }) }), [m.ins[0]!, m.ins[1]!, m.out]);
  }),
  weightedSumGrad: kernel('training', 'none', weightedSumGradEmit),
  batchNorm2dTrain: kernel('training', 'elementwise', (e, m) => {
    const x = m.head.inputs[0]!;
    const [mean, inv] = bnStats(e, x, m.op.eps, m.label, { mean: m.ins[1]!, var: m.ins[2]!, momentum: m.op.momentum });
    const g = bnGeometry(m.label, x, m.rows, m.op.eps);
    m.one(batchNormNormalizeKernel(g, m.op.affine, m.epi), [m.ins[0]!, mean, inv, ...(m.op.affine ? [m.ins[3]!, m.ins[4]!] : []), ...m.res, m.out]);
  }),
  batchNorm2dGradInput: kernel('training', 'none', (e, m) => {
    const x = m.head.inputs[0]!;
    const [mean, inv, sumDy, sumDyXh] = bnSums(e, x, m.head.inputs[1]!, m.op.eps, m.label);
    const g = bnGeometry(m.label, x, m.rows, m.op.eps);
    m.one(batchNormGradInputKernel(g, m.op.affine), [m.ins[0]!, m.ins[1]!, mean, inv, sumDy, sumDyXh, ...(m.op.affine ? [m.ins[2]!] : []), m.out]);
  }),
  batchNorm2dGradWeight: kernel('training', 'none', (e, m) => {
    const [, , , sumDyXh] = bnSums(e, m.head.inputs[0]!, m.head.inputs[1]!, m.op.eps, m.label);
    m.one(copyKernel(m.label, m.head.shape[0]!), [sumDyXh, m.out]);
  }),
  sumBatch: kernel('training', 'none', sumBatchEmit),
  conv2dGradInput: kernel('training', 'none', (e, m) => {
    const o = convOptions(m.kernelLabel, m.rows, m.op.inputShape, m.head.inputs[1]!.shape, m.op, e);
    m.one(isDepthwise(o) ? depthwiseGradInputKernel(o) : conv2dGradInputKernel(o), [m.ins[0]!, m.ins[1]!, m.out]);
  }),
  conv2dGradWeight: kernel('training', 'none', conv2dGradWeightEmit),
  linearGradInput: kernel('training', 'none', (e, m) => {
    // dx[B, in] = dy[B, out]·W[out, in].
    const w = m.head.inputs[1]!.shape;
    m.one(matmulKernel({ label: m.kernelLabel, M: m.rows, N: w[1]!, K: w[0]!, tile: e.tile }), [m.ins[0]!, m.ins[1]!, m.out]);
  }),
  linearGradWeight: kernel('training', 'none', (e, m) => {
    // dW[out, in] = dyᵀ·x: A = dy stored [B][out] (transposed), B = x stored [B][in]; the batch is the K loop.
    const [x, dy] = [m.head.inputs[0]!, m.head.inputs[1]!];
    m.one(matmulKernel({ label: m.kernelLabel, M: dy.shape[0]!, N: x.shape[0]!, K: e.rowsOf(x), transA: true, tile: e.tile }), [m.ins[1]!, m.ins[0]!, m.out]);
  }),
  dropoutTrain: kernel('training', 'none', (e, m) => {
    const x = m.head.inputs[0]!;
    const perChannel = m.op.channelwise ? numel(x.shape.slice(1)) : 1;
    m.one(dropoutTrainKernel({ label: m.label, n: m.rows * numel(m.head.shape), p: m.op.p, site: m.op.site, perChannel }), [m.ins[0]!, e.scalar('seed', 'u32'), m.out]);
  }),
  activationGrad: kernel('training', 'elementwise', (_, m) =>
    m.one(activationGradKernel({ label: m.label, n: m.rows * numel(m.head.shape), fn: m.op.fn, epilogue: m.epi }), [m.ins[0]!, m.ins[1]!, ...m.res, m.out]),
  ),
  maxPool2dGrad: kernel('training', 'none', poolGradEmit),
  avgPool2dGrad: kernel('training', 'none', poolGradEmit),
  adaptiveAvgPool2dGrad: kernel('training', 'none', poolGradEmit),
  globalAvgPoolGrad: kernel('training', 'none', poolGradEmit),
  sliceGrad: kernel('training', 'none', (_, m) => {
    // dy placed on the slice's lattice of the input, zeros elsewhere: every element of ∂L/∂x written once.
    const dy = m.head.inputs[0]!.shape;
    const copy = { label: m.label, rows: m.rows, src: dy, dst: m.op.inputShape, window: dy, srcStart: dy.map(() => 0), srcStep: dy.map(() => 1), dstStart: m.op.start, dstStep: m.op.step };
    m.one(stridedCopyKernel({ ...copy, zeroElsewhere: true }), [m.ins[0]!, m.out]);
  }),
  sliceChannels: kernel('training', 'none', (_, m) => {
    const x = m.head.inputs[0]!;
    m.one(sliceChannelsKernel({ label: m.label, rows: m.rows, channels: x.shape[0]!, inner: numel(x.shape) / x.shape[0]!, start: m.op.start, count: m.op.count }), [m.ins[0]!, m.out]);
  }),
  softmaxGrad: kernel('training', 'none', softmaxGradEmit),
  logSoftmaxGrad: kernel('training', 'none', softmaxGradEmit),
  crossEntropy: kernel('training', 'none', (e, m) => {
    const x = m.head.inputs[0]!;
    emitReduce(e, crossEntropyKernels({ label: m.label, batch: e.rowsOf(x), classes: x.shape[0]!, labelSmoothing: m.op.labelSmoothing }), [m.ins[0]!, m.ins[1]!, m.out], m.label);
  }),
  crossEntropyGrad: kernel('training', 'none', (_, m) =>
    m.one(crossEntropyGradKernel({ label: m.label, batch: m.rows, classes: m.head.inputs[0]!.shape[0]!, labelSmoothing: m.op.labelSmoothing }), [m.ins[0]!, m.ins[1]!, m.ins[2]!, m.out]),
  ),
};

/** The lowering of `op`'s kind, typed for `op` (the one cast a correlated union needs). */
export const loweringOf = (op: Op): Lowering<Op> => LOWERINGS[op.kind] as unknown as Lowering<Op>;
