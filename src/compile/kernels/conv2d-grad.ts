/**
 * The gradients of conv2d (NCHW) as GEMM-shaped kernels, built from the register-blocking helpers of tiles.ts and
 * the fused store of epilogue.ts (the forward generator's, kernels/conv2d.ts).
 *
 * ∂L/∂x — a transposed convolution as an implicit GEMM per group g: rows are the group's input channels
 * (N = cin/g in the brief's naming), columns the batch × input pixels (M = batch·H·W), and the reduction runs over
 * K = cout/g·kh·kw: dx[b, g·cinG + r, iy, ix] = Σ_{co, ky, kx} W[g·coutG + co, r, ky, kx]·dy[b, g·coutG + co, oy, ox]
 * where oy = (iy + pad − ky·dil)/stride when that is an integer in range (the stride's "holes" and the padding
 * read zero, by predicated loads). Columns along pixels make the stores contiguous (vec4 when H·W % 4 = 0).
 *
 * ∂L/∂W — an implicit GEMM per group with rows the group's output channels (M = cout/g), columns (ci, ky, kx)
 * (N = cin/g·kh·kw) and the reduction over K = batch·oh·ow. When those tiles are too few to occupy the machine,
 * the batch is split (split-K): each part writes its partial dW to scratch, and a second kernel adds the parts in
 * a fixed order (no atomics: the sum is deterministic).
 *
 * Depthwise convolutions (one input channel per group) have K = mult·kh·kw too short to block on: ∂L/∂x is a
 * direct gather and ∂L/∂W a tree reduction per weight over batch × output pixels.
 */
import type { Binding, Kernel } from '../kernel.ts';
import { type Conv2dOptions, conv2dOutputSize } from './conv2d.ts';
import { plainEpilogue, storeAccumulator } from './epilogue.ts';
import { type RowReduce, rowReduceKernels, sumPartsKernel } from './reduce.ts';
import {
  type TileConfig,
  declareAccumulators,
  fitTile,
  foldWorkgroups,
  linearWorkgroupWgsl,
  multiplyAccumulate,
  opaqueCount,
  softwareTile,
  storageBinding,
  storeLoop,
  tileProblems,
  u,
} from './tiles.ts';
import { elementwiseModule } from './wgsl.ts';

export { isDepthwise } from './conv2d.ts';

/** `i32` literal. */
const s = (n: number): string => `${n}i`;

const checkTile = (label: string, tile: TileConfig): void => {
  const problems = tileProblems(tile);
  if (problems.length > 0) throw new Error(`${label}: ${problems.join('; ')}`);
};

const declare = (bindings: readonly Binding[], vec: (name: string) => boolean): string =>
  bindings.map((b, i) => storageBinding(i, b.name, vec(b.name), b.access === 'read_write')).join('');

const dims = (o: Conv2dOptions) => {
  const [oh, ow] = conv2dOutputSize(o);
  return { oh, ow, ohw: oh * ow, hw: o.h * o.w, cinG: o.cin / o.groups, coutG: o.cout / o.groups, khw: o.kh * o.kw };
};

/**
 * The conditions (WGSL, possibly none) under which output coordinate `t` (an input coordinate plus padding minus
 * the tap offset) names a real output row: in [0, stride·(out − 1)] and on the stride. Bounds that hold for every
 * input coordinate of the tap are left out.
 */
/**
 * The store of a GEMM tile without an epilogue: accumulator (si, sj) goes to row `row0 + si` (< `rows`) and column
 * `col0 + 4·sj` (+ lane, < `cols`), at the flat index `at(column)` of the output. Shared by dX and dW.
 */
const plainTileStore = (tile: TileConfig, vecOut: boolean, rows: number, cols: number, at: (col: string) => string): string => {
  const col = `(col0 + 4u * sj)`;
  return storeLoop(
    tile.rows,
    tile.cols,
    storeAccumulator({
      e: plainEpilogue,
      vecOut,
      acc: 'acc',
      valid: `row0 + si < ${u(rows)}${vecOut ? ` && ${col} < ${u(cols)}` : ''}`,
      vecIndex: `(${at(col)}) / 4u`,
      laneValid: (l) => `${col} + ${l}u < ${u(cols)}`,
      biasVec: '',
      biasLane: () => '',
      scalarAt: (l) => at(`(${col} + ${l}u)`),
    }),
  );
};

