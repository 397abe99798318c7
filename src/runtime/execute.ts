/**
 * Runs a compiled `Program` on a device. `Executable.instantiate` allocates every buffer, uploads the
 * parameters, creates pipelines (through the device's cache) and bind groups once; `run` writes the inputs
 * (and choice weights), records all dispatches — in sampled mode only those whose guards the architecture
 * selects — into one command encoder, submits once and reads back only the outputs.
 *
 * @example
 * const exe = await Executable.instantiate(gpu, program, params);   // Either<readonly ExecError[], Executable>
 * const out = await exe.right.run({ inputs: [x], choice: { kind: 'select', arch: { op1: [2] } } });
 * exe.right.destroy();
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Architecture } from '../ir/apply.ts';
import { numel, showShape } from '../ir/shape.ts';
import { type Program, type ProgramParam, guardHolds } from '../compile/program.ts';
import { bufferLimitError } from './buffer-limits.ts';
import type { Gpu } from './device.ts';
import type { ExecError } from './exec-errors.ts';
import { type GpuError, type GpuErrorKind, gpuException, gpuReported } from './gpu-errors.ts';
import type { ParamStore } from './params.ts';
import type { ParamPool } from './param-pool.ts';
import { type CachedPipeline, pipelineCacheFor } from './pipeline-cache.ts';
import { type DispatchTime, type ProfiledRun, encodeTimed, readTimed } from './profile.ts';

export type { DispatchTime, ProfiledRun } from './profile.ts';

/** How choices are resolved for one run: an architecture (sampled; mixed as one-hot) or per-key weights (mixed). */
export type ChoiceInput =
  | { readonly kind: 'select'; readonly arch: Architecture }
  | { readonly kind: 'mix'; readonly weights: Readonly<Record<string, readonly number[]>> };

export interface RunRequest {
  /** One array per program input (in order, or by input name), each `batch · numel(shape)` long. */
  readonly inputs: readonly Float32Array[] | Readonly<Record<string, Float32Array>>;
  readonly choice?: ChoiceInput;
  /**
   * Indices of the outputs to read back, in the order wanted (default: all). A training step reads only its
   * loss; what is not read back never leaves the device.
   */
  readonly readback?: readonly number[];
  /**
   * Per-step scalar inputs by name (`Program.scalars`: a dropout `seed`, an optimizer's learning rate). A scalar
   * not given keeps its last value (0 before the first).
   */
  readonly scalars?: Readonly<Record<string, number>>;
  /**
   * False: stop before the optimizer's update (`Program.updateFrom`), leaving every parameter as it was and the
   * gradients readable (the forward pass still updates BatchNorm's running statistics, as PyTorch's train mode
   * does). Default true. Ignored by programs without an optimizer.
   */
  readonly update?: boolean;
}

/** Options of `Executable.instantiate`. */
export interface InstantiateOptions {
  /**
   * Bind parameters (and optimizer state) from this pool, shared with every other executable instantiated with it:
   * a path the pool holds is bound as it is (its value in `params` is then not needed, and not uploaded).
   */
  readonly pool?: ParamPool;
}

export type { ExecError } from './exec-errors.ts';

const gpuErr = (error: GpuError): ExecError => ({ tag: 'Gpu', error, message: error.message });

const SCOPES: readonly GpuErrorKind[] = ['validation', 'out-of-memory', 'internal'];

/**
 * `fn(device)` inside validation/out-of-memory/internal error scopes, for the per-run hot path. It does what
 * `Gpu.withErrorScope` does without its race against device loss: that race attaches a reaction to the device's
 * never-settling loss promise on every call (about 2 KB retained per run, measured by the 1,000-run test).
 * Device loss is still reported: checked before, and after the scopes are popped.
 */
const scoped = async <T>(gpu: Gpu, label: string, fn: (device: GPUDevice) => T): Promise<E.Either<GpuError, T>> => {
  const lost = gpu.lostError(label);
  if (lost !== undefined) return E.left(lost);
  const d = gpu.device;
  for (let i = SCOPES.length - 1; i >= 0; i--) d.pushErrorScope(SCOPES[i]!);
  let result: E.Either<GpuError, T>;
  try {
    result = E.right(fn(d));
  } catch (e) {
    result = E.left(gpuException(label, e));
  }
  let popped: (GPUError | null)[];
  try {
    popped = await Promise.all(SCOPES.map(() => d.popErrorScope()));
  } catch (e) {
    return E.left(gpu.lostError(label) ?? gpuException(label, e));
  }
  const after = gpu.lostError(label);
  if (after !== undefined) return E.left(after);
  const i = popped.findIndex((x) => x !== null);
  return i >= 0 ? E.left(gpuReported(SCOPES[i]!, label, popped[i]!.message)) : result;
};

