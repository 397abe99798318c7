/**
 * The ENAS macro search space (Pham et al., ICML 2018), wired as NNI's examples/nas/enas/macro.py:
 *
 * - Stem: conv 3x3 (no bias) to `channels`, BN.
 * - `layers` layers, each a scope `layer_{k}` holding a layer choice `layer_{k}/op` over 6 branches applied to
 *   the previous output (or the stem's): conv3x3, sepconv3x3, conv5x5, sepconv5x5, avgpool3x3, maxpool3x3
 *   (NNI's order; stride 1, same padding). Every branch starts with a 1x1 conv-BN-ReLU; conv branches then
 *   convolve and apply BN-ReLU; pool branches pool and apply BN.
 * - For k ≥ 1, an input choice `layer_{k}/skip` (any number, summed) over the outputs before the previous
 *   one (the stem, layer_0 … layer_{k−2}), added to the branch output; then BN. The previous output is the
 *   branch input already, as in NNI and the paper. Candidates are named after their source (`stem`,
 *   `layer_0`, …); NNI labels them with layer keys shifted by one.
 * - After layers ⌊L/3⌋−1 and 2⌊L/3⌋−1, one FactorizedReduce per position (shared by every earlier output, as in
 *   NNI) halves the maps of all outputs so far.
 * - Global average pool, optional dropout, linear classifier.
 *
 * Every BN but the stem's has no affine parameters (as NNI). Architectures: 6^L · 2^(L(L−1)/2).
 * The default export is a small space for CI: 6 layers, 12 channels, on Fashion-MNIST [1, 28, 28].
 *
 * @example
 * const def = enasMacroSpace({ layers: 12, channels: 24, input: [3, 32, 32] }); // NNI's defaults on CIFAR-10
 */
import {
  type Layer,
  type ModelDef,
  type Node,
  add,
  avgPool2d,
  batchNorm2d,
  conv2d,
  defineModel,
  dropout,
  fail,
  globalAvgPool,
  inputChoice,
  layerChoice,
  linear,
  maxPool2d,
  relu,
  scope,
  sequential,
} from '../src/ir/index.ts';
import { factorizedReduce } from './darts-ops.ts';

export interface EnasMacroOptions {
  /** Number of layers, default 12 (NNI's `num_layers`). */
  readonly layers?: number;
  /** Channels of every layer (NNI's `out_filters`), default 24; must be even. */
  readonly channels?: number;
  /** Per-sample input shape, default [1, 28, 28] (Fashion-MNIST). */
  readonly input?: readonly [number, number, number];
  readonly classes?: number;
  /** Dropout before the classifier, default 0 (none). */
  readonly dropout?: number;
}

const bnPlain = (): Layer => batchNorm2d({ affine: false });

/** 1x1 conv (no bias) → BN → ReLU, NNI's ENAS StdConv. */
const stdConv = (out: number): Layer => sequential({ conv: conv2d({ out, kernel: 1, bias: false }), bn: bnPlain(), relu: relu() });

/** NNI's ConvBranch: StdConv, then a conv (dense, with bias, or depthwise-separable without) and BN-ReLU. */
const convBranch = (c: number, kernel: number, separable: boolean): Layer =>
  sequential({
    preproc: stdConv(c),
    conv: separable
      ? sequential({
          depthwise: conv2d({ out: c, kernel, padding: (kernel - 1) / 2, groups: c, bias: false }),
          pointwise: conv2d({ out: c, kernel: 1, bias: false }),
        })
      : conv2d({ out: c, kernel, padding: (kernel - 1) / 2 }),
    bn: bnPlain(),
    relu: relu(),
  });

/** NNI's PoolBranch: StdConv, 3x3 pool (stride 1, padding 1; average excludes the padding), BN. */
const poolBranch = (c: number, kind: 'avg' | 'max'): Layer =>
  sequential({
    preproc: stdConv(c),
    pool: kind === 'avg' ? avgPool2d({ kernel: 3, stride: 1, padding: 1, countIncludePad: false }) : maxPool2d({ kernel: 3, stride: 1, padding: 1 }),
    bn: bnPlain(),
  });

