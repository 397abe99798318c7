/**
 * conv2d as a sliding window (NCHW): the kernel {@link conv2dKernel} generates for every convolution but 1×1
 * stride-1 unpadded ones (plain GEMMs) and very wide kernels.
 *
 * Why not the implicit GEMM: on lavapipe a load with a per-invocation address is a gather costing far more than
 * an FMA, and the implicit GEMM gathers every (tap, column) pair with its own bounds check: 8·9 = 72 checked
 * gathers per input channel for an 8-column block of a 3×3 conv. Here an invocation's columns are consecutive
 * pixels of one output row, so per (input channel, kernel row) it gathers the cols + kw − 1 input values the row
 * window touches and reuses each for every kx; the columns' padding masks and clamped offsets are computed once.
 * Measured on the bench's ResNet 64→64 3×3 16×16 conv at batch 64: 2.4 → 4.5–5.8 GFLOP per CPU-second, and the
 * first dispatch (LLVM compile) from ~10 s to ~1.4 s of CPU.
 */
import type { Kernel } from '../kernel.ts';
import { type Conv2dOptions, checkConv2d, conv2dBindings, conv2dOutputSize, declareConv2dBindings, s } from './conv2d-options.ts';
import { type Epilogue, epilogueFunctions, storeAccumulator } from './epilogue.ts';
import {
  type TileConfig,
  declareAccumulators,
  fitTile,
  foldWorkgroups,
  linearWorkgroupWgsl,
  multiplyAccumulate,
  opaqueCount,
  softwareTile,
  storeLoop,
  u,
} from './tiles.ts';

/** Distinct input-column offsets (from the block's first one) read by `cols` outputs: j·sw + kx·dw. */
const windowOffsets = (cols: number, o: Conv2dOptions): readonly number[] => {
  const set = new Set<number>();
  for (let j = 0; j < cols; j++) for (let kx = 0; kx < o.kw; kx++) set.add(j * o.stride[1] + kx * o.dilation[1]);
  return [...set].sort((a, b) => a - b);
};

/** Columns per invocation of the window kernel: the tile's, halved (to a multiple of 4) while twice the row. */
const windowCols = (tileCols: number, ow: number): number => {
  let c = tileCols;
  while (c > 4 && c >= 2 * ow) c = Math.max(4, Math.floor(c / 8) * 4);
  return c;
};

/**
 * The sliding-window kernel: an invocation computes `rows` output channels × `cols` consecutive output pixels of
 * ONE output row (b, oy). Per (input channel, kernel row) it loads the input values its window touches once
 * (cols + kw − 1 of them at stride 1) and reuses each for every kx, where the implicit GEMM gathers cols·kw
 * values with a bounds check each. The padding checks are hoisted: the columns' clamped offsets and masks are
 * computed once per invocation, the row's once per K step. The K loop runs over (ci, ky) with kx unrolled.
 */
