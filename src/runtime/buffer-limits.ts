/**
 * A lowered Program's buffers checked against the device's limits before any is created: WebGPU refuses a buffer
 * above `maxBufferSize`, and a storage binding above `maxStorageBufferBindingSize`, with multi-line validation
 * text per call (and a batch of a billion images overflows even the CPU-side arrays first). One error instead,
 * naming the largest buffer, its size, the limit and the batch that would fit.
 *
 * The batch that fits assumes the batch-dependent buffers (inputs, activations, outputs, scratch) grow linearly
 * with the batch, as they do; parameters and optimizer state do not depend on it, and one of them over the limit
 * means no batch fits.
 *
 * @example
 * const e = bufferLimitError(program, gpu.limits);
 * if (e !== undefined) console.error(e.message); // "the program's largest buffer … exceeds … a batch of at most 3912 fits"
 */
import type { BufferRole, Program } from '../compile/program.ts';

/** The limits that bound one buffer (a subset of `GPUSupportedLimits`). */
export interface BufferLimits {
  readonly maxBufferSize: number;
  readonly maxStorageBufferBindingSize: number;
}

/** A program a device cannot hold. */
export interface BufferLimitError {
  readonly tag: 'BufferLimit';
  /** The largest buffer's label and size, the limit, and the largest batch that fits (0 when none does). */
  readonly buffer: string;
  readonly bytes: number;
  readonly limit: number;
  readonly fits: number;
  readonly message: string;
}

const PER_SAMPLE: ReadonlySet<BufferRole> = new Set<BufferRole>(['input', 'activation', 'output', 'scratch']);

/** Bytes in binary units: `812 B`, `3.52 KiB`, `37.1 MiB`, `1010 MiB`. */
export const bytesText = (n: number): string => {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v >= 100 ? v.toFixed(0) : v.toPrecision(3)} ${units[u]}`;
};

/** Why `program` cannot be created within `limits`, or undefined when every buffer fits. */
export const bufferLimitError = (program: Program, limits: BufferLimits): BufferLimitError | undefined => {
  const limit = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
  const limitName = limits.maxStorageBufferBindingSize <= limits.maxBufferSize ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
  let largest = program.buffers[0];
  for (const b of program.buffers) if (largest === undefined || b.bytes > largest.bytes) largest = b;
  if (largest === undefined || largest.bytes <= limit) return undefined;
  const fixedTooBig = program.buffers.find((b) => !PER_SAMPLE.has(b.role) && b.bytes > limit);
  let perSampleMax = 0;
  for (const b of program.buffers) if (PER_SAMPLE.has(b.role)) perSampleMax = Math.max(perSampleMax, b.bytes);
  const fits = fixedTooBig !== undefined || perSampleMax === 0 ? 0 : Math.max(0, Math.floor((program.batch * limit) / perSampleMax));
  const advice =
    fits >= 1
      ? `a batch of at most ${fits} fits (the per-sample buffers grow with the batch)`
      : fixedTooBig !== undefined
        ? `'${fixedTooBig.label}' does not depend on the batch: no batch fits; make the model smaller`
        : 'not even a batch of 1 fits; make the model smaller';
  return {
    tag: 'BufferLimit',
    buffer: largest.label,
    bytes: largest.bytes,
    limit,
    fits,
    message: `batch ${program.batch}: the largest buffer, ${largest.role} '${largest.label}', needs ${bytesText(largest.bytes)}, above this device's ${limitName} of ${bytesText(limit)}; ${advice}`,
  };
};
