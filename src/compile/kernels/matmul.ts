/**
 * Matmul / linear as one specialised WGSL kernel: `C[b] = A[b]·B[b]` (+ fused epilogue), register-blocked, with
 * workgroup-memory staging as a tile option.
 *
 * Shapes are WGSL constants, so every index computation folds, loops have constant trip counts, and one source is
 * one pipeline. vec4 loads are used exactly where the layout guarantees 16-byte alignment of every vec4 read:
 * along K when A (row-major) or a transposed B has K % 4 = 0, along N for B and C when N % 4 = 0, along M for a
 * transposed A when M % 4 = 0. Elsewhere loads are scalar; edges are handled by clamping load indices (the extra
 * rows/columns are computed and discarded) and guarding stores, so any size works.
 */
import type { Kernel, Binding } from '../kernel.ts';
import { type Epilogue, plainEpilogue, epilogueFunctions, storeAccumulator } from './epilogue.ts';
import {
  type TileConfig,
  softwareTile,
  fitTile,
  tileProblems,
  foldWorkgroups,
  linearWorkgroupWgsl,
  declareAccumulators,
  multiplyAccumulate,
  storageBinding,
  storeLoop,
  opaqueCount,
  u,
} from './tiles.ts';

/** A (batched) matrix product `C[b][M][N] = A[b]·B[b]` with an optional fused epilogue. */
export interface MatmulOptions {
  readonly label: string;
  readonly M: number;
  readonly N: number;
  readonly K: number;
  /** Number of independent products (default 1). A, C and the residual always carry the batch. */
  readonly batch?: number;
  /** B carries the batch too (default true); false shares one B across the batch (a weight). */
  readonly batchB?: boolean;
  /** A is stored [K][M]. */
  readonly transA?: boolean;
  /** B is stored [N][K], as a Linear weight. */
  readonly transB?: boolean;
  /** Bias is [N]; residual has C's shape. */
  readonly epilogue?: Epilogue;
  /** Default: the software tile, shrunk to the problem. */
  readonly tile?: TileConfig;
}

const checkOptions = (o: MatmulOptions, tile: TileConfig): void => {
  const problems = [...tileProblems(tile)];
  for (const [k, v] of [['M', o.M], ['N', o.N], ['K', o.K], ['batch', o.batch ?? 1]] as const) {
    if (!Number.isInteger(v) || v < 1) problems.push(`${k}=${v} must be a positive integer`);
  }
  // A programming error of the lowering, not a user error: the IR has already checked shapes.
  if (problems.length > 0) throw new Error(`matmul ${o.label}: ${problems.join('; ')}`);
};

/** Layout facts the loaders need. */
interface Layout {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly transA: boolean;
  readonly transB: boolean;
  readonly vecA: boolean;
  readonly vecB: boolean;
  readonly vecOut: boolean;
}

const layoutOf = (o: MatmulOptions, tile: TileConfig): Layout => {
  const transA = o.transA ?? false;
  const transB = o.transB ?? false;
  const vecA = !tile.shared && (transA ? o.M % 4 === 0 && tile.rows % 4 === 0 : o.K % 4 === 0);
  const vecB = !tile.shared && (transB ? o.K % 4 === 0 : o.N % 4 === 0);
  return { M: o.M, N: o.N, K: o.K, transA, transB, vecA, vecB, vecOut: o.N % 4 === 0 };
};

const lane = ['x', 'y', 'z', 'w'] as const;

/** Per-invocation setup: clamped row/column indices and base offsets (all in scalar units unless named *4). */
const prologue = (L: Layout, t: TileConfig): string => {
  let s = '';
  for (let i = 0; i < t.rows; i++) s += `  let r${i} = min(row0 + ${i}u, ${u(L.M - 1)});\n`;
  for (let j = 0; j < t.cols; j++) s += `  let c${j} = min(col0 + ${j}u, ${u(L.N - 1)});\n`;
  return s;
};

