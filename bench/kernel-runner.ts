/**
 * Bench helper: runs a generated `Kernel` on a device with given inputs, and times repeated dispatches.
 * (The real executor lives in src/runtime; this only needs one kernel at a time.)
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Kernel } from '../src/compile/kernel.ts';
import type { Conv2dOptions } from '../src/compile/kernels/conv2d.ts';
import type { MatmulOptions } from '../src/compile/kernels/matmul.ts';
import type { TileConfig } from '../src/compile/kernels/tiles.ts';
import { tuneConv2d, tuneMatmul } from '../src/runtime/autotune.ts';
import type { Gpu } from '../src/runtime/device.ts';

/** A kernel made ready to run: pipeline, buffers and bind group. */
export interface Prepared {
  readonly kernel: Kernel;
  readonly out: GPUBuffer;
  readonly outBytes: number;
  /** Encodes `times` dispatches of the kernel into one compute pass and submits it. */
  readonly submit: (times: number) => void;
  readonly read: () => Promise<Float32Array>;
  readonly destroy: () => void;
}

const pad16 = (n: number): number => Math.max(16, Math.ceil(n / 16) * 16);

/** Creates buffers for the inputs (in binding order, the output last) and the pipeline. */
export const prepare = (device: GPUDevice, kernel: Kernel, inputs: readonly Float32Array[], outElems: number): Prepared => {
  const bufs = inputs.map((v) => {
    const b = device.createBuffer({ size: pad16(v.byteLength), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(b, 0, v.buffer, v.byteOffset, v.byteLength);
    return b;
  });
  const outBytes = outElems * 4;
  const out = device.createBuffer({ size: pad16(outBytes), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const module = device.createShaderModule({ code: kernel.wgsl, label: kernel.label });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: kernel.entryPoint }, label: kernel.label });
  const bind = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [...bufs, out].map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  const submit = (times: number): void => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bind);
    for (let i = 0; i < times; i++) pass.dispatchWorkgroups(...kernel.workgroups);
    pass.end();
    device.queue.submit([enc.finish()]);
  };
  const read = async (): Promise<Float32Array> => {
    const rb = device.createBuffer({ size: pad16(outBytes), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(out, 0, rb, 0, pad16(outBytes));
    device.queue.submit([enc.finish()]);
    await rb.mapAsync(GPUMapMode.READ);
    const data = new Float32Array(rb.getMappedRange().slice(0, outBytes));
    rb.unmap();
    rb.destroy();
    return data;
  };
  return {
    kernel,
    out,
    outBytes,
    submit,
    read,
    destroy: () => {
      for (const b of [...bufs, out]) b.destroy();
    },
  };
};

/** Median seconds per dispatch: one warm-up, then `reps` timed submits of one dispatch each, fenced by onSubmittedWorkDone. */
export const timeKernel = async (device: GPUDevice, p: Prepared, reps: number): Promise<number> => {
  p.submit(1);
  await device.queue.onSubmittedWorkDone();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    p.submit(1);
    await device.queue.onSubmittedWorkDone();
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
};

/** Deterministic pseudo-random floats in [-1, 1) (an LCG: benches need data, not statistics). */
export const randomFloats = (n: number, seed: number): Float32Array => {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
};

/** Whether the bench was asked to autotune tiles (`npm run bench -- --tune`; `--retune` times again). */
export const tuneRequested = (): boolean => process.argv.includes('--tune') || process.argv.includes('--retune');

/**
 * The tile to bench a kernel with: `fallback` (the adapter kind's default) unless `--tune`/`--retune` was given,
 * then the autotuner's pick (from its per-adapter cache, or timed now). A tuning failure is logged and falls back.
 */
export const tunedTile = async (
  gpu: Gpu,
  what: { readonly kind: 'conv2d'; readonly o: Conv2dOptions } | { readonly kind: 'matmul'; readonly o: MatmulOptions },
  fallback: TileConfig,
  log: (line: string) => void,
): Promise<TileConfig> => {
  if (!tuneRequested()) return fallback;
  const opts = { retune: process.argv.includes('--retune') };
  const r = what.kind === 'conv2d' ? await tuneConv2d(gpu, what.o, opts) : await tuneMatmul(gpu, what.o, opts);
  if (E.isLeft(r)) {
    log(`autotune failed, default tile used: ${r.left.map((e) => e.message).join('; ')}`);
    return fallback;
  }
  const t = r.right;
  const tried = t.tried.map((c) => `${c.tile.rows}x${c.tile.cols}/${c.tile.wgX}x${c.tile.wgY}${c.tile.shared ? 's' : ''} ${c.ms.toFixed(0)}ms`).join(', ');
  log(`autotune ${t.key}: ${t.tile.rows}x${t.tile.cols} wg ${t.tile.wgX}x${t.tile.wgY} (${t.source}${tried ? `; ${tried}` : ''})`);
  return t.tile;
};
