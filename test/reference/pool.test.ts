import fc from 'fast-check';
import { expect, it } from 'vitest';
import { windowOut } from '../../src/ir/shape.ts';
import { adaptiveAvgPool2dRef, avgPool2dRef, globalAvgPoolRef, maxNaN, maxPool2dRef } from '../../src/reference/pool.ts';

/** |a − b| ≤ 1e-12·(1 + |b|): float64 means summed in different orders. */
const expectClose = (a: ArrayLike<number>, b: ArrayLike<number>): void => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i]! - b[i]!) <= 1e-12 * (1 + Math.abs(b[i]!)))) expect.fail(`element ${i}: ${a[i]} vs ${b[i]}`);
};

const floats = (n: number): fc.Arbitrary<number[]> => fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: n, maxLength: n });

const arbPool = fc
  .record({
    batch: fc.integer({ min: 1, max: 2 }),
    C: fc.integer({ min: 1, max: 2 }),
    H: fc.integer({ min: 1, max: 6 }),
    W: fc.integer({ min: 1, max: 6 }),
    kernel: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    stride: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    pad: fc.tuple(fc.nat(1), fc.nat(1)),
  })
  .map((r) => ({ ...r, padding: [Math.min(r.pad[0], r.kernel[0] >> 1), Math.min(r.pad[1], r.kernel[1] >> 1)] as const }))
  .filter((r) => windowOut(r.H, r.kernel[0], r.stride[0], r.padding[0]) >= 1 && windowOut(r.W, r.kernel[1], r.stride[1], r.padding[1]) >= 1)
  .chain((r) => floats(r.batch * r.C * r.H * r.W).map((x) => ({ ...r, x })));

type PoolCase = typeof arbPool extends fc.Arbitrary<infer T> ? T : never;

/** Every window's in-bound elements and its full kernel area, listed explicitly. */
const windows = (r: PoolCase): { values: number[]; area: number }[] => {
  const OH = windowOut(r.H, r.kernel[0], r.stride[0], r.padding[0]);
  const OW = windowOut(r.W, r.kernel[1], r.stride[1], r.padding[1]);
  const out: { values: number[]; area: number }[] = [];
  for (let nc = 0; nc < r.batch * r.C; nc++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        const values: number[] = [];
        for (let y = oy * r.stride[0] - r.padding[0]; y < oy * r.stride[0] - r.padding[0] + r.kernel[0]; y++) {
          for (let x = ox * r.stride[1] - r.padding[1]; x < ox * r.stride[1] - r.padding[1] + r.kernel[1]; x++) {
            if (y >= 0 && y < r.H && x >= 0 && x < r.W) values.push(r.x[(nc * r.H + y) * r.W + x]!);
          }
        }
        out.push({ values, area: r.kernel[0] * r.kernel[1] });
      }
    }
  }
  return out;
};

it('maxPool2d equals the max of each explicit window', () => {
  fc.assert(
    fc.property(arbPool, (r) => {
      const got = maxPool2dRef(r.x, r.batch, [r.C, r.H, r.W], r);
      // + 0 turns −0 into +0: the max of {−0, +0} may be either zero (PyTorch does not specify which).
      expect(Array.from(got.out, (v) => v + 0)).toEqual(windows(r).map((w) => Math.max(...w.values) + 0));
    }),
    { numRuns: 300 },
  );
});

it('avgPool2d equals each explicit window mean: kernel area with countIncludePad (floor mode), real elements without', () => {
  fc.assert(
    fc.property(arbPool, (r) => {
      const sum = (v: number[]): number => v.reduce((s, a) => s + a, 0);
      const inc = avgPool2dRef(r.x, r.batch, [r.C, r.H, r.W], { ...r, countIncludePad: true });
      expectClose(inc.out, windows(r).map((w) => sum(w.values) / w.area));
      const exc = avgPool2dRef(r.x, r.batch, [r.C, r.H, r.W], { ...r, countIncludePad: false });
      expectClose(exc.out, windows(r).map((w) => sum(w.values) / w.values.length));
    }),
    { numRuns: 300 },
  );
});

