/**
 * Elementwise and per-row kernels of training: activation derivatives, dropout with the counter RNG (masks equal
 * to the reference interpreter's bit for bit), channel slices (the VJP of concat), softmax / log-softmax
 * gradients and constant fills.
 *
 * Derivatives at kinks follow PyTorch (and the reference): relu′(0) = 0, relu6′(0) = relu6′(6) = 0; a NaN input
 * passes the gradient of relu and relu6 through and makes the smooth ones NaN.
 */
import { COUNTER_RNG_WGSL, dropoutThreshold, siteId } from '../../ir/counter-rng.ts';
import type { Binding, Kernel } from '../kernel.ts';
import { type EpilogueStep, ewKernel, stridedCopyKernel } from './elementwise.ts';
import { HELPERS, elementwiseModule, f32, flatIndexPrologue, gridFor, u32, WORKGROUP_SIZE } from './wgsl.ts';

export type ActivationFn = 'relu' | 'relu6' | 'sigmoid' | 'tanh' | 'gelu';

/** WGSL f32 expression of dy·f′(x) for x = `x`, dy = `dy` (plain identifiers). */
export const activationGradExpr = (fn: ActivationFn, x: string, dy: string): string => {
  switch (fn) {
    case 'relu':
      return `select(0.0, ${dy}, ${x} > 0.0 || is_nan(${x}))`;
    case 'relu6':
      return `select(0.0, ${dy}, (${x} > 0.0 && ${x} < 6.0) || is_nan(${x}))`;
    case 'sigmoid':
      // exp(−x) overflows to inf for very negative x: 1/(1 + inf) = 0, and the derivative is 0, as it should be.
      return `${dy} * (1.0 / (1.0 + exp(-${x}))) * (1.0 - 1.0 / (1.0 + exp(-${x})))`;
    case 'tanh':
      return `select(${dy} * (1.0 - tanh(clamp(${x}, -15.0, 15.0)) * tanh(clamp(${x}, -15.0, 15.0))), ${x} + ${dy}, is_nan(${x}))`;
    case 'gelu':
      // d/dx x·Φ(x) = Φ(x) + x·φ(x).
      return `${dy} * (0.5 * (1.0 + erf_approx(${x} * 0.7071067811865476)) + ${x} * 0.3989422804014327 * exp(-0.5 * ${x} * ${x}))`;
    default: {
      const never: never = fn;
      throw new Error(`unknown activation ${String(never)}`);
    }
  }
};

/**
 * dy·f′(x) over `n` elements, with fused epilogue steps. Bindings: x, dy, residuals…, out.
 *
 * @example
 * activationGradKernel({ label: 'activationGrad at relu1', n: 512, fn: 'relu' });
 */
export const activationGradKernel = (o: { readonly label: string; readonly n: number; readonly fn: ActivationFn; readonly epilogue?: readonly EpilogueStep[] }): Kernel =>
  ewKernel({ label: o.label, n: o.n, inputs: [{ kind: 'flat' }, { kind: 'flat' }], expr: activationGradExpr(o.fn, 'v0', 'v1'), epilogue: o.epilogue ?? [] });

/**
 * Inverted dropout as trained: out = x·keep/(1 − p), keep = dropout_keep(seed, siteId(site), index, threshold(p)),
 * index the flat element index over the batch (n·C + c when channelwise), seed read from a one-element u32 buffer
 * (a per-step scalar). Bindings: x, seed, out.
 *
 * @example
 * dropoutTrainKernel({ label: 'dropout at fc1', n: 256, p: 0.5, site: 'fc1/drop', perChannel: 1 });
 */
export const dropoutTrainKernel = (o: { readonly label: string; readonly n: number; readonly p: number; readonly site: string; readonly perChannel: number }): Kernel => {
  const bindings: readonly Binding[] = [
    { name: 'x', access: 'read' },
    { name: 'seed', access: 'read' },
    { name: 'out', access: 'read_write' },
  ];
  const grid = gridFor(o.n);
  const index = o.perChannel === 1 ? 'i' : `i / ${u32(o.perChannel)}`;
  const wgsl = `${HELPERS}${COUNTER_RNG_WGSL}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> seed: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// dropout p=${o.p}
@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {${flatIndexPrologue(o.n, grid)}
  let keep = dropout_keep(seed[0], ${u32(siteId(o.site))}, ${index}, ${u32(dropoutThreshold(o.p))});
  out[i] = x[i] * select(0.0, ${f32(1 / (1 - o.p))}, keep);
}
`;
  return { label: o.label, wgsl, entryPoint: 'main', bindings, workgroups: grid };
};

/** Channels [start, start + count) of a [rows, channels, inner] value: a strided copy. Bindings: x, out. */
export const sliceChannelsKernel = (o: { readonly label: string; readonly rows: number; readonly channels: number; readonly inner: number; readonly start: number; readonly count: number }): Kernel =>
  stridedCopyKernel({
    label: o.label,
    rows: o.rows,
    src: [o.channels, o.inner],
    dst: [o.count, o.inner],
    window: [o.count, o.inner],
    srcStart: [o.start, 0],
    srcStep: [1, 1],
    dstStart: [0, 0],
    dstStep: [1, 1],
    zeroElsewhere: false,
  });

/**
 * Softmax (y·(dy − Σ y·dy)) or log-softmax (dy − exp(y)·Σ dy) gradient over the first per-sample axis, from the
 * forward output y; one invocation per (row, inner position). Bindings: y, dy, out.
 */
export const softmaxGradKernel = (o: { readonly label: string; readonly rows: number; readonly channels: number; readonly inner: number; readonly log: boolean }): Kernel => {
  const at = `base + c * ${u32(o.inner)}`;
  return elementwiseModule({
    label: o.label,
    bindings: [
      { name: 'y', access: 'read' },
      { name: 'dy', access: 'read' },
      { name: 'out', access: 'read_write' },
    ],
    n: o.rows * o.inner,
    body: `let base = (i / ${u32(o.inner)}) * ${u32(o.channels * o.inner)} + i % ${u32(o.inner)};
  var s = 0.0;
  for (var c = 0u; c < ${u32(o.channels)}; c++) { s = s + ${o.log ? `dy[${at}]` : `y[${at}] * dy[${at}]`}; }
  for (var c = 0u; c < ${u32(o.channels)}; c++) { out[${at}] = ${o.log ? `dy[${at}] - exp(y[${at}]) * s` : `y[${at}] * (dy[${at}] - s)`}; }`,
  });
};

/** `n` copies of a constant. Bindings: out. */
export const fillKernel = (label: string, n: number, value: number): Kernel =>
  elementwiseModule({ label, bindings: [{ name: 'out', access: 'read_write' }], n, body: `out[i] = ${f32(value)};` });
