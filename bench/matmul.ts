/**
 * Bench section: square matmuls, our generated kernel vs tfjs-webgpu's `matMul`, on the same device. With `--tune`,
 * each size runs with the tile src/runtime/autotune.ts picks (cached per adapter).
 */
import { matmulKernel } from '../src/compile/kernels/matmul.ts';
import { adapterKind, defaultTile } from '../src/compile/kernels/tiles.ts';
import { prepare, randomFloats, tunedTile } from './kernel-runner.ts';
import { type BenchSection, type Row, medianSeconds, timing } from './section.ts';

const SIZES = [256, 512, 1024, 2048] as const;

export const matmulSection: BenchSection = {
  name: 'matmul',
  description: 'C = A·B, square n×n×n, f32 (GFLOP/s = 2n³ / time)',
  run: async ({ gpu, tfjs, log }) => {
    const rows: Row[] = [];
    const fallback = defaultTile(adapterKind(gpu.adapterInfo));
    for (const n of SIZES) {
      const flops = 2 * n ** 3;
      const a = randomFloats(n * n, 1);
      const b = randomFloats(n * n, 2);
      const base = { label: `bench matmul ${n}`, M: n, N: n, K: n };
      const k = matmulKernel({ ...base, tile: await tunedTile(gpu, { kind: 'matmul', o: base }, fallback, log) });
      const p = prepare(gpu.device, k, [a, b], n * n);
      const ours = await medianSeconds(async () => {
        p.submit(1);
        await gpu.device.queue.onSubmittedWorkDone();
      });
      p.destroy();
      log(`matmul ${n}: ours ${(flops / ours / 1e9).toFixed(2)} GFLOP/s`);
      let theirs: number | null = null;
      if (tfjs !== undefined) {
        const { tf } = tfjs;
        const ta = tf.tensor2d(a, [n, n]);
        const tb = tf.tensor2d(b, [n, n]);
        theirs = await medianSeconds(() => tfjs.runFenced(() => tf.matMul(ta, tb)), 3, 2, 5);
        ta.dispose();
        tb.dispose();
        log(`matmul ${n}: tfjs ${(flops / theirs / 1e9).toFixed(2)} GFLOP/s`);
      }
      rows.push({
        section: 'matmul',
        name: `${n}×${n}×${n}`,
        flops,
        ours: timing(ours, flops),
        tfjs: theirs === null ? null : timing(theirs, flops),
        note: `tile ${k.wgsl.match(/tile [^\n]*/)?.[0] ?? ''}`,
      });
    }
    return rows;
  },
};
