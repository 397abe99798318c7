/**
 * Emission helpers shared by the lowering table (lowerings.ts) and the scheduler (lower.ts): dispatch labels,
 * GEMM epilogues, how an elementwise kernel reads an operand, copies, and the weighted combination of a choice's
 * candidates (mixed mode; input choices of sampled mode).
 */
import type { Node } from '../ir/node.ts';
import { numel } from '../ir/shape.ts';
import type { ChainStep, Emitter } from './emitter.ts';
import type { Guard } from './program.ts';
import { CHOICE_CHUNK, slotKernel } from './kernels/choice.ts';
import { weightedSumChunkKernel } from './kernels/mix.ts';
import { type EwIndex, copyKernel } from './kernels/elementwise.ts';
import type { Activation as GemmActivation, Epilogue } from './kernels/epilogue.ts';

export type { Emitter } from './emitter.ts';

/** Inputs per elementwise add dispatch: inputs + one residual + out within 8 storage bindings. */
export const ADD_CHUNK = 5;

export const chunks = <T>(xs: readonly T[], n: number): readonly (readonly T[])[] =>
  Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, i * n + n));

/** A dispatch label: the fused ops and the node they were built at. */
export const labelOf = (head: Node, steps: readonly ChainStep[]): string =>
  `${[head.op.kind, ...steps.map((s) => s.node.op.kind)].join('+')} at ${head.name}`;

export const gemmEpilogue = (bias: boolean, steps: readonly ChainStep[]): Epilogue => {
  const act = steps.find((s) => s.step.kind === 'act');
  return {
    bias,
    activation: act !== undefined && act.step.kind === 'act' ? (act.step.act as GemmActivation) : 'none',
    residual: steps.some((s) => s.step.kind === 'add'),
  };
};

/**
 * How an elementwise kernel reads input `x` of `user`: flat, or repeated over the batch when `x` is unbatched and
 * `user` is not (a parameter gradient meeting an activation's, a parameter in `mul`).
 */
export const ewIndexOf = (x: Node, user: Node): EwIndex =>
  user.batched && !x.batched ? { kind: 'channel', channels: numel(x.shape), inner: 1 } : { kind: 'flat' };

/** Copies value `from` into `to` (`elements` floats per row; `rows` defaults to the batch). */
export const emitCopy = (e: Emitter, from: number, to: number, elements: number, label: string, group: Guard | undefined, rows = e.batch): void =>
  e.dispatch(copyKernel(label, rows * elements), [from, to], label, group);

/**
 * Combines a choice's inputs with the weights in `weights` (mixed mode; input choices of sampled mode):
 * a weighted sum (layer choices; input choices with 'sum'/'mean') or slots (input choices with 'concat'/'none').
 */
export const emitWeighted = (e: Emitter, node: Node, weights: number, out: number, group: Guard | undefined): void => {
  const op = node.op;
  if (op.kind !== 'layerChoice' && op.kind !== 'inputChoice') return;
  const ins = node.inputs.map(e.valueOf);
  const count = ins.length;
  const label = `${op.kind} '${op.key}' at ${node.name}`;
  const parts = chunks(ins, CHOICE_CHUNK);
  const slots = op.kind === 'inputChoice' && (op.reduction === 'concat' || op.reduction === 'none');
  parts.forEach((part, i) => {
    const l = parts.length > 1 ? `${label} (part ${i + 1}/${parts.length})` : label;
    const offset = i * CHOICE_CHUNK;
    const kernel =
      slots && op.kind === 'inputChoice'
        ? slotKernel({
            label: l,
            batch: e.batch,
            per: numel(node.inputs[0]!.shape),
            slots: op.reduction === 'concat' ? op.nChosen ?? 1 : 1,
            slotBase: op.reduction === 'none' ? op.position : 0,
            m: part.length,
            offset,
            count,
            first: i === 0,
          })
        : weightedSumChunkKernel({
            label: l,
            n: e.batch * numel(node.shape),
            periods: part.map(() => undefined),
            offset,
            accumulate: i > 0,
            ...(op.kind === 'inputChoice' && op.reduction === 'mean' && i === parts.length - 1 ? { mean: { count } } : {}),
          });
    e.dispatch(kernel, [weights, ...part, out], l, group);
  });
};
