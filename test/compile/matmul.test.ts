/**
 * matmul kernels on the GPU against a float64 CPU product: fast-check shapes (small: lavapipe is slow), every
 * epilogue, transA/transB, batches with and without a shared B, odd sizes and several tile configs, including
 * workgroup-memory tiling. Plus the erf used by gelu, tile fitting, and workgroup folding.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { matmulKernel } from '../../src/compile/kernels/matmul.ts';
import { type Activation, type Epilogue, activationFunctions, activations } from '../../src/compile/kernels/epilogue.ts';
import { type TileConfig, fitTile, foldWorkgroups, gpuTile, softwareTile } from '../../src/compile/kernels/tiles.ts';
import { MAX_WORKGROUPS_PER_DIM } from '../../src/compile/kernel.ts';
import { describeGpu, runCompute, unwrapGpu } from '../gpu.ts';
import { act64, erf64, rand } from './float64-oracle.ts';

// ---- float64 references, written independently of the generators ----


interface Case {
  readonly M: number; readonly N: number; readonly K: number; readonly batch: number; readonly batchB: boolean;
  readonly transA: boolean; readonly transB: boolean; readonly epilogue: Epilogue; readonly tile: TileConfig; readonly seed: number;
}

/** Expected output and, per element, Σ|terms| (the scale of f32 rounding in the sum). */
const reference = (c: Case, A: Float32Array, B: Float32Array, bias: Float32Array, res: Float32Array): { want: Float64Array; scale: Float64Array } => {
  const { M, N, K } = c;
  const want = new Float64Array(c.batch * M * N);
  const scale = new Float64Array(c.batch * M * N);
  for (let b = 0; b < c.batch; b++) {
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let sum = 0;
        let abs = 0;
        for (let k = 0; k < K; k++) {
          const a = A[b * M * K + (c.transA ? k * M + m : m * K + k)]!;
          const bb = B[(c.batchB ? b * K * N : 0) + (c.transB ? n * K + k : k * N + n)]!;
          sum += a * bb;
          abs += Math.abs(a * bb);
        }
        const o = b * M * N + m * N + n;
        if (c.epilogue.bias) { sum += bias[n]!; abs += Math.abs(bias[n]!); }
        let v = act64(c.epilogue.activation, sum);
        if (c.epilogue.residual) { v += res[o]!; abs += Math.abs(res[o]!); }
        want[o] = v;
        scale[o] = abs;
      }
    }
  }
  return { want, scale };
};

const tiles: readonly TileConfig[] = [
  softwareTile,
  gpuTile,
  { rows: 4, cols: 4, wgX: 2, wgY: 2, shared: false, kTile: 16 },
  { rows: 3, cols: 8, wgX: 4, wgY: 2, shared: false, kTile: 16 },
  { rows: 2, cols: 12, wgX: 2, wgY: 4, shared: true, kTile: 5 },
  { rows: 8, cols: 4, wgX: 4, wgY: 4, shared: true, kTile: 8 },
];

const epilogueArb: fc.Arbitrary<Epilogue> = fc.record({ bias: fc.boolean(), activation: fc.constantFrom(...activations), residual: fc.boolean() });

const caseArb: fc.Arbitrary<Case> = fc.record({
  M: fc.integer({ min: 1, max: 40 }),
  N: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constantFrom(4, 8, 12, 16, 32)),
  K: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constantFrom(4, 8, 16, 36)),
  batch: fc.integer({ min: 1, max: 3 }),
  batchB: fc.boolean(),
  transA: fc.boolean(),
  transB: fc.boolean(),
  epilogue: epilogueArb,
  tile: fc.constantFrom(...tiles),
  seed: fc.nat(),
});

it('the WGSL erf reference in this test is itself accurate (erf64 vs known values)', () => {
  // Values from Abramowitz & Stegun table 7.1 / high-precision tables.
  expect(erf64(0.5)).toBeCloseTo(0.5204998778130465, 14);
  expect(erf64(1)).toBeCloseTo(0.8427007929497149, 14);
  expect(erf64(2)).toBeCloseTo(0.9953222650189527, 13);
  expect(erf64(-3)).toBeCloseTo(-0.9999779095030014, 12);
});

it('fitTile shrinks a tile to the problem but never below it, and keeps cols a multiple of 4', () => {
  fc.assert(
    fc.property(fc.constantFrom(...tiles), fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 5000 }), (t, rows, cols) => {
      const f = fitTile(t, rows, cols);
      const tm = f.rows * f.wgY;
      const tn = f.cols * f.wgX;
      expect(f.cols % 4).toBe(0);
      expect(tm <= t.rows * t.wgY && tn <= t.cols * t.wgX).toBe(true);
      // Either the tile is smaller than twice the extent, or it cannot shrink further.
      expect(tm < 2 * rows || (f.rows === 1 && f.wgY === 1)).toBe(true);
      expect(tn < 2 * cols || (f.cols === 4 && f.wgX === 1)).toBe(true);
    }),
  );
});

it('foldWorkgroups covers every workgroup once, within the per-dimension limit', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 40 }), fc.integer({ min: 2, max: 70000 }), (total, max) => {
      fc.pre(total <= max ** 3);
      const [x, y, z] = foldWorkgroups(total, max);
      expect(x <= max && y <= max && z <= max).toBe(true);
      expect(x * y * z).toBeGreaterThanOrEqual(total);
      // No whole slab wasted: removing the last z (or y) layer would not cover.
      expect((x * y * (z - 1)) < total || z === 1).toBe(true);
    }),
  );
  expect(foldWorkgroups(MAX_WORKGROUPS_PER_DIM)).toEqual([MAX_WORKGROUPS_PER_DIM, 1, 1]);
});

