import fc from 'fast-check';
import { expect, it } from 'vitest';
import { windowOut } from '../../src/ir/shape.ts';
import { conv2dRef, linearRef } from '../../src/reference/dense.ts';

/** |a − b| ≤ tol·(1 + |b|) elementwise; float64 sums in different orders agree to ~1e-15 relative. */
const expectClose = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-12): void => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs(a[i]! - b[i]!) <= tol * (1 + Math.abs(b[i]!)))) expect.fail(`element ${i}: ${a[i]} vs ${b[i]}`);
  }
};

const floats = (n: number): fc.Arbitrary<number[]> => fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: n, maxLength: n });

interface ConvCase {
  readonly batch: number;
  readonly C: number;
  readonly H: number;
  readonly W: number;
  readonly groups: number;
  readonly outPerGroup: number;
  readonly KH: number;
  readonly KW: number;
  readonly stride: readonly [number, number];
  readonly padding: readonly [number, number];
  readonly dilation: readonly [number, number];
}

const arbConvCase: fc.Arbitrary<ConvCase> = fc
  .record({
    batch: fc.integer({ min: 1, max: 2 }),
    groups: fc.integer({ min: 1, max: 3 }),
    cPerGroup: fc.integer({ min: 1, max: 2 }),
    outPerGroup: fc.integer({ min: 1, max: 2 }),
    H: fc.integer({ min: 1, max: 6 }),
    W: fc.integer({ min: 1, max: 6 }),
    KH: fc.integer({ min: 1, max: 3 }),
    KW: fc.integer({ min: 1, max: 3 }),
    stride: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
    padding: fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })),
    dilation: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
  })
  .map(({ cPerGroup, ...r }) => ({ ...r, C: cPerGroup * r.groups }))
  .filter((c) => windowOut(c.H, c.KH, c.stride[0], c.padding[0], c.dilation[0]) >= 1 && windowOut(c.W, c.KW, c.stride[1], c.padding[1], c.dilation[1]) >= 1);

const withData = (c: ConvCase) => {
  const O = c.outPerGroup * c.groups;
  const Cg = c.C / c.groups;
  return fc.record({ x: floats(c.batch * c.C * c.H * c.W), w: floats(O * Cg * c.KH * c.KW), b: floats(O), bias: fc.boolean() }).map((d) => ({ c, O, Cg, ...d }));
};

/**
 * Convolution a second way: explicit zero padding, im2col per group, then a matrix product
 * out_g[o, p] = Σ_k W_g[o, k] · cols_g[k, p].
 */
const convIm2col = (c: ConvCase, O: number, Cg: number, x: readonly number[], w: readonly number[], b: readonly number[] | undefined): number[] => {
  const [ph, pw] = c.padding;
  const HP = c.H + 2 * ph;
  const WP = c.W + 2 * pw;
  const OH = Math.floor((HP - c.dilation[0] * (c.KH - 1) - 1) / c.stride[0]) + 1;
  const OW = Math.floor((WP - c.dilation[1] * (c.KW - 1) - 1) / c.stride[1]) + 1;
  const out: number[] = [];
  for (let n = 0; n < c.batch; n++) {
    // padded[n][ch][y][x]
    const padded = Array.from({ length: c.C }, (_, ch) =>
      Array.from({ length: HP }, (_, y) =>
        Array.from({ length: WP }, (_, xx) => {
          const iy = y - ph;
          const ix = xx - pw;
          return iy >= 0 && iy < c.H && ix >= 0 && ix < c.W ? x[((n * c.C + ch) * c.H + iy) * c.W + ix]! : 0;
        }),
      ),
    );
    const perGroup = O / c.groups;
    const sample: number[][] = []; // [O][OH*OW]
    for (let g = 0; g < c.groups; g++) {
      const cols: number[][] = []; // [Cg*KH*KW][OH*OW]
      for (let ci = 0; ci < Cg; ci++) {
        for (let ky = 0; ky < c.KH; ky++) {
          for (let kx = 0; kx < c.KW; kx++) {
            const row: number[] = [];
            for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) row.push(padded[g * Cg + ci]![oy * c.stride[0] + ky * c.dilation[0]]![ox * c.stride[1] + kx * c.dilation[1]]!);
            cols.push(row);
          }
        }
      }
      for (let oo = 0; oo < perGroup; oo++) {
        const o = g * perGroup + oo;
        const wRow = w.slice(o * Cg * c.KH * c.KW, (o + 1) * Cg * c.KH * c.KW);
        sample[o] = Array.from({ length: OH * OW }, (_, p) => wRow.reduce((s, wk, k) => s + wk * cols[k]![p]!, b?.[o] ?? 0));
      }
    }
    out.push(...sample.flat());
  }
  return out;
};

