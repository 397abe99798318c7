/**
 * A compiled `Program`: plain data that says which buffers exist, which WGSL kernels run, and in what order.
 * It never touches a device; `src/runtime/execute.ts` turns it into GPU objects.
 *
 * Buffers are the *physical* buffers after memory planning: several intermediate values may share one buffer
 * when their lifetimes do not overlap. Every tensor is f32; activations carry the batch as their first axis.
 *
 * @example
 * const prog = lower(graph, { mode: 'fixed', batch: 8 }); // Either<readonly LowerError[], Program>
 * // prog.right.dispatches.map((d) => d.label) → ['conv2d+bias+relu at conv1', 'maxPool2d at pool', ...]
 */
import type { Kernel } from './kernel.ts';
import type { Shape } from '../ir/shape.ts';

export type Mode = 'fixed' | 'mixed' | 'sampled';

/**
 * What a buffer holds. 'scalar': a one-element per-step input (a dropout seed, a learning rate) that the runtime
 * writes before a run without touching anything else.
 */
export type BufferRole = 'input' | 'param' | 'activation' | 'output' | 'choiceWeights' | 'scratch' | 'scalar';

export interface BufferSpec {
  readonly id: number;
  /** Size in bytes (a multiple of 4, at least 4). */
  readonly bytes: number;
  readonly role: BufferRole;
  /** What lives there, for messages: a node name, a parameter path, or the values sharing the buffer. */
  readonly label: string;
  /** For role 'param': the path whose tensor the runtime uploads. */
  readonly paramPath?: string;
}

/** `arch[key]` contains `index` (a layer choice chose it, or an input choice selected that input). */
export interface ChoiceLiteral {
  readonly key: string;
  readonly index: number;
}

/**
 * When a dispatch runs in sampled mode: a disjunction of conjunctions of literals. A dispatch without a guard
 * always runs; `[]` (no conjunction) never does (a node reachable only through contradictory choices).
 * A candidate of a layer choice nested in another candidate runs under the conjunction of both literals.
 */
export type Guard = readonly (readonly ChoiceLiteral[])[];

export interface Dispatch {
  /** Index into `Program.kernels`. */
  readonly kernel: number;
  /** Buffer ids, one per binding of the kernel, in binding order. */
  readonly buffers: readonly number[];
  readonly workgroups: readonly [number, number, number];
  /** The op(s) and the node name, e.g. 'conv2d+bias+relu at cell0/op1'; used in GPU error messages. */
  readonly label: string;
  /** Sampled mode only: the condition under which the dispatch runs; absent = always. */
  readonly group?: Guard;
}

export interface ProgramInput {
  readonly name: string;
  readonly buffer: number;
  /** Per-sample shape; the buffer holds `batch` samples. */
  readonly shape: Shape;
}

export interface ProgramOutput {
  readonly buffer: number;
  readonly shape: Shape;
  readonly label: string;
}

export interface ProgramParam {
  readonly path: string;
  readonly buffer: number;
  readonly shape: Shape;
}

/**
 * A run-time weights buffer of one choice key: mixed mode reads the weights of every key from these; sampled
 * mode reads the 0/1 selection mask of input choices (layer choices are selected by guards instead).
 */
export interface ProgramChoice {
  readonly key: string;
  readonly kind: 'layer' | 'input';
  /** Absent for the layer choices of sampled mode, which are selected by dispatch guards. */
  readonly buffer?: number;
  /** The number of candidates (weights) of the key. */
  readonly count: number;
  /** Input choices: how many inputs an architecture selects (null: any number). */
  readonly nChosen?: number | null;
}

/**
 * A per-step scalar input: one 4-byte buffer the runtime writes before a run (training: the dropout seed as
 * `u32` bits; an optimizer's learning rate as `f32`). It is never batched and never read back.
 */
export interface ProgramScalar {
  readonly name: string;
  readonly buffer: number;
  readonly type: 'u32' | 'f32';
}

/** A trainable parameter of a training Program: its buffer, and the buffer its gradient is left in. */
export interface ProgramGrad {
  readonly path: string;
  readonly param: number;
  readonly grad: number;
  readonly shape: Shape;
}

/** The gradient buffer of one choice key's run-time weights (mixed graphs: ∂L/∂w, unbatched [n]). */
export interface ProgramChoiceGrad {
  readonly key: string;
  readonly buffer: number;
}

export interface Program {
  readonly mode: Mode;
  readonly batch: number;
  readonly buffers: readonly BufferSpec[];
  /** Deduplicated by WGSL source: dispatches of one shape share a kernel, hence a pipeline. */
  readonly kernels: readonly Kernel[];
  readonly dispatches: readonly Dispatch[];
  readonly inputs: readonly ProgramInput[];
  readonly outputs: readonly ProgramOutput[];
  readonly params: readonly ProgramParam[];
  readonly choices: readonly ProgramChoice[];
  /** Per-step scalar inputs (empty for inference programs). */
  readonly scalars: readonly ProgramScalar[];
  /** Bytes of the planned intermediate buffers (activations and scratch), after reuse. */
  readonly peakBytes: number;
  /** Bytes intermediate values would take with no reuse (for reports and tests). */
  readonly unplannedBytes: number;
  /**
   * Training programs with an optimizer (`withOptimizer`): the index of the first dispatch of the update. A run
   * may stop before it (`RunRequest.update: false`) to compute the loss and the gradients without changing a
   * parameter (DARTS' architecture step, BatchNorm recalibration).
   */
  readonly updateFrom?: number;
}

/**
 * A Program that computes one training step's forward and backward passes (see `lowerTraining`): the loss, and
 * every trainable parameter's gradient, left in buffers that stay valid until the end of the Program (they are
 * outputs: the memory plan never reuses them), so an optimizer appended after the last dispatch can read them.
 */
export interface TrainingProgram extends Program {
  /** The buffer of the (unbatched, one-element) loss: output 0. */
  readonly loss: number;
  /** Output index of the logits (output 1). */
  readonly logits: number;
  /** One entry per trainable parameter, in path order (the TrainingGraph's `grads` order). */
  readonly grads: readonly ProgramGrad[];
  /** One entry per choice key with a gradient (the TrainingGraph's `leafGrads` that are choiceWeights). */
  readonly choiceGrads: readonly ProgramChoiceGrad[];
}

/** Whether a guard holds for a canonical architecture (each key → ascending chosen indices). */
export const guardHolds = (g: Guard | undefined, arch: Readonly<Record<string, readonly number[]>>): boolean =>
  g === undefined || g.some((conj) => conj.every((l) => (arch[l.key] ?? []).includes(l.index)));

/** A one-line-per-dispatch listing of a program, for debugging and snapshots. */
export const showProgram = (p: Program): string =>
  p.dispatches
    .map((d, i) => {
      const g = d.group === undefined ? '' : `  if ${d.group.map((c) => c.map((l) => `${l.key}∋${l.index}`).join('∧') || 'true').join(' ∨ ')}`;
      return `${i}: ${d.label} [${d.buffers.join(', ')}] wg=${d.workgroups.join('x')}${g}`;
    })
    .join('\n');
