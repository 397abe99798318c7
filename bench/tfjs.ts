/**
 * tfjs-backend-webgpu on OUR Dawn device, for side-by-side figures: `navigator.gpu` is set before the backend is
 * imported (it checks for WebGPU at import), then a backend is registered around our `GPUDevice`, so both run on
 * the same device in the same process. Work is fenced by `endComputePassEncoder()` + `submitQueue()` + `onSubmittedWorkDone()`.
 */
import { create } from 'webgpu';
import type { Gpu } from '../src/runtime/device.ts';

type TfCore = typeof import('@tensorflow/tfjs-core');

export interface Tfjs {
  readonly tf: TfCore;
  /** The Dawn instance given to tfjs as navigator.gpu: kept referenced (Dawn crashes at GC otherwise). */
  readonly navigatorGpu: GPU;
  /** Runs `op` (which returns tensors to dispose), flushes tfjs's deferred submits and waits for the device. */
  readonly runFenced: (op: () => { dispose(): void } | readonly { dispose(): void }[]) => Promise<void>;
}

/**
 * Sets up tfjs-webgpu on `gpu.device`. tfjs only checks `navigator.gpu` at import (its own device factory is never
 * used: we register a backend around our device), so a separate `create()` instance serves as navigator.gpu.
 */
export const setupTfjs = async (gpu: Gpu): Promise<Tfjs> => {
  const navigatorGpu = create([]);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu: navigatorGpu }, configurable: true, writable: true });
  const tf = await import('@tensorflow/tfjs-core');
  const wg = (await import('@tensorflow/tfjs-backend-webgpu')) as unknown as {
    WebGPUBackend: new (device: GPUDevice, info?: GPUAdapterInfo) => { endComputePassEncoder(): void; submitQueue(): void };
  };
  const backend = new wg.WebGPUBackend(gpu.device);
  // Kernels are registered under the name 'webgpu': replace that backend's factory by ours (same device).
  tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => backend as never, 10);
  const ok = await tf.setBackend('webgpu');
  if (!ok) throw new Error('tfjs: could not initialise the webgpu backend on our device');
  await tf.ready();
  const runFenced = async (op: () => { dispose(): void } | readonly { dispose(): void }[]): Promise<void> => {
    const out = op();
    // tfjs keeps a compute pass open across ops and batches submits: close and submit before fencing.
    backend.endComputePassEncoder();
    backend.submitQueue();
    await gpu.device.queue.onSubmittedWorkDone();
    for (const t of Array.isArray(out) ? out : [out]) (t as { dispose(): void }).dispose();
  };
  return { tf, navigatorGpu, runFenced };
};
