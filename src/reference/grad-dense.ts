/**
 * Reference kernels for the gradients of the dense ops and of BatchNorm in training, written from the
 * definitions with float64 accumulation: each loops over the same index space as its forward kernel
 * (reference-dense.ts, reference-norm.ts) and accumulates, so the two cannot disagree on a boundary case.
 *
 * Layout as the forward kernels: batched values are `rows`·numel(shape) values, sample-major NCHW; parameters
 * and parameter gradients are unbatched, row-major in the parameter's shape.
 */
import type { Shape } from '../ir/shape.ts';
import { numel, windowOut } from '../ir/shape.ts';
import type { Conv2dAttrs } from './dense.ts';

/** Calls `f(xIndex, wIndex, yIndex)` for every multiply-add of conv2d's forward pass (in-range taps only). */
const convTaps = (
  rows: number,
  inShape: Shape,
  wShape: Shape,
  a: Conv2dAttrs,
  f: (xi: number, wi: number, yi: number) => void,
): void => {
  const [C, H, W] = inShape as readonly [number, number, number];
  const [O, Cg, KH, KW] = wShape as readonly [number, number, number, number];
  const OH = windowOut(H, KH, a.stride[0], a.padding[0], a.dilation[0]);
  const OW = windowOut(W, KW, a.stride[1], a.padding[1], a.dilation[1]);
  const perGroup = O / a.groups;
  for (let n = 0; n < rows; n++) {
    for (let o = 0; o < O; o++) {
      const c0 = Math.floor(o / perGroup) * Cg;
      for (let oy = 0; oy < OH; oy++) {
        for (let ox = 0; ox < OW; ox++) {
          const yi = ((n * O + o) * OH + oy) * OW + ox;
          for (let c = 0; c < Cg; c++) {
            for (let ky = 0; ky < KH; ky++) {
              const iy = oy * a.stride[0] - a.padding[0] + ky * a.dilation[0];
              if (iy < 0 || iy >= H) continue;
              for (let kx = 0; kx < KW; kx++) {
                const ix = ox * a.stride[1] - a.padding[1] + kx * a.dilation[1];
                if (ix < 0 || ix >= W) continue;
                f(((n * C + c0 + c) * H + iy) * W + ix, ((o * Cg + c) * KH + ky) * KW + kx, yi);
              }
            }
          }
        }
      }
    }
  }
};

/**
 * ∂L/∂x of conv2d (a transposed convolution): dx[n, c, iy, ix] = Σ dy[n, o, oy, ox]·w[o, c − g·Cg, ky, kx] over
 * the taps that read x[n, c, iy, ix]. Handles stride, padding, dilation and groups (depthwise included).
 *
 * @example
 * conv2dGradInputRef(dy, 2, [3, 8, 8], w, [16, 3, 3, 3], { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 });
 */
export const conv2dGradInputRef = (dy: ArrayLike<number>, rows: number, inShape: Shape, w: ArrayLike<number>, wShape: Shape, a: Conv2dAttrs): Float64Array => {
  const dx = new Float64Array(rows * numel(inShape));
  convTaps(rows, inShape, wShape, a, (xi, wi, yi) => {
    dx[xi]! += dy[yi]! * w[wi]!;
  });
  return dx;
};

/** ∂L/∂weight of conv2d, summed over the batch: dw[o, c, ky, kx] = Σ_{n, oy, ox} dy[n, o, oy, ox]·x[n, g·Cg + c, iy, ix]. */
export const conv2dGradWeightRef = (x: ArrayLike<number>, dy: ArrayLike<number>, rows: number, inShape: Shape, wShape: Shape, a: Conv2dAttrs): Float64Array => {
  const dw = new Float64Array(numel(wShape));
  convTaps(rows, inShape, wShape, a, (xi, wi, yi) => {
    dw[wi]! += dy[yi]! * x[xi]!;
  });
  return dw;
};

/** ∂L/∂x of linear: dx[n, i] = Σ_o dy[n, o]·w[o, i]. */
export const linearGradInputRef = (dy: ArrayLike<number>, rows: number, w: ArrayLike<number>, outFeatures: number, inFeatures: number): Float64Array => {
  const dx = new Float64Array(rows * inFeatures);
  for (let n = 0; n < rows; n++) {
    for (let o = 0; o < outFeatures; o++) {
      const g = dy[n * outFeatures + o]!;
      for (let i = 0; i < inFeatures; i++) dx[n * inFeatures + i]! += g * w[o * inFeatures + i]!;
    }
  }
  return dx;
};

