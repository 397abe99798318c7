/**
 * Gradients of pooling as gathers (one invocation per input element, summing the windows that read it), so no
 * two invocations write one element and nothing needs atomics. Max pooling first records each window's argmax
 * (its position inside the window, a small integer exact in f32), with the forward kernel's tie rule.
 */
import type { Pair } from '../../ir/shape.ts';
import type { Kernel } from '../kernel.ts';
import type { PoolGeometry } from './pool.ts';
import { elementwiseModule, u32 } from './wgsl.ts';

const i = (n: number): string => `${Math.trunc(n)}i`;

/**
 * Per output window, the position ky·kw + kx of the element max pooling took: the first maximum in row-major
 * order (a NaN replaces the running maximum, as PyTorch's CPU kernel; padding is never chosen).
 * Bindings: x, out (one f32 per output element).
 */
export const maxPoolArgmaxKernel = (g: PoolGeometry, kernel: Pair, stride: Pair, padding: Pair): Kernel =>
  elementwiseModule({
    label: `${g.label} (argmax)`,
    bindings: [
      { name: 'x', access: 'read' },
      { name: 'out', access: 'read_write' },
    ],
    n: g.batch * g.channels * g.outH * g.outW,
    body: `let ox = i32(i % ${u32(g.outW)});
  let oy = i32((i / ${u32(g.outW)}) % ${u32(g.outH)});
  let base = (i / ${u32(g.outW * g.outH)}) * ${u32(g.inH * g.inW)};
  let y0 = oy * ${i(stride[0])} - ${i(padding[0])};
  let x0 = ox * ${i(stride[1])} - ${i(padding[1])};
  var best = 0.0;
  var at = 0i;
  var first = true;
  for (var ky = 0i; ky < ${i(kernel[0])}; ky++) {
    let y = y0 + ky;
    if (y < 0i || y >= ${i(g.inH)}) { continue; }
    for (var kx = 0i; kx < ${i(kernel[1])}; kx++) {
      let xx = x0 + kx;
      if (xx < 0i || xx >= ${i(g.inW)}) { continue; }
      let v = x[base + u32(y) * ${u32(g.inW)} + u32(xx)];
      if (first || v > best || is_nan(v)) { best = v; at = ky * ${i(kernel[1])} + kx; first = false; }
    }
  }
  out[i] = f32(at);`,
  });

/** WGSL: the output rows (or columns) `lo..hi` whose windows contain input coordinate `c`. */
const windowRange = (name: string, c: string, k: number, s: number, p: number, out: number): string =>
  `let n_${name} = ${c} + ${i(p - k + 1)};
  let ${name}Lo = select(0i, (n_${name} + ${i(s - 1)}) / ${i(s)}, n_${name} > 0i);
  let ${name}Hi = min(${i(out - 1)}, (${c} + ${i(p)}) / ${i(s)});`;

const decomposeInput = (g: PoolGeometry): string => `let ix = i32(i % ${u32(g.inW)});
  let iy = i32((i / ${u32(g.inW)}) % ${u32(g.inH)});
  let ob = (i / ${u32(g.inW * g.inH)}) * ${u32(g.outH * g.outW)};`;

/**
 * ∂L/∂x of max pooling: each input element sums dy over the windows whose argmax it is.
 * Bindings: argmax (from {@link maxPoolArgmaxKernel}), dy, out.
 */
export const maxPoolGradKernel = (g: PoolGeometry, kernel: Pair, stride: Pair, padding: Pair): Kernel =>
  elementwiseModule({
    label: g.label,
    bindings: [
      { name: 'argmax', access: 'read' },
      { name: 'dy', access: 'read' },
      { name: 'out', access: 'read_write' },
    ],
    n: g.batch * g.channels * g.inH * g.inW,
    body: stride[0] >= kernel[0] && stride[1] >= kernel[1]
      ? // Windows do not overlap (the usual 2×2/2 pool): at most one window reads an element, and no loop is needed
        // (the per-element loops with data-dependent bounds cost 4× more on lavapipe).
        `${decomposeInput(g)}
  let oy = (iy + ${i(padding[0])}) / ${i(stride[0])};
  let ox = (ix + ${i(padding[1])}) / ${i(stride[1])};
  let ry = iy + ${i(padding[0])} - oy * ${i(stride[0])};
  let rx = ix + ${i(padding[1])} - ox * ${i(stride[1])};
  let o = ob + u32(min(oy, ${i(g.outH - 1)})) * ${u32(g.outW)} + u32(min(ox, ${i(g.outW - 1)}));
  let hit = oy < ${i(g.outH)} && ox < ${i(g.outW)} && ry < ${i(kernel[0])} && rx < ${i(kernel[1])} && i32(argmax[o]) == ry * ${i(kernel[1])} + rx;
  out[i] = select(0.0, dy[o], hit);`
      : `${decomposeInput(g)}
  ${windowRange('oy', 'iy', kernel[0], stride[0], padding[0], g.outH)}
  ${windowRange('ox', 'ix', kernel[1], stride[1], padding[1], g.outW)}
  var s = 0.0;
  for (var oy = oyLo; oy <= oyHi; oy++) {
    for (var ox = oxLo; ox <= oxHi; ox++) {
      let o = ob + u32(oy) * ${u32(g.outW)} + u32(ox);
      let here = (iy - (oy * ${i(stride[0])} - ${i(padding[0])})) * ${i(kernel[1])} + (ix - (ox * ${i(stride[1])} - ${i(padding[1])}));
      if (i32(argmax[o]) == here) { s = s + dy[o]; }
    }
  }
  out[i] = s;`,
  });

