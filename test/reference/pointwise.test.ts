import fc from 'fast-check';
import { expect, it } from 'vitest';
import { addRef, concatRef, erf, erfc, gelu, sigmoid, unaryFn } from '../../src/reference/pointwise.ts';

// Values of CPython's math.erf / math.erfc (an independent C implementation), printed with repr().
const ERF_TABLE: readonly (readonly [number, number])[] = [
  [0.1, 0.1124629160182849],
  [0.5, 0.5204998778130465],
  [1, 0.8427007929497149],
  [1.5, 0.9661051464753108],
  [2, 0.9953222650189527],
  [2.5, 0.999593047982555],
  [3, 0.9999779095030014],
  [3.5, 0.9999992569016276],
  [4, 0.9999999845827421],
  [5, 0.9999999999984626],
];

it('erf matches known values to far better than the required 1e-7', () => {
  for (const [x, want] of ERF_TABLE) {
    // Required: |err| < 1e-7; the implementation achieves ~1e-15.
    expect(Math.abs(erf(x) - want)).toBeLessThan(1e-14);
    expect(Math.abs(erf(-x) + want)).toBeLessThan(1e-14);
  }
  expect(erf(0)).toBe(0);
  expect(erf(30)).toBe(1);
  expect(Number.isNaN(erf(NaN))).toBe(true);
  // erfc in the tail, relative: erfc(3) and erfc(5) from math.erfc.
  expect(Math.abs(erfc(3) / 2.2090496998585438e-5 - 1)).toBeLessThan(1e-12);
  expect(Math.abs(erfc(5) / 1.5374597944280351e-12 - 1)).toBeLessThan(1e-12);
});

it('erf is odd, increasing and bounded; erf + erfc = 1', () => {
  fc.assert(
    fc.property(fc.double({ min: -8, max: 8, noNaN: true }), fc.double({ min: -8, max: 8, noNaN: true }), (a, b) => {
      expect(erf(-a) + erf(a)).toBe(0); // odd (written as a sum so that ±0 compare equal)
      if (a < b) expect(erf(a)).toBeLessThanOrEqual(erf(b));
      expect(Math.abs(erf(a))).toBeLessThanOrEqual(1);
      expect(Math.abs(erf(a) + erfc(a) - 1)).toBeLessThan(1e-15);
    }),
  );
});

it('gelu matches exact-erf values (PyTorch approximate="none")', () => {
  // 0.5·x·erfc(−x/√2) from CPython's math.erfc.
  const table: readonly (readonly [number, number])[] = [
    [-3, -0.004049694094890287],
    [-1, -0.15865525393145707],
    [-0.5, -0.15426876936299344],
    [0.5, 0.34573123063700656],
    [1, 0.8413447460685429],
    [3, 2.99595030590511],
  ];
  for (const [x, want] of table) expect(Math.abs(gelu(x) - want)).toBeLessThan(1e-14);
  expect(gelu(0)).toBe(0);
  // Far tails: gelu(x) → x for large x, → 0 (from below) for very negative x, without NaN.
  expect(gelu(40)).toBe(40);
  expect(gelu(-40)).toBeLessThanOrEqual(0);
  expect(gelu(-40)).toBeGreaterThan(-1e-300);
});

it('sigmoid is stable and symmetric; tanh = 2·sigmoid(2x) − 1', () => {
  expect(sigmoid(1000)).toBe(1);
  expect(sigmoid(-1000)).toBe(0);
  fc.assert(
    fc.property(fc.double({ min: -30, max: 30, noNaN: true }), (x) => {
      // 1e-15 absolute: both sides are in [0, 1].
      expect(Math.abs(sigmoid(x) + sigmoid(-x) - 1)).toBeLessThan(1e-15);
      expect(Math.abs(unaryFn('tanh')(x) - (2 * sigmoid(2 * x) - 1))).toBeLessThan(1e-14);
    }),
  );
});

it('activations map NaN to NaN; relu6 clamps to [0, 6]', () => {
  for (const k of ['relu', 'relu6', 'sigmoid', 'tanh', 'gelu', 'identity'] as const) expect(Number.isNaN(unaryFn(k)(NaN))).toBe(true);
  const relu6 = unaryFn('relu6');
  expect([-1, 0, 3, 6, 7].map(relu6)).toEqual([0, 0, 3, 6, 6]);
  expect([-2, 0.5].map(unaryFn('relu'))).toEqual([0, 0.5]);
});

it('concat puts each sample’s inputs one after another along channels', () => {
  // batch 2; a: [1, 2] per sample (1 channel of 2), b: [2, 2] per sample.
  const a = { data: [1, 2, 3, 4], shape: [1, 2] };
  const b = { data: [10, 11, 12, 13, 20, 21, 22, 23], shape: [2, 2] };
  expect(Array.from(concatRef([a, b], 2))).toEqual([1, 2, 10, 11, 12, 13, 3, 4, 20, 21, 22, 23]);
});

it('add sums left to right and keeps a single input as is', () => {
  expect(Array.from(addRef([[1, 2], [3, 4], [5, 6]]))).toEqual([9, 12]);
  expect(Object.is(addRef([[-0]])[0], -0)).toBe(true);
});
