/**
 * Device-side profiling of one run of a Program (`Executable.profile`): every selected dispatch in its own compute
 * pass with a begin and an end timestamp query, the timestamps resolved into a buffer and read back. Then the
 * pure part: per-dispatch times aggregated by kernel family (the op part of the dispatch label, before " at "), so
 * a step's time can be read as "conv2d backward 41 %, batchNorm 18 %, …" and the next optimisation chosen by it.
 *
 * Timestamps are device ticks in nanoseconds (WebGPU's unit); on lavapipe they are CPU time of the Vulkan
 * queue. A pass per dispatch adds a little overhead per dispatch, so the sum is somewhat above an untimed run.
 *
 * @example
 * const r = await exe.profile({ inputs: { x, labels }, readback: [0] });
 * if (E.isRight(r)) console.log(showProfile(profileByFamily(r.right.dispatches)));
 */
import * as E from 'fp-ts/lib/Either.js';

/** One dispatch's device time in one profiled run. */
export interface DispatchTime {
  /** Index into `Program.dispatches`. */
  readonly index: number;
  /** Index into `Program.kernels`. */
  readonly kernel: number;
  /** The dispatch's label ('conv2d+bias+relu at cell0/op1'). */
  readonly label: string;
  /** Nanoseconds between the pass's begin and end timestamps. */
  readonly ns: number;
}

/** What `Executable.profile` returns: the outputs as `run` would, and every executed dispatch's time. */
export interface ProfiledRun {
  readonly outputs: readonly Float32Array[];
  readonly dispatches: readonly DispatchTime[];
}

/** Time of one kernel family in a profile. */
export interface FamilyTime {
  /** The op part of the dispatch label: 'conv2d+bias', 'batchNorm2d stats', 'sgd update', … */
  readonly family: string;
  readonly dispatches: number;
  readonly ms: number;
  /** Share of the profile's total, in [0, 1]. */
  readonly share: number;
}

/** The most queries one timestamp query set may hold (the WebGPU spec caps a query set at 4,096). */
const QUERIES_PER_SET = 4096;

/** Query sets and buffers of one timed encoding, read back by `readTimed`. */
export interface TimedEncoding {
  /** Dispatch indices in the order they were timed. */
  readonly order: readonly number[];
  readonly staging: readonly GPUBuffer[];
  readonly owned: readonly { destroy(): void }[];
}

/**
 * The family of a dispatch label: the op part, before " at " (a node's path) or " of " (a parameter's path).
 *
 * @example
 * familyOf('conv2d+bias at cell0/op1'); // 'conv2d+bias'
 * familyOf('sgd update of stem/conv/weight'); // 'sgd update'
 */
export const familyOf = (label: string): string => {
  const cuts = [label.indexOf(' at '), label.indexOf(' of ')].filter((i) => i >= 0);
  return (cuts.length === 0 ? label : label.slice(0, Math.min(...cuts))).trim();
};

/**
 * Encodes `order`'s dispatches into `enc`, one compute pass each with timestamps (2 queries a pass, in query sets
 * of 4,096), and the resolves into staging buffers. `record(pass, i)` sets the pipeline and dispatches `i`.
 */
export const encodeTimed = (
  d: GPUDevice,
  enc: GPUCommandEncoder,
  order: readonly number[],
  record: (pass: GPUComputePassEncoder, dispatch: number) => void,
): TimedEncoding => {
  const perSet = QUERIES_PER_SET / 2;
  const staging: GPUBuffer[] = [];
  const owned: { destroy(): void }[] = [];
  for (let start = 0; start < order.length; start += perSet) {
    const chunk = order.slice(start, start + perSet);
    const count = chunk.length * 2;
    const querySet = d.createQuerySet({ type: 'timestamp', count, label: 'profile timestamps' });
    chunk.forEach((i, j) => {
      const pass = enc.beginComputePass({ label: `profiled dispatch ${i}`, timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * j, endOfPassWriteIndex: 2 * j + 1 } });
      record(pass, i);
      pass.end();
    });
    const resolved = d.createBuffer({ size: count * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, label: 'profile resolve' });
    const read = d.createBuffer({ size: count * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'profile readback' });
    enc.resolveQuerySet(querySet, 0, count, resolved, 0);
    enc.copyBufferToBuffer(resolved, 0, read, 0, count * 8);
    staging.push(read);
    owned.push(querySet, resolved, read);
  }
  return { order, staging, owned };
};

/** Reads back a timed encoding after its submit: nanoseconds per timed dispatch, in `order`. Frees its buffers. */
export const readTimed = async (t: TimedEncoding): Promise<E.Either<unknown, readonly number[]>> => {
  try {
    await Promise.all(t.staging.map((b) => b.mapAsync(GPUMapMode.READ)));
    const ns: number[] = [];
    for (const b of t.staging) {
      const v = new BigUint64Array(b.getMappedRange().slice(0));
      for (let j = 0; j + 1 < v.length; j += 2) ns.push(Number(v[j + 1]! - v[j]!));
      b.unmap();
    }
    return E.right(ns);
  } catch (e) {
    return E.left(e);
  } finally {
    for (const o of t.owned) o.destroy();
  }
};

/**
 * Aggregates dispatch times by kernel family, largest first. Pure.
 *
 * @example
 * profileByFamily([{ index: 0, kernel: 0, label: 'conv2d at a', ns: 3e6 }, { index: 1, kernel: 1, label: 'relu at a', ns: 1e6 }]);
 * // [{ family: 'conv2d', dispatches: 1, ms: 3, share: 0.75 }, { family: 'relu', dispatches: 1, ms: 1, share: 0.25 }]
 */
export const profileByFamily = (times: readonly DispatchTime[]): readonly FamilyTime[] => {
  const by = new Map<string, { n: number; ns: number }>();
  let total = 0;
  for (const t of times) {
    const f = familyOf(t.label);
    const e = by.get(f) ?? { n: 0, ns: 0 };
    e.n += 1;
    e.ns += t.ns;
    total += t.ns;
    by.set(f, e);
  }
  return [...by.entries()]
    .map(([family, e]) => ({ family, dispatches: e.n, ms: e.ns / 1e6, share: total > 0 ? e.ns / total : 0 }))
    .sort((a, b) => b.ms - a.ms || a.family.localeCompare(b.family));
};

/** A profile as a Markdown table (family, dispatches, ms, share), `top` rows and the rest summed. */
export const showProfile = (families: readonly FamilyTime[], top = 20): string => {
  const total = families.reduce((s, f) => s + f.ms, 0);
  const count = families.reduce((s, f) => s + f.dispatches, 0);
  const shown = families.slice(0, top);
  const rest = families.slice(top);
  const row = (f: string, n: number, ms: number): string => `| ${f} | ${n} | ${ms.toFixed(1)} | ${total > 0 ? ((100 * ms) / total).toFixed(1) : '0.0'} % |`;
  return [
    '| kernel family | dispatches | ms | share |',
    '|---|---:|---:|---:|',
    ...shown.map((f) => row(f.family, f.dispatches, f.ms)),
    ...(rest.length > 0 ? [row(`${rest.length} other families`, rest.reduce((s, f) => s + f.dispatches, 0), rest.reduce((s, f) => s + f.ms, 0))] : []),
    row('**total**', count, total),
  ].join('\n');
};