export const windowKernel = (o: Conv2dOptions, e: Epilogue): Kernel => {
  const [oh, ow] = conv2dOutputSize(o);
  const [sh, sw] = o.stride;
  const [dh, dw] = o.dilation;
  const [ph, pw] = o.padding;
  const cinG = o.cin / o.groups;
  const coutG = o.cout / o.groups;
  const khw = o.kh * o.kw;
  const K = cinG * khw;
  const C = windowCols((o.tile ?? softwareTile).cols, ow);
  const nbx = Math.ceil(ow / C);
  const blocks = o.batch * oh * nbx;
  const base = o.tile ?? softwareTile;
  const fitted = fitTile({ ...base, cols: C }, coutG, blocks * C);
  // Few output channels per group (depthwise: one) shrink the workgroup's rows; give the invocations back to the
  // columns: 8-invocation workgroups ran depthwise 3×3 1.5x slower than 64-invocation ones on lavapipe.
  let wgX = fitted.wgX;
  while (wgX * fitted.wgY < base.wgX * base.wgY && wgX < blocks && wgX * 2 * fitted.wgY <= 256) wgX *= 2;
  const tile: TileConfig = { ...fitted, cols: C, wgX };
  checkConv2d(o, tile);
  const R = tile.rows;
  const TM = R * tile.wgY;
  const tilesM = Math.ceil(coutG / TM);
  const tilesN = Math.ceil(blocks / tile.wgX);
  const total = tilesM * tilesN * o.groups;
  const workgroups = foldWorkgroups(total);
  const vecOut = ow % 4 === 0;
  const bindings = conv2dBindings(e);
  const decl = declareConv2dBindings(bindings, (n) => (n === 'out' || n === 'residual') && vecOut);
  const D = windowOffsets(C, o);
  const hw = o.h * o.w;

  let b = linearWorkgroupWgsl(workgroups, total);
  b += `  let tn = wid % ${u(tilesN)};\n  let tm = (wid / ${u(tilesN)}) % ${u(tilesM)};\n  let g = wid / ${u(tilesN * tilesM)};\n`;
  b += `  let row0 = tm * ${u(TM)} + lid.y * ${u(R)};\n  let blk0 = tn * ${u(tile.wgX)} + lid.x;\n`;
  b += `  let blk = min(blk0, ${u(blocks - 1)});\n`;
  b += `  let ox0 = (blk % ${u(nbx)}) * ${u(C)};\n  let oy = (blk / ${u(nbx)}) % ${u(oh)};\n  let bi = blk / ${u(nbx * oh)};\n`;
  for (let i = 0; i < R; i++) b += `  let wr${i} = (g * ${u(coutG)} + min(row0 + ${i}u, ${u(coutG - 1)})) * ${u(K)};\n`;
  b += `  let xb = i32(bi * ${u(o.cin * hw)} + g * ${u(cinG * hw)});\n`;
  b += `  let iy0 = i32(oy * ${u(sh)}) - ${s(ph)};\n  let ix0 = i32(ox0 * ${u(sw)}) - ${s(pw)};\n`;
  // Per offset d: can the column fall left of the row, or right of it (the last block's tail included)?
  const lastIx0 = (nbx - 1) * C * sw - pw;
  const masked: boolean[] = [];
  for (const d of D) {
    const low = d - pw < 0;
    const high = lastIx0 + d > o.w - 1;
    // Without padding only the tail's discarded columns leave the row: clamp, no mask.
    masked.push(pw > 0 && (low || high));
    const ix = `ix0 + ${s(d)}`;
    b += `  let xo${d} = ${low || high ? `clamp(${ix}, 0i, ${s(o.w - 1)})` : ix};\n`;
    if (pw > 0 && (low || high)) b += `  let okx${d} = ${ix} >= 0i && ${ix} < ${s(o.w)};\n`;
  }
  b += declareAccumulators(R, C);
  // One K step: kernel row `ky` of input channel `ci`, weights of that row from `wk` on (r = ci·kh + ky).
  const step = (ci: string, ky: string, wk: string, tag: string): string => {
    let t = `    {\n    let iy${tag} = iy0 + i32(${ky} * ${u(dh)});\n`;
    if (ph > 0) {
      t += `    let oky${tag} = iy${tag} >= 0i && iy${tag} < ${s(o.h)};\n`;
      t += `    let xr${tag} = xb + i32(${ci} * ${u(hw)}) + clamp(iy${tag}, 0i, ${s(o.h - 1)}) * ${s(o.w)};\n`;
    } else {
      t += `    let xr${tag} = xb + i32(${ci} * ${u(hw)}) + iy${tag} * ${s(o.w)};\n`;
    }
    D.forEach((d, k) => {
      const load = `x[u32(xr${tag} + xo${d})]`;
      const cond = [...(ph > 0 ? [`oky${tag}`] : []), ...(masked[k] ? [`okx${d}`] : [])];
      t += `    let v${tag}_${d} = ${cond.length === 0 ? load : `select(0.0, ${load}, ${cond.join(' && ')})`};\n`;
    });
    for (let kx = 0; kx < o.kw; kx++) {
      t += multiplyAccumulate(
        R,
        C,
        (i) => `weight[wr${i} + ${wk} + ${u(kx)}]`,
        (j) => `vec4<f32>(${[0, 1, 2, 3].map((l) => `v${tag}_${(4 * j + l) * sw + kx * dw}`).join(', ')})`,
        `${tag}_${kx}`,
      );
    }
    return `${t}    }\n`;
  };
  // (ci, ky) flattened into one loop with kx unrolled: unrolling ky as well tripled the code and made lavapipe
  // both compile (2-4x) and run (1.5x) slower for 3x3 kernels.
  b += `  for (var r = 0u; r < ${opaqueCount(cinG * o.kh)}; r = r + 1u) {\n`;
  b += step(o.kh === 1 ? 'r' : `(r / ${u(o.kh)})`, o.kh === 1 ? '0u' : `(r % ${u(o.kh)})`, `r * ${u(o.kw)}`, 'r');
  b += `  }\n`;
  const co = `(g * ${u(coutG)} + row0 + si)`;
  const ox = `(ox0 + 4u * sj)`;
  const at = (l: number): string => `((bi * ${u(o.cout)} + ${co}) * ${u(oh)} + oy) * ${u(ow)} + ${ox} + ${l}u`;
  b += storeLoop(
    R,
    C,
    storeAccumulator({
      e,
      vecOut,
      acc: 'acc',
      valid: `blk0 < ${u(blocks)} && row0 + si < ${u(coutG)}${vecOut ? ` && ${ox} < ${u(ow)}` : ''}`,
      vecIndex: `(${at(0)}) / 4u`,
      laneValid: (l) => `${ox} + ${l}u < ${u(ow)}`,
      biasVec: `vec4<f32>(bias[${co}])`,
      biasLane: () => `bias[${co}]`,
      scalarAt: at,
    }),
  );
  const wgsl =
    `// conv2d (sliding window) ${o.batch}x${o.cin}x${o.h}x${o.w} -> ${o.cout}x${oh}x${ow} k${o.kh}x${o.kw}` +
    ` s${o.stride.join('x')} p${o.padding.join('x')} d${o.dilation.join('x')} g${o.groups}` +
    ` tile ${R}x${C} wg ${tile.wgX}x${tile.wgY}\n` +
    decl +
    epilogueFunctions(e) +
    `@compute @workgroup_size(${tile.wgX}, ${tile.wgY}, 1)\n` +
    `fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {\n${b}}\n`;
  return { label: o.label, wgsl, entryPoint: 'main', bindings, workgroups };
};
