/**
 * Bench section: convolutions of DARTS/ResNet-like and MNIST-CNN shapes at batch 64, our generated kernel (NCHW)
 * vs tfjs-webgpu's `conv2d` / `depthwiseConv2d` (NHWC, its native layout) on the same device. No bias/activation.
 * With `--tune`, each shape runs with the tile src/runtime/autotune.ts picks (cached per adapter), else with the
 * adapter kind's default tile.
 */
import { type Conv2dOptions, conv2dKernel, conv2dOutputSize } from '../src/compile/kernels/conv2d.ts';
import { adapterKind, defaultTile } from '../src/compile/kernels/tiles.ts';
import { prepare, randomFloats, tunedTile } from './kernel-runner.ts';
import { type BenchSection, type Row, medianSeconds, timing } from './section.ts';

const BATCH = 64;

interface Shape {
  readonly name: string;
  readonly cin: number;
  readonly hw: number;
  readonly cout: number;
  readonly k: number;
  readonly pad: number;
  readonly depthwise: boolean;
}

const SHAPES: readonly Shape[] = [
  { name: 'DARTS 16→16 3×3 32×32 p1', cin: 16, hw: 32, cout: 16, k: 3, pad: 1, depthwise: false },
  { name: 'sep-conv depthwise 16ch 3×3 32×32 p1', cin: 16, hw: 32, cout: 16, k: 3, pad: 1, depthwise: true },
  { name: 'sep-conv pointwise 16→16 1×1 32×32', cin: 16, hw: 32, cout: 16, k: 1, pad: 0, depthwise: false },
  { name: 'ResNet 64→64 3×3 16×16 p1', cin: 64, hw: 16, cout: 64, k: 3, pad: 1, depthwise: false },
  { name: 'MNIST conv1 1→32 3×3 28×28', cin: 1, hw: 28, cout: 32, k: 3, pad: 0, depthwise: false },
  { name: 'MNIST conv2 32→64 3×3 26×26', cin: 32, hw: 26, cout: 64, k: 3, pad: 0, depthwise: false },
];

export const convSection: BenchSection = {
  name: 'conv',
  description: `conv2d forward at batch ${BATCH}, f32 (GFLOP/s = 2·batch·cout·oh·ow·(cin/groups)·kh·kw / time)`,
  run: async ({ gpu, tfjs, log }) => {
    const rows: Row[] = [];
    const fallback = defaultTile(adapterKind(gpu.adapterInfo));
    for (const s of SHAPES) {
      const base: Conv2dOptions = {
        label: `bench ${s.name}`,
        batch: BATCH,
        cin: s.cin,
        h: s.hw,
        w: s.hw,
        cout: s.cout,
        kh: s.k,
        kw: s.k,
        stride: [1, 1],
        padding: [s.pad, s.pad],
        dilation: [1, 1],
        groups: s.depthwise ? s.cin : 1,
      };
      const o: Conv2dOptions = { ...base, tile: await tunedTile(gpu, { kind: 'conv2d', o: base }, fallback, log) };
      const [oh, ow] = conv2dOutputSize(o);
      const cinG = s.depthwise ? 1 : s.cin;
      const flops = 2 * BATCH * s.cout * oh * ow * cinG * s.k * s.k;
      const x = randomFloats(BATCH * s.cin * s.hw * s.hw, 3);
      const w = randomFloats(s.cout * cinG * s.k * s.k, 4);
      const k = conv2dKernel(o);
      const p = prepare(gpu.device, k, [x, w], BATCH * s.cout * oh * ow);
      const ours = await medianSeconds(async () => {
        p.submit(1);
        await gpu.device.queue.onSubmittedWorkDone();
      });
      p.destroy();
      log(`conv ${s.name}: ours ${(flops / ours / 1e9).toFixed(2)} GFLOP/s`);
      let theirs: number | null = null;
      if (tfjs !== undefined) {
        const { tf } = tfjs;
        // The same work in NHWC: tfjs's layouts; the values differ (layout), the FLOPs do not.
        const tx = tf.tensor4d(x, [BATCH, s.hw, s.hw, s.cin]);
        const tw = s.depthwise ? tf.tensor4d(w, [s.k, s.k, s.cin, 1]) : tf.tensor4d(w, [s.k, s.k, s.cin, s.cout]);
        const run = s.depthwise
          ? () => tf.depthwiseConv2d(tx, tw as never, 1, s.pad)
          : () => tf.conv2d(tx, tw as never, 1, s.pad);
        theirs = await medianSeconds(() => tfjs.runFenced(run), 3, 2, 5);
        tx.dispose();
        tw.dispose();
        log(`conv ${s.name}: tfjs ${(flops / theirs / 1e9).toFixed(2)} GFLOP/s`);
      }
      rows.push({
        section: 'conv',
        name: `${s.name} (batch ${BATCH})`,
        flops,
        ours: timing(ours, flops),
        tfjs: theirs === null ? null : timing(theirs, flops),
        note: k.wgsl.split('\n')[0]!.replace(/^\/\/ [^:]*: /, ''),
      });
    }
    return rows;
  },
};
