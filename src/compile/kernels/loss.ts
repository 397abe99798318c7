/**
 * Softmax cross-entropy over logits [batch, K] with class-index labels (stored as f32), optionally label-smoothed
 * (PyTorch's `label_smoothing`: target (1 − ε)·onehot + ε/K), mean over the batch; and its gradient.
 *
 * Labels are trusted here: the runtime's data layer checks them. An out-of-range label is clamped into 0..K−1
 * rather than read out of bounds.
 */
import type { Kernel } from '../kernel.ts';
import { type RowReduce, rowReduceKernels } from './reduce.ts';
import { elementwiseModule, f32, u32 } from './wgsl.ts';

export interface CrossEntropySpec {
  readonly label: string;
  readonly batch: number;
  /** Classes. */
  readonly classes: number;
  readonly labelSmoothing: number;
}

/** WGSL computing `lse` (log Σ exp) of row `n` of the logits, its label `l`, and `base`, the row's offset. */
const rowStats = (s: CrossEntropySpec, n: string): string => `let base = ${n} * ${u32(s.classes)};
    var mx = logits[base];
    for (var c = 1u; c < ${u32(s.classes)}; c++) { mx = nan_max(mx, logits[base + c]); }
    var se = 0.0;
    for (var c = 0u; c < ${u32(s.classes)}; c++) { se = se + exp(logits[base + c] - mx); }
    let lse = mx + log(se);
    let l = u32(clamp(labels[${n}], 0.0, ${f32(s.classes - 1)}));`;

/**
 * The mean loss as a tree reduction over the batch. Bindings: logits, labels, out (one f32)[, partials].
 *
 * @example
 * crossEntropyKernels({ label: 'loss', batch: 64, classes: 10, labelSmoothing: 0.1 });
 */
export const crossEntropyKernels = (s: CrossEntropySpec): RowReduce => {
  const e = s.labelSmoothing;
  const smooth =
    e === 0
      ? ''
      : `var sz = 0.0;
    for (var c = 0u; c < ${u32(s.classes)}; c++) { sz = sz + logits[base + c]; }
    rowLoss = ${f32(1 - e)} * rowLoss + ${f32(e)} * lse - ${f32(e / s.classes)} * sz;`;
  return rowReduceKernels({
    label: s.label,
    rows: 1,
    length: s.batch,
    bindings: [
      { name: 'logits', access: 'read' },
      { name: 'labels', access: 'read' },
      { name: 'out', access: 'read_write' },
    ],
    prelude: `${rowStats(s, 'k')}
    var rowLoss = lse - logits[base + l];
    ${smooth}`,
    terms: ['rowLoss'],
    finish: `out[0] = s0 * ${f32(1 / s.batch)};`,
  });
};

/**
 * dLoss·(softmax(z) − target)/batch, one invocation per sample. Bindings: logits, labels, dloss, out.
 */
export const crossEntropyGradKernel = (s: CrossEntropySpec): Kernel =>
  elementwiseModule({
    label: s.label,
    bindings: [
      { name: 'logits', access: 'read' },
      { name: 'labels', access: 'read' },
      { name: 'dloss', access: 'read' },
      { name: 'out', access: 'read_write' },
    ],
    n: s.batch,
    body: `${rowStats(s, 'i')}
  let g = dloss[0] * ${f32(1 / s.batch)};
  for (var c = 0u; c < ${u32(s.classes)}; c++) {
    let t = select(0.0, ${f32(1 - s.labelSmoothing)}, c == l) + ${f32(s.labelSmoothing / s.classes)};
    out[base + c] = g * (exp(logits[base + c] - lse) - t);
  }`,
  });