/**
 * ∂L/∂x of average pooling: each input element sums dy/divisor over the windows containing it, with the forward
 * kernel's divisor (PyTorch's, `count_include_pad` or not). Bindings: dy, out.
 */
export const avgPoolGradKernel = (g: PoolGeometry, kernel: Pair, stride: Pair, padding: Pair, countIncludePad: boolean): Kernel => {
  const [kh, kw] = kernel;
  const [ph, pw] = padding;
  const divisor = countIncludePad
    ? `f32((min(y0 + ${i(kh)}, ${i(g.inH + ph)}) - y0) * (min(x0 + ${i(kw)}, ${i(g.inW + pw)}) - x0))`
    : `f32((min(y0 + ${i(kh)}, ${i(g.inH)}) - max(y0, 0i)) * (min(x0 + ${i(kw)}, ${i(g.inW)}) - max(x0, 0i)))`;
  return elementwiseModule({
    label: g.label,
    bindings: [
      { name: 'dy', access: 'read' },
      { name: 'out', access: 'read_write' },
    ],
    n: g.batch * g.channels * g.inH * g.inW,
    body: `${decomposeInput(g)}
  ${windowRange('oy', 'iy', kh, stride[0], ph, g.outH)}
  ${windowRange('ox', 'ix', kw, stride[1], pw, g.outW)}
  var s = 0.0;
  for (var oy = oyLo; oy <= oyHi; oy++) {
    let y0 = oy * ${i(stride[0])} - ${i(ph)};
    for (var ox = oxLo; ox <= oxHi; ox++) {
      let x0 = ox * ${i(stride[1])} - ${i(pw)};
      s = s + dy[ob + u32(oy) * ${u32(g.outW)} + u32(ox)] / ${divisor};
    }
  }
  out[i] = s;`,
  });
};

/**
 * ∂L/∂x of adaptive average pooling (PyTorch's possibly overlapping bins; global pooling is the 1×1 case):
 * each input element sums dy/area over the bins containing it. Bindings: dy, out.
 */
export const adaptiveAvgPoolGradKernel = (g: PoolGeometry): Kernel =>
  elementwiseModule({
    label: g.label,
    bindings: [
      { name: 'dy', access: 'read' },
      { name: 'out', access: 'read_write' },
    ],
    n: g.batch * g.channels * g.inH * g.inW,
    body: `let ix = i % ${u32(g.inW)};
  let iy = (i / ${u32(g.inW)}) % ${u32(g.inH)};
  let ob = (i / ${u32(g.inW * g.inH)}) * ${u32(g.outH * g.outW)};
  var s = 0.0;
  for (var oy = 0u; oy < ${u32(g.outH)}; oy++) {
    let ys = (oy * ${u32(g.inH)}) / ${u32(g.outH)};
    let ye = ((oy + 1u) * ${u32(g.inH)} + ${u32(g.outH - 1)}) / ${u32(g.outH)};
    if (iy < ys || iy >= ye) { continue; }
    for (var ox = 0u; ox < ${u32(g.outW)}; ox++) {
      let xs = (ox * ${u32(g.inW)}) / ${u32(g.outW)};
      let xe = ((ox + 1u) * ${u32(g.inW)} + ${u32(g.outW - 1)}) / ${u32(g.outW)};
      if (ix < xs || ix >= xe) { continue; }
      s = s + dy[ob + oy * ${u32(g.outW)} + ox] / f32((ye - ys) * (xe - xs));
    }
  }
  out[i] = s;`,
  });
