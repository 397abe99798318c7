/**
 * Kernels of mixed (DARTS-relaxed) graphs: `weightedSum` (Σ wᵢ·cᵢ over run-time weights), `weightedScale`
 * (w[index]·x, the gradient reaching a candidate) and `weightedSumGrad` (∂L/∂wᵢ = Σ dy·cᵢ over the batch and every
 * element, as a tree reduction).
 *
 * A candidate of weight exactly 0 is skipped by `weightedSum` (NaN or garbage in it does not leak), as the
 * reference interpreter, which never computes it.
 */
import type { Binding, Kernel } from '../kernel.ts';
import { type RowReduce, rowReduceKernels } from './reduce.ts';
import { elementwiseModule, u32 } from './wgsl.ts';

/** Candidates per weightedSum dispatch: w + 6 inputs + out = 8 storage bindings (WebGPU's default limit). */
export const MIX_CHUNK = 6;
/** Candidates per weightedSumGrad reduction: dy + 5 + out + partials = 8 bindings. */
export const MIX_GRAD_CHUNK = 5;

/** How input j is read at flat output index `i`: elementwise, or repeated every `period` (unbatched values). */
const at = (period: number | undefined, i: string): string => (period === undefined ? i : `${i} % ${u32(period)}`);

export interface WeightedSumChunk {
  readonly label: string;
  /** Elements of the output. */
  readonly n: number;
  /** For each candidate of this chunk: undefined (same layout as the output) or its period (unbatched). */
  readonly periods: readonly (number | undefined)[];
  /** Index of this chunk's first candidate among the weights. */
  readonly offset: number;
  readonly accumulate: boolean;
  /**
   * On the last chunk of an input choice's 'mean': divide by Σ w over the key's `count` weights when non-zero
   * (the weighted mean Σ wᵢxᵢ / Σ wᵢ, the reference's; no weight at all leaves the zero sum).
   */
  readonly mean?: { readonly count: number };
}

/**
 * out (+)= Σ_{wⱼ ≠ 0} wⱼ·xⱼ over this chunk's candidates (optionally divided by Σ w): the one mixed-relaxation
 * kernel, for choices lowered in mixed mode (and input choices of sampled mode) as for the `weightedSum` of a
 * training step. Bindings: w, x0…, out.
 *
 * @example
 * weightedSumChunkKernel({ label: 'weightedSum at cell0', n: 512, periods: [undefined, undefined], offset: 0, accumulate: false });
 */
export const weightedSumChunkKernel = (s: WeightedSumChunk): Kernel => {
  const bindings: Binding[] = [
    { name: 'w', access: 'read' },
    ...s.periods.map((_, j) => ({ name: `x${j}`, access: 'read' as const })),
    { name: 'out', access: 'read_write' },
  ];
  const terms = s.periods.map((p, j) => `  { let wj = w[${u32(s.offset + j)}]; if (wj != 0.0) { r = r + wj * x${j}[${at(p, 'i')}]; } }`).join('\n');
  const mean =
    s.mean === undefined
      ? ''
      : `\n  var tot = 0.0;
  for (var j = 0u; j < ${u32(s.mean.count)}; j++) { tot = tot + w[j]; }
  r = r / select(1.0, tot, tot != 0.0);`;
  return elementwiseModule({ label: s.label, bindings, n: s.n, body: `var r: f32 = ${s.accumulate ? 'out[i]' : '0.0'};\n${terms}${mean}\n  out[i] = r;` });
};

/** out = w[index]·x over `n` elements. Bindings: w, x, out. */
export const weightedScaleKernel = (o: { readonly label: string; readonly n: number; readonly index: number; readonly period?: number }): Kernel =>
  elementwiseModule({
    label: o.label,
    bindings: [
      { name: 'w', access: 'read' },
      { name: 'x', access: 'read' },
      { name: 'out', access: 'read_write' },
    ],
    n: o.n,
    body: `out[i] = w[${u32(o.index)}] * x[${at(o.period, 'i')}];`,
  });

export interface WeightedSumGradChunk {
  readonly label: string;
  /** Elements of dy (summed over). */
  readonly length: number;
  readonly periods: readonly (number | undefined)[];
  /** Index of this chunk's first candidate among the outputs. */
  readonly offset: number;
}

/**
 * out[offset + r] = Σ_k dy[k]·x_r[k] for this chunk's candidates r. Bindings: dy, x0…, out[, partials].
 */
export const weightedSumGradKernels = (s: WeightedSumGradChunk): RowReduce => {
  const cases = s.periods.map((p, j) => `case ${u32(j)}: { cv = x${j}[${at(p, 'k')}]; }`).join(' ');
  return rowReduceKernels({
    label: s.label,
    rows: s.periods.length,
    length: s.length,
    bindings: [
      { name: 'dy', access: 'read' },
      ...s.periods.map((_, j) => ({ name: `x${j}`, access: 'read' as const })),
      { name: 'out', access: 'read_write' },
    ],
    prelude: `var cv = 0.0;\n    switch r { ${cases} default: {} }`,
    terms: ['dy[k] * cv'],
    finish: `out[${u32(s.offset)} + r] = s0;`,
  });
};
