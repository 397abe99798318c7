/**
 * Reference kernels for the ops with batch or axis statistics: batchNorm2d (evaluation and training),
 * softmax / logSoftmax over the first per-sample axis, and dropout with counter-RNG masks.
 */
import { dropoutKeep, siteId } from '../ir/counter-rng.ts';
import type { Shape } from '../ir/shape.ts';
import { numel } from '../ir/shape.ts';

export interface BatchNormParams {
  readonly runningMean: ArrayLike<number>;
  readonly runningVar: ArrayLike<number>;
  /** γ and β; absent when the layer is not affine. */
  readonly weight?: ArrayLike<number>;
  readonly bias?: ArrayLike<number>;
  readonly eps: number;
}

const normalise = (
  x: ArrayLike<number>,
  batch: number,
  [C, H, W]: readonly [number, number, number],
  mean: ArrayLike<number>,
  variance: ArrayLike<number>,
  p: BatchNormParams,
): Float64Array => {
  const hw = H * W;
  const out = new Float64Array(batch * C * hw);
  for (let c = 0; c < C; c++) {
    const inv = 1 / Math.sqrt(variance[c]! + p.eps);
    const g = p.weight === undefined ? 1 : p.weight[c]!;
    const b = p.bias === undefined ? 0 : p.bias[c]!;
    for (let n = 0; n < batch; n++) {
      const base = (n * C + c) * hw;
      for (let i = 0; i < hw; i++) out[base + i] = (x[base + i]! - mean[c]!) * inv * g + b;
    }
  }
  return out;
};

/** BatchNorm2d at evaluation: y = (x − running_mean)/√(running_var + eps)·γ + β, per channel. */
export const batchNorm2dEvalRef = (x: ArrayLike<number>, batch: number, shape: Shape, p: BatchNormParams): Float64Array =>
  normalise(x, batch, shape as readonly [number, number, number], p.runningMean, p.runningVar, p);

export interface BatchNormTrainResult {
  readonly out: Float64Array;
  /** Per-channel batch mean and biased variance (what normalised the output). */
  readonly mean: Float64Array;
  readonly variance: Float64Array;
  /** PyTorch's update: (1 − momentum)·running + momentum·batch, with the UNBIASED batch variance. */
  readonly runningMean: Float64Array;
  readonly runningVar: Float64Array;
}

/**
 * BatchNorm2d in training: normalises with the batch statistics over (N, H, W) — biased variance — and returns
 * the updated running statistics. Needs more than one value per channel (batch·H·W > 1), as PyTorch.
 */
export const batchNorm2dTrainRef = (x: ArrayLike<number>, batch: number, shape: Shape, p: BatchNormParams & { readonly momentum: number }): BatchNormTrainResult => {
  const [C, H, W] = shape as readonly [number, number, number];
  const hw = H * W;
  const count = batch * hw;
  const mean = new Float64Array(C);
  const variance = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let n = 0; n < batch; n++) for (let i = 0; i < hw; i++) s += x[(n * C + c) * hw + i]!;
    const m = s / count;
    let q = 0;
    for (let n = 0; n < batch; n++) {
      for (let i = 0; i < hw; i++) {
        const d = x[(n * C + c) * hw + i]! - m;
        q += d * d;
      }
    }
    mean[c] = m;
    variance[c] = q / count;
  }
  const runningMean = new Float64Array(C);
  const runningVar = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    runningMean[c] = (1 - p.momentum) * p.runningMean[c]! + p.momentum * mean[c]!;
    runningVar[c] = (1 - p.momentum) * p.runningVar[c]! + p.momentum * ((variance[c]! * count) / (count - 1));
  }
  return { out: normalise(x, batch, [C, H, W], mean, variance, p), mean, variance, runningMean, runningVar };
};

/**
 * Softmax (or log-softmax) over the first per-sample axis (PyTorch's dim=1): for shape [C, …rest], over c for
 * each sample and each position of rest. Stable: the maximum is subtracted first; a NaN in a row makes the row NaN.
 */
export const softmaxRef = (x: ArrayLike<number>, batch: number, shape: Shape, log: boolean): Float64Array => {
  const C = shape[0]!;
  const inner = numel(shape.slice(1));
  const out = new Float64Array(batch * C * inner);
  for (let n = 0; n < batch; n++) {
    for (let j = 0; j < inner; j++) {
      const at = (c: number): number => (n * C + c) * inner + j;
      let m = -Infinity;
      for (let c = 0; c < C; c++) m = Math.max(m, x[at(c)]!);
      let s = 0;
      for (let c = 0; c < C; c++) s += Math.exp(x[at(c)]! - m);
      const logS = Math.log(s);
      for (let c = 0; c < C; c++) out[at(c)] = log ? x[at(c)]! - m - logS : Math.exp(x[at(c)]! - m) / s;
    }
  }
  return out;
};

export interface DropoutAttrs {
  readonly p: number;
  readonly channelwise: boolean;
  /** The op's site string (a module path); hashed with `siteId`. */
  readonly site: string;
  readonly seed: number;
}

/**
 * Inverted dropout in training: y = x · keep / (1 − p), keep from `dropoutKeep(seed, siteId(site), index, p)`
 * where index is the flat element index over the batch (or n·C + c when channelwise). A multiplication, as
 * PyTorch: a dropped NaN stays NaN.
 */
export const dropoutRef = (x: ArrayLike<number>, batch: number, shape: Shape, a: DropoutAttrs): Float64Array => {
  const out = new Float64Array(x.length);
  const site = siteId(a.site);
  const scale = 1 / (1 - a.p);
  const per = a.channelwise ? numel(shape.slice(1)) : 1;
  for (let i = 0; i < batch * numel(shape); i++) {
    const index = a.channelwise ? Math.floor(i / per) : i;
    out[i] = x[i]! * (dropoutKeep(a.seed, site, index, a.p) ? scale : 0);
  }
  return out;
};
