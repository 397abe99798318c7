/**
 * Reference kernels for the dense ops, written from their definitions with float64 accumulation: conv2d
 * (stride, padding, dilation, groups — depthwise included — and bias) and linear (x·Wᵀ + b).
 *
 * Layout: a batched value of per-sample shape [C, H, W] is a flat array of batch·C·H·W in NCHW order.
 * Parameters are row-major in their own shape (conv weight [out, in/groups, kh, kw], linear weight [out, in]).
 */
import type { Pair, Shape } from '../ir/shape.ts';
import { windowOut } from '../ir/shape.ts';

export interface Conv2dAttrs {
  readonly stride: Pair;
  readonly padding: Pair;
  readonly dilation: Pair;
  readonly groups: number;
}

/**
 * out[n, o, y, x] = bias[o] + Σ_{c, ky, kx} in[n, g·Cg + c, y·sy − py + ky·dy, x·sx − px + kx·dx] · w[o, c, ky, kx]
 * where g = ⌊o / (O / groups)⌋ is o's group and out-of-range input positions are zero padding.
 *
 * @example
 * const { out, shape } = conv2dRef(x, 2, [3, 8, 8], w, [16, 3, 3, 3], b, { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 });
 */
export const conv2dRef = (
  x: ArrayLike<number>,
  batch: number,
  inShape: Shape,
  w: ArrayLike<number>,
  wShape: Shape,
  bias: ArrayLike<number> | undefined,
  a: Conv2dAttrs,
): { readonly out: Float64Array; readonly shape: Shape } => {
  const [C, H, W] = inShape as readonly [number, number, number];
  const [O, Cg, KH, KW] = wShape as readonly [number, number, number, number];
  const [sy, sx] = a.stride;
  const [py, px] = a.padding;
  const [dy, dx] = a.dilation;
  const OH = windowOut(H, KH, sy, py, dy);
  const OW = windowOut(W, KW, sx, px, dx);
  const perGroup = O / a.groups;
  const out = new Float64Array(batch * O * OH * OW);
  for (let n = 0; n < batch; n++) {
    for (let o = 0; o < O; o++) {
      const c0 = Math.floor(o / perGroup) * Cg;
      const b = bias === undefined ? 0 : bias[o]!;
      for (let oy = 0; oy < OH; oy++) {
        for (let ox = 0; ox < OW; ox++) {
          let acc = b;
          for (let c = 0; c < Cg; c++) {
            const xBase = (n * C + c0 + c) * H;
            const wBase = (o * Cg + c) * KH;
            for (let ky = 0; ky < KH; ky++) {
              const iy = oy * sy - py + ky * dy;
              if (iy < 0 || iy >= H) continue;
              for (let kx = 0; kx < KW; kx++) {
                const ix = ox * sx - px + kx * dx;
                if (ix < 0 || ix >= W) continue;
                acc += x[(xBase + iy) * W + ix]! * w[(wBase + ky) * KW + kx]!;
              }
            }
          }
          out[((n * O + o) * OH + oy) * OW + ox] = acc;
        }
      }
    }
  }
  return { out, shape: [O, OH, OW] };
};

/**
 * out[n, o] = bias[o] + Σ_i x[n, i] · w[o, i] (PyTorch's nn.Linear).
 *
 * @example
 * linearRef(Float64Array.of(1, 2), 1, 2, Float32Array.of(1, 0, 0, 1, 1, 1), 3, undefined); // [1, 2, 3]
 */
export const linearRef = (
  x: ArrayLike<number>,
  batch: number,
  inFeatures: number,
  w: ArrayLike<number>,
  outFeatures: number,
  bias: ArrayLike<number> | undefined,
): Float64Array => {
  const out = new Float64Array(batch * outFeatures);
  for (let n = 0; n < batch; n++) {
    for (let o = 0; o < outFeatures; o++) {
      let acc = bias === undefined ? 0 : bias[o]!;
      for (let i = 0; i < inFeatures; i++) acc += x[n * inFeatures + i]! * w[o * inFeatures + i]!;
      out[n * outFeatures + o] = acc;
    }
  }
  return out;
};
