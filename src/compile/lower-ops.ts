/**
 * Per-op kernel emission for the lowering: given a node (or a fusion chain headed by it), the logical values
 * of its operands and of its result, append the dispatches that compute it.
 */
import type { Node } from '../ir/node.ts';
import type { Op } from '../ir/ops.ts';
import { numel } from '../ir/shape.ts';
import type { Kernel } from './kernel.ts';
import type { ChainStep } from './fuse.ts';
import type { Guard } from './program.ts';
import { CHOICE_CHUNK, slotKernel, weightedSumKernel } from './kernels/choice.ts';
import { type EpilogueStep, type EwIndex, addExpr, concatSliceKernel, copyKernel, epilogueName, ewKernel, zeroKernel } from './kernels/elementwise.ts';
import type { Activation as GemmActivation, Epilogue } from './kernels/epilogue.ts';
import { conv2dKernel } from './kernels/conv2d.ts';
import { matmulKernel } from './kernels/matmul.ts';
import { batchNormKernel } from './kernels/norm.ts';
import { adaptiveAvgPoolKernel, windowPoolKernel } from './kernels/pool.ts';
import { softmaxKernel } from './kernels/softmax.ts';
import type { TileConfig } from './kernels/tiles.ts';

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

/** Inputs per elementwise add dispatch: inputs + one residual + out within 8 storage bindings. */
const ADD_CHUNK = 5;

const chunks = <T>(xs: readonly T[], n: number): readonly (readonly T[])[] =>
  Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, i * n + n));

/** A dispatch label: the fused ops and the node they were built at. */
export const labelOf = (head: Node, steps: readonly ChainStep[]): string =>
  `${[head.op.kind, ...steps.map((s) => s.node.op.kind)].join('+')} at ${head.name}`;

