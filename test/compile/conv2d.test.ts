/**
 * conv2d kernels on the GPU against a float64 convolution written from its definition: fast-check shapes and
 * attributes (small: lavapipe is slow) over groups, depthwise (with channel multipliers), dilation, stride,
 * padding, every epilogue and several tiles; the 1×1 vec4 path, the looped large-kernel path, and compilation of
 * large shapes whose workgroup grid is folded.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { type Conv2dAlgorithm, type Conv2dOptions, conv2dAlgorithm, conv2dKernel, conv2dOutputSize, isDepthwise } from '../../src/compile/kernels/conv2d.ts';
import { type Activation, type Epilogue, activations } from '../../src/compile/kernels/epilogue.ts';
import { type TileConfig, gpuTile, softwareTile } from '../../src/compile/kernels/tiles.ts';
import { MAX_WORKGROUPS_PER_DIM } from '../../src/compile/kernel.ts';
import { describeGpu, runCompute, unwrapGpu } from '../gpu.ts';
import { act64, erf64, rand } from './float64-oracle.ts';

// ---- float64 references, independent of the generators ----


/** out[b][co][oy][ox] = Σ_{ci in group, ky, kx} x[b][ci][oy·s − p + ky·d][ox·s − p + kx·d] · w[co][ci − g·cinG][ky][kx]. */
const reference = (o: Conv2dOptions, e: Epilogue, x: Float32Array, w: Float32Array, bias: Float32Array, res: Float32Array) => {
  const [oh, ow] = conv2dOutputSize(o);
  const cinG = o.cin / o.groups;
  const coutG = o.cout / o.groups;
  const want = new Float64Array(o.batch * o.cout * oh * ow);
  const scale = new Float64Array(want.length);
  for (let b = 0; b < o.batch; b++) for (let co = 0; co < o.cout; co++) for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
    const g = Math.floor(co / coutG);
    let sum = 0;
    let abs = 0;
    for (let c = 0; c < cinG; c++) for (let ky = 0; ky < o.kh; ky++) for (let kx = 0; kx < o.kw; kx++) {
      const iy = oy * o.stride[0] - o.padding[0] + ky * o.dilation[0];
      const ix = ox * o.stride[1] - o.padding[1] + kx * o.dilation[1];
      if (iy < 0 || iy >= o.h || ix < 0 || ix >= o.w) continue;
      const t = x[((b * o.cin + g * cinG + c) * o.h + iy) * o.w + ix]! * w[((co * cinG + c) * o.kh + ky) * o.kw + kx]!;
      sum += t;
      abs += Math.abs(t);
    }
    const i = ((b * o.cout + co) * oh + oy) * ow + ox;
    if (e.bias) { sum += bias[co]!; abs += Math.abs(bias[co]!); }
    let v = act64(e.activation, sum);
    if (e.residual) { v += res[i]!; abs += Math.abs(res[i]!); }
    want[i] = v;
    scale[i] = abs;
  }
  return { want, scale };
};

interface Case { readonly o: Conv2dOptions; readonly e: Epilogue; readonly seed: number }

const tiles: readonly TileConfig[] = [
  softwareTile,
  gpuTile, // its `shared` flag is ignored by conv (register blocking only)
  { rows: 4, cols: 4, wgX: 2, wgY: 2, shared: false, kTile: 16 },
  { rows: 3, cols: 8, wgX: 4, wgY: 2, shared: false, kTile: 16 },
  { rows: 2, cols: 16, wgX: 2, wgY: 2, shared: false, kTile: 16 },
];

const epilogueArb: fc.Arbitrary<Epilogue> = fc.record({ bias: fc.boolean(), activation: fc.constantFrom(...activations), residual: fc.boolean() });

const convArb: fc.Arbitrary<Case> = fc
  .record({
    batch: fc.integer({ min: 1, max: 2 }),
    groups: fc.integer({ min: 1, max: 3 }),
    cinG: fc.integer({ min: 1, max: 3 }),
    coutG: fc.integer({ min: 1, max: 5 }),
    h: fc.integer({ min: 1, max: 9 }),
    w: fc.integer({ min: 1, max: 9 }),
    kh: fc.integer({ min: 1, max: 3 }),
    kw: fc.integer({ min: 1, max: 3 }),
    stride: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
    padding: fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })),
    dilation: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
    tile: fc.constantFrom(...tiles),
    // 'auto' is what the lowering uses; the forced GEMM is the slowest to compile, so it is drawn less often.
    algorithm: fc.oneof(
      { arbitrary: fc.constant<Conv2dAlgorithm>('auto'), weight: 3 },
      { arbitrary: fc.constant<Conv2dAlgorithm>('gemm'), weight: 1 },
      { arbitrary: fc.constant<Conv2dAlgorithm>('window'), weight: 1 },
    ),
    e: epilogueArb,
    seed: fc.nat(),
  })
  .map(({ groups, cinG, coutG, e, seed, ...r }): Case => ({
    o: { label: 'conv test', ...r, cin: groups * cinG, cout: groups * coutG, groups },
    e,
    seed,
  }))
  .filter(({ o }) => conv2dOutputSize(o).every((d) => d >= 1));

