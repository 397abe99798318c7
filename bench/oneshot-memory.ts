/**
 * Device memory of a one-shot supernet, from the Programs it holds (pure; bench/oneshot.ts's memory figures): the
 * parameters and optimizer state once per path — the supernet's ParamPool shares them between its programs — plus
 * every other buffer and the read-back staging of the outputs of each program.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Program, TrainingProgram } from '../src/compile/program.ts';
import { lowerTraining } from '../src/compile/lower-train.ts';
import { lower } from '../src/compile/lower.ts';
import { mixGraph } from '../src/compile/mix.ts';
import { withOptimizer } from '../src/compile/optimizer.ts';
import { trainingGraph } from '../src/compile/training-graph.ts';
import { adapterKind } from '../src/compile/kernels/tiles.ts';
import { type Architecture, apply } from '../src/ir/apply.ts';
import type { Graph } from '../src/ir/index.ts';
import type { Node } from '../src/ir/node.ts';
import type { Gpu } from '../src/runtime/device.ts';
import type { AnyDriver } from '../src/runtime/oneshot/driver.ts';

/** What an algorithm used of its supernet: the mixed step, subnets of these architectures, the sampled evaluator. */
export interface HeldUse {
  readonly usedMixed: boolean;
  readonly usedEval: boolean;
  readonly archs: readonly Architecture[];
}

/** A buffer's size as the executor allocates it (a multiple of 4, at least 4). */
const allocated = (bytes: number): number => Math.max(4, Math.ceil(bytes / 4) * 4);

/** The training step Program the supernet compiles for `g` (as Supernet's private #trainer). */
export const trainerProgram = (g: Graph, batch: number, adapter: ReturnType<typeof adapterKind>, d: AnyDriver, wrt: readonly Node[] = []): TrainingProgram => {
  const step = trainingGraph(g, { labelSmoothing: 0, ...(wrt.length === 0 ? {} : { extraWrt: () => wrt }) });
  const p = lowerTraining(step, { mode: 'fixed', batch, adapter });
  if (E.isLeft(p)) throw new Error(`lowering: ${p.left.map((e) => e.message).join('; ')}`);
  const o = withOptimizer(p.right, { optimizer: d.weights.optimizer, ...(d.weights.clipGradNorm === undefined ? {} : { clipGradNorm: d.weights.clipGradNorm }) });
  if (E.isLeft(o)) throw new Error(`optimizer: ${o.left.map((e) => e.message).join('; ')}`);
  return o.right.program;
};

/** Device bytes of programs bound to one ParamPool: parameters and optimizer state once per path, the rest per program. */
export interface PoolMemory {
  readonly pooled: number;
  readonly perProgram: number;
  readonly staging: number;
  readonly total: number;
  readonly programs: number;
}

/**
 * The device bytes of `programs` instantiated on one ParamPool.
 *
 * @example
 * poolMemory([mixedStep, subnetA, subnetB]).total; // the pool once, plus each program's own buffers and staging
 */
export const poolMemory = (programs: readonly Program[]): PoolMemory => {
  const pool = new Map<string, number>();
  let perProgram = 0;
  let staging = 0;
  for (const p of programs) {
    const bytes = new Map(p.buffers.map((b) => [b.id, allocated(b.bytes)] as const));
    const pooledIds = new Set(p.params.map((q) => q.buffer));
    for (const q of p.params) pool.set(q.path, bytes.get(q.buffer) ?? 0);
    for (const b of p.buffers) if (!pooledIds.has(b.id)) perProgram += allocated(b.bytes);
    // The executor creates one MAP_READ staging buffer per output.
    for (const o of p.outputs) staging += bytes.get(o.buffer) ?? 0;
  }
  const pooled = [...pool.values()].reduce((a, b) => a + b, 0);
  return { pooled, perProgram, staging, total: pooled + perProgram + staging, programs: programs.length };
};

/** The Programs a supernet held while `m` ran: the mixed step, a subnet per architecture drawn, the sampled evaluator. */
export const heldPrograms = (graph: Graph, batch: number, gpu: Gpu, d: AnyDriver, m: HeldUse): readonly Program[] => {
  const adapter = adapterKind(gpu.adapterInfo);
  const out: Program[] = [];
  if (m.usedMixed) {
    const mixed = mixGraph(graph);
    if (E.isLeft(mixed)) throw new Error(`mixGraph: ${mixed.left.map((e) => e.message).join('; ')}`);
    out.push(trainerProgram(mixed.right.graph, batch, adapter, d, mixed.right.weights.map((w) => w.leaf)));
  }
  // At most 8 subnets are held at once (the supernet's LRU): the last 8 drawn.
  for (const arch of m.archs.slice(-8)) {
    const f = apply(graph, arch);
    if (E.isLeft(f)) throw new Error(`apply: ${f.left.map((e) => e.message).join('; ')}`);
    out.push(trainerProgram(f.right, batch, adapter, d));
  }
  if (m.usedEval) {
    const ev = lower(graph, { mode: 'sampled', batch, adapter });
    if (E.isLeft(ev)) throw new Error(`sampled evaluator: ${ev.left.map((e) => e.message).join('; ')}`);
    out.push(ev.right);
  }
  return out;
};