const outputTapConds = (t: string, lo: number, hi: number, stride: number, out: number): string[] => {
  const c: string[] = [];
  if (lo < 0) c.push(`${t} >= 0i`);
  if (hi > stride * (out - 1)) c.push(`${t} <= ${s(stride * (out - 1))}`);
  if (stride > 1) c.push(`${t} % ${s(stride)} == 0i`);
  return c;
};

/**
 * ∂L/∂x of a dense or grouped convolution as an implicit GEMM (see the module comment). Bindings: dy, weight, out.
 *
 * @example
 * conv2dGradInputKernel({ label: 'dx', batch: 8, cin: 16, h: 12, w: 12, cout: 32, kh: 3, kw: 3,
 *   stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 });
 */
export const conv2dGradInputKernel = (o: Conv2dOptions): Kernel => {
  const { oh, ow, ohw, hw, cinG, coutG, khw } = dims(o);
  const cols = o.batch * hw;
  const tile = fitTile(o.tile ?? softwareTile, cinG, cols);
  checkTile(o.label, tile);
  const TM = tile.rows * tile.wgY;
  const TN = tile.cols * tile.wgX;
  const tilesM = Math.ceil(cinG / TM);
  const tilesN = Math.ceil(cols / TN);
  const total = tilesM * tilesN * o.groups;
  const workgroups = foldWorkgroups(total);
  const vecOut = hw % 4 === 0;
  const bindings: Binding[] = [
    { name: 'dy', access: 'read' },
    { name: 'weight', access: 'read' },
    { name: 'out', access: 'read_write' },
  ];
  const [sh, sw] = o.stride;
  const [ph, pw] = o.padding;
  const [dh, dw] = o.dilation;
  const last = o.batch * o.cout * ohw - 1;
  let b = linearWorkgroupWgsl(workgroups, total);
  b += `  let tn = wid % ${u(tilesN)};\n  let tm = (wid / ${u(tilesN)}) % ${u(tilesM)};\n  let g = wid / ${u(tilesN * tilesM)};\n`;
  b += `  let row0 = tm * ${u(TM)} + lid.y * ${u(tile.rows)};\n  let col0 = tn * ${u(TN)} + lid.x * ${u(tile.cols)};\n`;
  for (let i = 0; i < tile.rows; i++) b += `  let wr${i} = min(row0 + ${i}u, ${u(cinG - 1)}) * ${u(khw)};\n`;
  for (let j = 0; j < tile.cols; j++) {
    b += `  let n${j} = min(col0 + ${j}u, ${u(cols - 1)});\n  let p${j} = n${j} % ${u(hw)};\n`;
    b += `  let dyb${j} = i32((n${j} / ${u(hw)}) * ${u(o.cout * ohw)} + g * ${u(coutG * ohw)});\n`;
    b += `  let iyp${j} = i32(p${j} / ${u(o.w)}) + ${s(ph)};\n  let ixp${j} = i32(p${j} % ${u(o.w)}) + ${s(pw)};\n`;
  }
  b += declareAccumulators(tile.rows, tile.cols);
  b += `  for (var co = 0u; co < ${opaqueCount(coutG)}; co = co + 1u) {\n`;
  b += `    let wco = (g * ${u(coutG)} + co) * ${u(cinG * khw)};\n`;
  for (let j = 0; j < tile.cols; j++) b += `    let dc${j} = dyb${j} + i32(co) * ${s(ohw)};\n`;
  // The taps are a loop, not unrolled: lavapipe's compile time grows steeply with the loop body (9 unrolled taps
  // of predicated gathers took 19 s to compile for an 8×8 tile; one tap in a loop, well under a second).
  b += `    for (var ky = 0i; ky < i32(${opaqueCount(o.kh)}); ky = ky + 1i) {\n`;
  for (let j = 0; j < tile.cols; j++) b += `      let ty${j} = iyp${j} - ky * ${s(dh)};\n`;
  b += `      for (var kx = 0i; kx < i32(${opaqueCount(o.kw)}); kx = kx + 1i) {\n`;
  b += `        let tap = u32(ky * ${s(o.kw)} + kx);\n`;
  const load = (j: number): string => {
    const ty = `ty${j}`;
    const tx = `(ixp${j} - kx * ${s(dw)})`;
    const conds = [
      ...outputTapConds(ty, ph - (o.kh - 1) * dh, o.h - 1 + ph, sh, oh),
      ...outputTapConds(tx, pw - (o.kw - 1) * dw, o.w - 1 + pw, sw, ow),
    ];
    const idx = `dc${j} + (${ty} / ${s(sh)}) * ${s(ow)} + ${tx} / ${s(sw)}`;
    if (conds.length === 0) return `dy[u32(${idx})]`;
    return `select(0.0, dy[u32(clamp(${idx}, 0i, ${s(last)}))], ${conds.join(' && ')})`;
  };
  b += multiplyAccumulate(
    tile.rows,
    tile.cols,
    (i) => `weight[wco + wr${i} + tap]`,
    (j) => `vec4<f32>(${[0, 1, 2, 3].map((l) => load(4 * j + l)).join(', ')})`,
    't',
  ).replace(/^/gm, '    ');
  b += `      }\n    }\n`;
  b += `  }\n`;
  const ci = `(g * ${u(cinG)} + row0 + si)`;
  b += plainTileStore(tile, vecOut, cinG, cols, (c) => `(${c} / ${u(hw)}) * ${u(o.cin * hw)} + ${ci} * ${u(hw)} + ${c} % ${u(hw)}`);
  const wgsl =
    `// conv2d dx (implicit GEMM) ${o.batch}x${o.cout}x${oh}x${ow} -> ${o.cin}x${o.h}x${o.w} k${o.kh}x${o.kw}` +
    ` s${o.stride.join('x')} p${o.padding.join('x')} d${o.dilation.join('x')} g${o.groups} tile ${tile.rows}x${tile.cols} wg ${tile.wgX}x${tile.wgY}\n` +
    declare(bindings, (n) => n === 'out' && vecOut) +
    `@compute @workgroup_size(${tile.wgX}, ${tile.wgY}, 1)\n` +
    `fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {\n${b}}\n`;
  return { label: o.label, wgsl, entryPoint: 'main', bindings, workgroups };
};

