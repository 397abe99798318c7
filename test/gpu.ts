/**
 * Test helper: one shared GPU device per test worker process, and `describeGpu` for GPU test suites.
 *
 * GPU tests never skip silently: without an adapter they are skipped with the reason printed, and under
 * CI=true a missing adapter makes the run FAIL (getTestGpu throws).
 *
 * @example
 * const gpu = await getTestGpu();
 * describeGpu('my kernels', (gpu) => { it('adds', async () => { ... }); });
 */
import * as E from 'fp-ts/lib/Either.js';
import { afterAll, describe, it } from 'vitest';
import { type Gpu, acquireDevice } from '../src/runtime/device.ts';
import { GpuFailure, type GpuError } from '../src/runtime/gpu-errors.ts';

process.env['XDG_RUNTIME_DIR'] ??= '/tmp';

let shared: Promise<{ readonly gpu: Gpu | undefined; readonly reason: string }> | undefined;

const acquireShared = (): Promise<{ readonly gpu: Gpu | undefined; readonly reason: string }> =>
  (shared ??= acquireDevice().then((r) => {
    if (E.isRight(r)) return { gpu: r.right, reason: '' };
    if (process.env['CI'] === 'true') throw new GpuFailure(r.left);
    return { gpu: undefined, reason: r.left.message };
  }));

/**
 * The worker's shared device, or undefined when there is no adapter and CI !== 'true' (then the reason is
 * printed once). Under CI=true a missing adapter throws.
 */
export const getTestGpu = async (): Promise<Gpu | undefined> => (await acquireShared()).gpu;

let warned = false;

/**
 * A `describe` whose body gets the shared device. Without a GPU (locally) the suite is registered as skipped,
 * its title carrying the reason, and the reason is printed. Use with top-level await:
 * `await describeGpu('kernels', (gpu) => { ... })`.
 */
export const describeGpu = async (name: string, body: (gpu: Gpu) => void): Promise<void> => {
  const { gpu, reason } = await acquireShared();
  if (gpu === undefined) {
    if (!warned) {
      console.warn(`[GPU tests skipped] ${reason}`);
      warned = true;
    }
    describe.skip(`${name} (skipped: no WebGPU adapter)`, () => {
      it(`needs a GPU: ${reason.slice(0, 120)}`, () => undefined);
    });
    return;
  }
  describe(name, () => {
    afterAll(async () => {
      // Leave the shared device clean for the next suite: no error may be left unreported.
      const r = await gpu.checkErrors(`after suite '${name}'`);
      if (E.isLeft(r)) throw new GpuFailure(r.left);
    });
    body(gpu);
  });
};

/** Unwraps a GPU result in a test, throwing its message. */
export const unwrapGpu = <T>(r: E.Either<GpuError, T>): T => {
  if (E.isLeft(r)) throw new GpuFailure(r.left);
  return r.right;
};

export interface ComputeJob {
  readonly label: string;
  readonly wgsl: string;
  readonly entryPoint?: string;
  /** Storage buffers bound at @binding(0..), read-only in the shader ('read'). */
  readonly inputs: readonly ArrayBufferView[];
  /** Byte size of the read_write output buffer, bound after the inputs. */
  readonly outputBytes: number;
  readonly workgroups: readonly [number, number?, number?];
}

/**
 * Runs one compute shader (bind group 0: the inputs, then the output) and reads the output back, inside an
 * error scope labelled `job.label`. For tests of small kernels; the real executor lives in src/runtime.
 */
export const runCompute = (gpu: Gpu, job: ComputeJob): Promise<E.Either<GpuError, ArrayBuffer>> =>
  gpu.withErrorScope(job.label, async (device) => {
    const pad4 = (n: number): number => Math.max(4, Math.ceil(n / 4) * 4);
    const ins = job.inputs.map((v) => {
      const b = device.createBuffer({ size: pad4(v.byteLength), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(b, 0, v.buffer, v.byteOffset, v.byteLength);
      return b;
    });
    const size = pad4(job.outputBytes);
    const out = device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const read = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    try {
      const module = device.createShaderModule({ code: job.wgsl, label: job.label });
      const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: job.entryPoint ?? 'main' }, label: job.label });
      const bind = device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [...ins, out].map((buffer, binding) => ({ binding, resource: { buffer } })),
      });
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(job.workgroups[0], job.workgroups[1] ?? 1, job.workgroups[2] ?? 1);
      pass.end();
      enc.copyBufferToBuffer(out, 0, read, 0, size);
      device.queue.submit([enc.finish()]);
      await read.mapAsync(GPUMapMode.READ);
      const data = read.getMappedRange().slice(0, job.outputBytes);
      read.unmap();
      return data;
    } finally {
      for (const b of [...ins, out, read]) b.destroy();
    }
  });
