/**
 * Device memory of one training step, two ways:
 *
 * - `memoryBreakdown`: from the compiled Program alone (pure). Every buffer of the Program is resident for the
 *   Executable's life, so the step's device footprint is their sum; it is split by what the buffers hold:
 *   model parameters (with BatchNorm running statistics), optimizer state, gradients (including ∂L/∂w of choice
 *   weights), other outputs (loss, logits), inputs and per-step scalars, and the planned intermediates
 *   (activations and scratch after reuse: the memory plan's `peakBytes`, plus the optimizer's small scratch).
 * - `countCreatedBuffers`: what the executor actually asked the device for, by wrapping `device.createBuffer`
 *   while `Executable.instantiate` runs (storage buffers, and the MAP_READ staging buffers of the outputs). WebGPU
 *   (and Dawn's Node binding) report no device memory usage, so this, and on a software adapter the process's
 *   resident set (lavapipe's device memory is host memory), are the cross-checks.
 */
import { OPTIMIZER_PREFIX, type OptimizerLayout } from '../src/compile/optimizer.ts';
import type { TrainingProgram } from '../src/compile/program.ts';

/** Bytes of a training step's resident device buffers, by what they hold. Every field is a sum of whole buffers. */
export interface MemoryBreakdown {
  /** Model parameters and BatchNorm running statistics. */
  readonly params: number;
  /** Optimizer state (SGD: one momentum buffer per trainable parameter). */
  readonly optimizerState: number;
  /** One buffer per trainable parameter's gradient, plus ∂L/∂w per choice key for a mixed supernet. */
  readonly gradients: number;
  /** The planned intermediates of forward and backward after buffer reuse (the memory plan's `peakBytes`). */
  readonly activations: number;
  /** What the same intermediates would take without reuse (`unplannedBytes`). */
  readonly activationsUnplanned: number;
  /** Inputs (images, labels), the other outputs (loss, logits), choice weights, scalars and the optimizer's scratch. */
  readonly other: number;
  /** The sum of every buffer of the Program (= the sum of the fields above except `activationsUnplanned`). */
  readonly total: number;
  readonly buffers: number;
}

/** A buffer's size as the executor allocates it (WebGPU: a multiple of 4, at least 4). */
const allocated = (bytes: number): number => Math.max(4, Math.ceil(bytes / 4) * 4);

/**
 * The resident device memory of a training Program with its optimizer appended, by role. `plannedBuffers`: the
 * buffer count of the Program before `withOptimizer` (which only appends), so that the optimizer's own scratch is
 * not counted among the planned intermediates.
 *
 * @example
 * const m = memoryBreakdown(step.program, step.layout, step.plannedBuffers);
 * m.params + m.optimizerState + m.gradients + m.activations + m.other === m.total; // true
 */
export const memoryBreakdown = (p: TrainingProgram, layout: OptimizerLayout, plannedBuffers: number): MemoryBreakdown => {
  const state = new Set(layout.state.map((s) => s.buffer));
  const grads = new Set([...p.grads.map((g) => g.grad), ...p.choiceGrads.map((g) => g.buffer)]);
  const sums = { params: 0, optimizerState: 0, gradients: 0, activations: 0, other: 0 };
  for (const b of p.buffers) {
    const n = allocated(b.bytes);
    if (state.has(b.id) || (b.role === 'param' && b.paramPath?.startsWith(OPTIMIZER_PREFIX) === true)) sums.optimizerState += n;
    else if (b.role === 'param') sums.params += n;
    else if (grads.has(b.id)) sums.gradients += n;
    // The plan's pooled intermediates are 'activation'/'scratch' buffers; withOptimizer's own scratch (a few
    // step scalars, clipping sums) is appended after planning and is counted as other.
    else if ((b.role === 'activation' || b.role === 'scratch') && b.id < plannedBuffers) sums.activations += n;
    else sums.other += n;
  }
  const total = p.buffers.reduce((t, b) => t + allocated(b.bytes), 0);
  return { ...sums, activationsUnplanned: p.unplannedBytes, total, buffers: p.buffers.length };
};

/** What `device.createBuffer` was asked for while a function ran. */
export interface CreatedBuffers {
  /** Buffers with STORAGE usage (the Program's buffers), and their bytes. */
  readonly storage: number;
  readonly storageBytes: number;
  /** MAP_READ buffers (readback staging of the outputs), and their bytes. */
  readonly staging: number;
  readonly stagingBytes: number;
}

/**
 * Runs `fn` with `device.createBuffer` wrapped to count the buffers created and their sizes by usage, then
 * restores it. For measurement only (the bench): the wrapper is an own property of the device object while `fn`
 * runs.
 *
 * @example
 * const [exe, created] = await countCreatedBuffers(gpu.device, () => Executable.instantiate(gpu, program, params));
 */
export const countCreatedBuffers = async <T>(device: GPUDevice, fn: () => Promise<T>): Promise<readonly [T, CreatedBuffers]> => {
  const counts = { storage: 0, storageBytes: 0, staging: 0, stagingBytes: 0 };
  const original = device.createBuffer;
  const wrapped = (desc: GPUBufferDescriptor): GPUBuffer => {
    if ((desc.usage & GPUBufferUsage.MAP_READ) !== 0) {
      counts.staging++;
      counts.stagingBytes += desc.size;
    } else if ((desc.usage & GPUBufferUsage.STORAGE) !== 0) {
      counts.storage++;
      counts.storageBytes += desc.size;
    }
    return original.call(device, desc);
  };
  Object.defineProperty(device, 'createBuffer', { value: wrapped, configurable: true, writable: true });
  try {
    return [await fn(), counts] as const;
  } finally {
    delete (device as unknown as Record<string, unknown>)['createBuffer'];
    // Should the binding have made createBuffer an own property, put the original back.
    if (device.createBuffer !== original) Object.defineProperty(device, 'createBuffer', { value: original, configurable: true, writable: true });
  }
};

/** Bytes as MB (10^6), one decimal, for the bench's lines. */
export const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

/** One line of a breakdown. */
export const showBreakdown = (m: MemoryBreakdown): string =>
  `total ${mb(m.total)} in ${m.buffers} buffers = params ${mb(m.params)} + gradients ${mb(m.gradients)} + optimizer state ${mb(m.optimizerState)} + ` +
  `activations ${mb(m.activations)} (${mb(m.activationsUnplanned)} without reuse) + other ${mb(m.other)}`;
