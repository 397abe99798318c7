/**
 * Tile parameters of the GEMM-shaped kernels, defaults per kind of adapter, and workgroup-grid folding.
 *
 * Two machines want opposite things. On a software rasteriser (Mesa lavapipe: a few CPU cores, SIMD lanes
 * across invocations) only register blocking pays: many outputs per invocation, no barriers; workgroup-memory
 * tiles cost barriers and copies and buy nothing (measured: see BENCHMARKS.md). On a real GPU, workgroup
 * memory tiles cut global-memory traffic by the tile width and are the classic win. So both are options of
 * one generator, picked per adapter here (and optionally by a timed search, src/runtime/autotune.ts).
 */
import { MAX_WORKGROUPS_PER_DIM } from '../kernel.ts';

/**
 * The tiling of one GEMM-shaped kernel. An invocation computes `rows × cols` outputs (`cols` a multiple of 4:
 * accumulators are vec4); a workgroup has `wgX × wgY` invocations (x along columns), so it covers
 * `rows·wgY × cols·wgX` outputs. With `shared`, the workgroup first stages `rows·wgY × kTile` of A and
 * `kTile × cols·wgX` of B in workgroup memory.
 */
export interface TileConfig {
  readonly rows: number;
  readonly cols: number;
  readonly wgX: number;
  readonly wgY: number;
  readonly shared: boolean;
  /** K extent of a workgroup-memory tile (ignored unless `shared`). */
  readonly kTile: number;
}

/** What kind of adapter runs the kernels: a CPU implementation of WebGPU (lavapipe, SwiftShader, WARP) or a GPU. */
export type AdapterKind = 'software' | 'gpu';

/** lavapipe: 8×8 per invocation, 8×8 invocations (64×64 outputs per workgroup), no workgroup memory. */
export const softwareTile: TileConfig = { rows: 8, cols: 8, wgX: 8, wgY: 8, shared: false, kTile: 16 };

/** GPUs: tfjs-style 64×64 workgroup tiles staged in workgroup memory, 4×4 per invocation, 16×16 invocations. */
export const gpuTile: TileConfig = { rows: 4, cols: 4, wgX: 16, wgY: 16, shared: true, kTile: 16 };

/**
 * The default tile for an adapter kind.
 *
 * @example
 * defaultTile('software') // { rows: 8, cols: 8, wgX: 8, wgY: 8, shared: false, kTile: 16 }
 */
export const defaultTile = (kind: AdapterKind): TileConfig => {
  switch (kind) {
    case 'software':
      return softwareTile;
    case 'gpu':
      return gpuTile;
    default: {
      const never: never = kind;
      throw new Error(`unknown adapter kind ${String(never)}`);
    }
  }
};

/**
 * Classifies an adapter from its `GPUAdapterInfo` strings: lavapipe/llvmpipe, SwiftShader and Microsoft's WARP
 * are CPU implementations.
 */
export const adapterKind = (info: { readonly vendor?: string; readonly architecture?: string; readonly device?: string; readonly description?: string }): AdapterKind => {
  const text = [info.vendor, info.architecture, info.device, info.description].join(' ').toLowerCase();
  return /llvmpipe|lavapipe|swiftshader|microsoft basic render|warp|software|cpu/.test(text) ? 'software' : 'gpu';
};

const halveToFit = (perThread: number, threads: number, extent: number, minPerThread: number, quantum: number): [number, number] => {
  // Shrink the covered extent while it is at least twice the problem: idle lanes cost as much as busy ones.
  // Workgroup sides go first (they cost parallelism, not per-invocation efficiency), then the per-invocation count,
  // which stays a multiple of `quantum` (4 for the vec4 columns).
  let p = perThread;
  let t = threads;
  while (p * t >= 2 * extent && (t > 1 || p > minPerThread)) {
    if (t > 1) t = Math.floor(t / 2);
    else p = Math.max(minPerThread, Math.floor(p / 2 / quantum) * quantum);
  }
  return [p, t];
};

