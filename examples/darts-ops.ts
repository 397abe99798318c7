/**
 * The DARTS candidate operations (Liu et al., ICLR 2019; NNI's examples/nas/darts/ops.py), as nasgraph layers.
 *
 * All batch norms inside cells are `affine: false`, as in the DARTS search network, so these ops carry
 * trainable weights only in their convolutions (none of them has a bias).
 *
 * FactorizedReduce needs `x[:, :, 1:, 1:]` (the map shifted by one pixel before a stride-2 1x1 conv): `oddPick`
 * takes its stride-2 samples with one `slice`; the parameters are the same as PyTorch's (two [C/2, C, 1, 1]
 * convs without bias).
 */
import {
  type Layer,
  avgPool2d,
  batchNorm2d,
  concat,
  conv2d,
  fail,
  identity,
  maxPool2d,
  pathOf,
  relu,
  sequential,
  slice,
  zero,
} from '../src/ir/index.ts';

/** BatchNorm without affine parameters, as every BN inside a DARTS search cell. */
const bnPlain = (): Layer => batchNorm2d({ affine: false });

/**
 * `y[c, i, j] = x[c, 2i+1, 2j+1]` (the stride-2 sampling of `x[:, 1:, 1:]`): one strided slice, whose gradient
 * puts ∂L/∂y back at those positions. Odd sizes do not fit (PyTorch's FactorizedReduce fails on them too): the
 * result would be one row short of the other branch, and the concat reports both shapes.
 */
export const oddPick: Layer = slice([{}, { start: 1, step: 2 }, { start: 1, step: 2 }]);

export interface FactorizedReduceOptions {
  readonly out: number;
  /** DARTS applies a ReLU first; ENAS's macro space does not. */
  readonly relu: boolean;
}

/**
 * FactorizedReduce: halves height and width with two stride-2 1x1 convs, one on x and one on x shifted by
 * one pixel, concatenated (out/2 channels each), then BN (affine false).
 */
export const factorizedReduce =
  (o: FactorizedReduceOptions): Layer =>
  (ctx, x) => {
    if (o.out % 2 !== 0) {
      fail({ tag: 'InvalidAttribute', node: pathOf(ctx), op: 'factorizedReduce', message: `${pathOf(ctx)}: FactorizedReduce needs an even channel count, got ${o.out}` });
    }
    const h = o.relu ? ctx.call('relu', relu(), x) : x;
    const y1 = ctx.call('conv1', conv2d({ out: o.out / 2, kernel: 1, stride: 2, bias: false }), h);
    // Sampling first and convolving with stride 1 gives the same values as PyTorch's strided conv on the
    // shifted map, at a quarter of the convolution's cost.
    const shifted = ctx.call('shift', oddPick, h);
    const y2 = ctx.call('conv2', conv2d({ out: o.out / 2, kernel: 1, bias: false }), shifted);
    return ctx.call('bn', bnPlain(), concat([y1, y2]));
  };

/** ReLU → conv → BN (NNI's StdConv, DARTS's ReLUConvBN): the preprocessing of a cell's inputs. */
export const stdConv = (out: number, kernel = 1, stride = 1, padding = 0): Layer =>
  sequential({ relu: relu(), conv: conv2d({ out, kernel, stride, padding, bias: false }), bn: bnPlain() });

/** ReLU → depthwise (dilated) conv → pointwise conv → BN. */
export const dilConv =
  (kernel: number, stride: number, padding: number, dilation: number): Layer =>
  (ctx, x) => {
    const c = x.shape[0] ?? 1;
    return sequential({
      relu: relu(),
      dw: conv2d({ out: c, kernel, stride, padding, dilation, groups: c, bias: false }),
      pw: conv2d({ out: c, kernel: 1, bias: false }),
      bn: bnPlain(),
    })(ctx, x);
  };

/** Two DilConvs with dilation 1, the first strided. */
export const sepConv = (kernel: number, stride: number, padding: number): Layer =>
  sequential({ a: dilConv(kernel, stride, padding, 1), b: dilConv(kernel, 1, padding, 1) });

/** Pooling followed by BN (affine false), as DARTS's MixedOp and NNI's PoolBN. */
export const poolBn = (kind: 'max' | 'avg', stride: number): Layer =>
  sequential({
    pool: kind === 'max' ? maxPool2d({ kernel: 3, stride, padding: 1 }) : avgPool2d({ kernel: 3, stride, padding: 1, countIncludePad: false }),
    bn: bnPlain(),
  });

/** The eight DARTS candidate names, in NNI's order with DARTS's "none" last (NNI adds it as an implicit logit). */
export const DARTS_OPS = [
  'max_pool_3x3',
  'avg_pool_3x3',
  'skip_connect',
  'sep_conv_3x3',
  'sep_conv_5x5',
  'dil_conv_3x3',
  'dil_conv_5x5',
  'none',
] as const;

export type DartsOp = (typeof DARTS_OPS)[number];

/**
 * The candidates of one edge with `stride` (2 on the edges leaving a reduction cell's inputs), keeping the
 * channel count. `skip_connect` is the identity, or FactorizedReduce when strided.
 */
export const dartsCandidates = (stride: number): Readonly<Record<DartsOp, Layer>> => ({
  max_pool_3x3: poolBn('max', stride),
  avg_pool_3x3: poolBn('avg', stride),
  skip_connect: stride === 1 ? identity() : (ctx, x) => factorizedReduce({ out: x.shape[0] ?? 0, relu: true })(ctx, x),
  sep_conv_3x3: sepConv(3, stride, 1),
  sep_conv_5x5: sepConv(5, stride, 2),
  dil_conv_3x3: dilConv(3, stride, 2, 2),
  dil_conv_5x5: dilConv(5, stride, 4, 2),
  none: zero(stride),
});
