/**
 * Compute pipelines cached per device by WGSL source and entry point (one source = one pipeline), with
 * explicit bind-group layouts built from a kernel's declared bindings. Counts creations, so tests can check
 * that switching architectures in sampled mode compiles nothing new.
 *
 * @example
 * const cache = pipelineCacheFor(gpu.device);
 * const { pipeline, layout } = cache.get(kernel);
 * cache.creations; // pipelines created so far on this device
 */
import type { BindingAccess, Kernel } from '../compile/kernel.ts';

const bufferType = (a: BindingAccess): GPUBufferBindingType => {
  switch (a) {
    case 'read':
      return 'read-only-storage';
    case 'read_write':
      return 'storage';
    case 'uniform':
      return 'uniform';
  }
};

export interface CachedPipeline {
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
}

/** The pipelines of one device (an effectful resource: it owns GPU objects). */
export class PipelineCache {
  readonly #device: GPUDevice;
  readonly #pipelines = new Map<string, CachedPipeline>();
  readonly #layouts = new Map<string, GPUBindGroupLayout>();
  #creations = 0;

  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /** Pipelines created so far (cache misses). */
  get creations(): number {
    return this.#creations;
  }

  /** Distinct pipelines held. */
  get size(): number {
    return this.#pipelines.size;
  }

  /**
   * The pipeline of `kernel`, created on first use (synchronously: a compile error surfaces in the caller's
   * error scope, labelled with the kernel).
   */
  get(kernel: Kernel): CachedPipeline {
    const key = `${kernel.entryPoint}\n${kernel.wgsl}`;
    const hit = this.#pipelines.get(key);
    if (hit !== undefined) return hit;
    const layoutKey = kernel.bindings.map((b) => b.access).join(',');
    let layout = this.#layouts.get(layoutKey);
    if (layout === undefined) {
      layout = this.#device.createBindGroupLayout({
        label: `layout ${layoutKey}`,
        entries: kernel.bindings.map((b, binding) => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: bufferType(b.access) } })),
      });
      this.#layouts.set(layoutKey, layout);
    }
    const module = this.#device.createShaderModule({ code: kernel.wgsl, label: kernel.label });
    const pipeline = this.#device.createComputePipeline({
      label: kernel.label,
      layout: this.#device.createPipelineLayout({ bindGroupLayouts: [layout], label: kernel.label }),
      compute: { module, entryPoint: kernel.entryPoint },
    });
    this.#creations++;
    const entry = { pipeline, layout };
    this.#pipelines.set(key, entry);
    return entry;
  }
}

const caches = new WeakMap<GPUDevice, PipelineCache>();

/** The pipeline cache of `device` (one per device, created on first use). */
export const pipelineCacheFor = (device: GPUDevice): PipelineCache => {
  let c = caches.get(device);
  if (c === undefined) {
    c = new PipelineCache(device);
    caches.set(device, c);
  }
  return c;
};