it('avgPool2d on a hand example: 2x2 ones, kernel 2, stride 2, padding 1', () => {
  const x = [1, 1, 1, 1];
  const p = { kernel: [2, 2], stride: [2, 2], padding: [1, 1] } as const;
  // Each of the 4 windows holds one real element of the 2x2 input.
  expect(Array.from(avgPool2dRef(x, 1, [1, 2, 2], { ...p, countIncludePad: true }).out)).toEqual([0.25, 0.25, 0.25, 0.25]);
  expect(Array.from(avgPool2dRef(x, 1, [1, 2, 2], { ...p, countIncludePad: false }).out)).toEqual([1, 1, 1, 1]);
});

it('max pooling propagates NaN only into the windows that contain it', () => {
  expect(Number.isNaN(maxNaN(NaN, 1))).toBe(true);
  expect(Number.isNaN(maxNaN(1, NaN))).toBe(true);
  expect(maxNaN(-Infinity, -3)).toBe(-3);
  // 1x4 input, kernel 1x2 stride 1x2: windows [0,1] and [2,3]; NaN at index 1.
  const r = maxPool2dRef([5, NaN, 2, 3], 1, [1, 1, 4], { kernel: [1, 2], stride: [1, 2], padding: [0, 0] });
  expect(Number.isNaN(r.out[0]!)).toBe(true);
  expect(r.out[1]).toBe(3);
});

/** PyTorch's adaptive_avg_pool2d index formula, in integer arithmetic. */
const adaptiveTorch = (x: readonly number[], batch: number, C: number, H: number, W: number, OH: number, OW: number): number[] => {
  const start = (i: number, inS: number, outS: number): number => Math.trunc((i * inS) / outS);
  const end = (i: number, inS: number, outS: number): number => Math.trunc(((i + 1) * inS + outS - 1) / outS);
  const out: number[] = [];
  for (let nc = 0; nc < batch * C; nc++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        let s = 0;
        let k = 0;
        for (let ih = start(oh, H, OH); ih < end(oh, H, OH); ih++) {
          for (let iw = start(ow, W, OW); iw < end(ow, W, OW); iw++) {
            s += x[(nc * H + ih) * W + iw]!;
            k++;
          }
        }
        out.push(s / k);
      }
    }
  }
  return out;
};

it("adaptiveAvgPool2d follows PyTorch's start/end index formula", () => {
  fc.assert(
    fc.property(
      fc
        .record({
          batch: fc.integer({ min: 1, max: 2 }),
          C: fc.integer({ min: 1, max: 2 }),
          H: fc.integer({ min: 1, max: 7 }),
          W: fc.integer({ min: 1, max: 7 }),
          OH: fc.integer({ min: 1, max: 7 }),
          OW: fc.integer({ min: 1, max: 7 }),
        })
        .chain((r) => floats(r.batch * r.C * r.H * r.W).map((x) => ({ ...r, x }))),
      ({ batch, C, H, W, OH, OW, x }) => {
        const got = adaptiveAvgPool2dRef(x, batch, [C, H, W], [OH, OW]);
        expect(got.shape).toEqual([C, OH, OW]);
        expectClose(got.out, adaptiveTorch(x, batch, C, H, W, OH, OW));
        // (1, 1) is the global average.
        expectClose(adaptiveAvgPool2dRef(x, batch, [C, H, W], [1, 1]).out, globalAvgPoolRef(x, batch, [C, H, W]));
      },
    ),
    { numRuns: 300 },
  );
});

it('globalAvgPool is the per-channel mean (hand example)', () => {
  // Two channels of 2x2 for one sample.
  expect(Array.from(globalAvgPoolRef([1, 2, 3, 4, -1, -1, -1, 3], 1, [2, 2, 2]))).toEqual([2.5, 0]);
});