await describeGpu('conv2d kernels', (gpu) => {
  const runCase = async ({ o, e, seed }: Case): Promise<void> => {
    const [oh, ow] = conv2dOutputSize(o);
    const n = o.batch * o.cout * oh * ow;
    const x = rand(o.batch * o.cin * o.h * o.w, seed);
    const w = rand(o.cout * (o.cin / o.groups) * o.kh * o.kw, seed + 1);
    const bias = rand(o.cout, seed + 2);
    const res = rand(n, seed + 3);
    const k = conv2dKernel({ ...o, epilogue: e });
    expect(k.bindings.map((b) => b.name)).toEqual(['x', 'weight', ...(e.bias ? ['bias'] : []), ...(e.residual ? ['residual'] : []), 'out']);
    const inputs = [x, w, ...(e.bias ? [bias] : []), ...(e.residual ? [res] : [])];
    const out = new Float32Array(unwrapGpu(await runCompute(gpu, { label: k.label, wgsl: k.wgsl, inputs, outputBytes: n * 4, workgroups: k.workgroups })));
    const { want, scale } = reference(o, e, x, w, bias, res);
    const K = (o.cin / o.groups) * o.kh * o.kw;
    for (let i = 0; i < n; i++) {
      // Tolerance: f32 summation error ~ K·eps·Σ|terms|; 1e-6·(1 + Σ|terms|)·√K plus 2e-6 for erf/exp is generous
      // for these K (≤ 27 in the property) and far below an indexing mistake (O(1)).
      const tol = 2e-6 + 1e-6 * (1 + scale[i]!) * Math.sqrt(K);
      if (!(Math.abs(out[i]! - want[i]!) <= tol)) {
        throw new Error(`element ${i}: got ${out[i]}, want ${want[i]} (tol ${tol}) for ${JSON.stringify({ o, e })}`);
      }
    }
  };

  it('matches a float64 convolution for random shapes, groups, strides, paddings, dilations, epilogues, tiles', async () => {
    await fc.assert(fc.asyncProperty(convArb, runCase), { numRuns: 25 });
  }, 600_000);

  it('matches on depthwise convolutions (channel multiplier 1 and 2), with stride, padding and dilation', async () => {
    const dw = (cin: number, mult: number, h: number, w: number, k: number, s: number, p: number, d: number): Conv2dOptions =>
      ({ label: 'dw', batch: 2, cin, h, w, cout: cin * mult, kh: k, kw: k, stride: [s, s], padding: [p, p], dilation: [d, d], groups: cin });
    for (const [o, e] of [
      [dw(3, 1, 9, 7, 3, 1, 1, 1), { bias: true, activation: 'relu', residual: true }],
      [dw(4, 2, 8, 8, 3, 2, 1, 1), { bias: false, activation: 'gelu', residual: false }],
      [dw(2, 1, 11, 10, 5, 1, 4, 2), { bias: true, activation: 'none', residual: false }],
      [dw(5, 3, 6, 9, 2, 2, 0, 1), { bias: true, activation: 'sigmoid', residual: true }],
    ] as const) {
      expect(isDepthwise(o)).toBe(true);
      expect(conv2dAlgorithm(o)).toBe('window');
      // The default (sliding window, two tiles) and the direct kernel.
      for (const variant of [{}, { tile: { rows: 2, cols: 16, wgX: 4, wgY: 2, shared: false, kTile: 16 } }, { algorithm: 'direct' }] as const) {
        await runCase({ o: { ...o, ...variant }, e, seed: o.cin * 7 + o.h });
      }
    }
  }, 300_000);

  it('matches on the 1×1 vec4 path, a looped large kernel (7×8), and exact tile multiples', async () => {
    const base = { label: 'conv', stride: [1, 1], dilation: [1, 1], groups: 1 } as const;
    const e: Epilogue = { bias: true, activation: 'relu6', residual: true };
    for (const o of [
      { ...base, batch: 2, cin: 6, h: 4, w: 4, cout: 8, kh: 1, kw: 1, padding: [0, 0] },
      { ...base, batch: 3, cin: 5, h: 3, w: 3, cout: 7, kh: 1, kw: 1, padding: [0, 0] },
      { ...base, batch: 1, cin: 2, h: 9, w: 10, cout: 3, kh: 7, kw: 8, padding: [3, 2] },
      { ...base, batch: 1, cin: 4, h: 8, w: 8, cout: 64, kh: 3, kw: 3, padding: [1, 1] },
    ] as const) {
      await runCase({ o, e, seed: o.cin + o.kh });
    }
  }, 300_000);

  it('sliding window: row tails, wide rows, stride 2 with dilation, padding wider than the kernel, 1×k and k×1', async () => {
    const base = { label: 'window', batch: 2, groups: 1, algorithm: 'window' } as const;
    const wide: TileConfig = { rows: 4, cols: 16, wgX: 4, wgY: 2, shared: false, kTile: 16 };
    for (const [o, e] of [
      // 21 columns: one full block of 16 and a tail of 5; no padding, so the tail's taps are clamped, not masked.
      [{ ...base, cin: 3, h: 5, w: 23, cout: 6, kh: 3, kw: 3, stride: [1, 1], padding: [0, 0], dilation: [1, 1], tile: wide }, { bias: true, activation: 'none', residual: true }],
      [{ ...base, cin: 2, h: 7, w: 19, cout: 5, kh: 3, kw: 3, stride: [2, 2], padding: [1, 1], dilation: [2, 1] }, { bias: false, activation: 'tanh', residual: false }],
      [{ ...base, cin: 2, h: 4, w: 6, cout: 3, kh: 2, kw: 2, stride: [1, 1], padding: [3, 3], dilation: [1, 1] }, { bias: true, activation: 'relu', residual: true }],
      [{ ...base, cin: 3, h: 6, w: 12, cout: 4, kh: 1, kw: 5, stride: [1, 1], padding: [0, 2], dilation: [1, 1], tile: wide }, { bias: true, activation: 'none', residual: false }],
      [{ ...base, cin: 3, h: 9, w: 8, cout: 9, kh: 5, kw: 1, stride: [1, 2], padding: [2, 0], dilation: [1, 1] }, { bias: false, activation: 'none', residual: true }],
    ] as const) {
      expect(conv2dAlgorithm(o)).toBe('window');
      expect(conv2dKernel(o).wgsl).toContain('sliding window');
      await runCase({ o, e, seed: o.w + o.kw });
    }
    // 'auto' picks the GEMM for 1×1 stride-1 unpadded convolutions and the window otherwise.
    const pw = { ...base, algorithm: 'auto', cin: 4, h: 4, w: 4, cout: 4, kh: 1, kw: 1, stride: [1, 1], padding: [0, 0], dilation: [1, 1] } as const;
    expect(conv2dAlgorithm(pw)).toBe('gemm');
    expect(conv2dAlgorithm({ ...pw, kh: 3, kw: 3 })).toBe('window');
  }, 300_000);

  it('compiles for large shapes whose grid is folded (not run)', async () => {
    const e: Epilogue = { bias: true, activation: 'gelu', residual: true };
    const base = { label: 'large', stride: [1, 1], padding: [1, 1], dilation: [1, 1], kh: 3, kw: 3 } as const;
    for (const o of [
      { ...base, batch: 4096, cin: 16, h: 64, w: 64, cout: 16, groups: 1 },
      { ...base, batch: 4096, cin: 64, h: 64, w: 64, cout: 64, groups: 64 },
    ] as const) {
      const k = conv2dKernel({ ...o, epilogue: e });
      expect(Math.max(...k.workgroups)).toBeLessThanOrEqual(MAX_WORKGROUPS_PER_DIM);
      expect(k.workgroups[1]).toBeGreaterThan(1);
      unwrapGpu(
        await gpu.withErrorScope('compile large conv2d', async (device) => {
          const module = device.createShaderModule({ code: k.wgsl });
          const info = await module.getCompilationInfo();
          const errors = info.messages.filter((m) => m.type === 'error');
          if (errors.length > 0) throw new Error(errors.map((m) => m.message).join('\n'));
          device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: k.entryPoint } });
        }),
      );
    }
  }, 300_000);
});
