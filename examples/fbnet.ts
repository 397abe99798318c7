/**
 * A MobileNetV2-style space for FBNet (`--strategy fbnet`), small enough for two CPU cores with lavapipe: every
 * searchable layer is an inverted-residual block (1x1 expansion by e, k×k depthwise, 1x1 projection, each with
 * BatchNorm, ReLU6 after the first two, the input added back) with expansion e ∈ {1, 3, 6} × kernel k ∈ {3, 5},
 * or `skip` (the identity: the layer is dropped) — FBNet's candidate set, 7 per layer.
 *
 * stem (conv 3x3, 1 → 8, BN, ReLU6) → fixed IR block 8 → 16 (e1, k3, stride 2) → l1, l2 at [16, 14, 14] → fixed IR
 * block 16 → 24 (e3, k3, stride 2) → l3, l4 at [24, 7, 7] → conv 1x1 24 → 64 (BN, ReLU6) → global average pool →
 * linear 10. Downsampling is done by the fixed blocks so that every candidate, skip included, keeps its input's
 * shape (mixed mode sums them). 7^4 = 2,401 architectures, from the cheapest (all skip) to the slowest (all e6_k5).
 * With e = 1 there is no expansion convolution (MobileNetV2's rule).
 *
 * ```sh
 * npx nasgraph latency examples/fbnet.ts --batch 32 -o runs/fbnet-latency.json   # the device's lookup table
 * npx nasgraph search examples/fbnet.ts --strategy fbnet --data fashion-mnist --epochs 2 --out runs/fbnet
 * ```
 */
import { type Layer, type ModelDef, add, batchNorm2d, block, conv2d, defineModel, globalAvgPool, identity, layerChoice, linear, relu6, sequential } from '../src/ir/index.ts';

/** MobileNetV2's inverted residual: expand (1x1, unless e = 1) → depthwise k×k → project (1x1); residual when shapes allow. */
export const invertedResidual = (o: { readonly out: number; readonly expansion: number; readonly kernel: number; readonly stride?: number }): Layer =>
  block((ctx, x) => {
    const cin = x.shape[0]!;
    const hidden = cin * o.expansion;
    const stride = o.stride ?? 1;
    const expand = o.expansion === 1 ? x : ctx.call('expand', sequential({ conv: conv2d({ out: hidden, kernel: 1, bias: false }), bn: batchNorm2d(), act: relu6() }), x);
    const dw = ctx.call(
      'dw',
      sequential({ conv: conv2d({ out: hidden, kernel: o.kernel, stride, padding: (o.kernel - 1) / 2, groups: hidden, bias: false }), bn: batchNorm2d(), act: relu6() }),
      expand,
    );
    const y = ctx.call('project', sequential({ conv: conv2d({ out: o.out, kernel: 1, bias: false }), bn: batchNorm2d() }), dw);
    return stride === 1 && cin === o.out ? add(x, y) : y;
  });

/** FBNet's seven candidates of a layer at `c` channels: e ∈ {1, 3, 6} × k ∈ {3, 5}, and skip. */
export const fbnetCandidates = (c: number): Layer =>
  layerChoice({
    e1_k3: invertedResidual({ out: c, expansion: 1, kernel: 3 }),
    e1_k5: invertedResidual({ out: c, expansion: 1, kernel: 5 }),
    e3_k3: invertedResidual({ out: c, expansion: 3, kernel: 3 }),
    e3_k5: invertedResidual({ out: c, expansion: 3, kernel: 5 }),
    e6_k3: invertedResidual({ out: c, expansion: 6, kernel: 3 }),
    e6_k5: invertedResidual({ out: c, expansion: 6, kernel: 5 }),
    skip: identity(),
  });

export const fbnetSpace: ModelDef = defineModel({
  name: 'fbnet',
  input: [1, 28, 28],
  description: 'a MobileNetV2-style FBNet space: 4 layers, each an inverted-residual block (expansion 1|3|6 × kernel 3|5) or skip (2,401 architectures)',
  layer: block((ctx, x) => {
    const stem = ctx.call('stem', sequential({ conv: conv2d({ out: 8, kernel: 3, padding: 1, bias: false }), bn: batchNorm2d(), act: relu6() }), x);
    const d1 = ctx.call('down1', invertedResidual({ out: 16, expansion: 1, kernel: 3, stride: 2 }), stem);
    const l2 = ctx.call('l2', fbnetCandidates(16), ctx.call('l1', fbnetCandidates(16), d1));
    const d2 = ctx.call('down2', invertedResidual({ out: 24, expansion: 3, kernel: 3, stride: 2 }), l2);
    const l4 = ctx.call('l4', fbnetCandidates(24), ctx.call('l3', fbnetCandidates(24), d2));
    const head = ctx.call('head', sequential({ conv: conv2d({ out: 64, kernel: 1, bias: false }), bn: batchNorm2d(), act: relu6(), pool: globalAvgPool() }), l4);
    return ctx.call('classifier', linear({ out: 10 }), head);
  }),
});

export default fbnetSpace;