/** The six candidate names, in NNI's order. */
export const ENAS_MACRO_OPS = ['conv3x3', 'sepconv3x3', 'conv5x5', 'sepconv5x5', 'avgpool3x3', 'maxpool3x3'] as const;

const branches = (c: number): Readonly<Record<(typeof ENAS_MACRO_OPS)[number], Layer>> => ({
  conv3x3: convBranch(c, 3, false),
  sepconv3x3: convBranch(c, 3, true),
  conv5x5: convBranch(c, 5, false),
  sepconv5x5: convBranch(c, 5, true),
  avgpool3x3: poolBranch(c, 'avg'),
  maxpool3x3: poolBranch(c, 'max'),
});

/** Layer indices after which all outputs are halved: ⌊L/3⌋−1 and 2⌊L/3⌋−1 (none below 3 layers). */
export const poolLayers = (layers: number): readonly number[] => {
  const d = Math.floor(layers / 3);
  return d >= 1 ? [d - 1, 2 * d - 1] : [];
};

/** Names of the outputs available before layer `k`: the stem, then layer_0 … layer_{k−1}. */
const sourceName = (i: number): string => (i === 0 ? 'stem' : `layer_${i - 1}`);

/**
 * The ENAS macro search space as a model definition.
 *
 * @example
 * const def = enasMacroSpace({ layers: 6, channels: 12 }); // 6^6 · 2^15 architectures
 */
export const enasMacroSpace = (o: EnasMacroOptions = {}): ModelDef => {
  const layers = o.layers ?? 12;
  const channels = o.channels ?? 24;
  const input = o.input ?? [1, 28, 28];
  const classes = o.classes ?? 10;
  const rate = o.dropout ?? 0;
  const pools = poolLayers(layers);

  const layer: Layer = (ctx, x) => {
    const bad = (what: string): never => fail({ tag: 'InvalidAttribute', node: 'enas-macro', op: 'enasMacroSpace', message: `enasMacroSpace: ${what}` });
    if (!(Number.isInteger(layers) && layers >= 1)) bad(`layers must be a positive integer, got ${layers}`);
    if (!(Number.isInteger(channels) && channels >= 2 && channels % 2 === 0)) bad(`channels must be a positive even integer (FactorizedReduce halves it), got ${channels}`);

    const stem = ctx.call('stem', sequential({ conv: conv2d({ out: channels, kernel: 3, padding: 1, bias: false }), bn: batchNorm2d() }), x);
    let outs: Node[] = [stem];
    for (let k = 0; k < layers; k++) {
      const enasLayer: Layer<readonly Node[]> = (lctx, prev) => {
        const op = lctx.call('op', layerChoice(branches(channels)), prev[prev.length - 1]!);
        const earlier = prev.slice(0, -1);
        const withSkip =
          earlier.length === 0
            ? op
            : add(op, lctx.call('skip', inputChoice({ nChosen: null }), Object.fromEntries(earlier.map((n, i) => [sourceName(i), n]))));
        return lctx.call('bn', bnPlain(), withSkip);
      };
      outs = [...outs, scope(`layer_${k}`, enasLayer)(ctx, outs)];
      const p = pools.indexOf(k);
      if (p >= 0) {
        const reduce = factorizedReduce({ out: channels, relu: false });
        // One module (one set of weights) applied to every output so far, as NNI's pool_layers[p].
        outs = outs.map((n) => ctx.call(`pool${p}`, reduce, n));
      }
    }
    const head: Record<string, Layer> = { gap: globalAvgPool() };
    if (rate > 0) head['dropout'] = dropout(rate);
    head['dense'] = linear({ out: classes });
    return ctx.call('classifier', sequential(head), outs[outs.length - 1]!);
  };

  return defineModel({
    name: `enas-macro-${layers}l${channels}ch`,
    input,
    layer,
    description: `ENAS macro search space: ${layers} layers (reductions after ${pools.join(', ') || 'none'}), ${channels} channels, input [${input.join(', ')}], ${classes} classes`,
  });
};

/** The small ENAS macro space used by CI: 6 layers, 12 channels on [1, 28, 28]. */
export default enasMacroSpace({ layers: 6, channels: 12, input: [1, 28, 28], classes: 10 });