/** Register-blocked K loop reading A and B from global memory (vec4 where aligned). */
const globalKLoop = (L: Layout, t: TileConfig): string => {
  const { M, N, K } = L;
  // Step 4 along K only when some operand is read as vec4 along K; otherwise one k per iteration: lavapipe's
  // compile time grows steeply with the loop body's size, and unrolling scalar gathers bought nothing.
  const vecK = (!L.transA && L.vecA) || (L.transB && L.vecB);
  const step = vecK ? 4 : 1;
  const kMain = K - (K % step);
  const aExpr = (i: number, k: string, kk: number): string => {
    if (!L.transA) return L.vecA ? `aK${i}.${lane[kk]}` : `a[aBase + r${i} * ${u(K)} + ${k} + ${kk}u]`;
    if (L.vecA) return `aM${Math.floor(i / 4)}_${kk}.${lane[i % 4]}`;
    return `a[aBase + (${k} + ${kk}u) * ${u(M)} + r${i}]`;
  };
  const bExpr = (j: number, k: string, kk: number): string => {
    if (!L.transB) {
      if (L.vecB) return `b[bBase4 + (${k} + ${kk}u) * ${u(N / 4)} + cv${j}]`;
      const c = (l: number): string => `b[bBase + (${k} + ${kk}u) * ${u(N)} + c${4 * j + l}]`;
      return `vec4<f32>(${c(0)}, ${c(1)}, ${c(2)}, ${c(3)})`;
    }
    if (L.vecB) return `vec4<f32>(bK${4 * j}.${lane[kk]}, bK${4 * j + 1}.${lane[kk]}, bK${4 * j + 2}.${lane[kk]}, bK${4 * j + 3}.${lane[kk]})`;
    const c = (l: number): string => `b[bBase + c${4 * j + l} * ${u(K)} + ${k} + ${kk}u]`;
    return `vec4<f32>(${c(0)}, ${c(1)}, ${c(2)}, ${c(3)})`;
  };
  const preload = (k: string, kks: readonly number[]): string => {
    let s = '';
    if (!L.transA && L.vecA) for (let i = 0; i < t.rows; i++) s += `    let aK${i} = a[aBase4 + r${i} * ${u(K / 4)} + ${k} / 4u];\n`;
    if (L.transA && L.vecA) {
      for (const kk of kks) for (let i4 = 0; i4 < t.rows / 4; i4++) {
        s += `    let aM${i4}_${kk} = a[aBase4 + (${k} + ${kk}u) * ${u(M / 4)} + rv${i4}];\n`;
      }
    }
    if (L.transB && L.vecB) for (let j = 0; j < t.cols; j++) s += `    let bK${j} = b[bBase4 + c${j} * ${u(K / 4)} + ${k} / 4u];\n`;
    return s;
  };
  const body = (k: string, kks: readonly number[]): string =>
    preload(k, kks) + kks.map((kk) => multiplyAccumulate(t.rows, t.cols, (i) => aExpr(i, k, kk), (j) => bExpr(j, k, kk), `${kk}`)).join('');
  let s = '';
  if (L.transA && L.vecA) for (let i4 = 0; i4 < t.rows / 4; i4++) s += `  let rv${i4} = min(row0 / 4u + ${i4}u, ${u(M / 4 - 1)});\n`;
  if (!L.transB && L.vecB) for (let j = 0; j < t.cols / 4; j++) s += `  let cv${j} = min(col0 / 4u + ${j}u, ${u(N / 4 - 1)});\n`;
  const kks = Array.from({ length: step }, (_, i) => i);
  if (kMain > 0) s += `  for (var k = 0u; k < ${opaqueCount(kMain)}; k = k + ${u(step)}) {\n${body('k', kks)}  }\n`;
  if (K % step !== 0) s += `  {\n${body(u(kMain), Array.from({ length: K % step }, (_, i) => i))}  }\n`;
  return s;
};

/**
 * K loop through workgroup memory: the workgroup stages a (rows·wgY) × kTile block of A and a kTile × (cols·wgX)
 * block of B (zero past K), then every invocation reads its operands from there. Pays on GPUs, not on lavapipe.
 */
const sharedKLoop = (L: Layout, t: TileConfig): string => {
  const { M, N, K } = L;
  const TM = t.rows * t.wgY;
  const TN = t.cols * t.wgX;
  const TK = t.kTile;
  const NT = t.wgX * t.wgY;
  const aAt = (row: string, k: string): string => (L.transA ? `a[aBase + ${k} * ${u(M)} + ${row}]` : `a[aBase + ${row} * ${u(K)} + ${k}]`);
  const bAt = (k: string, col: string): string => (L.transB ? `b[bBase + ${col} * ${u(K)} + ${k}]` : `b[bBase + ${k} * ${u(N)} + ${col}]`);
  let s = '';
  s += `  let lidx = lid.y * ${u(t.wgX)} + lid.x;\n`;
  s += `  for (var k0 = 0u; k0 < ${u(K)}; k0 = k0 + ${u(TK)}) {\n`;
  s += `    for (var idx = lidx; idx < ${u(TM * TK)}; idx = idx + ${u(NT)}) {\n`;
  s += `      let m = idx % ${u(TM)}; let kk = idx / ${u(TM)}; let k = k0 + kk;\n`;
  s += `      let row = min(tileRow0 + m, ${u(M - 1)});\n`;
  s += `      tileA[idx] = select(0.0, ${aAt('row', 'min(k, ' + u(K - 1) + ')')}, k < ${u(K)});\n    }\n`;
  s += `    for (var idx = lidx; idx < ${u(TK * TN)}; idx = idx + ${u(NT)}) {\n`;
  s += `      let n = idx % ${u(TN)}; let kk = idx / ${u(TN)}; let k = k0 + kk;\n`;
  s += `      let col = min(tileCol0 + n, ${u(N - 1)});\n`;
  s += `      tileB[idx] = select(0.0, ${bAt('min(k, ' + u(K - 1) + ')', 'col')}, k < ${u(K)});\n    }\n`;
  s += `    workgroupBarrier();\n`;
  s += `    for (var kk = 0u; kk < ${u(TK)}; kk = kk + 1u) {\n`;
  const bRow = `kk * ${u(TN)} + lid.x * ${u(t.cols)}`;
  s += multiplyAccumulate(
    t.rows,
    t.cols,
    (i) => `tileA[kk * ${u(TM)} + lid.y * ${u(t.rows)} + ${i}u]`,
    (j) => `vec4<f32>(tileB[${bRow} + ${4 * j}u], tileB[${bRow} + ${4 * j + 1}u], tileB[${bRow} + ${4 * j + 2}u], tileB[${bRow} + ${4 * j + 3}u])`,
    's',
  );
  s += `    }\n    workgroupBarrier();\n  }\n`;
  return s;
};