/**
 * A tile no larger than the problem needs: a linear layer with 1 row must not spend 63 of 64 rows of a tile on
 * padding. Workgroup sides, then per-invocation counts, are halved until the tile covers less than twice the
 * extent (or cannot shrink). `cols` stays a multiple of 4.
 *
 * @example
 * fitTile(softwareTile, 1, 10) // { rows: 1, cols: 8, wgX: 2, wgY: 1, ... }: 1×16 outputs per workgroup
 */
export const fitTile = (t: TileConfig, rowsExtent: number, colsExtent: number): TileConfig => {
  const [rows, wgY] = halveToFit(t.rows, t.wgY, rowsExtent, 1, 1);
  const [cols, wgX] = halveToFit(t.cols, t.wgX, colsExtent, 4, 4);
  return { ...t, rows, cols, wgX, wgY };
};

/** Checks a tile config; returns the problems (empty when valid). */
export const tileProblems = (t: TileConfig): readonly string[] => {
  const problems: string[] = [];
  const posInt = (n: number): boolean => Number.isInteger(n) && n > 0;
  if (!posInt(t.rows) || t.rows > 16) problems.push(`rows=${t.rows} must be an integer in 1..16`);
  if (!posInt(t.cols) || t.cols % 4 !== 0 || t.cols > 16) problems.push(`cols=${t.cols} must be 4, 8, 12 or 16`);
  if (!posInt(t.wgX) || !posInt(t.wgY) || t.wgX * t.wgY > 256) problems.push(`workgroup ${t.wgX}x${t.wgY} must have 1..256 invocations`);
  if (t.shared && (!posInt(t.kTile) || t.kTile > 64)) problems.push(`kTile=${t.kTile} must be an integer in 1..64`);
  return problems;
};

/**
 * Spreads `total` workgroups over (x, y, z) so that no dimension exceeds WebGPU's 65535; the kernel recovers the
 * linear index with {@link linearWorkgroupWgsl} and returns early past `total`.
 *
 * @example
 * foldWorkgroups(100_000) // [65535, 2, 1]
 */
export const foldWorkgroups = (total: number, max: number = MAX_WORKGROUPS_PER_DIM): readonly [number, number, number] => {
  if (total <= max) return [Math.max(1, total), 1, 1];
  const y = Math.ceil(total / max);
  if (y <= max) return [max, y, 1];
  const z = Math.ceil(total / (max * max));
  return [max, max, z];
};

/** WGSL statements defining `let wid: u32` (linear workgroup index) from `wg: vec3<u32>`, and exiting past `total`. */
export const linearWorkgroupWgsl = (workgroups: readonly [number, number, number], total: number): string =>
  `  let wid = wg.x + wg.y * ${workgroups[0]}u + wg.z * ${workgroups[0] * workgroups[1]}u;\n  if (wid >= ${total}u) { return; }\n`;

/** `n` written as a WGSL u32 literal. */
export const u = (n: number): string => `${n}u`;

// ---- register-block code shared by the matmul and conv2d generators ----

/** `vec4` accumulator declarations for a rows × cols block. */
export const declareAccumulators = (rows: number, cols: number): string => {
  let s = '';
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols / 4; j++) s += `  var acc_${i}_${j} = vec4<f32>(0.0);\n`;
  return s;
};

/**
 * One K step: `acc_i_j += a(i) * b(j)` where `a(i)` is an f32 expression and `b(j)` a vec4 expression.
 * The loaded values are bound to lets first so each load happens once.
 */
export const multiplyAccumulate = (rows: number, cols: number, a: (i: number) => string, b: (j: number) => string, tag: string): string => {
  let s = '';
  for (let i = 0; i < rows; i++) s += `    let a${tag}_${i} = ${a(i)};\n`;
  for (let j = 0; j < cols / 4; j++) s += `    let b${tag}_${j} = ${b(j)};\n`;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols / 4; j++) s += `    acc_${i}_${j} = fma(vec4<f32>(a${tag}_${i}), b${tag}_${j}, acc_${i}_${j});\n`;
  }
  return s;
};

