/**
 * Softmax and log-softmax over the first per-sample axis (PyTorch's dim=1): one workgroup per row
 * (a (sample, spatial position) pair), with workgroup-tree reductions for the maximum and the sum.
 */
import type { Kernel } from '../kernel.ts';
import { HELPERS, bindingDecls, gridFor, u32 } from './wgsl.ts';

const WG = 64;

export interface SoftmaxSpec {
  readonly label: string;
  readonly batch: number;
  /** Length of the reduced axis. */
  readonly channels: number;
  /** Product of the axes after it (H·W; 1 for a flat vector). */
  readonly inner: number;
  readonly log: boolean;
}

/**
 * Bindings: x, out. NaN anywhere in a row makes the row NaN (as PyTorch).
 *
 * @example
 * softmaxKernel({ label: 'softmax at head', batch: 4, channels: 10, inner: 1, log: false });
 */
export const softmaxKernel = (s: SoftmaxSpec): Kernel => {
  const rows = s.batch * s.inner;
  const grid = gridFor(rows, 1);
  const bindings = [
    { name: 'x', access: 'read' },
    { name: 'out', access: 'read_write' },
  ] as const;
  const idx = `(row / ${u32(s.inner)}) * ${u32(s.channels * s.inner)} + row % ${u32(s.inner)} + c * ${u32(s.inner)}`;
  const reduce = (op: string): string => `for (var step = ${WG / 2}u; step > 0u; step = step / 2u) {
    if (lid.x < step) { red[lid.x] = ${op}(red[lid.x], red[lid.x + step]); }
    workgroupBarrier();
  }`;
  const wgsl = `${HELPERS}
${bindingDecls(bindings)}
var<workgroup> red: array<f32, ${WG}>;
fn add2(a: f32, b: f32) -> f32 { return a + b; }

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.y * ${u32(grid[0])} + wid.x;
  // Uniform control flow: every thread of a workgroup shares \`row\`, so the early return is uniform.
  if (row >= ${u32(rows)}) { return; }
  var m = x[(row / ${u32(s.inner)}) * ${u32(s.channels * s.inner)} + row % ${u32(s.inner)}]; // the row's first value (no -inf constant in WGSL)
  for (var c = lid.x; c < ${u32(s.channels)}; c += ${WG}u) { m = nan_max(m, x[${idx}]); }
  red[lid.x] = m;
  workgroupBarrier();
  ${reduce('nan_max')}
  let mx = red[0];
  workgroupBarrier();
  var sum = 0.0;
  for (var c = lid.x; c < ${u32(s.channels)}; c += ${WG}u) { sum += exp(x[${idx}] - mx); }
  red[lid.x] = sum;
  workgroupBarrier();
  ${reduce('add2')}
  let total = red[0];
  for (var c = lid.x; c < ${u32(s.channels)}; c += ${WG}u) {
    let d = x[${idx}] - mx;
    out[${idx}] = ${s.log ? 'd - log(total)' : 'exp(d) / total'};
  }
}
`;
  return { label: s.label, wgsl, entryPoint: 'main', bindings, workgroups: grid };
};
