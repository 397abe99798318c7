/**
 * Reductions as workgroup trees (no atomics, so results are deterministic run to run): the sums over the batch
 * (bias gradients, ∂L/∂w of mixed choices), BatchNorm's batch statistics and their gradients, the mean loss.
 *
 * `rowReduceKernels` sums, for each of `rows` rows, one or more terms over `length` indices k. Each workgroup
 * reduces a chunk of one row: its invocations stride over the chunk, then halve a workgroup array. A row whose
 * sum is long (or few rows, which would leave most cores idle) is split into `parts` chunks; a second kernel
 * adds the parts, one invocation per row. `finish` turns the row's sums into outputs (a mean, a running
 * statistic, a scaled loss) in whichever kernel holds the complete sums.
 */
import type { Binding, Kernel } from '../kernel.ts';
import { HELPERS, bindingDecls, gridFor } from './wgsl.ts';
import { foldWorkgroups, linearWorkgroupWgsl, u } from './tiles.ts';

const WG = 64;

export interface RowReduceSpec {
  readonly label: string;
  readonly rows: number;
  /** Indices k summed per row. */
  readonly length: number;
  /** The bindings `prelude`, `terms` and `finish` use (inputs and outputs), in binding order. */
  readonly bindings: readonly Binding[];
  /** WGSL statements run once per row before summing; they see `r: u32`. */
  readonly rowPrelude?: string;
  /** WGSL statements run per index; they see `r` and `k: u32`. */
  readonly prelude: string;
  /** f32 expressions summed over k (after `prelude`). */
  readonly terms: readonly string[];
  /** WGSL statements writing the row's outputs from its sums `s0, s1, …` (and `r`, and `rowPrelude`'s lets). */
  readonly finish: string;
  /** Extra module-scope WGSL (helper functions). */
  readonly extra?: string;
}

/** The kernels of a row reduction and the partial-sums scratch they need (0 bytes: none). */
export interface RowReduce {
  /** One kernel, or two (the parts, then their sum); the scratch binding comes last in both. */
  readonly kernels: readonly Kernel[];
  readonly scratchBytes: number;
}

/**
 * The one workgroup tree reduction (WGSL): `red` holds `T` interleaved sums per invocation of a workgroup of `wg`
 * (a power of two); after it, `red[0…T−1]` hold the workgroup's totals. Every invocation must reach it (barriers).
 * Row reductions, the loss, BatchNorm's statistics and the optimizer's gradient norm all sum through it.
 *
 * @example
 * `red[lid.x] = acc;\n  workgroupBarrier();\n  ${workgroupTreeWgsl(256)}\n  if (lid.x == 0u) { out[0] = red[0]; }`
 */
export const workgroupTreeWgsl = (wg: number, T = 1): string => {
  const tree = Array.from({ length: T }, (_, t) => `red[lid.x * ${u(T)} + ${u(t)}] = red[lid.x * ${u(T)} + ${u(t)}] + red[(lid.x + step) * ${u(T)} + ${u(t)}];`).join(' ');
  return `for (var step = ${u(wg / 2)}; step > 0u; step = step / 2u) {
    if (lid.x < step) { ${tree} }
    workgroupBarrier();
  }`;
};

/** How many chunks a row is split into: enough workgroups to occupy a machine, chunks of at least ~2K terms. */
export const partsFor = (rows: number, length: number): number =>
  Math.max(1, Math.min(Math.ceil(length / 2048), Math.ceil(64 / rows), 256));

/**
 * The kernels reducing `s.rows` rows of `s.length` terms. Bindings of each kernel: `s.bindings`, then (with more
 * than one part) the partials scratch.
 *
 * @example
 * // Σ over the batch and H·W of x[n, c, ·], per channel c:
 * rowReduceKernels({ label: 'sumBatch', rows: C, length: B * HW, bindings: [x, out],
 *   prelude: 'let idx = (k / HW) * (C * HW) + r * HW + k % HW;', terms: ['x[idx]'], finish: 'out[r] = s0;' });
 */