/**
 * The WGSL kernel of a matmul with its bindings (in order: a, b, bias?, residual?, out) and dispatch size.
 *
 * @example
 * // A linear layer y = relu(x·Wᵀ + b) for a batch of 64 rows, 128 → 10 features:
 * matmulKernel({ label: 'linear at fc', M: 64, K: 128, N: 10, transB: true,
 *                epilogue: { bias: true, activation: 'relu', residual: false } })
 */
export const matmulKernel = (o: MatmulOptions): Kernel => {
  const e = o.epilogue ?? plainEpilogue;
  const batch = o.batch ?? 1;
  const batchB = o.batchB ?? true;
  const tile = fitTile(o.tile ?? softwareTile, o.M, o.N);
  checkOptions(o, tile);
  const L = layoutOf(o, tile);
  const { M, N, K } = L;
  const TM = tile.rows * tile.wgY;
  const TN = tile.cols * tile.wgX;
  const tilesM = Math.ceil(M / TM);
  const tilesN = Math.ceil(N / TN);
  const total = tilesM * tilesN * batch;
  const workgroups = foldWorkgroups(total);

  const bindings: Binding[] = [
    { name: 'a', access: 'read' },
    { name: 'b', access: 'read' },
    ...(e.bias ? [{ name: 'bias', access: 'read' } as const] : []),
    ...(e.residual ? [{ name: 'residual', access: 'read' } as const] : []),
    { name: 'out', access: 'read_write' },
  ];
  let decl = '';
  bindings.forEach((bd, idx) => {
    const vec = bd.name === 'a' ? L.vecA : bd.name === 'b' ? L.vecB : L.vecOut;
    decl += storageBinding(idx, bd.name, vec, bd.access === 'read_write');
  });
  if (tile.shared) decl += `var<workgroup> tileA: array<f32, ${TM * tile.kTile}>;\nvar<workgroup> tileB: array<f32, ${tile.kTile * TN}>;\n`;

  let body = linearWorkgroupWgsl(workgroups, total);
  body += `  let tn = wid % ${u(tilesN)};\n  let tm = (wid / ${u(tilesN)}) % ${u(tilesM)};\n  let bi = wid / ${u(tilesN * tilesM)};\n`;
  body += `  let tileRow0 = tm * ${u(TM)};\n  let tileCol0 = tn * ${u(TN)};\n`;
  body += `  let row0 = tileRow0 + lid.y * ${u(tile.rows)};\n  let col0 = tileCol0 + lid.x * ${u(tile.cols)};\n`;
  body += `  let aBase = bi * ${u(M * K)};\n  let bBase = ${batchB ? `bi * ${u(K * N)}` : '0u'};\n  let oBase = bi * ${u(M * N)};\n`;
  if (L.vecA) body += `  let aBase4 = aBase / 4u;\n`;
  if (L.vecB) body += `  let bBase4 = bBase / 4u;\n`;
  body += prologue(L, tile);
  body += declareAccumulators(tile.rows, tile.cols);
  body += tile.shared ? sharedKLoop(L, tile) : globalKLoop(L, tile);
  const row = `(row0 + si)`;
  const col = `(col0 + 4u * sj)`;
  body += storeLoop(
    tile.rows,
    tile.cols,
    storeAccumulator({
      e,
      vecOut: L.vecOut,
      acc: 'acc',
      valid: `${row} < ${u(M)}${L.vecOut ? ` && ${col} < ${u(N)}` : ''}`,
      vecIndex: `(oBase + ${row} * ${u(N)} + ${col}) / 4u`,
      scalarAt: (l) => `oBase + ${row} * ${u(N)} + ${col} + ${l}u`,
      laneValid: (l) => `${col} + ${l}u < ${u(N)}`,
      biasVec: `bias[${col} / 4u]`,
      biasLane: (l) => `bias[${col} + ${l}u]`,
    }),
  );
  const wgsl =
    `// matmul M=${M} N=${N} K=${K} batch=${batch}${L.transA ? ' transA' : ''}${L.transB ? ' transB' : ''}` +
    ` tile ${tile.rows}x${tile.cols} wg ${tile.wgX}x${tile.wgY}${tile.shared ? ` shared k${tile.kTile}` : ''}\n` +
    decl +
    epilogueFunctions(e) +
    `@compute @workgroup_size(${tile.wgX}, ${tile.wgY}, 1)\n` +
    `fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {\n${body}}\n`;
  return { label: o.label, wgsl, entryPoint: 'main', bindings, workgroups };
};
