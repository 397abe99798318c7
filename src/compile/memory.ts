/**
 * The memory plan: from a schedule over *logical* values (one per tensor) to a Program over *physical*
 * buffers. Intermediate values (role 'activation'/'scratch') share a buffer when their lifetimes — from their
 * first access to their last, in dispatch order — do not overlap; a buffer serves values of one size bucket
 * (a power of two), sized to its largest value. Inputs, parameters, outputs and choice weights are resident.
 *
 * Lifetimes are taken over the whole dispatch list, including dispatches that sampled mode may skip, so
 * skipping never shortens a lifetime: reuse is safe for every architecture.
 */
import type { Shape } from '../ir/shape.ts';
import type { Kernel } from './kernel.ts';
import type { BufferRole, BufferSpec, Dispatch, Guard, Mode, Program, ProgramChoice } from './program.ts';

export interface LogicalValue {
  readonly id: number;
  readonly bytes: number;
  readonly role: BufferRole;
  readonly label: string;
  readonly paramPath?: string;
}

export interface LogicalDispatch {
  readonly kernel: Kernel;
  /** Logical value ids, one per kernel binding. */
  readonly values: readonly number[];
  readonly label: string;
  readonly group?: Guard;
}

/** The lowering's output before memory planning: the same shape as a Program, over logical values. */
export interface Schedule {
  readonly mode: Mode;
  readonly batch: number;
  readonly values: readonly LogicalValue[];
  readonly dispatches: readonly LogicalDispatch[];
  readonly inputs: readonly { readonly name: string; readonly value: number; readonly shape: Shape }[];
  readonly outputs: readonly { readonly value: number; readonly shape: Shape; readonly label: string }[];
  readonly params: readonly { readonly path: string; readonly value: number; readonly shape: Shape }[];
  readonly choices: readonly (Omit<ProgramChoice, 'buffer'> & { readonly value?: number })[];
  /** Per-step scalar inputs (absent: none). */
  readonly scalars?: readonly { readonly name: string; readonly value: number; readonly type: 'u32' | 'f32' }[];
}

const poolable = (role: BufferRole): boolean => role === 'activation' || role === 'scratch';

const bucketOf = (bytes: number): number => Math.ceil(Math.log2(Math.max(4, bytes)));

/** First and last dispatch index touching each value (values never touched are absent). */
export const lifetimes = (s: Schedule): ReadonlyMap<number, readonly [number, number]> => {
  const life = new Map<number, [number, number]>();
  s.dispatches.forEach((d, i) => {
    for (const v of d.values) {
      const l = life.get(v);
      if (l === undefined) life.set(v, [i, i]);
      else l[1] = i;
    }
  });
  return life;
};

/**
 * Assigns every logical value a physical buffer index. Values whose lifetimes do not overlap (one ends
 * strictly before the other starts) may share; values of another size bucket never do.
 *
 * @example
 * const { assign, buffers } = assignBuffers(schedule); // assign.get(valueId) → physical buffer id
 */
export const assignBuffers = (
  s: Schedule,
): { readonly assign: ReadonlyMap<number, number>; readonly buffers: readonly BufferSpec[] } => {
  const life = lifetimes(s);
  const assign = new Map<number, number>();
  const buffers: { id: number; bytes: number; role: BufferRole; labels: string[]; paramPath?: string }[] = [];
  const fresh = (v: LogicalValue): number => {
    const id = buffers.length;
    buffers.push({ id, bytes: v.bytes, role: v.role, labels: [v.label], ...(v.paramPath === undefined ? {} : { paramPath: v.paramPath }) });
    return id;
  };
  for (const v of s.values) if (!poolable(v.role)) assign.set(v.id, fresh(v));
  const temps = s.values
    .filter((v) => poolable(v.role) && life.has(v.id))
    .sort((a, b) => life.get(a.id)![0] - life.get(b.id)![0] || a.id - b.id);
  const active: { end: number; buffer: number; bucket: number }[] = [];
  const free = new Map<number, number[]>();
  for (const v of temps) {
    const [start, end] = life.get(v.id)!;
    for (let i = active.length - 1; i >= 0; i--) {
      const a = active[i]!;
      if (a.end < start) {
        const list = free.get(a.bucket) ?? [];
        list.push(a.buffer);
        free.set(a.bucket, list);
        active.splice(i, 1);
      }
    }
    const bucket = bucketOf(v.bytes);
    const reuse = free.get(bucket)?.pop();
    let id: number;
    if (reuse === undefined) id = fresh(v);
    else {
      id = reuse;
      const b = buffers[id]!;
      b.bytes = Math.max(b.bytes, v.bytes);
      b.labels.push(v.label);
    }
    assign.set(v.id, id);
    active.push({ end, buffer: id, bucket });
  }
  return {
    assign,
    buffers: buffers.map((b) => ({
      id: b.id,
      bytes: b.bytes,
      role: b.role,
      label: b.labels.length > 3 ? `${b.labels.slice(0, 3).join(', ')} (+${b.labels.length - 3})` : b.labels.join(', '),
      ...(b.paramPath === undefined ? {} : { paramPath: b.paramPath }),
    })),
  };
};

/**
 * The Program of a schedule: buffers planned, kernels deduplicated by WGSL source and entry point.
 *
 * @example
 * const program = planMemory(schedule);
 * program.peakBytes <= program.unplannedBytes // true
 */
export const planMemory = (s: Schedule): Program => {
  const { assign, buffers } = assignBuffers(s);
  const buf = (v: number): number => assign.get(v)!;
  const kernels: Kernel[] = [];
  const kernelIndex = new Map<string, number>();
  const dispatches: Dispatch[] = s.dispatches.map((d) => {
    const key = `${d.kernel.entryPoint}\n${d.kernel.wgsl}`;
    let k = kernelIndex.get(key);
    if (k === undefined) {
      k = kernels.length;
      kernels.push(d.kernel);
      kernelIndex.set(key, k);
    }
    return {
      kernel: k,
      buffers: d.values.map(buf),
      workgroups: d.kernel.workgroups,
      label: d.label,
      ...(d.group === undefined ? {} : { group: d.group }),
    };
  });
  const life = lifetimes(s);
  return {
    mode: s.mode,
    batch: s.batch,
    buffers,
    kernels,
    dispatches,
    inputs: s.inputs.map((i) => ({ name: i.name, buffer: buf(i.value), shape: i.shape })),
    outputs: s.outputs.map((o) => ({ buffer: buf(o.value), shape: o.shape, label: o.label })),
    params: s.params.map((p) => ({ path: p.path, buffer: buf(p.value), shape: p.shape })),
    choices: s.choices.map(({ value, ...c }) => (value === undefined ? c : { ...c, buffer: buf(value) })),
    scalars: (s.scalars ?? []).map((x) => ({ name: x.name, buffer: buf(x.value), type: x.type })),
    peakBytes: buffers.filter((b) => poolable(b.role)).reduce((t, b) => t + b.bytes, 0),
    unplannedBytes: s.values.filter((v) => poolable(v.role) && life.has(v.id)).reduce((t, v) => t + v.bytes, 0),
  };
};
