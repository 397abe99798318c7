/**
 * NNI's "naive" example (examples/nas/naive, the NAS quick start) on CIFAR-10 inputs [3, 32, 32]:
 *
 * conv1 (3x3 | 5x5, padding keeps the size, 3 → 6) → relu → pool → conv2 (3x3 | 5x5, 6 → 16) → relu = x0;
 * x1 = relu(conv3 1x1 (x0)) (+ skipconnect: zero or one of [x0]) → bn → pool → adaptiveAvgPool2d(4) → flatten →
 * fc1 (256 → 120) → relu → fc2 (120 → 84) → relu → fc3 (84 → 10). Eight architectures.
 *
 * The forward follows NNI's train.py. Its conv2 list has a stray middle candidate `Conv2d(3, 6, 3)` that
 * cannot take conv1's 6 channels (NNI never notices, as no trainer picks it in a short run); the quick-start
 * document lists the two candidates kept here. Keys are nasgraph's defaults (the module paths `conv1`,
 * `conv2`, `skipconnect`), the same on every build, unlike NNI's `LayerChoice1`, `LayerChoice2`, `InputChoice3`.
 */
import {
  type ModelDef,
  add,
  adaptiveAvgPool2d,
  batchNorm2d,
  block,
  conv2d,
  defineModel,
  flatten,
  inputChoice,
  layerChoice,
  linear,
  maxPool2d,
  relu,
  sequential,
} from '../src/ir/index.ts';

const naive: ModelDef = defineModel({
  name: 'naive',
  input: [3, 32, 32],
  layer: block((ctx, x) => {
    // One pooling module used three times, as NNI's `self.pool`: it has no parameters, so sharing is free.
    const pool = maxPool2d({ kernel: 2, stride: 2 });
    const c1 = ctx.call('conv1', layerChoice([conv2d({ out: 6, kernel: 3, padding: 1 }), conv2d({ out: 6, kernel: 5, padding: 2 })]), x);
    const p1 = ctx.call('pool', pool, ctx.call('relu1', relu(), c1));
    const c2 = ctx.call('conv2', layerChoice([conv2d({ out: 16, kernel: 3, padding: 1 }), conv2d({ out: 16, kernel: 5, padding: 2 })]), p1);
    const x0 = ctx.call('relu2', relu(), c2);
    const x1 = ctx.call('relu3', relu(), ctx.call('conv3', conv2d({ out: 16, kernel: 1 }), x0));
    const skip = ctx.call('skipconnect', inputChoice({ nChosen: null }), [x0]);
    const h = ctx.call('pool', pool, ctx.call('bn', batchNorm2d(), add(x1, skip)));
    return ctx.call(
      '',
      sequential({
        gap: adaptiveAvgPool2d(4),
        flatten: flatten(),
        fc1: linear({ out: 120 }),
        relu4: relu(),
        fc2: linear({ out: 84 }),
        relu5: relu(),
        fc3: linear({ out: 10 }),
      }),
      h,
    );
  }),
  description: "NNI's naive NAS example (CIFAR-10): two conv layer choices and a skip-connection input choice",
});

export default naive;