const pad4 = (bytes: number): number => Math.max(4, Math.ceil(bytes / 4) * 4);

/** The values of a program's run-time weights buffers for one run, or every reason the choice is invalid. */
export const choiceWeights = (
  program: Program,
  choice: ChoiceInput | undefined,
): E.Either<readonly ExecError[], { readonly arch: Architecture | undefined; readonly weights: ReadonlyMap<string, Float32Array> }> => {
  const errors: ExecError[] = [];
  const known = new Map(program.choices.map((c) => [c.key, c]));
  const weights = new Map<string, Float32Array>();
  if (choice === undefined) {
    for (const c of program.choices) errors.push({ tag: 'MissingChoice', key: c.key, message: `no value for choice '${c.key}' (${program.mode} mode needs one per key)` });
    return errors.length > 0 ? E.left(errors) : E.right({ arch: undefined, weights });
  }
  const given = choice.kind === 'select' ? choice.arch : choice.weights;
  for (const key of Object.keys(given)) {
    if (!known.has(key)) {
      errors.push({ tag: 'UnknownChoiceKey', key, message: `choice key '${key}' is not in the program (known keys: ${[...known.keys()].join(', ') || 'none'})` });
    }
  }
  for (const c of program.choices) {
    const v = given[c.key];
    if (v === undefined) {
      errors.push({ tag: 'MissingChoice', key: c.key, message: `no value for choice '${c.key}'` });
      continue;
    }
    if (choice.kind === 'select') {
      const bad = v.find((i) => !(Number.isInteger(i) && i >= 0 && i < c.count));
      const distinct = new Set(v).size === v.length;
      const countOk = c.kind === 'layer' ? v.length === 1 : c.nChosen === undefined || c.nChosen === null || v.length === c.nChosen;
      if (bad !== undefined || !distinct || !countOk) {
        const want = c.kind === 'layer' ? 'exactly one index' : c.nChosen === null || c.nChosen === undefined ? 'distinct indices' : `${c.nChosen} distinct indices`;
        errors.push({ tag: 'BadChoiceValue', key: c.key, message: `choice '${c.key}' got [${v.join(', ')}], expected ${want} in 0..${c.count - 1}` });
        continue;
      }
      const w = new Float32Array(c.count);
      for (const i of v) w[i] = 1;
      weights.set(c.key, w);
    } else {
      if (program.mode === 'sampled') continue; // reported once below
      if (v.length !== c.count || !v.every(Number.isFinite)) {
        errors.push({ tag: 'BadChoiceValue', key: c.key, message: `choice '${c.key}' needs ${c.count} finite weights, got [${v.join(', ')}]` });
        continue;
      }
      weights.set(c.key, Float32Array.from(v));
    }
  }
  if (choice.kind === 'mix' && program.mode === 'sampled') {
    errors.push({ tag: 'ChoiceKindMismatch', message: `a sampled-mode program runs one architecture ({ kind: 'select' }), not weights` });
  }
  return errors.length > 0 ? E.left(errors) : E.right({ arch: choice.kind === 'select' ? choice.arch : undefined, weights });
};

/** The bytes of each scalar a request sets, or every unknown name and unrepresentable value. */
const scalarBytes = (program: Program, given: Readonly<Record<string, number>> | undefined): E.Either<readonly ExecError[], readonly { readonly buffer: number; readonly data: ArrayBuffer }[]> => {
  const errors: ExecError[] = [];
  const out: { buffer: number; data: ArrayBuffer }[] = [];
  for (const [name, value] of Object.entries(given ?? {})) {
    const sc = program.scalars.find((x) => x.name === name);
    if (sc === undefined) {
      errors.push({ tag: 'UnknownScalar', name, message: `scalar '${name}' is not an input of the program (scalars: ${program.scalars.map((x) => x.name).join(', ') || 'none'})` });
      continue;
    }
    if (sc.type === 'u32' ? !(Number.isInteger(value) && value >= 0 && value < 2 ** 32) : !Number.isFinite(value)) {
      errors.push({ tag: 'BadScalar', name, value, message: `scalar '${name}' (${sc.type}) cannot be ${value}${sc.type === 'u32' ? ': it must be an integer in [0, 2^32)' : ': it must be finite'}` });
      continue;
    }
    out.push({ buffer: sc.buffer, data: (sc.type === 'u32' ? Uint32Array.of(value) : Float32Array.of(value)).buffer });
  }
  return errors.length > 0 ? E.left(errors) : E.right(out);
};

