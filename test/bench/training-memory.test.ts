/**
 * The training bench's memory accounting (bench/training-memory.ts): the breakdown of a training Program's
 * buffers by role against independent counts (PyTorch's parameter count of its MNIST example network,
 * numel sums of a small supernet's parameters and choice keys), and the executor's created buffers against the
 * plan on the device. Exact integer byte counts: no tolerance.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { countCreatedBuffers, memoryBreakdown } from '../../bench/training-memory.ts';
import { buildOrThrow, compileStep, pytorchMnistCnn } from '../../bench/training-models.ts';
import {
  batchNorm2d,
  block,
  conv2d,
  defineModel,
  globalAvgPool,
  identity,
  inputChoice,
  layerChoice,
  linear,
  maxPool2d,
  numel,
  params,
  sequential,
} from '../../src/ir/index.ts';
import { Executable } from '../../src/runtime/execute.ts';
import { describeGpu } from '../gpu.ts';

/** pytorch/examples mnist `Net`: sum(p.numel() for p in Net().parameters()) as printed by PyTorch. */
const PYTORCH_MNIST_PARAMS = 1_199_882;

const supernet = defineModel({
  name: 'tiny-supernet',
  input: [2, 6, 6],
  layer: block((ctx, x) => {
    const stem = ctx.call('stem', sequential({ conv: conv2d({ out: 4, kernel: 3, padding: 1, bias: false }), bn: batchNorm2d() }), x);
    const e1 = ctx.call('e1', layerChoice({ conv: conv2d({ out: 4, kernel: 3, padding: 1 }), pool: maxPool2d({ kernel: 3, stride: 1, padding: 1 }), skip: identity() }, { key: 'e1' }), stem);
    const node = ctx.call('in', inputChoice({ key: 'in', nChosen: null, reduction: 'sum' }), [stem, e1]);
    return ctx.call('head', sequential({ gap: globalAvgPool(), fc: linear({ out: 3 }) }), node);
  }),
});

describe('memoryBreakdown', () => {
  it('splits the PyTorch MNIST CNN step: params = gradients = momentum = 4 B × PyTorch parameter count', () => {
    const s = compileStep(buildOrThrow(pytorchMnistCnn), 8, 'software');
    const m = memoryBreakdown(s.program, s.layout, s.plannedBuffers);
    expect(m.params).toBe(4 * PYTORCH_MNIST_PARAMS);
    expect(m.gradients).toBe(4 * PYTORCH_MNIST_PARAMS);
    expect(m.optimizerState).toBe(4 * PYTORCH_MNIST_PARAMS);
    expect(m.activations).toBe(s.program.peakBytes);
    expect(m.activations).toBeLessThanOrEqual(m.activationsUnplanned);
    expect(m.params + m.gradients + m.optimizerState + m.activations + m.other).toBe(m.total);
    expect(m.buffers).toBe(s.program.buffers.length);
  });

  it('counts a mixed supernet: running statistics as params, ∂L/∂w per key as gradients', () => {
    const g = buildOrThrow(supernet);
    const s = compileStep(g, 4, 'software');
    const m = memoryBreakdown(s.program, s.layout, s.plannedBuffers);
    const all = params(g).reduce((t, p) => t + 4 * numel(p.shape), 0);
    const trainable = params(g).reduce((t, p) => t + (p.op.kind === 'param' && p.op.trainable ? 4 * numel(p.shape) : 0), 0);
    expect(s.choices).toEqual([{ key: 'e1', n: 3 }, { key: 'in', n: 2 }]);
    expect(m.params).toBe(all);
    expect(m.optimizerState).toBe(trainable);
    expect(m.gradients).toBe(trainable + 4 * (3 + 2));
    expect(m.params + m.gradients + m.optimizerState + m.activations + m.other).toBe(m.total);
  });
});

await describeGpu('countCreatedBuffers', (gpu) => {
  it('sees the executor create exactly the planned buffers, plus one readback buffer per output', async () => {
    const g = buildOrThrow(supernet);
    const s = compileStep(g, 2, 'software');
    const store = new Map(s.program.params.map((q) => [q.path, new Float32Array(numel(q.shape))]));
    const [exe, created] = await countCreatedBuffers(gpu.device, () => Executable.instantiate(gpu, s.program, store));
    if (E.isLeft(exe)) throw new Error(exe.left.map((e) => e.message).join('; '));
    exe.right.destroy();
    expect(created.storage).toBe(s.program.buffers.length);
    expect(created.storageBytes).toBe(memoryBreakdown(s.program, s.layout, s.plannedBuffers).total);
    expect(created.staging).toBe(s.program.outputs.length);
    // The wrapper is gone afterwards: a buffer created now is not counted.
    gpu.device.createBuffer({ size: 4, usage: GPUBufferUsage.STORAGE }).destroy();
    expect(created.storage).toBe(s.program.buffers.length);
    expect(Object.prototype.hasOwnProperty.call(gpu.device, 'createBuffer')).toBe(false);
  });
});
