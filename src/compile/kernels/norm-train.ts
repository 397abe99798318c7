/**
 * BatchNorm2d in training: batch statistics (with PyTorch's running-average update, in place), the normalising
 * pass, and the backward pass through the statistics.
 *
 * Statistics are one tree reduction per channel over (N, H, W). Sums of x − shift and (x − shift)², with shift
 * the channel's first value, keep the variance free of the cancellation that Σx² − (Σx)²/m suffers when the mean
 * is large against the spread (the "shifted data" algorithm), in one pass.
 */
import type { Binding, Kernel } from '../kernel.ts';
import { type EpilogueStep, ewKernel } from './elementwise.ts';
import { type RowReduce, rowReduceKernels } from './reduce.ts';
import { f32 } from './wgsl.ts';
import { u } from './tiles.ts';

export interface BatchNormTrainGeometry {
  readonly label: string;
  readonly batch: number;
  readonly channels: number;
  /** H·W. */
  readonly inner: number;
  readonly eps: number;
}

/** The flat index of term k of channel r: sample k / inner, position k % inner. */
const channelIndex = (g: BatchNormTrainGeometry): string =>
  `let idx = (k / ${u(g.inner)}) * ${u(g.channels * g.inner)} + r * ${u(g.inner)} + k % ${u(g.inner)};`;

/**
 * Per-channel batch mean and 1/√(biased variance + eps), and the running statistics updated in place:
 * running ← (1 − momentum)·running + momentum·batch statistic (unbiased variance), as PyTorch.
 * Bindings: x, running_mean (rw), running_var (rw), mean (out), inv_std (out)[, partials].
 *
 * @example
 * batchNormStatsKernels({ label: 'bn1', batch: 8, channels: 16, inner: 64, eps: 1e-5 }, 0.1);
 */
export const batchNormStatsKernels = (g: BatchNormTrainGeometry, momentum: number): RowReduce => {
  const m = g.batch * g.inner;
  const bindings: readonly Binding[] = [
    { name: 'x', access: 'read' },
    { name: 'running_mean', access: 'read_write' },
    { name: 'running_var', access: 'read_write' },
    { name: 'mean', access: 'read_write' },
    { name: 'inv_std', access: 'read_write' },
  ];
  return rowReduceKernels({
    label: `${g.label} (batch statistics)`,
    rows: g.channels,
    length: m,
    bindings,
    rowPrelude: `let shift = x[r * ${u(g.inner)}];`,
    prelude: `${channelIndex(g)}\n    let d = x[idx] - shift;`,
    terms: ['d', 'd * d'],
    finish: `let mu = s0 / ${f32(m)};
    let variance = max(s1 / ${f32(m)} - mu * mu, 0.0);
    mean[r] = shift + mu;
    inv_std[r] = 1.0 / sqrt(variance + ${f32(g.eps)});
    running_mean[r] = ${f32(1 - momentum)} * running_mean[r] + ${f32(momentum)} * (shift + mu);
    running_var[r] = ${f32(1 - momentum)} * running_var[r] + ${f32(momentum)} * variance * ${f32(m / Math.max(1, m - 1))};`,
  });
};

/**
 * y = (x − mean)·inv_std (·γ + β), with fused epilogue steps. Bindings: x, mean, inv_std[, weight, bias], residuals…, out.
 */
export const batchNormNormalizeKernel = (g: BatchNormTrainGeometry, affine: boolean, epilogue: readonly EpilogueStep[]): Kernel => {
  const ch = { kind: 'channel', channels: g.channels, inner: g.inner } as const;
  return ewKernel({
    label: g.label,
    n: g.batch * g.channels * g.inner,
    inputs: affine ? [{ kind: 'flat' }, ch, ch, ch, ch] : [{ kind: 'flat' }, ch, ch],
    expr: affine ? '(v0 - v1) * v2 * v3 + v4' : '(v0 - v1) * v2',
    epilogue,
  });
};

/**
 * Per channel: Σ dy and Σ dy·x̂ (x̂ = (x − mean)·inv_std), what ∂L/∂x, ∂L/∂γ and ∂L/∂β need.
 * Bindings: x, dy, mean, inv_std, sum_dy (out), sum_dy_xhat (out)[, partials].
 */
export const batchNormGradSumsKernels = (g: BatchNormTrainGeometry): RowReduce =>
  rowReduceKernels({
    label: `${g.label} (gradient sums)`,
    rows: g.channels,
    length: g.batch * g.inner,
    bindings: [
      { name: 'x', access: 'read' },
      { name: 'dy', access: 'read' },
      { name: 'mean', access: 'read' },
      { name: 'inv_std', access: 'read' },
      { name: 'sum_dy', access: 'read_write' },
      { name: 'sum_dy_xhat', access: 'read_write' },
    ],
    rowPrelude: 'let mu = mean[r];\n  let istd = inv_std[r];',
    prelude: `${channelIndex(g)}\n    let g = dy[idx];`,
    terms: ['g', 'g * (x[idx] - mu) * istd'],
    finish: 'sum_dy[r] = s0;\n    sum_dy_xhat[r] = s1;',
  });

/**
 * ∂L/∂x through the batch statistics: γ·inv_std/m·(m·dy − Σdy − x̂·Σdy·x̂), m = N·H·W.
 * Bindings: x, dy, mean, inv_std, sum_dy, sum_dy_xhat[, weight], out.
 */
export const batchNormGradInputKernel = (g: BatchNormTrainGeometry, affine: boolean): Kernel => {
  const ch = { kind: 'channel', channels: g.channels, inner: g.inner } as const;
  const m = g.batch * g.inner;
  const core = `(v1 * ${f32(m)} - v4 - (v0 - v2) * v3 * v5) * v3 * ${f32(1 / m)}`;
  return ewKernel({
    label: g.label,
    n: g.batch * g.channels * g.inner,
    inputs: [{ kind: 'flat' }, { kind: 'flat' }, ch, ch, ch, ch, ...(affine ? [ch] : [])],
    expr: affine ? `${core} * v6` : core,
  });
};
