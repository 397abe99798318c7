/**
 * The types the lowering's parts share (a leaf module: fuse.ts, lower-ops.ts, lower-train-ops.ts, lowerings.ts and
 * lower.ts all import it, and it imports none of them): what op emission needs from the scheduler (`Emitter`),
 * one emission's arguments (`Emission`), fusion chains, and the shape of a lowering rule (`Lowering`).
 */
import type { Node } from '../ir/node.ts';
import type { Op, OpKind, OpOf } from '../ir/ops.ts';
import type { Kernel } from './kernel.ts';
import type { EpilogueStep } from './kernels/elementwise.ts';
import type { TileConfig } from './kernels/tiles.ts';
import type { Guard } from './program.ts';

/** What op emission needs from the lowering: operand values and a way to append dispatches. */
export interface Emitter {
  readonly batch: number;
  readonly tile: TileConfig;
  /** The logical value holding a node's result. */
  readonly valueOf: (n: Node) => number;
  /** Rows of a node's value: the batch when it is batched, else 1 (parameters, their gradients, losses). */
  readonly rowsOf: (n: Node) => number;
  /** The value of a per-step scalar input (created on first use). */
  readonly scalar: (name: string, type: 'u32' | 'f32') => number;
  /** Values shared between the kernels of several nodes (e.g. BatchNorm batch statistics), by a key of their making. */
  readonly memo: Map<string, number>;
  /** A new intermediate value of `bytes`. */
  readonly scratch: (bytes: number, label: string) => number;
  readonly dispatch: (kernel: Kernel, values: readonly number[], label: string, group: Guard | undefined) => void;
}

/** Which epilogues a node's kernel can absorb (fuse.ts): GEMM, elementwise, pooling heads, or none. */
export type HeadKind = 'gemm' | 'elementwise' | 'pool' | 'none';

/** One fused step: the node it stands for, and the residual operand of an add. */
export interface ChainStep {
  readonly node: Node;
  readonly step: EpilogueStep;
  readonly residual?: Node;
}

export interface Chain {
  readonly head: Node;
  readonly steps: readonly ChainStep[];
}

/** One node's (or fusion chain's) emission: its head's op, the values it reads and writes, its labels. */
export interface Emission<O extends Op> {
  readonly op: O;
  /** The chain's head: the node whose op is `op`. */
  readonly head: Node;
  /** The elementwise ops fused after the head, in order (empty for a node alone). */
  readonly steps: readonly ChainStep[];
  /** The value the chain's last node writes. */
  readonly out: number;
  /** Sampled mode: when the dispatches run. */
  readonly group: Guard | undefined;
  /** The dispatch label: the fused op kinds and the head's node name. */
  readonly label: string;
  /** The fused op kinds without a node name (for generators that write their label into the WGSL). */
  readonly kernelLabel: string;
  /** The values of the head's inputs, in order. */
  readonly ins: readonly number[];
  /** The residual values of the fused adds. */
  readonly res: readonly number[];
  /** The fused steps as epilogue steps. */
  readonly epi: readonly EpilogueStep[];
  /** Rows of the head's value (the batch, or 1 when unbatched). */
  readonly rows: number;
  /** Appends one dispatch of `kernel` over `values`, with this emission's label and guard. */
  readonly one: (kernel: Kernel, values: readonly number[]) => void;
}

/**
 * How the lowering treats an op kind. `phase`: 'any' when both `lower` (inference) and `lowerTraining` compile
 * it, 'training' when only a training step does (the ops of trainingGraph, mixGraph and grad).
 * - `leaf`: a value of its own without a dispatch (inputs, parameters, choice weights), bound by the scheduler;
 * - `view`: shares its input's buffer (flatten, reshape, identity, inference dropout);
 * - `choice`: combined by the scheduler from its candidates (weighted sums, slots, or guarded copies);
 * - `unlowerable`: never computed (`absent`: the scheduler reports it);
 * - `kernel`: `emit` appends its dispatches; `epilogue` says which elementwise ops may fuse after it.
 */
export type Lowering<O extends Op> = { readonly phase: 'any' | 'training' } & (
  | { readonly kind: 'leaf' }
  | { readonly kind: 'view' }
  | { readonly kind: 'choice' }
  | { readonly kind: 'unlowerable' }
  | { readonly kind: 'kernel'; readonly epilogue: HeadKind; readonly emit: (e: Emitter, m: Emission<O>) => void }
);

/** The lowering table's type: one rule per op kind. */
export type Lowerings = { readonly [K in OpKind]: Lowering<OpOf<K>> };
