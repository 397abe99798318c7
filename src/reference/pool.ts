/**
 * Reference kernels for pooling, following PyTorch (floor mode): maxPool2d, avgPool2d, globalAvgPool and
 * adaptiveAvgPool2d. Inputs are batched NCHW arrays; windows are per channel.
 *
 * NaN rule (as PyTorch's max pool): a window containing NaN yields NaN — max(NaN, x) = max(x, NaN) = NaN.
 * Averages propagate NaN by arithmetic.
 */
import type { Pair, Shape } from '../ir/shape.ts';
import { windowOut } from '../ir/shape.ts';

export interface PoolAttrs {
  readonly kernel: Pair;
  readonly stride: Pair;
  readonly padding: Pair;
}

/** The largest of `a` and `b`, NaN if either is NaN (PyTorch's pooling and clamp rule). */
export const maxNaN = (a: number, b: number): number => (a > b || Number.isNaN(a) ? a : b);

/** Max over each window; padding counts as −∞ (never chosen unless the window is all padding). */
export const maxPool2dRef = (x: ArrayLike<number>, batch: number, inShape: Shape, a: PoolAttrs): { readonly out: Float64Array; readonly shape: Shape } => {
  const [C, H, W] = inShape as readonly [number, number, number];
  const OH = windowOut(H, a.kernel[0], a.stride[0], a.padding[0]);
  const OW = windowOut(W, a.kernel[1], a.stride[1], a.padding[1]);
  const out = new Float64Array(batch * C * OH * OW);
  for (let nc = 0; nc < batch * C; nc++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        let m = -Infinity;
        for (let ky = 0; ky < a.kernel[0]; ky++) {
          const iy = oy * a.stride[0] - a.padding[0] + ky;
          if (iy < 0 || iy >= H) continue;
          for (let kx = 0; kx < a.kernel[1]; kx++) {
            const ix = ox * a.stride[1] - a.padding[1] + kx;
            if (ix < 0 || ix >= W) continue;
            m = maxNaN(m, x[(nc * H + iy) * W + ix]!);
          }
        }
        out[(nc * OH + oy) * OW + ox] = m;
      }
    }
  }
  return { out, shape: [C, OH, OW] };
};

/**
 * The input rows [hs, he) and columns [ws, we) that avgPool2d's window at output (oy, ox) reads, and PyTorch's
 * divisor: with `countIncludePad`, the window clipped to the padded input ((min(start + k, size + pad) − start)
 * per axis); without, the number of real input elements in it. Shared by the forward and backward references.
 */
export const avgPoolWindow = (
  oy: number,
  ox: number,
  H: number,
  W: number,
  a: PoolAttrs & { readonly countIncludePad: boolean },
): { readonly hs: number; readonly he: number; readonly ws: number; readonly we: number; readonly divisor: number } => {
  const hs0 = oy * a.stride[0] - a.padding[0];
  const ws0 = ox * a.stride[1] - a.padding[1];
  const he0 = Math.min(hs0 + a.kernel[0], H + a.padding[0]);
  const we0 = Math.min(ws0 + a.kernel[1], W + a.padding[1]);
  const hs = Math.max(hs0, 0);
  const ws = Math.max(ws0, 0);
  const he = Math.min(he0, H);
  const we = Math.min(we0, W);
  return { hs, he, ws, we, divisor: a.countIncludePad ? (he0 - hs0) * (we0 - ws0) : (he - hs) * (we - ws) };
};

/**
 * Mean over each window, PyTorch's divisor: with `countIncludePad`, the window clipped to the padded input
 * ((min(start + k, size + pad) − start) per axis); without, the number of real input elements in it.
 */
export const avgPool2dRef = (
  x: ArrayLike<number>,
  batch: number,
  inShape: Shape,
  a: PoolAttrs & { readonly countIncludePad: boolean },
): { readonly out: Float64Array; readonly shape: Shape } => {
  const [C, H, W] = inShape as readonly [number, number, number];
  const [KH, KW] = a.kernel;
  const [SH, SW] = a.stride;
  const [PH, PW] = a.padding;
  const OH = windowOut(H, KH, SH, PH);
  const OW = windowOut(W, KW, SW, PW);
  const out = new Float64Array(batch * C * OH * OW);
  for (let nc = 0; nc < batch * C; nc++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        const { hs, he, ws, we, divisor } = avgPoolWindow(oy, ox, H, W, a);
        let acc = 0;
        for (let iy = hs; iy < he; iy++) for (let ix = ws; ix < we; ix++) acc += x[(nc * H + iy) * W + ix]!;
        out[(nc * OH + oy) * OW + ox] = acc / divisor;
      }
    }
  }
  return { out, shape: [C, OH, OW] };
};

/** Mean over H and W: [C, H, W] → [C]. */
export const globalAvgPoolRef = (x: ArrayLike<number>, batch: number, inShape: Shape): Float64Array => {
  const [C, H, W] = inShape as readonly [number, number, number];
  const hw = H * W;
  const out = new Float64Array(batch * C);
  for (let nc = 0; nc < batch * C; nc++) {
    let acc = 0;
    for (let i = 0; i < hw; i++) acc += x[nc * hw + i]!;
    out[nc] = acc / hw;
  }
  return out;
};

/** PyTorch's adaptive pooling window along one axis: [⌊i·in/out⌋, ⌈(i+1)·in/out⌉). */
export const adaptiveWindow = (i: number, inSize: number, outSize: number): readonly [number, number] => [
  Math.floor((i * inSize) / outSize),
  Math.ceil(((i + 1) * inSize) / outSize),
];

/** Mean over PyTorch's adaptive windows: [C, H, W] → [C, OH, OW]. */
export const adaptiveAvgPool2dRef = (x: ArrayLike<number>, batch: number, inShape: Shape, output: Pair): { readonly out: Float64Array; readonly shape: Shape } => {
  const [C, H, W] = inShape as readonly [number, number, number];
  const [OH, OW] = output;
  const out = new Float64Array(batch * C * OH * OW);
  for (let nc = 0; nc < batch * C; nc++) {
    for (let oy = 0; oy < OH; oy++) {
      const [hs, he] = adaptiveWindow(oy, H, OH);
      for (let ox = 0; ox < OW; ox++) {
        const [ws, we] = adaptiveWindow(ox, W, OW);
        let acc = 0;
        for (let iy = hs; iy < he; iy++) for (let ix = ws; ix < we; ix++) acc += x[(nc * H + iy) * W + ix]!;
        out[(nc * OH + oy) * OW + ox] = acc / ((he - hs) * (we - ws));
      }
    }
  }
  return { out, shape: [C, OH, OW] };
};