interface Step {
  readonly pipeline: GPUComputePipeline;
  readonly bind: GPUBindGroup;
}

/** A program instantiated on a device: buffers, pipelines and bind groups (an effectful resource). */
export class Executable {
  readonly program: Program;
  readonly #gpu: Gpu;
  readonly #buffers: readonly GPUBuffer[];
  readonly #staging: readonly GPUBuffer[];
  readonly #steps: readonly Step[];
  /** The buffers this executable frees (not those bound from a `ParamPool`). */
  readonly #owned: readonly GPUBuffer[];
  #destroyed = false;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(gpu: Gpu, program: Program, buffers: readonly GPUBuffer[], staging: readonly GPUBuffer[], steps: readonly Step[], owned: readonly GPUBuffer[]) {
    this.#gpu = gpu;
    this.#owned = owned;
    this.program = program;
    this.#buffers = buffers;
    this.#staging = staging;
    this.#steps = steps;
  }

  /**
   * Allocates and uploads: every parameter of the program must be in `params` with the right size (all missing
   * or mis-sized paths are reported), unless `options.pool` already holds it. GPU errors name the kernel or
   * dispatch they happened in.
   */
  static async instantiate(gpu: Gpu, program: Program, params: ParamStore, options: InstantiateOptions = {}): Promise<E.Either<readonly ExecError[], Executable>> {
    const errors: ExecError[] = [];
    const pool = options.pool;
    for (const p of program.params) {
      if (pool?.has(p.path) === true) continue;
      const v = params.get(p.path);
      const n = numel(p.shape);
      if (v === undefined) errors.push({ tag: 'MissingParam', path: p.path, message: `parameter '${p.path}' ${showShape(p.shape)} is missing from the parameter store` });
      else if (v.length !== n) {
        errors.push({ tag: 'ParamSize', path: p.path, expected: n, got: v.length, message: `parameter '${p.path}' needs ${n} values ${showShape(p.shape)}, got ${v.length}` });
      }
    }
    if (errors.length > 0) return E.left(errors);
    // Checked before any buffer is created: one error naming the buffer, not Dawn's validation text.
    const tooBig = bufferLimitError(program, gpu.limits);
    if (tooBig !== undefined) return E.left([tooBig]);
    const device = gpu.device;
    const pooled = new Map<number, ProgramParam>(pool === undefined ? [] : program.params.map((p) => [p.buffer, p]));
    const made = await gpu.withErrorScope('allocating program buffers', (d) => {
      const poolErrors: ExecError[] = [];
      const buffers = program.buffers.map((b) => {
        const q = pooled.get(b.id);
        if (q !== undefined && pool !== undefined) {
          const got = pool.acquire(d, q.path, q.shape, params.get(q.path));
          if (E.isRight(got)) return got.right;
          poolErrors.push(got.left);
        }
        return d.createBuffer({ size: pad4(b.bytes), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC, label: `${b.role}: ${b.label}` });
      });
      if (pool === undefined) {
        for (const p of program.params) {
          const v = params.get(p.path)!;
          d.queue.writeBuffer(buffers[p.buffer]!, 0, v.buffer, v.byteOffset, v.byteLength);
        }
      }
      const staging = program.outputs.map((o) =>
        d.createBuffer({ size: pad4(program.buffers[o.buffer]!.bytes), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: `readback ${o.label}` }),
      );
      return { buffers, staging, poolErrors };
    });
    if (E.isLeft(made)) return E.left([gpuErr(made.left)]);
    const { buffers, staging, poolErrors } = made.right;
    // The pool's buffers are the pool's to free.
    const owned = [...buffers.filter((_, i) => !pooled.has(i)), ...staging];
    const release = (): void => owned.forEach((b) => b.destroy());
    if (poolErrors.length > 0) {
      release();
      return E.left(poolErrors);
    }
    const cache = pipelineCacheFor(device);
    const pipelines: CachedPipeline[] = [];
    for (const k of program.kernels) {
      const p = await gpu.withErrorScope(`compiling ${k.label}`, () => cache.get(k));
      if (E.isLeft(p)) {
        release();
        return E.left([gpuErr(p.left)]);
      }
      pipelines.push(p.right);
    }
    const steps = await gpu.withErrorScope('creating bind groups', (d) =>
      program.dispatches.map((disp) => {
        const { pipeline, layout } = pipelines[disp.kernel]!;
        const bind = d.createBindGroup({
          label: disp.label,
          layout,
          entries: disp.buffers.map((b, binding) => ({ binding, resource: { buffer: buffers[b]! } })),
        });
        return { pipeline, bind };
      }),
    );
    if (E.isLeft(steps)) {
      release();
      return E.left([gpuErr(steps.left)]);
    }
    return E.right(new Executable(gpu, program, buffers, staging, steps.right, owned));
  }

  /** The inputs of a request as arrays in program order, or every size/naming error. */
  #inputArrays(req: RunRequest): E.Either<readonly ExecError[], readonly Float32Array[]> {
    const p = this.program;
    const errors: ExecError[] = [];
    let arrays: (Float32Array | undefined)[];
    if (Array.isArray(req.inputs)) {
      const xs = req.inputs as readonly Float32Array[];
      if (xs.length !== p.inputs.length) {
        errors.push({ tag: 'InputCount', expected: p.inputs.length, got: xs.length, message: `the program takes ${p.inputs.length} inputs, got ${xs.length}` });
      }
      arrays = p.inputs.map((_, i) => xs[i]);
    } else {
      const rec = req.inputs as Readonly<Record<string, Float32Array>>;
      arrays = p.inputs.map((i) => rec[i.name]);
      for (const k of Object.keys(rec)) {
        if (!p.inputs.some((i) => i.name === k)) errors.push({ tag: 'MissingInput', name: k, message: `unknown input '${k}' (inputs: ${p.inputs.map((i) => i.name).join(', ')})` });
      }
    }
    p.inputs.forEach((inp, i) => {
      const a = arrays[i];
      const want = p.batch * numel(inp.shape);
      if (a === undefined) errors.push({ tag: 'MissingInput', name: inp.name, message: `input '${inp.name}' is missing` });
      else if (a.length !== want) {
        const per = numel(inp.shape);
        const hint = a.length % per === 0 ? ` (${a.length / per} samples; the program was compiled for batch ${p.batch})` : '';
        errors.push({
          tag: 'InputSize',
          name: inp.name,
          expected: want,
          got: a.length,
          message: `input '${inp.name}' needs batch ${p.batch} × ${showShape(inp.shape)} = ${want} values, got ${a.length}${hint}`,
        });
      }
    });
    return errors.length > 0 ? E.left(errors) : E.right(arrays as Float32Array[]);
  }

  /**
   * One run of the program (a forward pass, or a whole training step): one submit; returns the outputs named by
   * `readback` (default: all, in program order). Invalid inputs, choices, scalars or readback indices are reported
   * (all of them) before anything is submitted. Runs are serialised.
   */
  run(req: RunRequest): Promise<E.Either<readonly ExecError[], readonly Float32Array[]>> {
    const next = this.#queue.then(() => this.#run(req));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /**
   * One run like `run`, timed per dispatch on the device with timestamp queries: each selected dispatch gets its
   * own compute pass with a begin and an end timestamp, so the figures include no host time (and the run is
   * somewhat slower than `run`: one pass per dispatch). Needs the adapter's `timestamp-query` feature (lavapipe has
   * it); without it, one `Unsupported` error. Aggregate the result with `profileByFamily` (src/runtime/profile.ts).
   *
   * @example
   * const r = await exe.profile({ inputs: { x, labels }, readback: [0] });
   * if (E.isRight(r)) console.log(showProfile(profileByFamily(r.right.dispatches)));
   */
  profile(req: RunRequest): Promise<E.Either<readonly ExecError[], ProfiledRun>> {
    const next = this.#queue.then(async (): Promise<E.Either<readonly ExecError[], ProfiledRun>> => {
      if (!this.#gpu.features.has('timestamp-query')) {
        return E.left([{ tag: 'Unsupported', message: `the adapter '${this.#gpu.adapterInfo.name}' has no timestamp-query feature: dispatches cannot be timed on the device` }]);
      }
      const timed: DispatchTime[] = [];
      const outputs = await this.#run(req, timed);
      return E.isLeft(outputs) ? outputs : E.right({ outputs: outputs.right, dispatches: timed });
    });
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #run(req: RunRequest, timed?: DispatchTime[]): Promise<E.Either<readonly ExecError[], readonly Float32Array[]>> {
    if (this.#destroyed) return E.left([{ tag: 'Destroyed', message: 'this executable was destroyed' }]);
    const p = this.program;
    const ins = this.#inputArrays(req);
    const choice = p.choices.length === 0 && req.choice === undefined ? E.right({ arch: undefined, weights: new Map<string, Float32Array>() }) : choiceWeights(p, req.choice);
    if (E.isLeft(ins) || E.isLeft(choice)) return E.left([...(E.isLeft(ins) ? ins.left : []), ...(E.isLeft(choice) ? choice.left : [])]);
    const readback = req.readback ?? p.outputs.map((_, i) => i);
    const badReads: ExecError[] = readback
      .filter((i) => !(Number.isInteger(i) && i >= 0 && i < p.outputs.length))
      .map((index) => ({ tag: 'BadReadback', index, message: `readback index ${index} is not an output (the program has ${p.outputs.length})` }));
    const scalars = scalarBytes(p, req.scalars);
    if (badReads.length > 0 || E.isLeft(scalars)) return E.left([...badReads, ...(E.isLeft(scalars) ? scalars.left : [])]);
    const { arch, weights } = choice.right;
    const end = req.update === false && p.updateFrom !== undefined ? p.updateFrom : p.dispatches.length;
    const selected = p.dispatches.map((d, i) => i < end && (p.mode !== 'sampled' || guardHolds(d.group, arch ?? {})));
    const label = `run of ${p.dispatches.length} dispatches (${p.mode})`;
    const submitted = await scoped(this.#gpu, label, (d) => {
      p.inputs.forEach((inp, i) => {
        const a = ins.right[i]!;
        d.queue.writeBuffer(this.#buffers[inp.buffer]!, 0, a.buffer, a.byteOffset, a.byteLength);
      });
      for (const c of p.choices) {
        const w = weights.get(c.key);
        if (c.buffer !== undefined && w !== undefined) d.queue.writeBuffer(this.#buffers[c.buffer]!, 0, w.buffer, w.byteOffset, w.byteLength);
      }
      for (const sc of scalars.right) d.queue.writeBuffer(this.#buffers[sc.buffer]!, 0, sc.data);
      const enc = d.createCommandEncoder({ label });
      if (timed === undefined) {
        const pass = enc.beginComputePass({ label });
        p.dispatches.forEach((disp, i) => {
          if (!selected[i]) return;
          const s = this.#steps[i]!;
          pass.setPipeline(s.pipeline);
          pass.setBindGroup(0, s.bind);
          pass.dispatchWorkgroups(disp.workgroups[0], disp.workgroups[1], disp.workgroups[2]);
        });
        pass.end();
      }
      const timing = timed === undefined ? undefined : encodeTimed(d, enc, p.dispatches.flatMap((disp, i) => (selected[i] ? [i] : [])), (pass, i) => {
        const disp = p.dispatches[i]!;
        const s = this.#steps[i]!;
        pass.setPipeline(s.pipeline);
        pass.setBindGroup(0, s.bind);
        pass.dispatchWorkgroups(disp.workgroups[0], disp.workgroups[1], disp.workgroups[2]);
      });
      for (const i of new Set(readback)) enc.copyBufferToBuffer(this.#buffers[p.outputs[i]!.buffer]!, 0, this.#staging[i]!, 0, this.#staging[i]!.size);
      d.queue.submit([enc.finish()]);
      return timing;
    });
    if (E.isLeft(submitted)) return E.left([gpuErr(submitted.left)]);
    if (timed !== undefined && submitted.right !== undefined) {
      const ns = await readTimed(submitted.right);
      if (E.isLeft(ns)) return E.left([gpuErr(this.#gpu.lostError('reading timestamps') ?? gpuException('reading timestamps', ns.left))]);
      submitted.right.order.forEach((i, j) => {
        const disp = p.dispatches[i]!;
        timed.push({ index: i, kernel: disp.kernel, label: disp.label, ns: ns.right[j]! });
      });
    }
    const wanted = [...new Set(readback)];
    try {
      // mapAsync rejects when the device is lost, so this cannot wait forever.
      await Promise.all(wanted.map((i) => this.#staging[i]!.mapAsync(GPUMapMode.READ)));
    } catch (e) {
      const label2 = 'reading back outputs';
      return E.left([gpuErr(this.#gpu.lostError(label2) ?? gpuException(label2, e))]);
    }
    const read = new Map<number, Float32Array>();
    for (const i of wanted) {
      const s = this.#staging[i]!;
      // An unbatched output (a loss, a parameter's gradient) holds numel values; a batched one batch·numel.
      const bytes = Math.min(s.size, p.buffers[p.outputs[i]!.buffer]!.bytes);
      read.set(i, new Float32Array(s.getMappedRange(0, s.size).slice(0, bytes)));
      s.unmap();
    }
    return E.right(readback.map((i) => read.get(i)!));
  }

  /**
   * Downloads every parameter (trained weights, BatchNorm running statistics) by path, e.g. for a checkpoint.
   * Parameters otherwise stay on the device across runs. Serialised with runs.
   */
  readParams(): Promise<E.Either<readonly ExecError[], ReadonlyMap<string, Float32Array>>> {
    const next = this.#queue.then(() => this.#readParams());
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #readParams(): Promise<E.Either<readonly ExecError[], ReadonlyMap<string, Float32Array>>> {
    if (this.#destroyed) return E.left([{ tag: 'Destroyed', message: 'this executable was destroyed' }]);
    const p = this.program;
    const made = await scoped(this.#gpu, 'reading parameters', (d) => {
      const enc = d.createCommandEncoder({ label: 'read parameters' });
      const staging = p.params.map((q) => {
        const size = pad4(numel(q.shape) * 4);
        const b = d.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: `read ${q.path}` });
        enc.copyBufferToBuffer(this.#buffers[q.buffer]!, 0, b, 0, size);
        return b;
      });
      d.queue.submit([enc.finish()]);
      return staging;
    });
    if (E.isLeft(made)) return E.left([gpuErr(made.left)]);
    try {
      await Promise.all(made.right.map((b) => b.mapAsync(GPUMapMode.READ)));
      return E.right(new Map(p.params.map((q, i) => {
        const b = made.right[i]!;
        const v = new Float32Array(b.getMappedRange().slice(0, numel(q.shape) * 4));
        b.unmap();
        return [q.path, v] as const;
      })));
    } catch (e) {
      const label2 = 'reading back parameters';
      return E.left([gpuErr(this.#gpu.lostError(label2) ?? gpuException(label2, e))]);
    } finally {
      for (const b of made.right) b.destroy();
    }
  }

  /**
   * Uploads parameters by path (e.g. from a checkpoint): every given path must be a parameter of the program with
   * the right size (all problems reported, nothing written then). Paths not given keep their device values.
   */
  writeParams(params: ParamStore): Promise<E.Either<readonly ExecError[], void>> {
    const next = this.#queue.then(async (): Promise<E.Either<readonly ExecError[], void>> => {
      if (this.#destroyed) return E.left([{ tag: 'Destroyed', message: 'this executable was destroyed' }]);
      const errors: ExecError[] = [];
      const byPath = new Map(this.program.params.map((q) => [q.path, q]));
      for (const [path, v] of params) {
        const q = byPath.get(path);
        if (q === undefined) errors.push({ tag: 'MissingParam', path, message: `'${path}' is not a parameter of the program` });
        else if (v.length !== numel(q.shape)) {
          errors.push({ tag: 'ParamSize', path, expected: numel(q.shape), got: v.length, message: `parameter '${path}' needs ${numel(q.shape)} values ${showShape(q.shape)}, got ${v.length}` });
        }
      }
      if (errors.length > 0) return E.left(errors);
      const r = await scoped(this.#gpu, 'writing parameters', (d) => {
        for (const [path, v] of params) d.queue.writeBuffer(this.#buffers[byPath.get(path)!.buffer]!, 0, v.buffer, v.byteOffset, v.byteLength);
      });
      return E.isLeft(r) ? E.left([gpuErr(r.left)]) : E.right(undefined);
    });
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /** Frees every buffer (pipelines stay cached on the device). Idempotent; later runs fail with `Destroyed`. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const b of this.#owned) b.destroy();
  }
}
