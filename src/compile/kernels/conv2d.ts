/**
 * conv2d (NCHW) as one specialised WGSL kernel, three generators: a sliding window (conv2d-window.ts, the default
 * for every convolution but 1×1 stride-1 unpadded ones and very wide kernels, depthwise included), an implicit
 * GEMM (below; the 1×1 convolutions' kernel), and a direct depthwise kernel (below; kept as an option).
 *
 * Implicit GEMM, per group g: out[b][g·coutG + r][p] = Σ_k W[g·coutG + r][k] · X[k][(b, p)], with rows r the
 * output channels of the group, columns (b, p) = batch × output pixels, k = (ci, ky, kx) over cinG·kh·kw. This
 * is the transpose of the usual M = batch·oh·ow orientation: columns along output pixels make the stores (and,
 * for 1×1 stride-1 convolutions, the input loads) contiguous, so they are vec4 when oh·ow % 4 = 0. The im2col
 * matrix X is never built: each invocation computes its columns' input coordinates once and gathers, with
 * zero padding by bounds checks (elided when padding is 0).
 */
import type { Kernel } from '../kernel.ts';
import {
  type Conv2dAlgorithm,
  type Conv2dOptions,
  checkConv2d,
  conv2dBindings,
  conv2dOutputSize,
  declareConv2dBindings,
  isDepthwise,
  s,
} from './conv2d-options.ts';
import { windowKernel } from './conv2d-window.ts';
import { type Epilogue, epilogueFunctions, plainEpilogue, storeAccumulator } from './epilogue.ts';
import {
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

export { type Conv2dAlgorithm, type Conv2dOptions, conv2dOutputSize, isDepthwise } from './conv2d-options.ts';

/** The input value at (column j's pixel, tap ky, kx), zero in the padding. */
const tapLoad = (o: Conv2dOptions, j: number, ky: string, kx: string): string => {
  const [dh, dw] = o.dilation;
  const iy = `(iy0_${j} + ${ky} * ${s(dh)})`;
  const ix = `(ix0_${j} + ${kx} * ${s(dw)})`;
  const conds: string[] = [];
  if (o.padding[0] > 0) conds.push(`${iy} >= 0i && ${iy} < ${s(o.h)}`);
  if (o.padding[1] > 0) conds.push(`${ix} >= 0i && ${ix} < ${s(o.w)}`);
  if (conds.length === 0) return `x[u32(xc_${j} + ${iy} * ${s(o.w)} + ${ix})]`;
  // Clamp the address too, so the discarded read stays inside the buffer.
  return `select(0.0, x[u32(clamp(xc_${j} + ${iy} * ${s(o.w)} + ${ix}, 0i, ${s(o.batch * o.cin * o.h * o.w - 1)}))], ${conds.join(' && ')})`;
};

const gemmKernel = (o: Conv2dOptions, e: Epilogue): Kernel => {
  const [oh, ow] = conv2dOutputSize(o);
  const ohw = oh * ow;
  const cinG = o.cin / o.groups;
  const coutG = o.cout / o.groups;
  const khw = o.kh * o.kw;
  const K = cinG * khw;
  const cols = o.batch * ohw;
  const tile = fitTile(o.tile ?? softwareTile, coutG, cols);
  checkConv2d(o, tile);
  const TM = tile.rows * tile.wgY;
  const TN = tile.cols * tile.wgX;
  const tilesM = Math.ceil(coutG / TM);
  const tilesN = Math.ceil(cols / TN);
  const total = tilesM * tilesN * o.groups;
  const workgroups = foldWorkgroups(total);
  const vecOut = ohw % 4 === 0;
  // 1×1, stride 1, no padding: X[ci][(b, p)] = x[b][ci][p], contiguous along p.
  const pointwise = khw === 1 && o.stride[0] === 1 && o.stride[1] === 1 && o.padding[0] === 0 && o.padding[1] === 0;
  const vecX = pointwise && vecOut;
  const bindings = conv2dBindings(e);
  const decl = declareConv2dBindings(bindings, (n) => (n === 'x' ? vecX : n === 'out' || n === 'residual' ? vecOut : false));

  let b = linearWorkgroupWgsl(workgroups, total);
  b += `  let tn = wid % ${u(tilesN)};\n  let tm = (wid / ${u(tilesN)}) % ${u(tilesM)};\n  let g = wid / ${u(tilesN * tilesM)};\n`;
  b += `  let row0 = tm * ${u(TM)} + lid.y * ${u(tile.rows)};\n  let col0 = tn * ${u(TN)} + lid.x * ${u(tile.cols)};\n`;
  for (let i = 0; i < tile.rows; i++) b += `  let wr${i} = (g * ${u(coutG)} + min(row0 + ${i}u, ${u(coutG - 1)})) * ${u(K)};\n`;
  if (vecX) {
    for (let j = 0; j < tile.cols / 4; j++) {
      b += `  let n${j} = min(col0 + ${4 * j}u, ${u(cols - 4)});\n`;
      b += `  let xv${j} = ((n${j} / ${u(ohw)}) * ${u(o.cin * ohw)} + g * ${u(cinG * ohw)} + n${j} % ${u(ohw)}) / 4u;\n`;
    }
  } else {
    for (let j = 0; j < tile.cols; j++) {
      b += `  let n${j} = min(col0 + ${j}u, ${u(cols - 1)});\n  let p${j} = n${j} % ${u(ohw)};\n`;
      b += `  let xb${j} = i32((n${j} / ${u(ohw)}) * ${u(o.cin * o.h * o.w)} + g * ${u(cinG * o.h * o.w)});\n`;
      b += `  let iy0_${j} = i32((p${j} / ${u(ow)}) * ${u(o.stride[0])}) - ${s(o.padding[0])};\n`;
      b += `  let ix0_${j} = i32((p${j} % ${u(ow)}) * ${u(o.stride[1])}) - ${s(o.padding[1])};\n`;
    }
  }
  b += declareAccumulators(tile.rows, tile.cols);
  b += `  for (var ci = 0u; ci < ${opaqueCount(cinG)}; ci = ci + 1u) {\n`;
  if (vecX) {
    b += multiplyAccumulate(tile.rows, tile.cols, (i) => `weight[wr${i} + ci]`, (j) => `x[xv${j} + ci * ${u(ohw / 4)}]`, 'p');
  } else {
    for (let j = 0; j < tile.cols; j++) b += `    let xc_${j} = xb${j} + i32(ci) * ${s(o.h * o.w)};\n`;
    const tap = (ky: string, kx: string, kIndex: string, tag: string): string =>
      multiplyAccumulate(
        tile.rows,
        tile.cols,
        (i) => `weight[wr${i} + ci * ${u(khw)} + ${kIndex}]`,
        (j) => `vec4<f32>(${[0, 1, 2, 3].map((l) => tapLoad(o, 4 * j + l, ky, kx)).join(', ')})`,
        tag,
      );
    if (khw <= 49) {
      // Unrolled taps: every offset is a constant.
      for (let ky = 0; ky < o.kh; ky++) for (let kx = 0; kx < o.kw; kx++) b += tap(s(ky), s(kx), u(ky * o.kw + kx), `${ky}_${kx}`);
    } else {
      b += `    for (var ky = 0i; ky < ${s(o.kh)}; ky = ky + 1i) {\n    for (var kx = 0i; kx < ${s(o.kw)}; kx = kx + 1i) {\n`;
      b += tap('ky', 'kx', `u32(ky * ${s(o.kw)} + kx)`, 't');
      b += `    }\n    }\n`;
    }
  }
  b += `  }\n`;
  const co = `(g * ${u(coutG)} + row0 + si)`;
  const col = `(col0 + 4u * sj)`;
  // Output index of column c: (c / ohw)·cout·ohw + co·ohw + c % ohw.
  const at = (c: string): string => `(${c} / ${u(ohw)}) * ${u(o.cout * ohw)} + ${co} * ${u(ohw)} + ${c} % ${u(ohw)}`;
  b += storeLoop(
    tile.rows,
    tile.cols,
    storeAccumulator({
      e,
      vecOut,
      acc: 'acc',
      valid: `row0 + si < ${u(coutG)}${vecOut ? ` && ${col} < ${u(cols)}` : ''}`,
      vecIndex: `(${at(col)}) / 4u`,
      laneValid: (l) => `${col} + ${l}u < ${u(cols)}`,
      biasVec: `vec4<f32>(bias[${co}])`,
      biasLane: () => `bias[${co}]`,
      scalarAt: (l) => at(`(${col} + ${l}u)`),
    }),
  );
  const wgsl =
    `// conv2d (implicit GEMM) ${o.batch}x${o.cin}x${o.h}x${o.w} -> ${o.cout}x${oh}x${ow} k${o.kh}x${o.kw}` +
    ` s${o.stride.join('x')} p${o.padding.join('x')} d${o.dilation.join('x')} g${o.groups}` +
    ` tile ${tile.rows}x${tile.cols} wg ${tile.wgX}x${tile.wgY}${pointwise ? ' pointwise' : ''}\n` +
    decl +
    epilogueFunctions(e) +
    `@compute @workgroup_size(${tile.wgX}, ${tile.wgY}, 1)\n` +
    `fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {\n${b}}\n`;
  return { label: o.label, wgsl, entryPoint: 'main', bindings, workgroups };
};

/** Output pixels along x per invocation of the depthwise kernel. */
const DW_VEC = 4;
const DW_WG = 64;

const depthwiseKernel = (o: Conv2dOptions, e: Epilogue): Kernel => {
  checkConv2d(o, softwareTile);
  const [oh, ow] = conv2dOutputSize(o);
  const mult = o.cout / o.groups;
  const owq = Math.ceil(ow / DW_VEC);
  const invocations = o.batch * o.cout * oh * owq;
  const total = Math.ceil(invocations / DW_WG);
  const workgroups = foldWorkgroups(total);
  const vecOut = ow % 4 === 0;
  const bindings = conv2dBindings(e);
  const decl = declareConv2dBindings(bindings, (n) => (n === 'out' || n === 'residual') && vecOut);
  const [sh, sw] = o.stride;
  const [dh, dw] = o.dilation;
  let b = linearWorkgroupWgsl(workgroups, total);
  b += `  let inv = wid * ${u(DW_WG)} + lid.x;\n  if (inv >= ${u(invocations)}) { return; }\n`;
  b += `  let q = inv % ${u(owq)};\n  let oy = (inv / ${u(owq)}) % ${u(oh)};\n  let bc = inv / ${u(owq * oh)};\n`;
  b += `  let co = bc % ${u(o.cout)};\n  let bi = bc / ${u(o.cout)};\n`;
  b += `  let xc = i32((bi * ${u(o.cin)} + co / ${u(mult)}) * ${u(o.h * o.w)});\n  let wc = co * ${u(o.kh * o.kw)};\n`;
  b += `  let ox0 = q * ${u(DW_VEC)};\n`;
  b += `  var acc = vec4<f32>(0.0);\n`;
  const last = o.batch * o.cin * o.h * o.w - 1;
  for (let ky = 0; ky < o.kh; ky++) {
    b += `  {\n    let iy = i32(oy * ${u(sh)}) + ${s(ky * dh - o.padding[0])};\n`;
    const rowOk = o.padding[0] > 0 ? `iy >= 0i && iy < ${s(o.h)}` : 'true';
    for (let kx = 0; kx < o.kw; kx++) {
      b += `    {\n      let wv = weight[wc + ${u(ky * o.kw + kx)}];\n`;
      const lanes = [0, 1, 2, 3].map((l) => {
        const ix = `(i32((ox0 + ${l}u) * ${u(sw)}) + ${s(kx * dw - o.padding[1])})`;
        const ok = o.padding[1] > 0 ? `${rowOk} && ${ix} >= 0i && ${ix} < ${s(o.w)}` : rowOk;
        const idx = `clamp(xc + iy * ${s(o.w)} + ${ix}, 0i, ${s(last)})`;
        return ok === 'true' ? `x[u32(${idx})]` : `select(0.0, x[u32(${idx})], ${ok})`;
      });
      b += `      acc = fma(vec4<f32>(wv), vec4<f32>(${lanes.join(', ')}), acc);\n    }\n`;
    }
    b += `  }\n`;
  }
  const outAt = (l: number): string => `((bi * ${u(o.cout)} + co) * ${u(oh)} + oy) * ${u(ow)} + ox0 + ${l}u`;
  b += storeAccumulator({
    e,
    vecOut,
    acc: 'acc',
    valid: vecOut ? `ox0 < ${u(ow)}` : 'true',
    vecIndex: `(${outAt(0)}) / 4u`,
    laneValid: (l) => `ox0 + ${l}u < ${u(ow)}`,
    biasVec: 'vec4<f32>(bias[co])',
    biasLane: () => 'bias[co]',
    scalarAt: outAt,
  });
  const wgsl =
    `// conv2d (depthwise, direct) ${o.batch}x${o.cin}x${o.h}x${o.w} -> ${o.cout}x${oh}x${ow} k${o.kh}x${o.kw}` +
    ` s${o.stride.join('x')} p${o.padding.join('x')} d${o.dilation.join('x')} g${o.groups}\n` +
    decl +
    epilogueFunctions(e) +
    `@compute @workgroup_size(${DW_WG}, 1, 1)\n` +
    `fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {\n${b}}\n`;
  return { label: o.label, wgsl, entryPoint: 'main', bindings, workgroups };
};

/**
 * The kernel {@link conv2dKernel} generates for `o`: `o.algorithm` unless 'auto'; then 1×1 stride-1 unpadded
 * convolutions (plain GEMMs with contiguous vec4 loads) and kernels wider than 11 use 'gemm', every other one
 * (depthwise included: 1.5x faster than 'direct' on lavapipe) 'window', which loads each input value once per
 * window instead of once per tap.
 *
 * @example
 * conv2dAlgorithm({ ...o, kh: 3, kw: 3 }) // 'window'
 */
export const conv2dAlgorithm = (o: Conv2dOptions): Exclude<Conv2dAlgorithm, 'auto'> => {
  if (o.algorithm !== undefined && o.algorithm !== 'auto') return o.algorithm;
  if (isDepthwise(o)) return 'window';
  const pointwise = o.kh === 1 && o.kw === 1 && o.stride[0] === 1 && o.stride[1] === 1 && o.padding[0] === 0 && o.padding[1] === 0;
  return pointwise || o.kw > 11 ? 'gemm' : 'window';
};

/**
 * The WGSL kernel of a convolution with its bindings (in order: x, weight, bias?, residual?, out) and dispatch size,
 * generated by the algorithm {@link conv2dAlgorithm} picks.
 *
 * @example
 * conv2dKernel({ label: 'conv2d at stem', batch: 64, cin: 3, h: 32, w: 32, cout: 16, kh: 3, kw: 3,
 *                stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1,
 *                epilogue: { bias: true, activation: 'relu', residual: false } })
 */
export const conv2dKernel = (o: Conv2dOptions): Kernel => {
  const e = o.epilogue ?? plainEpilogue;
  const algorithm = conv2dAlgorithm(o);
  switch (algorithm) {
    case 'window':
      return windowKernel(o, e);
    case 'gemm':
      return gemmKernel(o, e);
    case 'direct':
      if (!isDepthwise(o)) throw new Error(`conv2d ${o.label}: the direct kernel is for depthwise convolutions only`);
      return depthwiseKernel(o, e);
    default: {
      const never: never = algorithm;
      throw new Error(`unknown conv2d algorithm ${String(never)}`);
    }
  }
};
