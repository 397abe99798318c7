/**
 * A compact DARTS-style space for a first ONE-SHOT search on Fashion-MNIST ([1, 28, 28], 10 classes), sized so that
 * DARTS — every candidate computed at every step — trains its supernet in minutes on two CPU cores with lavapipe
 * (the full DARTS cell space of examples/darts.ts takes seconds per step there).
 *
 * stem (conv 3x3, 1 → 8, BatchNorm, ReLU) → op1 at [8, 28, 28] → conv 1x1 8 → 16 + max-pool 2 → op2 at [16, 14, 14]
 * → max-pool 2 → op3 at [16, 7, 7] → flatten → linear 64 → ReLU → linear 10 (a global-average-pool head reached
 * only 78 % after the same search and retrain: it throws away where on the image things are). Each `opN` chooses among DARTS' kinds of
 * operation: 3x3 and 5x5 convolutions, a separable 3x3 and a dilated 3x3 convolution (each ReLU-conv-BatchNorm, as
 * DARTS), 3x3 max and average pooling, and the identity — 7^3 = 343 architectures, from 0.12 M to 2.3 M
 * multiply-accumulates per image. Every layer choice has 7 candidates (ENAS needs equal counts) and there are no
 * input choices, so every one-shot algorithm — DARTS, P-DARTS (its `deeper` export adds layers), GDAS, ProxylessNAS,
 * ENAS, SPOS — can search it, and so can every classic strategy.
 */
import { type Layer, type ModelDef, avgPool2d, batchNorm2d, block, conv2d, defineModel, flatten, identity, layerChoice, linear, maxPool2d, relu, sequential } from '../src/ir/index.ts';

/** ReLU → conv → BatchNorm, the order of DARTS' operations. */
const reluConvBn = (out: number, kernel: number, padding: number, dilation = 1, groups = 1): Layer =>
  sequential({ relu: relu(), conv: conv2d({ out, kernel, padding, dilation, groups, bias: false }), bn: batchNorm2d() });

/** The seven candidates of a layer at `c` channels. */
const candidates = (c: number) =>
  layerChoice({
    conv3x3: reluConvBn(c, 3, 1),
    conv5x5: reluConvBn(c, 5, 2),
    sep3x3: sequential({ dw: reluConvBn(c, 3, 1, 1, c), pw: reluConvBn(c, 1, 0) }),
    dil3x3: reluConvBn(c, 3, 2, 2),
    maxpool3x3: maxPool2d({ kernel: 3, stride: 1, padding: 1 }),
    avgpool3x3: avgPool2d({ kernel: 3, stride: 1, padding: 1 }),
    skip: identity(),
  });

/** The space with `extra` more searchable layers at [16, 7, 7] (P-DARTS' deeper stages); 0 is the default export. */
export const fashionCells = (extra = 0): ModelDef =>
  defineModel({
    name: extra === 0 ? 'fashion-cells' : `fashion-cells+${extra}`,
    input: [1, 28, 28],
    layer: block((ctx, x) => {
      const stem = ctx.call('stem', sequential({ conv: conv2d({ out: 8, kernel: 3, padding: 1, bias: false }), bn: batchNorm2d(), relu: relu() }), x);
      const o1 = ctx.call('op1', candidates(8), stem);
      const t1 = ctx.call('down1', sequential({ conv: conv2d({ out: 16, kernel: 1, bias: false }), bn: batchNorm2d(), pool: maxPool2d({ kernel: 2 }) }), o1);
      const o2 = ctx.call('op2', candidates(16), t1);
      let h = ctx.call('op3', candidates(16), ctx.call('down2', maxPool2d({ kernel: 2 }), o2));
      for (let i = 0; i < extra; i++) h = ctx.call(`op${4 + i}`, candidates(16), h);
      return ctx.call('head', sequential({ flatten: flatten(), fc1: linear({ out: 64 }), relu: relu(), fc2: linear({ out: 10 }) }), h);
    }),
    description: `a compact DARTS-style Fashion-MNIST space: ${3 + extra} layers, each one of 7 DARTS operations (${7 ** (3 + extra)} architectures)`,
  });

/** P-DARTS' deeper stages: `addLayers` more searchable layers at the end. */
export const deeper = (addLayers: number): ModelDef => fashionCells(addLayers);

export default fashionCells(0);