it('conv2d equals im2col + matmul (stride, padding, dilation, groups, bias)', () => {
  fc.assert(
    fc.property(arbConvCase.chain(withData), ({ c, O, Cg, x, w, b, bias }) => {
      const got = conv2dRef(x, c.batch, [c.C, c.H, c.W], w, [O, Cg, c.KH, c.KW], bias ? b : undefined, c);
      // float64 sums in a different order: 1e-12 relative.
      expectClose(got.out, convIm2col(c, O, Cg, x, w, bias ? b : undefined));
      expect(got.shape).toEqual([O, windowOut(c.H, c.KH, c.stride[0], c.padding[0], c.dilation[0]), windowOut(c.W, c.KW, c.stride[1], c.padding[1], c.dilation[1])]);
    }),
    { numRuns: 300 },
  );
});

it('a grouped conv equals separate convs on the channel groups, concatenated', () => {
  fc.assert(
    fc.property(
      arbConvCase.filter((c) => c.groups > 1).chain(withData),
      ({ c, O, Cg, x, w, b }) => {
        const whole = conv2dRef(x, c.batch, [c.C, c.H, c.W], w, [O, Cg, c.KH, c.KW], b, c);
        const [, OH, OW] = whole.shape as [number, number, number];
        const perGroup = O / c.groups;
        for (let g = 0; g < c.groups; g++) {
          const xg: number[] = [];
          for (let n = 0; n < c.batch; n++) xg.push(...x.slice((n * c.C + g * Cg) * c.H * c.W, (n * c.C + (g + 1) * Cg) * c.H * c.W));
          const wg = w.slice(g * perGroup * Cg * c.KH * c.KW, (g + 1) * perGroup * Cg * c.KH * c.KW);
          const part = conv2dRef(xg, c.batch, [Cg, c.H, c.W], wg, [perGroup, Cg, c.KH, c.KW], b.slice(g * perGroup, (g + 1) * perGroup), { ...c, groups: 1 });
          for (let n = 0; n < c.batch; n++) {
            const fromWhole = whole.out.slice((n * O + g * perGroup) * OH * OW, (n * O + (g + 1) * perGroup) * OH * OW);
            const fromPart = part.out.slice(n * perGroup * OH * OW, (n + 1) * perGroup * OH * OW);
            // Same products summed in the same order: exact.
            expect(Array.from(fromWhole)).toEqual(Array.from(fromPart));
          }
        }
      },
    ),
    { numRuns: 100 },
  );
});

it('a depthwise conv filters each channel with its own kernel (hand-computed)', () => {
  // 2 channels of 2x2, kernel 2x2 per channel, no padding: one output per channel.
  const x = [1, 2, 3, 4, 10, 20, 30, 40];
  const w = [1, 0, 0, 1, 0, 1, 1, 0]; // channel 0: main diagonal, channel 1: anti-diagonal
  const r = conv2dRef(x, 1, [2, 2, 2], w, [2, 1, 2, 2], [0.5, -0.5], { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 2 });
  expect(Array.from(r.out)).toEqual([1 + 4 + 0.5, 20 + 30 - 0.5]);
});

it('conv2d on a hand example: 3x3 input, 2x2 ones kernel, padding 1, stride 2', () => {
  // x = 1..9 in a 3x3 grid; padded to 5x5; windows at (−1,−1), (−1,1), (1,−1), (1,1).
  const x = [1, 2, 3, 4, 5, 6, 7, 8, 9];
  const r = conv2dRef(x, 1, [1, 3, 3], [1, 1, 1, 1], [1, 1, 2, 2], undefined, { stride: [2, 2], padding: [1, 1], dilation: [1, 1], groups: 1 });
  expect(r.shape).toEqual([1, 2, 2]);
  expect(Array.from(r.out)).toEqual([1, 2 + 3, 4 + 7, 5 + 6 + 8 + 9]);
});

it('linear equals x·Wᵀ + b computed by rows, and a 1x1 conv on [in, 1, 1]', () => {
  fc.assert(
    fc.property(
      fc.record({ batch: fc.integer({ min: 1, max: 3 }), inF: fc.integer({ min: 1, max: 6 }), outF: fc.integer({ min: 1, max: 5 }) }).chain((s) =>
        fc.record({ x: floats(s.batch * s.inF), w: floats(s.outF * s.inF), b: floats(s.outF) }).map((d) => ({ ...s, ...d })),
      ),
      ({ batch, inF, outF, x, w, b }) => {
        const got = linearRef(x, batch, inF, w, outF, b);
        const want: number[] = [];
        for (let n = 0; n < batch; n++) {
          const row = x.slice(n * inF, (n + 1) * inF);
          for (let o = 0; o < outF; o++) want.push(b[o]! + row.map((v, i) => v * w[o * inF + i]!).reduce((s, v) => s + v, 0));
        }
        expectClose(got, want);
        const asConv = conv2dRef(x, batch, [inF, 1, 1], w, [outF, inF, 1, 1], b, { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 });
        expect(Array.from(asConv.out)).toEqual(Array.from(got));
      },
    ),
    { numRuns: 200 },
  );
});