/** Workgroups below which the ∂L/∂W GEMM splits the batch (split-K): enough to keep every core busy. */
const SPLIT_TARGET = 32;

/** The ∂L/∂W kernels of a dense or grouped convolution, and the scratch bytes of the split-K partials (0: none). */
export interface ConvGradWeight {
  /** The GEMM (bindings x, dy, out-or-partials), then, when split, the sum of parts (bindings partials, out). */
  readonly kernels: readonly Kernel[];
  readonly scratchBytes: number;
}

/**
 * ∂L/∂W of a dense or grouped convolution as an implicit GEMM over K = batch·oh·ow, split over the batch when the
 * output tiles alone are too few (see the module comment).
 *
 * @example
 * conv2dGradWeightKernels({ label: 'dW', batch: 8, cin: 16, h: 12, w: 12, cout: 32, kh: 3, kw: 3,
 *   stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 }).kernels.length; // 1 or 2
 */
export const conv2dGradWeightKernels = (o: Conv2dOptions): ConvGradWeight => {
  const { oh, ow, ohw, hw, cinG, coutG, khw } = dims(o);
  const N = cinG * khw;
  const tile = fitTile(o.tile ?? softwareTile, coutG, N);
  checkTile(o.label, tile);
  const TM = tile.rows * tile.wgY;
  const TN = tile.cols * tile.wgX;
  const tilesM = Math.ceil(coutG / TM);
  const tilesN = Math.ceil(N / TN);
  const tiles = tilesM * tilesN * o.groups;
  const wanted = Math.min(o.batch, Math.max(1, Math.ceil(SPLIT_TARGET / tiles)));
  const per = Math.ceil(o.batch / wanted);
  const parts = Math.ceil(o.batch / per);
  const total = tiles * parts;
  const workgroups = foldWorkgroups(total);
  const vecOut = N % 4 === 0;
  const bindings: Binding[] = [
    { name: 'x', access: 'read' },
    { name: 'dy', access: 'read' },
    { name: 'out', access: 'read_write' },
  ];
  const [sh, sw] = o.stride;
  const [ph, pw] = o.padding;
  const [dh, dw] = o.dilation;
  const lastX = o.batch * o.cin * hw - 1;
  let b = linearWorkgroupWgsl(workgroups, total);
  b += `  let tn = wid % ${u(tilesN)};\n  let tm = (wid / ${u(tilesN)}) % ${u(tilesM)};\n`;
  b += `  let g = (wid / ${u(tilesN * tilesM)}) % ${u(o.groups)};\n  let part = wid / ${u(tiles)};\n`;
  b += `  let row0 = tm * ${u(TM)} + lid.y * ${u(tile.rows)};\n  let col0 = tn * ${u(TN)} + lid.x * ${u(tile.cols)};\n`;
  for (let i = 0; i < tile.rows; i++) b += `  let dr${i} = (g * ${u(coutG)} + min(row0 + ${i}u, ${u(coutG - 1)})) * ${u(ohw)};\n`;
  for (let j = 0; j < tile.cols; j++) {
    b += `  let n${j} = min(col0 + ${j}u, ${u(N - 1)});\n  let t${j} = n${j} % ${u(khw)};\n`;
    b += `  let xc${j} = i32((g * ${u(cinG)} + n${j} / ${u(khw)}) * ${u(hw)});\n`;
    b += `  let oyo${j} = i32(t${j} / ${u(o.kw)}) * ${s(dh)} - ${s(ph)};\n  let oxo${j} = i32(t${j} % ${u(o.kw)}) * ${s(dw)} - ${s(pw)};\n`;
  }
  b += declareAccumulators(tile.rows, tile.cols);
  // Padding-free taps never leave the input: every bounds check of the gather is elided then.
  const rowChecks = ph > 0;
  const colChecks = pw > 0;
  b += `  let b0 = part * ${u(per)};\n  let b1 = min(b0 + ${u(per)}, ${u(o.batch)});\n`;
  b += `  for (var bi = b0; bi < b1; bi = bi + 1u) {\n`;
  b += `    let dyb = bi * ${u(o.cout * ohw)};\n    let xb = i32(bi * ${u(o.cin * hw)});\n`;
  b += `    for (var oy = 0u; oy < ${opaqueCount(oh)}; oy = oy + 1u) {\n`;
  for (let j = 0; j < tile.cols; j++) {
    b += `      let iy${j} = i32(oy) * ${s(sh)} + oyo${j};\n`;
    b += `      let xr${j} = xb + xc${j} + iy${j} * ${s(o.w)};\n`;
    if (rowChecks) b += `      let rok${j} = iy${j} >= 0i && iy${j} < ${s(o.h)};\n`;
  }
  b += `      let dyr = dyb + oy * ${u(ow)};\n`;
  b += `      for (var ox = 0u; ox < ${opaqueCount(ow)}; ox = ox + 1u) {\n`;
  const lane = (j: number): string => {
    const ix = `(i32(ox) * ${s(sw)} + oxo${j})`;
    const conds = [...(rowChecks ? [`rok${j}`] : []), ...(colChecks ? [`${ix} >= 0i && ${ix} < ${s(o.w)}`] : [])];
    if (conds.length === 0) return `x[u32(xr${j} + ${ix})]`;
    return `select(0.0, x[u32(clamp(xr${j} + ${ix}, 0i, ${s(lastX)}))], ${conds.join(' && ')})`;
  };
  b += multiplyAccumulate(
    tile.rows,
    tile.cols,
    (i) => `dy[dyr + dr${i} + ox]`,
    (j) => `vec4<f32>(${[0, 1, 2, 3].map((l) => lane(4 * j + l)).join(', ')})`,
    'k',
  ).replace(/^/gm, '    ');
  b += `      }\n    }\n  }\n`;
  const co = `(g * ${u(coutG)} + row0 + si)`;
  b += plainTileStore(tile, vecOut, coutG, N, (c) => `part * ${u(o.cout * N)} + ${co} * ${u(N)} + ${c}`);
  const wgsl =
    `// conv2d dW (implicit GEMM, ${parts} part(s) of ${per} samples) x ${o.batch}x${o.cin}x${o.h}x${o.w} dy ${o.cout}x${oh}x${ow}` +
    ` k${o.kh}x${o.kw} s${o.stride.join('x')} p${o.padding.join('x')} d${o.dilation.join('x')} g${o.groups} tile ${tile.rows}x${tile.cols} wg ${tile.wgX}x${tile.wgY}\n` +
    declare(bindings, (n) => n === 'out' && vecOut) +
    `@compute @workgroup_size(${tile.wgX}, ${tile.wgY}, 1)\n` +
    `fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {\n${b}}\n`;
  const gemm: Kernel = { label: parts > 1 ? `${o.label} (split-K parts)` : o.label, wgsl, entryPoint: 'main', bindings, workgroups };
  if (parts === 1) return { kernels: [gemm], scratchBytes: 0 };
  const n = o.cout * N;
  return { kernels: [gemm, sumPartsKernel({ label: `${o.label} (sum of ${parts} parts)`, n, parts })], scratchBytes: parts * n * 4 };
};

