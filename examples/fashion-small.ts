/**
 * A small CNN search space for a first look at classic NAS on Fashion-MNIST ([1, 28, 28], 10 classes), sized so
 * that a search of a dozen short trials and the retrain of the winner finish in minutes on two CPU cores with
 * lavapipe. `examples/mnist.ts` (NNI's guide) has only four architectures, and one epoch on 1,024 images of it
 * takes minutes there: too big for a search that fits in a coffee break, too small for a strategy to matter.
 *
 * conv1 (3x3 | 5x5, 1 → 8) → bn → relu → maxpool 2 → conv2 (3x3 | 5x5 | separable 3x3, 8 → 16) → bn → relu = h;
 * conv3 (3x3 | 1x1 | dilated 3x3, 16 → 16) → bn → relu (+ skip: zero or one of [h]) → maxpool 2 → [16, 7, 7] →
 * head (global average pool → fc 10 | flatten → fc 32 → relu → fc 10). 2·3·3·2·2 = 72 architectures, from
 * 0.15 M to 1.26 M multiply-accumulates per image and from 826 to 31,274 parameters. Batch normalisation after
 * every convolution lets one short epoch tell the architectures apart (without it, the small head barely
 * trains in one epoch of a few thousand images).
 */
import {
  type ModelDef,
  add,
  batchNorm2d,
  block,
  conv2d,
  defineModel,
  flatten,
  globalAvgPool,
  inputChoice,
  layerChoice,
  linear,
  maxPool2d,
  relu,
  sequential,
} from '../src/ir/index.ts';

/** A depthwise 3x3 convolution followed by a pointwise 1x1 one (MobileNet's separable convolution). */
const sepConv3x3 = (cin: number, out: number) =>
  sequential({ dw: conv2d({ out: cin, kernel: 3, padding: 1, groups: cin }), pw: conv2d({ out, kernel: 1 }) });

const fashionSmall: ModelDef = defineModel({
  name: 'fashion-small',
  input: [1, 28, 28],
  layer: block((ctx, x) => {
    const c1 = ctx.call('conv1', layerChoice({ conv3x3: conv2d({ out: 8, kernel: 3, padding: 1 }), conv5x5: conv2d({ out: 8, kernel: 5, padding: 2 }) }), x);
    const p1 = ctx.call('pool1', maxPool2d({ kernel: 2 }), ctx.call('relu1', relu(), ctx.call('bn1', batchNorm2d(), c1)));
    const c2 = ctx.call(
      'conv2',
      layerChoice({ conv3x3: conv2d({ out: 16, kernel: 3, padding: 1 }), conv5x5: conv2d({ out: 16, kernel: 5, padding: 2 }), sepconv3x3: sepConv3x3(8, 16) }),
      p1,
    );
    const h = ctx.call('relu2', relu(), ctx.call('bn2', batchNorm2d(), c2));
    const c3 = ctx.call(
      'conv3',
      layerChoice({
        conv3x3: conv2d({ out: 16, kernel: 3, padding: 1 }),
        conv1x1: conv2d({ out: 16, kernel: 1 }),
        dilconv3x3: conv2d({ out: 16, kernel: 3, padding: 2, dilation: 2 }),
      }),
      h,
    );
    const skip = ctx.call('skip', inputChoice({ nChosen: null }), [h]);
    const p2 = ctx.call('pool2', maxPool2d({ kernel: 2 }), add(ctx.call('relu3', relu(), ctx.call('bn3', batchNorm2d(), c3)), skip));
    return ctx.call(
      'head',
      layerChoice({
        gap: sequential({ gap: globalAvgPool(), fc: linear({ out: 10 }) }),
        mlp: sequential({ flatten: flatten(), fc1: linear({ out: 32 }), relu: relu(), fc2: linear({ out: 10 }) }),
      }),
      p2,
    );
  }),
  description: 'a small Fashion-MNIST CNN space: conv kernel, separable and dilated convolutions, a skip connection and the head (72 architectures)',
});

export default fashionSmall;
