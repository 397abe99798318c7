/**
 * Pooling kernels, one thread per output element: max and average pooling (PyTorch's floor mode, padding,
 * `count_include_pad`), global average pooling and adaptive average pooling (PyTorch's bin edges).
 */
import type { Pair } from '../../ir/shape.ts';
import type { Kernel } from '../kernel.ts';
import { type EpilogueStep, epilogueStmt } from './elementwise.ts';
import { elementwiseModule, u32 } from './wgsl.ts';

export interface PoolGeometry {
  readonly label: string;
  readonly batch: number;
  readonly channels: number;
  readonly inH: number;
  readonly inW: number;
  readonly outH: number;
  readonly outW: number;
}

const io = [
  { name: 'x', access: 'read' },
  { name: 'out', access: 'read_write' },
] as const;

const decompose = (g: PoolGeometry): string => `let ox = i % ${u32(g.outW)};
  let oy = (i / ${u32(g.outW)}) % ${u32(g.outH)};
  let bc = i / ${u32(g.outW * g.outH)};
  let base = bc * ${u32(g.inH * g.inW)};`;

const finish = (epilogue: readonly EpilogueStep[] | undefined): string =>
  `${(epilogue ?? []).map((s) => epilogueStmt(s, '')).join('\n  ')}
  out[i] = r;`;

export type WindowPool =
  | { readonly kind: 'max' }
  | { readonly kind: 'avg'; readonly countIncludePad: boolean };

/**
 * Max or average pooling over `kernel` windows. Max propagates NaN (as PyTorch); padded cells are ignored by
 * max and count for average only when `countIncludePad` (PyTorch clips the divisor to the padded input).
 *
 * @example
 * windowPoolKernel({ label: 'maxPool2d at pool', batch: 1, channels: 3, inH: 8, inW: 8, outH: 4, outW: 4 },
 *   { kind: 'max' }, [2, 2], [2, 2], [0, 0]);
 */
export const windowPoolKernel = (
  g: PoolGeometry,
  pool: WindowPool,
  kernel: Pair,
  stride: Pair,
  padding: Pair,
  epilogue?: readonly EpilogueStep[],
): Kernel => {
  const [kh, kw] = kernel;
  const [sh, sw] = stride;
  const [ph, pw] = padding;
  const start = `let y0 = i32(oy) * ${sh} - ${ph};
  let x0 = i32(ox) * ${sw} - ${pw};`;
  const loop = (inner: string): string => `for (var ky = 0; ky < ${kh}; ky++) {
    let y = y0 + ky;
    if (y < 0 || y >= ${g.inH}) { continue; }
    for (var kx = 0; kx < ${kw}; kx++) {
      let xx = x0 + kx;
      if (xx < 0 || xx >= ${g.inW}) { continue; }
      let v = x[base + u32(y) * ${u32(g.inW)} + u32(xx)];
      ${inner}
    }
  }`;
  let body: string;
  if (pool.kind === 'max') {
    body = `${start}
  // Start from the first cell in the window (there is one: padding ≤ kernel/2); WGSL has no -inf constant.
  var m = 0.0;
  var first = true;
  ${loop('if (first) { m = v; first = false; } else { m = nan_max(m, v); }')}
  var r: f32 = m;`;
  } else {
    // PyTorch: with count_include_pad the divisor is the window clipped to the padded input, else the valid cells.
    const divisor = pool.countIncludePad
      ? `f32((min(y0 + ${kh}, ${g.inH + ph}) - y0) * (min(x0 + ${kw}, ${g.inW + pw}) - x0))`
      : `f32((min(y0 + ${kh}, ${g.inH}) - max(y0, 0)) * (min(x0 + ${kw}, ${g.inW}) - max(x0, 0)))`;
    body = `${start}
  var s = 0.0;
  ${loop('s = s + v;')}
  var r: f32 = s / ${divisor};`;
  }
  return elementwiseModule({
    label: g.label,
    bindings: io,
    n: g.batch * g.channels * g.outH * g.outW,
    body: `${decompose(g)}
  ${body}
  ${finish(epilogue)}`,
  });
};

/**
 * Adaptive average pooling (PyTorch's bins: start = ⌊i·in/out⌋, end = ⌈(i+1)·in/out⌉). Global average pooling
 * is the 1×1 case.
 */
export const adaptiveAvgPoolKernel = (g: PoolGeometry, epilogue?: readonly EpilogueStep[]): Kernel =>
  elementwiseModule({
    label: g.label,
    bindings: io,
    n: g.batch * g.channels * g.outH * g.outW,
    body: `${decompose(g)}
  let ys = (oy * ${u32(g.inH)}) / ${u32(g.outH)};
  let ye = ((oy + 1u) * ${u32(g.inH)} + ${u32(g.outH - 1)}) / ${u32(g.outH)};
  let xs = (ox * ${u32(g.inW)}) / ${u32(g.outW)};
  let xe = ((ox + 1u) * ${u32(g.inW)} + ${u32(g.outW - 1)}) / ${u32(g.outW)};
  var s = 0.0;
  for (var y = ys; y < ye; y++) {
    for (var xx = xs; xx < xe; xx++) { s = s + x[base + y * ${u32(g.inW)} + xx]; }
  }
  var r: f32 = s / f32((ye - ys) * (xe - xs));
  ${finish(epilogue)}`,
  });