/** WGSL declaration of one storage binding of f32 (or vec4<f32>) values. */
export const storageBinding = (index: number, name: string, vec: boolean, write: boolean): string =>
  `@group(0) @binding(${index}) var<storage, ${write ? 'read_write' : 'read'}> ${name}: array<${vec ? 'vec4<f32>' : 'f32'}>;\n`;


/**
 * `n` as a u32 the shader compiler cannot see through (`out` has at least one element, so it is always `n`).
 * A loop bounded by it is not fully unrolled: lavapipe's LLVM unrolls constant-trip loops, and an unrolled store
 * loop cost 4 s of compile time for an 8×8 tile (1.5 s with this). Kernels using it must bind `out`.
 */
export const opaqueCount = (n: number): string => `select(${n}u, 0u, arrayLength(&out) == 0u)`;

/**
 * Stores a rows × cols accumulator block with ONE copy of the store code: a loop visits the accumulators, picking
 * the t-th with a chain of `select`s, and binds `si` (row in the block), `sj` (vec4 column in the block) and `acc`.
 * Why: on lavapipe, compile time grows superlinearly with the number of store instructions (64 unrolled scalar
 * stores of an 8×8 block: ~1.8 s of CPU; gathering the accumulators into a private array and indexing it: ~3.5 s;
 * this loop: ~0.2 s). The store runs once per output, so the selects cost nothing measurable at run time.
 */
export const storeLoop = (rows: number, cols: number, store: string): string => {
  const n = (rows * cols) / 4;
  const names: string[] = [];
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols / 4; j++) names.push(`acc_${i}_${j}`);
  const pick = names.slice(1).reduce((sel, name, t) => `select(${sel}, ${name}, t == ${t + 1}u)`, names[0]!);
  return (
    `  for (var t = 0u; t < ${opaqueCount(n)}; t = t + 1u) {\n    let si = t / ${u(cols / 4)};\n    let sj = t % ${u(cols / 4)};\n` +
    `    let acc = ${pick};\n` +
    store.replace(/^/gm, '  ') +
    `  }\n`
  );
};

/** The GEMM-shaped kernel families whose tiles can be tuned. */
export type TunableKernel = 'matmul' | 'conv2d';

const tile = (rows: number, cols: number, wgX: number, wgY: number, shared = false): TileConfig => ({ rows, cols, wgX, wgY, shared, kTile: 16 });

/**
 * The tiles a timed search ({@link defaultTile}'s alternative, src/runtime/autotune.ts) tries, default first.
 * Software: register blocks of 16–128 outputs per invocation (lavapipe spills beyond; measured on the bench's
 * convolutions: 4×16 best for 16-wide rows, 4×8 for 24-wide ones, 8×8 within 20 % of the best everywhere).
 * GPU: shared-memory tiles of 64×64 and 32×32 outputs per workgroup, and register-only ones.
 *
 * @example
 * tileCandidates('software', 'conv2d')[0] // softwareTile
 */
export const tileCandidates = (kind: AdapterKind, kernel: TunableKernel): readonly TileConfig[] => {
  switch (kind) {
    case 'software':
      return kernel === 'conv2d'
        ? [softwareTile, tile(4, 16, 8, 8), tile(4, 8, 8, 8), tile(8, 8, 64, 1), tile(2, 16, 8, 8), tile(8, 16, 8, 4)]
        : [softwareTile, tile(4, 16, 8, 8), tile(8, 8, 16, 4), tile(8, 16, 8, 4), tile(4, 8, 8, 8)];
    case 'gpu':
      return [gpuTile, tile(4, 4, 8, 8, true), tile(8, 8, 8, 8, true), tile(4, 8, 16, 8), tile(8, 8, 8, 8)];
    default: {
      const never: never = kind;
      throw new Error(`unknown adapter kind ${String(never)}`);
    }
  }
};