const gemmEpilogue = (bias: boolean, steps: readonly ChainStep[]): Epilogue => {
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

const ownStep = (op: Op): EpilogueStep | undefined => {
  switch (op.kind) {
    case 'relu':
    case 'relu6':
    case 'sigmoid':
    case 'tanh':
    case 'gelu':
      return { kind: 'act', act: op.kind };
    case 'scale':
      return { kind: 'scale', factor: op.factor };
    default:
      return undefined;
  }
};

/**
 * Emits the kernel of `head` with the fused `steps`, writing value `out`. Returns false when `head` is not an
 * op with a compute kernel of its own (views, choices, leaves).
 */
export const emitCompute = (e: Emitter, head: Node, steps: readonly ChainStep[], out: number, group: Guard | undefined): boolean => {
  const op = head.op;
  const B = e.batch;
  const label = labelOf(head, steps);
  // The GEMM generators write their label into the WGSL; a node-free label keeps equal shapes one kernel.
  const kernelLabel = [head.op.kind, ...steps.map((s) => s.node.op.kind)].join('+');
  const ins = head.inputs.map(e.valueOf);
  const res = steps.flatMap((s) => (s.residual === undefined ? [] : [e.valueOf(s.residual)]));
  const epi = steps.map((s) => s.step);
  const x = head.inputs[0];
  const R = e.rowsOf(head);
  switch (op.kind) {
    case 'conv2d': {
      const [c, h, w] = x!.shape as [number, number, number];
      const wt = head.inputs[1]!.shape;
      const kernel = conv2dKernel({
        label: kernelLabel, batch: B, cin: c, h, w, cout: wt[0]!, kh: wt[2]!, kw: wt[3]!,
        stride: op.stride, padding: op.padding, dilation: op.dilation, groups: op.groups,
        epilogue: gemmEpilogue(op.bias, steps), tile: e.tile,
      });
      e.dispatch(kernel, [...ins, ...res, out], label, group);
      return true;
    }
    case 'linear': {
      const kernel = matmulKernel({
        label: kernelLabel, M: B, N: head.shape[0]!, K: x!.shape[0]!, transB: true, epilogue: gemmEpilogue(op.bias, steps), tile: e.tile,
      });
      e.dispatch(kernel, [...ins, ...res, out], label, group);
      return true;
    }
    case 'batchNorm2d': {
      const [c] = x!.shape as [number];
      const kernel = batchNormKernel({ label, batch: B, channels: c, inner: numel(x!.shape) / c, eps: op.eps, affine: op.affine, epilogue: epi });
      e.dispatch(kernel, [...ins, ...res, out], label, group);
      return true;
    }
    case 'relu':
    case 'relu6':
    case 'sigmoid':
    case 'tanh':
    case 'gelu':
    case 'scale': {
      const kernel = ewKernel({ label, n: R * numel(head.shape), inputs: [ewIndexOf(x!, head)], expr: 'v0', epilogue: [ownStep(op)!, ...epi] });
      e.dispatch(kernel, [...ins, ...res, out], label, group);
      return true;
    }
    case 'mul': {
      const kernel = ewKernel({ label, n: R * numel(head.shape), inputs: head.inputs.map((i) => ewIndexOf(i, head)), expr: 'v0 * v1', epilogue: epi });
      e.dispatch(kernel, [...ins, ...res, out], label, group);
      return true;
    }
    case 'add': {
      const n = R * numel(head.shape);
      const kinds = head.inputs.map((i) => ewIndexOf(i, head));
      const parts = chunks(ins, ADD_CHUNK);
      parts.forEach((part, i) => {
        const last = i === parts.length - 1;
        const accumulate = i > 0;
        const kernel = ewKernel({
          label: parts.length > 1 ? `${label} (part ${i + 1}/${parts.length})` : label,
          n,
          inputs: part.map((_, j) => kinds[i * ADD_CHUNK + j]!),
          expr: addExpr(part.length, accumulate),
          accumulate,
          epilogue: last ? epi : [],
        });
        e.dispatch(kernel, [...part, ...(last ? res : []), out], kernel.label, group);
      });
      return true;
    }
    case 'maxPool2d':
    case 'avgPool2d':
    case 'globalAvgPool':
    case 'adaptiveAvgPool2d': {
      const [c, h, w] = x!.shape as [number, number, number];
      const [oh, ow] = op.kind === 'globalAvgPool' ? [1, 1] : [head.shape[1]!, head.shape[2]!];
      const g = { label, batch: B, channels: c, inH: h, inW: w, outH: oh, outW: ow };
      const kernel =
        op.kind === 'maxPool2d'
          ? windowPoolKernel(g, { kind: 'max' }, op.kernel, op.stride, op.padding, epi)
          : op.kind === 'avgPool2d'
            ? windowPoolKernel(g, { kind: 'avg', countIncludePad: op.countIncludePad }, op.kernel, op.stride, op.padding, epi)
            : adaptiveAvgPoolKernel(g, epi);
      e.dispatch(kernel, [ins[0]!, out], label, group);
      return true;
    }
    case 'zero': {
      e.dispatch(zeroKernel(label, R * numel(head.shape)), [out], label, group);
      return true;
    }
    case 'concat': {
      const total = head.shape[0]!;
      const inner = numel(head.shape) / total;
      let offset = 0;
      head.inputs.forEach((inp, j) => {
        const c = inp.shape[0]!;
        const l = `${label} (input ${j})`;
        e.dispatch(concatSliceKernel(l, R, c, inner, total, offset), [ins[j]!, out], l, group);
        offset += c;
      });
      return true;
    }
    case 'softmax':
    case 'logSoftmax': {
      const c = head.shape[0]!;
      const kernel = softmaxKernel({ label, batch: R, channels: c, inner: numel(head.shape) / c, log: op.kind === 'logSoftmax' });
      e.dispatch(kernel, [ins[0]!, out], label, group);
      return true;
    }
    default:
      return false;
  }
};

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
        : weightedSumKernel({
            label: l,
            n: e.batch * numel(node.shape),
            m: part.length,
            offset,
            count,
            accumulate: i > 0,
            mean: op.kind === 'inputChoice' && op.reduction === 'mean' && i === parts.length - 1,
          });
    e.dispatch(kernel, [weights, ...part, out], l, group);
  });
};
