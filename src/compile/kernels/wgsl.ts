/**
 * Shared WGSL snippets: number formatting, NaN-safe helpers, activation expressions and the flat-index
 * prologue of one-thread-per-element kernels (2-D dispatch so large tensors stay under 65535 groups per axis).
 */
import { type Binding, type Kernel, MAX_WORKGROUPS_PER_DIM } from '../kernel.ts';

/**
 * A WGSL f32 literal. WGSL cannot express NaN or ±Inf as constants (even a folded bitcast is rejected), so a
 * non-finite value is a programming error of the caller (the IR rejects non-finite attributes).
 */
export const f32 = (x: number): string => {
  if (!Number.isFinite(x)) throw new Error(`f32: WGSL has no constant for ${x}`);
  const s = Math.fround(x).toPrecision(9);
  return /[.eE]/.test(s) ? `f32(${s})` : `f32(${s}.0)`;
};

/** A WGSL u32 literal. */
export const u32 = (x: number): string => `${Math.trunc(x)}u`;

/**
 * Helpers every kernel may use. `is_nan` tests bits, because shader compilers may fold `x != x` to false;
 * `nan_max` propagates NaN as PyTorch does (`max` in WGSL is unspecified on NaN).
 */
export const HELPERS = /* wgsl */ `
fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn nan_max(a: f32, b: f32) -> f32 { if (is_nan(a) || is_nan(b)) { return a + b; } return max(a, b); }
fn nan_min(a: f32, b: f32) -> f32 { if (is_nan(a) || is_nan(b)) { return a + b; } return min(a, b); }
`;

/** Elementwise activations that can close an epilogue. */
export type Activation = 'relu' | 'relu6' | 'sigmoid' | 'tanh' | 'gelu';

/** WGSL for `act(v)`, NaN-preserving (a NaN input gives NaN, as PyTorch). */
export const activationExpr = (act: Activation, v: string): string => {
  switch (act) {
    case 'relu':
      return `select(0.0, ${v}, ${v} > 0.0 || is_nan(${v}))`;
    case 'relu6':
      return `select(clamp(${v}, 0.0, 6.0), ${v}, is_nan(${v}))`;
    case 'sigmoid':
      // Split by sign so that exp never overflows.
      return `select(exp(${v}) / (1.0 + exp(${v})), 1.0 / (1.0 + exp(-${v})), ${v} >= 0.0)`;
    case 'tanh':
      // WGSL's tanh may be NaN for large |x| on some drivers (exp overflow); clamp first: tanh(±15) = ±1 in f32.
      return `select(tanh(clamp(${v}, -15.0, 15.0)), ${v}, is_nan(${v}))`;
    case 'gelu':
      // PyTorch's exact GELU: x·Φ(x), with erf from Abramowitz–Stegun 7.1.26 refined (|err| < 1.5e-7).
      return `gelu_exact(${v})`;
  }
};

/** Support functions an activation needs (append once to a module using `activationExpr`). */
export const ACTIVATION_HELPERS = /* wgsl */ `
fn erf_approx(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return select(-y, y, x >= 0.0);
}
fn gelu_exact(x: f32) -> f32 { return 0.5 * x * (1.0 + erf_approx(x * 0.7071067811865476)); }
`;

export const WORKGROUP_SIZE = 64;

/** Workgroups for `n` threads of `size` each, folded into two axes when one would exceed the limit. */
export const gridFor = (n: number, size = WORKGROUP_SIZE): readonly [number, number, number] => {
  const groups = Math.max(1, Math.ceil(n / size));
  if (groups <= MAX_WORKGROUPS_PER_DIM) return [groups, 1, 1];
  const y = Math.ceil(groups / MAX_WORKGROUPS_PER_DIM);
  return [Math.ceil(groups / y), y, 1];
};

/** The thread's flat index `i` for a grid from `gridFor(n)`; returns early past `n`. */
export const flatIndexPrologue = (n: number, grid: readonly [number, number, number], size = WORKGROUP_SIZE): string => `
  let i = (wid.y * ${u32(grid[0])} + wid.x) * ${u32(size)} + lid.x;
  if (i >= ${u32(n)}) { return; }`;

/** WGSL declarations of a kernel's bindings (group 0, in order), as `array<f32>` storage or uniforms. */
export const bindingDecls = (bindings: readonly Binding[]): string =>
  bindings
    .map((b, i) =>
      b.access === 'uniform'
        ? `@group(0) @binding(${i}) var<uniform> ${b.name}: array<vec4<f32>, 1>;`
        : `@group(0) @binding(${i}) var<storage, ${b.access === 'read' ? 'read' : 'read_write'}> ${b.name}: array<f32>;`,
    )
    .join('\n');

/**
 * A one-thread-per-element kernel over `n` elements: `body` sees `i` (the flat index) and writes the output.
 *
 * @example
 * elementwiseModule({ label: 'relu at a', bindings: [{ name: 'x', access: 'read' }, { name: 'out', access: 'read_write' }],
 *   n: 1024, body: 'out[i] = max(x[i], 0.0);' });
 */
export const elementwiseModule = (o: {
  readonly label: string;
  readonly bindings: readonly Binding[];
  readonly n: number;
  readonly body: string;
  readonly extra?: string;
}): Kernel => {
  const grid = gridFor(o.n);
  const wgsl = `${HELPERS}${ACTIVATION_HELPERS}${o.extra ?? ''}
${bindingDecls(o.bindings)}

@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {${flatIndexPrologue(o.n, grid)}
  ${o.body}
}
`;
  return { label: o.label, wgsl, entryPoint: 'main', bindings: o.bindings, workgroups: grid };
};
