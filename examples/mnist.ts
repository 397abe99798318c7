/**
 * The PyTorch MNIST network with NNI's two example choices (NNI's "Using NAS on NNI" guide):
 *
 * - `conv1`: a layer choice between a 3x3 and a 5x5 convolution (1 → 32 channels);
 * - `skipcon`: an input choice of any number (here: zero or one) of [conv2's output], added after conv3.
 *
 * conv1 → relu → conv2 (32 → 64, 3x3) → [skipcon] → conv3 (64 → 64, 1x1) (+ skip) → maxpool 2 → dropout2d 0.25 →
 * flatten → fc1 (9216 → 128) → relu → dropout 0.5 → fc2 (128 → 10) → logSoftmax. Four architectures.
 *
 * The guide's 5x5 candidate is `nn.Conv2d(1, 32, 5, 3)`: kernel 5 with *stride 3*, which gives [32, 8, 8]
 * where the 3x3 candidate gives [32, 26, 26], so its fc1 (9216 inputs) cannot fit. NNI notices only when
 * that candidate first runs; here the space builds (candidates may differ in shape) but `nasgraph check`, the
 * fit check before any search, and `apply` name `conv1 = conv5x5` and fc1. `mnistSeedVersion` keeps the guide's
 * literal candidate to show that error; the default export uses padding 1 instead, so both candidates give
 * [32, 26, 26].
 */
import {
  type Layer,
  type ModelDef,
  add,
  block,
  conv2d,
  defineModel,
  dropout,
  flatten,
  inputChoice,
  layerChoice,
  linear,
  logSoftmax,
  maxPool2d,
  relu,
  sequential,
} from '../src/ir/index.ts';

const mnistNet = (conv5x5: Layer): Layer =>
  block((ctx, x) => {
    const c1 = ctx.call('conv1', layerChoice({ conv3x3: conv2d({ out: 32, kernel: 3 }), conv5x5 }, { key: 'conv1' }), x);
    const c2 = ctx.call('conv2', conv2d({ out: 64, kernel: 3 }), ctx.call('relu1', relu(), c1));
    const skip = ctx.call('skipcon', inputChoice({ nChosen: null, key: 'skipcon' }), [c2]);
    const c3 = add(ctx.call('conv3', conv2d({ out: 64, kernel: 1 }), c2), skip);
    return ctx.call(
      '',
      sequential({
        pool: maxPool2d({ kernel: 2 }),
        dropout1: dropout(0.25, true),
        flatten: flatten(),
        fc1: linear({ out: 128 }),
        relu2: relu(),
        dropout2: dropout(0.5),
        fc2: linear({ out: 10 }),
        logSoftmax: logSoftmax(),
      }),
      c3,
    );
  });

/** The MNIST space with a shape-valid 5x5 candidate (padding 1). */
export const mnist: ModelDef = defineModel({
  name: 'mnist',
  input: [1, 28, 28],
  layer: mnistNet(conv2d({ out: 32, kernel: 5, padding: 1 })),
  description: "PyTorch's MNIST net with NNI's conv1 layer choice (3x3 | 5x5) and skipcon input choice",
});

/** The guide's literal candidate `nn.Conv2d(1, 32, 5, 3)` (stride 3): its architectures with conv5x5 do not fit fc1. */
export const mnistSeedVersion: ModelDef = defineModel({
  name: 'mnist-seed',
  input: [1, 28, 28],
  layer: mnistNet(conv2d({ out: 32, kernel: 5, stride: 3 })),
  description: "NNI guide's literal MNIST space, whose conv5x5 candidate (stride 3) does not fit",
});

export default mnist;