/**
 * ∂L/∂x of a depthwise convolution (groups = cin): a direct gather per input element over its channel's
 * multiplier outputs and taps. Bindings: dy, weight, out.
 */
export const depthwiseGradInputKernel = (o: Conv2dOptions): Kernel => {
  const { oh, ow, ohw, hw, khw } = dims(o);
  const mult = o.cout / o.groups;
  const [sh, sw] = o.stride;
  const [ph, pw] = o.padding;
  const [dh, dw] = o.dilation;
  const last = o.batch * o.cout * ohw - 1;
  let taps = '';
  for (let ky = 0; ky < o.kh; ky++) {
    for (let kx = 0; kx < o.kw; kx++) {
      const ty = `(iyp - ${s(ky * dh)})`;
      const tx = `(ixp - ${s(kx * dw)})`;
      const conds = [
        ...outputTapConds(ty, ph - ky * dh, o.h - 1 + ph - ky * dh, sh, oh),
        ...outputTapConds(tx, pw - kx * dw, o.w - 1 + pw - kx * dw, sw, ow),
      ];
      const idx = `dc + (${ty} / ${s(sh)}) * ${s(ow)} + ${tx} / ${s(sw)}`;
      const v = conds.length === 0 ? `dy[u32(${idx})]` : `select(0.0, dy[u32(clamp(${idx}, 0i, ${s(last)}))], ${conds.join(' && ')})`;
      taps += `    acc = acc + weight[wc + ${u(ky * o.kw + kx)}] * ${v};\n`;
    }
  }
  return elementwiseModule({
    label: o.label,
    bindings: [
      { name: 'dy', access: 'read' },
      { name: 'weight', access: 'read' },
      { name: 'out', access: 'read_write' },
    ],
    n: o.batch * o.cin * hw,
    body: `let p = i % ${u(hw)};
  let bc = i / ${u(hw)};
  let ci = bc % ${u(o.cin)};
  let bi = bc / ${u(o.cin)};
  let iyp = i32(p / ${u(o.w)}) + ${s(ph)};
  let ixp = i32(p % ${u(o.w)}) + ${s(pw)};
  var acc = 0.0;
  for (var m = 0u; m < ${u(mult)}; m = m + 1u) {
    let co = ci * ${u(mult)} + m;
    let dc = i32((bi * ${u(o.cout)} + co) * ${u(ohw)});
    let wc = co * ${u(khw)};
${taps}  }
  out[i] = acc;`,
  });
};

