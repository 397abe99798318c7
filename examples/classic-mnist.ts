/**
 * NNI's classic NAS example (`examples/nas/classic_nas/mnist.py`, NNI v1.9), written line for line as NNI wrote
 * it: the PyTorch MNIST net with three decisions.
 *
 * - `first_conv`: `LayerChoice([nn.Conv2d(1, 20, 5, 1), nn.Conv2d(1, 20, 3, 1)])` — the candidates differ in
 *   output shape: [20, 24, 24] (5x5) or [20, 26, 26] (3x3). After the pools both reach [50, 4, 4], so every
 *   architecture fits `x.view(-1, 4*4*50)`; shapes between are inferred per architecture (12 or 13, 8 or 9).
 * - `mid_conv`: `LayerChoice([nn.Conv2d(20, 20, 3, 1, padding=1), nn.Conv2d(20, 20, 5, 1, padding=2)])`.
 * - `skip`: `InputChoice(n_candidates=2, n_chosen=1)` over `[zero_x, old_x]`: add nothing (zeros) or the input of
 *   mid_conv (a skip connection over it).
 *
 * 2 · 2 · 2 = 8 architectures. Search it classically (`--strategy random|evolution|tpe|…`) or with a sampled
 * one-shot algorithm (`enas`, `spos`); mixed-mode algorithms (DARTS, GDAS, P-DARTS, FBNet, ProxylessNAS) refuse
 * `first_conv`, whose candidates cannot be summed.
 *
 * ```sh
 * npx nasgraph space examples/classic-mnist.ts --json
 * npx nasgraph search examples/classic-mnist.ts --strategy random --data fashion-mnist --trials 4 --epochs 1 --out runs/classic-mnist
 * ```
 */
import {
  type ModelDef,
  add,
  block,
  conv2d,
  defineModel,
  inputChoice,
  layerChoice,
  linear,
  logSoftmax,
  maxPool2d,
  relu,
  reshape,
  zero,
} from '../src/ir/index.ts';

/** `Net(hidden_size)`: NNI's default hidden size is 512 (`--hidden_size`). */
export const classicMnist = (hiddenSize = 512): ModelDef =>
  defineModel({
    name: 'classic-mnist',
    input: [1, 28, 28],
    description: "NNI's classic NAS MNIST example (first_conv, mid_conv, skip), as NNI v1.9 wrote it",
    layer: block((ctx, input) => {
      // def __init__(self, hidden_size):
      // two options of conv1
      const conv1 = layerChoice([conv2d({ out: 20, kernel: 5, stride: 1 }), conv2d({ out: 20, kernel: 3, stride: 1 })], { key: 'first_conv' });
      // two options of mid_conv
      const midConv = layerChoice([conv2d({ out: 20, kernel: 3, stride: 1, padding: 1 }), conv2d({ out: 20, kernel: 5, stride: 1, padding: 2 })], {
        key: 'mid_conv',
      });
      const conv2 = conv2d({ out: 50, kernel: 5, stride: 1 }); // nn.Conv2d(20, 50, 5, 1): 20 input channels from its input
      const fc1 = linear({ out: hiddenSize }); // nn.Linear(4*4*50, hidden_size): 800 inputs from x.view(-1, 4*4*50)
      const fc2 = linear({ out: 10 });
      // skip connection over mid_conv
      const inputSwitch = inputChoice({ nChosen: 1, key: 'skip' });

      // def forward(self, x):
      let x = relu()(ctx, ctx.call('conv1', conv1, input)); // x = F.relu(self.conv1(x))
      x = maxPool2d({ kernel: 2, stride: 2 })(ctx, x); // x = F.max_pool2d(x, 2, 2)
      const oldX = x; // old_x = x
      x = relu()(ctx, ctx.call('mid_conv', midConv, x)); // x = F.relu(self.mid_conv(x))
      const zeroX = zero()(ctx, oldX); // zero_x = torch.zeros_like(old_x)
      const skipX = ctx.call('input_switch', inputSwitch, [zeroX, oldX]); // skip_x = self.input_switch([zero_x, old_x])
      x = add(x, skipX); // x = torch.add(x, skip_x)
      x = relu()(ctx, ctx.call('conv2', conv2, x)); // x = F.relu(self.conv2(x))
      x = maxPool2d({ kernel: 2, stride: 2 })(ctx, x); // x = F.max_pool2d(x, 2, 2)
      x = reshape([4 * 4 * 50])(ctx, x); // x = x.view(-1, 4*4*50)
      x = relu()(ctx, ctx.call('fc1', fc1, x)); // x = F.relu(self.fc1(x))
      x = ctx.call('fc2', fc2, x); // x = self.fc2(x)
      return logSoftmax()(ctx, x); // return F.log_softmax(x, dim=1)
    }),
  });

export default classicMnist();