await describeGpu('matmul kernels', (gpu) => {
  const runCase = async (c: Case): Promise<void> => {
    const { M, N, K, batch } = c;
    const A = rand(batch * M * K, c.seed);
    const B = rand((c.batchB ? batch : 1) * K * N, c.seed + 1);
    const bias = rand(N, c.seed + 2);
    const res = rand(batch * M * N, c.seed + 3);
    const k = matmulKernel({ label: 'matmul test', M, N, K, batch, batchB: c.batchB, transA: c.transA, transB: c.transB, epilogue: c.epilogue, tile: c.tile });
    expect(k.bindings.map((b) => b.name)).toEqual(['a', 'b', ...(c.epilogue.bias ? ['bias'] : []), ...(c.epilogue.residual ? ['residual'] : []), 'out']);
    const inputs = [A, B, ...(c.epilogue.bias ? [bias] : []), ...(c.epilogue.residual ? [res] : [])];
    const out = new Float32Array(unwrapGpu(await runCompute(gpu, { label: k.label, wgsl: k.wgsl, inputs, outputBytes: batch * M * N * 4, workgroups: k.workgroups })));
    const { want, scale } = reference(c, A, B, bias, res);
    for (let i = 0; i < want.length; i++) {
      // Tolerance: f32 summation error grows like K·eps·Σ|a·b|; 1e-6·(1 + Σ|terms|)·√K is generous for K ≤ 40
      // and far below any indexing mistake (which is O(1)); 2e-6 more for the erf/exp approximations.
      const tol = 2e-6 + 1e-6 * (1 + scale[i]!) * Math.sqrt(K);
      if (!(Math.abs(out[i]! - want[i]!) <= tol)) {
        throw new Error(`element ${i}: got ${out[i]}, want ${want[i]} (tol ${tol}) for ${JSON.stringify(c)}`);
      }
    }
  };

  it('matches a float64 product for random shapes, layouts, epilogues and tiles', async () => {
    await fc.assert(fc.asyncProperty(caseArb, runCase), { numRuns: 25 });
  }, 600_000);

  it('handles exact multiples of the tile, vec4 paths, and a 1-row linear layer', async () => {
    const plain: Epilogue = { bias: true, activation: 'relu', residual: true };
    for (const [M, N, K, transB] of [[64, 64, 64, false], [128, 64, 32, true], [1, 10, 784, true], [65, 67, 33, false]] as const) {
      await runCase({ M, N, K, batch: 1, batchB: true, transA: false, transB, epilogue: plain, tile: softwareTile, seed: M + N + K });
    }
  }, 300_000);

  it('evaluates erf in WGSL within 1e-6 of float64 erf', async () => {
    const n = 4096;
    const xs = Float32Array.from({ length: n }, (_, i) => -6 + (12 * i) / (n - 1));
    const wgsl = `${activationFunctions('gelu')}
@group(0) @binding(0) var<storage, read> xs: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x < ${n}u) { out[id.x] = erf_f32(xs[id.x]); }
}`;
    const out = new Float32Array(unwrapGpu(await runCompute(gpu, { label: 'erf', wgsl, inputs: [xs], outputBytes: n * 4, workgroups: [n / 64] })));
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(out[i]! - erf64(xs[i]!)));
    // Stated target: |err| < 1e-6 (A&S 7.1.26 is 1.5e-7 in exact arithmetic, f32 adds ~1e-7).
    expect(worst).toBeLessThan(1e-6);
  });

  it('folds more than 65535 workgroups into y and computes every tile (1×1×N product, 65537 workgroups)', async () => {
    // fitTile shrinks the tile to 1 row × 32 columns for M = 1, so N = 32·65537 needs 65537 workgroups.
    const N = 32 * 65537;
    const k = matmulKernel({ label: 'fold', M: 1, N, K: 1, tile: { ...softwareTile, cols: 4, wgX: 8 } });
    expect(k.workgroups).toEqual([65535, 2, 1]);
    const B = Float32Array.from({ length: N }, (_, i) => i % 1000);
    const out = new Float32Array(unwrapGpu(await runCompute(gpu, { label: 'fold', wgsl: k.wgsl, inputs: [Float32Array.of(2), B], outputBytes: N * 4, workgroups: k.workgroups })));
    let bad = 0;
    for (let i = 0; i < N; i++) if (out[i] !== 2 * (i % 1000)) bad++;
    expect(bad).toBe(0);
  }, 300_000);

  it('compiles for large shapes whose grid is folded (not run)', async () => {
    for (const o of [
      { M: 20000, N: 20000, K: 64, tile: softwareTile },
      { M: 4096, N: 4096, K: 4096, batch: 300, tile: gpuTile },
    ]) {
      const k = matmulKernel({ label: 'large', ...o, epilogue: { bias: true, activation: 'gelu', residual: true } });
      expect(Math.max(...k.workgroups)).toBeLessThanOrEqual(MAX_WORKGROUPS_PER_DIM);
      expect(k.workgroups[1]).toBeGreaterThan(1);
      unwrapGpu(
        await gpu.withErrorScope('compile large matmul', async (device) => {
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