export const rowReduceKernels = (s: RowReduceSpec): RowReduce => {
  const T = s.terms.length;
  const P = partsFor(s.rows, s.length);
  const chunk = Math.ceil(s.length / P);
  const total = s.rows * P;
  const workgroups = foldWorkgroups(total);
  const partial: Binding = { name: 'partial', access: P > 1 ? 'read_write' : 'read' };
  const bindings = P > 1 ? [...s.bindings, partial] : s.bindings;
  const sums = Array.from({ length: T }, (_, t) => `s${t}`);
  const store =
    P > 1
      ? sums.map((_, t) => `partial[wid * ${u(T)} + ${u(t)}] = red[${u(t)}];`).join('\n    ')
      : `${sums.map((x, t) => `let ${x} = red[${u(t)}];`).join(' ')}\n    ${s.finish}`;
  const stage1 = `${HELPERS}${s.extra ?? ''}
${bindingDecls(bindings)}
var<workgroup> red: array<f32, ${WG * T}>;

// row reduction: ${s.rows} rows x ${s.length} terms in ${P} part(s)
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${linearWorkgroupWgsl(workgroups, total)}  let r = wid / ${u(P)};
  let k0 = (wid % ${u(P)}) * ${u(chunk)};
  let k1 = min(k0 + ${u(chunk)}, ${u(s.length)});
  ${s.rowPrelude ?? ''}
  ${sums.map((x) => `var ${x} = 0.0;`).join(' ')}
  for (var k = k0 + lid.x; k < k1; k = k + ${u(WG)}) {
    ${s.prelude}
    ${sums.map((x, t) => `${x} = ${x} + ${s.terms[t]};`).join('\n    ')}
  }
  ${sums.map((x, t) => `red[lid.x * ${u(T)} + ${u(t)}] = ${x};`).join(' ')}
  workgroupBarrier();
  ${workgroupTreeWgsl(WG, T)}
  if (lid.x == 0u) {
    ${store}
  }
}
`;
  const k1: Kernel = { label: P > 1 ? `${s.label} (parts)` : s.label, wgsl: stage1, entryPoint: 'main', bindings, workgroups };
  if (P === 1) return { kernels: [k1], scratchBytes: 0 };
  const b2 = [...s.bindings, { name: 'partial', access: 'read' } as const];
  const grid = gridFor(s.rows);
  const stage2 = `${HELPERS}${s.extra ?? ''}
${bindingDecls(b2)}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let r = (wg.y * ${u(grid[0])} + wg.x) * ${u(WG)} + lid.x;
  if (r >= ${u(s.rows)}) { return; }
  ${s.rowPrelude ?? ''}
  ${sums.map((x) => `var ${x} = 0.0;`).join(' ')}
  for (var p = 0u; p < ${u(P)}; p = p + 1u) {
    ${sums.map((x, t) => `${x} = ${x} + partial[(r * ${u(P)} + p) * ${u(T)} + ${u(t)}];`).join('\n    ')}
  }
  ${s.finish}
}
`;
  const k2: Kernel = { label: `${s.label} (sum of parts)`, wgsl: stage2, entryPoint: 'main', bindings: b2, workgroups: grid };
  return { kernels: [k1, k2], scratchBytes: total * T * 4 };
};

/**
 * `out[i] = Σ_p x[p·n + i]` for i < n: a sum of `parts` stacked arrays, one invocation per output (short sums:
 * the batch of a bias gradient, the split-K parts of a GEMM). Bindings: x, out.
 *
 * @example
 * sumPartsKernel({ label: 'sumBatch at fc', n: 128, parts: 64 }); // Σ over 64 samples of a [128] gradient
 */
export const sumPartsKernel = (o: { readonly label: string; readonly n: number; readonly parts: number }): Kernel => {
  const bindings = [
    { name: 'x', access: 'read' },
    { name: 'out', access: 'read_write' },
  ] as const;
  const grid = gridFor(o.n);
  const wgsl = `${bindingDecls(bindings)}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wg.y * ${u(grid[0])} + wg.x) * ${u(WG)} + lid.x;
  if (i >= ${u(o.n)}) { return; }
  var s = 0.0;
  for (var p = 0u; p < ${u(o.parts)}; p = p + 1u) { s = s + x[p * ${u(o.n)} + i]; }
  out[i] = s;
}
`;
  return { label: o.label, wgsl, entryPoint: 'main', bindings, workgroups: grid };
};
