/**
 * BatchNorm2d in inference form: `(x − running_mean) / √(running_var + eps) · weight + bias`, per channel,
 * as an elementwise kernel (so activations and residual adds fuse into it).
 */
import type { Kernel } from '../kernel.ts';
import { type EpilogueStep, ewKernel } from './elementwise.ts';
import { f32 } from './wgsl.ts';

export interface BatchNormSpec {
  readonly label: string;
  readonly batch: number;
  readonly channels: number;
  /** H·W. */
  readonly inner: number;
  readonly eps: number;
  readonly affine: boolean;
  readonly epilogue?: readonly EpilogueStep[];
}

/**
 * Bindings: x, running_mean, running_var, (weight, bias when affine), residuals…, out.
 *
 * @example
 * batchNormKernel({ label: 'batchNorm2d at bn1', batch: 2, channels: 8, inner: 16, eps: 1e-5, affine: true });
 */
export const batchNormKernel = (s: BatchNormSpec): Kernel => {
  const ch = { kind: 'channel', channels: s.channels, inner: s.inner } as const;
  const norm = `(v0 - v1) / sqrt(v2 + ${f32(s.eps)})`;
  return ewKernel({
    label: s.label,
    n: s.batch * s.channels * s.inner,
    inputs: s.affine ? [{ kind: 'flat' }, ch, ch, ch, ch] : [{ kind: 'flat' }, ch, ch],
    expr: s.affine ? `${norm} * v3 + v4` : norm,
    ...(s.epilogue === undefined ? {} : { epilogue: s.epilogue }),
  });
};