/** ∂L/∂weight of linear, summed over the batch: dw[o, i] = Σ_n dy[n, o]·x[n, i]. */
export const linearGradWeightRef = (x: ArrayLike<number>, dy: ArrayLike<number>, rows: number, inFeatures: number, outFeatures: number): Float64Array => {
  const dw = new Float64Array(outFeatures * inFeatures);
  for (let n = 0; n < rows; n++) {
    for (let o = 0; o < outFeatures; o++) {
      const g = dy[n * outFeatures + o]!;
      for (let i = 0; i < inFeatures; i++) dw[o * inFeatures + i]! += g * x[n * inFeatures + i]!;
    }
  }
  return dw;
};

/**
 * Sum over the batch (the gradient of a bias, or of anything broadcast over the batch); with `spatial`, also
 * over every axis after the first: [C, …] → [C].
 */
export const sumBatchRef = (x: ArrayLike<number>, rows: number, shape: Shape, spatial: boolean): Float64Array => {
  const size = numel(shape);
  if (!spatial) {
    const out = new Float64Array(size);
    for (let n = 0; n < rows; n++) for (let i = 0; i < size; i++) out[i]! += x[n * size + i]!;
    return out;
  }
  const C = shape[0]!;
  const inner = size / C;
  const out = new Float64Array(C);
  for (let n = 0; n < rows; n++) for (let c = 0; c < C; c++) for (let j = 0; j < inner; j++) out[c]! += x[(n * C + c) * inner + j]!;
  return out;
};

/** Per-channel batch statistics of batchNorm2dTrain: mean and 1/√(biased variance + eps). */
const channelStats = (x: ArrayLike<number>, rows: number, C: number, hw: number, eps: number): { mean: Float64Array; inv: Float64Array } => {
  const count = rows * hw;
  const mean = new Float64Array(C);
  const inv = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let n = 0; n < rows; n++) for (let i = 0; i < hw; i++) s += x[(n * C + c) * hw + i]!;
    const m = s / count;
    let q = 0;
    for (let n = 0; n < rows; n++) {
      for (let i = 0; i < hw; i++) {
        const d = x[(n * C + c) * hw + i]! - m;
        q += d * d;
      }
    }
    mean[c] = m;
    inv[c] = 1 / Math.sqrt(q / count + eps);
  }
  return { mean, inv };
};

/**
 * ∂L/∂x of BatchNorm with batch statistics (biased variance), through the statistics: with x̂ = (x − μ)/σ,
 * g = dy·γ and m = N·H·W values per channel, dx = (m·g − Σg − x̂·Σ(g·x̂)) / (m·σ).
 */
export const batchNorm2dGradInputRef = (
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  rows: number,
  shape: Shape,
  eps: number,
  weight: ArrayLike<number> | undefined,
): Float64Array => {
  const [C, H, W] = shape as readonly [number, number, number];
  const hw = H * W;
  const m = rows * hw;
  const { mean, inv } = channelStats(x, rows, C, hw, eps);
  const dx = new Float64Array(rows * C * hw);
  for (let c = 0; c < C; c++) {
    const gamma = weight === undefined ? 1 : weight[c]!;
    let sumG = 0;
    let sumGX = 0;
    for (let n = 0; n < rows; n++) {
      for (let i = 0; i < hw; i++) {
        const k = (n * C + c) * hw + i;
        const g = dy[k]! * gamma;
        sumG += g;
        sumGX += g * (x[k]! - mean[c]!) * inv[c]!;
      }
    }
    for (let n = 0; n < rows; n++) {
      for (let i = 0; i < hw; i++) {
        const k = (n * C + c) * hw + i;
        const xh = (x[k]! - mean[c]!) * inv[c]!;
        dx[k] = ((m * dy[k]! * gamma - sumG - xh * sumGX) * inv[c]!) / m;
      }
    }
  }
  return dx;
};

/** ∂L/∂γ of BatchNorm with batch statistics: Σ over batch, H and W of dy·x̂, per channel. */
export const batchNorm2dGradWeightRef = (x: ArrayLike<number>, dy: ArrayLike<number>, rows: number, shape: Shape, eps: number): Float64Array => {
  const [C, H, W] = shape as readonly [number, number, number];
  const hw = H * W;
  const { mean, inv } = channelStats(x, rows, C, hw, eps);
  const out = new Float64Array(C);
  for (let n = 0; n < rows; n++) {
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < hw; i++) {
        const k = (n * C + c) * hw + i;
        out[c]! += dy[k]! * (x[k]! - mean[c]!) * inv[c]!;
      }
    }
  }
  return out;
};
