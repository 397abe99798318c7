/**
 * Parameters shared by several Programs on one device. A supernet's programs — the mixed training step, one
 * training step per sampled architecture, the sampled-mode evaluation program — all name their parameters by
 * module path; instantiated with one `ParamPool` they bind the same device buffer for the same path, so a step
 * of any of them trains the weights (and the optimizer state, and the BatchNorm running statistics) every other
 * one sees, with no copy. This is how weight sharing (ENAS, SPOS, ProxylessNAS) works here.
 *
 * A buffer is created, and its initial value uploaded, the first time a program needs its path; later programs
 * bind it as it is. The pool owns its buffers: `Executable.destroy` leaves them, `ParamPool.destroy` frees them.
 *
 * @example
 * const pool = new ParamPool(gpu);
 * const a = await Executable.instantiate(gpu, programA, initial, { pool });
 * const b = await Executable.instantiate(gpu, programB, initial, { pool }); // binds a's buffers where paths match
 * await a.right.run(...);  // b now sees the updated weights
 * pool.destroy();
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Shape, numel, showShape } from '../ir/shape.ts';
import type { Gpu } from './device.ts';
import { gpuException } from './gpu-errors.ts';
import type { ExecError } from './exec-errors.ts';

interface Entry {
  readonly buffer: GPUBuffer;
  readonly shape: Shape;
}

const pad4 = (bytes: number): number => Math.max(4, Math.ceil(bytes / 4) * 4);

export class ParamPool {
  readonly #gpu: Gpu;
  readonly #entries = new Map<string, Entry>();
  #destroyed = false;

  constructor(gpu: Gpu) {
    this.#gpu = gpu;
  }

  /** The paths held so far. */
  get paths(): readonly string[] {
    return [...this.#entries.keys()];
  }

  has(path: string): boolean {
    return this.#entries.has(path);
  }

  /** The shape a path was created with, if held. */
  shapeOf(path: string): Shape | undefined {
    return this.#entries.get(path)?.shape;
  }

  /**
   * The buffer of `path`: the pool's when it holds the path (its shape must agree), else a new one holding
   * `initial` (zeros when undefined). Call inside an error scope: creation and upload are device calls.
   */
  acquire(device: GPUDevice, path: string, shape: Shape, initial: Float32Array | undefined): E.Either<ExecError, GPUBuffer> {
    if (this.#destroyed) return E.left({ tag: 'Destroyed', message: 'the parameter pool was destroyed' });
    const found = this.#entries.get(path);
    if (found !== undefined) {
      if (numel(found.shape) !== numel(shape)) {
        return E.left({
          tag: 'ParamSize',
          path,
          expected: numel(found.shape),
          got: numel(shape),
          message: `parameter '${path}' is ${showShape(found.shape)} in the shared pool but ${showShape(shape)} in this program: two programs disagree on it`,
        });
      }
      return E.right(found.buffer);
    }
    const n = numel(shape);
    if (initial !== undefined && initial.length !== n) {
      return E.left({ tag: 'ParamSize', path, expected: n, got: initial.length, message: `parameter '${path}' needs ${n} values ${showShape(shape)}, got ${initial.length}` });
    }
    const buffer = device.createBuffer({
      size: pad4(n * 4),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
      label: `shared param: ${path}`,
    });
    if (initial !== undefined) device.queue.writeBuffer(buffer, 0, initial.buffer, initial.byteOffset, initial.byteLength);
    this.#entries.set(path, { buffer, shape });
    return E.right(buffer);
  }

  /** Downloads the given paths (default: all held), e.g. to save the supernet or to take a finite difference. */
  async read(paths: readonly string[] = this.paths): Promise<E.Either<readonly ExecError[], Map<string, Float32Array>>> {
    const unknown = paths.filter((p) => !this.#entries.has(p));
    if (unknown.length > 0) return E.left(unknown.map((path) => ({ tag: 'MissingParam', path, message: `'${path}' is not in the parameter pool` })));
    const label = 'reading the parameter pool';
    const made = await this.#gpu.withErrorScope(label, (d) => {
      const enc = d.createCommandEncoder({ label });
      const staging = paths.map((path) => {
        const src = this.#entries.get(path)!;
        const b = d.createBuffer({ size: src.buffer.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: `read ${path}` });
        enc.copyBufferToBuffer(src.buffer, 0, b, 0, src.buffer.size);
        return b;
      });
      d.queue.submit([enc.finish()]);
      return staging;
    });
    if (E.isLeft(made)) return E.left([{ tag: 'Gpu', error: made.left, message: made.left.message }]);
    try {
      await Promise.all(made.right.map((b) => b.mapAsync(GPUMapMode.READ)));
      return E.right(new Map(paths.map((path, i) => {
        const b = made.right[i]!;
        const v = new Float32Array(b.getMappedRange().slice(0, numel(this.#entries.get(path)!.shape) * 4));
        b.unmap();
        return [path, v] as const;
      })));
    } catch (e) {
      const error = this.#gpu.lostError(label) ?? gpuException(label, e);
      return E.left([{ tag: 'Gpu', error, message: error.message }]);
    } finally {
      for (const b of made.right) b.destroy();
    }
  }

  /** Uploads values by path: every path must be held, with the right size (all problems reported, nothing written then). */
  async write(values: ReadonlyMap<string, Float32Array>): Promise<E.Either<readonly ExecError[], void>> {
    const errors: ExecError[] = [];
    for (const [path, v] of values) {
      const e = this.#entries.get(path);
      if (e === undefined) errors.push({ tag: 'MissingParam', path, message: `'${path}' is not in the parameter pool` });
      else if (v.length !== numel(e.shape)) {
        errors.push({ tag: 'ParamSize', path, expected: numel(e.shape), got: v.length, message: `parameter '${path}' needs ${numel(e.shape)} values ${showShape(e.shape)}, got ${v.length}` });
      }
    }
    if (errors.length > 0) return E.left(errors);
    const r = await this.#gpu.withErrorScope('writing the parameter pool', (d) => {
      for (const [path, v] of values) d.queue.writeBuffer(this.#entries.get(path)!.buffer, 0, v.buffer, v.byteOffset, v.byteLength);
    });
    return E.isLeft(r) ? E.left([{ tag: 'Gpu', error: r.left, message: r.left.message }]) : E.right(undefined);
  }

  /** Frees every buffer. Idempotent. Destroy the executables that bind them first. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const e of this.#entries.values()) e.buffer.destroy();
    this.#entries.clear();
  }
}
