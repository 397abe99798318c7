/**
 * Reference kernels for the gradients of pooling (PyTorch's semantics, floor mode): each output's gradient is
 * spread back over the window its forward kernel (reference-pool.ts) read.
 */
import type { Pair, Shape } from '../ir/shape.ts';
import { windowOut } from '../ir/shape.ts';
import { type PoolAttrs, adaptiveWindow, avgPoolWindow } from './pool.ts';

/**
 * ∂L/∂x of maxPool2d: each window's gradient goes to ONE element, the first maximum in row-major window order
 * (PyTorch's CPU kernel: it replaces the running maximum only on a strictly greater value, or on a NaN, so with
 * NaNs the last NaN wins). Padding is never chosen.
 */
export const maxPool2dGradRef = (x: ArrayLike<number>, dy: ArrayLike<number>, rows: number, inShape: Shape, a: PoolAttrs): Float64Array => {
  const [C, H, W] = inShape as readonly [number, number, number];
  const OH = windowOut(H, a.kernel[0], a.stride[0], a.padding[0]);
  const OW = windowOut(W, a.kernel[1], a.stride[1], a.padding[1]);
  const dx = new Float64Array(rows * C * H * W);
  for (let nc = 0; nc < rows * C; nc++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        const hs = oy * a.stride[0] - a.padding[0];
        const ws = ox * a.stride[1] - a.padding[1];
        let best = -Infinity;
        let at = (nc * H + Math.max(hs, 0)) * W + Math.max(ws, 0);
        for (let iy = Math.max(hs, 0); iy < Math.min(hs + a.kernel[0], H); iy++) {
          for (let ix = Math.max(ws, 0); ix < Math.min(ws + a.kernel[1], W); ix++) {
            const v = x[(nc * H + iy) * W + ix]!;
            if (v > best || Number.isNaN(v)) {
              best = v;
              at = (nc * H + iy) * W + ix;
            }
          }
        }
        dx[at]! += dy[(nc * OH + oy) * OW + ox]!;
      }
    }
  }
  return dx;
};

/** ∂L/∂x of avgPool2d: dy/divisor to every real input element of the window, with the forward's divisor. */
export const avgPool2dGradRef = (dy: ArrayLike<number>, rows: number, inShape: Shape, a: PoolAttrs & { readonly countIncludePad: boolean }): Float64Array => {
  const [C, H, W] = inShape as readonly [number, number, number];
  const [KH, KW] = a.kernel;
  const [SH, SW] = a.stride;
  const [PH, PW] = a.padding;
  const OH = windowOut(H, KH, SH, PH);
  const OW = windowOut(W, KW, SW, PW);
  const dx = new Float64Array(rows * C * H * W);
  for (let nc = 0; nc < rows * C; nc++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        const { hs, he, ws, we, divisor } = avgPoolWindow(oy, ox, H, W, a);
        const g = dy[(nc * OH + oy) * OW + ox]! / divisor;
        for (let iy = hs; iy < he; iy++) for (let ix = ws; ix < we; ix++) dx[(nc * H + iy) * W + ix]! += g;
      }
    }
  }
  return dx;
};

/** ∂L/∂x of adaptiveAvgPool2d: dy/area over each of PyTorch's (possibly overlapping) adaptive windows. */
export const adaptiveAvgPool2dGradRef = (dy: ArrayLike<number>, rows: number, inShape: Shape, output: Pair): Float64Array => {
  const [C, H, W] = inShape as readonly [number, number, number];
  const [OH, OW] = output;
  const dx = new Float64Array(rows * C * H * W);
  for (let nc = 0; nc < rows * C; nc++) {
    for (let oy = 0; oy < OH; oy++) {
      const [hs, he] = adaptiveWindow(oy, H, OH);
      for (let ox = 0; ox < OW; ox++) {
        const [ws, we] = adaptiveWindow(ox, W, OW);
        const g = dy[(nc * OH + oy) * OW + ox]! / ((he - hs) * (we - ws));
        for (let iy = hs; iy < he; iy++) for (let ix = ws; ix < we; ix++) dx[(nc * H + iy) * W + ix]! += g;
      }
    }
  }
  return dx;
};

/** ∂L/∂x of globalAvgPool: dy[n, c]/(H·W) at every position of channel c. */
export const globalAvgPoolGradRef = (dy: ArrayLike<number>, rows: number, inShape: Shape): Float64Array => {
  const [C, H, W] = inShape as readonly [number, number, number];
  const hw = H * W;
  const dx = new Float64Array(rows * C * hw);
  for (let nc = 0; nc < rows * C; nc++) dx.fill(dy[nc]! / hw, nc * hw, (nc + 1) * hw);
  return dx;
};