/**
 * ∂L/∂W of a depthwise convolution: for each weight (co, ky, kx), a tree reduction over batch × output pixels of
 * dy·x at the tap. Bindings: x, dy, out[, partials].
 */
export const depthwiseGradWeightKernels = (o: Conv2dOptions): RowReduce => {
  const { oh, ow, ohw, hw, khw } = dims(o);
  const mult = o.cout / o.groups;
  const [sh, sw] = o.stride;
  const [ph, pw] = o.padding;
  const [dh, dw] = o.dilation;
  const lastX = o.batch * o.cin * hw - 1;
  return rowReduceKernels({
    label: o.label,
    rows: o.cout * khw,
    length: o.batch * ohw,
    bindings: [
      { name: 'x', access: 'read' },
      { name: 'dy', access: 'read' },
      { name: 'out', access: 'read_write' },
    ],
    rowPrelude: `let co = r / ${u(khw)};
  let ci = co / ${u(mult)};
  let t = r % ${u(khw)};
  let yo = i32(t / ${u(o.kw)}) * ${s(dh)} - ${s(ph)};
  let xo = i32(t % ${u(o.kw)}) * ${s(dw)} - ${s(pw)};`,
    prelude: `let bi = k / ${u(ohw)};
    let p = k % ${u(ohw)};
    let iy = i32(p / ${u(ow)}) * ${s(sh)} + yo;
    let ix = i32(p % ${u(ow)}) * ${s(sw)} + xo;
    let ok = iy >= 0i && iy < ${s(o.h)} && ix >= 0i && ix < ${s(o.w)};
    let xv = select(0.0, x[u32(clamp(i32((bi * ${u(o.cin)} + ci) * ${u(hw)}) + iy * ${s(o.w)} + ix, 0i, ${s(lastX)}))], ok);
    let dv = dy[(bi * ${u(o.cout)} + co) * ${u(ohw)} + p];`,
    terms: ['dv * xv'],
    finish: 'out[r] = s0;',
  });
};
