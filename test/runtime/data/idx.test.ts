// The IDX reader against fixtures written by test/fixtures/make-fixtures.py and against an independent
// big-endian writer below; every error kind.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { readIdx, readIdxFile, type DataError, type IdxArray } from '../../../src/runtime/data/idx.ts';

const fixtures = join(import.meta.dirname, '..', '..', 'fixtures');

const ok = (r: E.Either<readonly DataError[], IdxArray>): IdxArray => {
  if (E.isLeft(r)) throw new Error(r.left.map((e) => e.message).join('\n'));
  return r.right;
};
const errs = (r: E.Either<readonly DataError[], IdxArray>): readonly DataError[] => {
  if (E.isRight(r)) throw new Error('expected errors');
  return r.left;
};

type Kind = 'u8' | 'i8' | 'i16' | 'i32' | 'f32' | 'f64';
const CODE: Record<Kind, number> = { u8: 0x08, i8: 0x09, i16: 0x0b, i32: 0x0c, f32: 0x0d, f64: 0x0e };
const SIZE: Record<Kind, number> = { u8: 1, i8: 1, i16: 2, i32: 4, f32: 4, f64: 8 };

/** An IDX file written independently of the reader: header then big-endian values. */
const idxBytes = (kind: Kind, dims: readonly number[], values: readonly number[]): Uint8Array => {
  const out = new Uint8Array(4 + 4 * dims.length + SIZE[kind] * values.length);
  const v = new DataView(out.buffer);
  out[2] = CODE[kind];
  out[3] = dims.length;
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  let at = 4 + 4 * dims.length;
  for (const x of values) {
    if (kind === 'u8') v.setUint8(at, x);
    else if (kind === 'i8') v.setInt8(at, x);
    else if (kind === 'i16') v.setInt16(at, x, false);
    else if (kind === 'i32') v.setInt32(at, x, false);
    else if (kind === 'f32') v.setFloat32(at, x, false);
    else v.setFloat64(at, x, false);
    at += SIZE[kind];
  }
  return out;
};

describe('readIdx on fixtures', () => {
  it('reads every element type, big-endian (values as written by make-fixtures.py)', () => {
    const read = (f: string) => ok(readIdxFile(join(fixtures, 'idx-types', f)));
    expect(read('i16.idx')).toMatchObject({ dtype: 'i16', dims: [2, 2] });
    expect([...read('i16.idx').data]).toEqual([-2, 300, -32768, 32767]);
    expect([...read('i32.idx').data]).toEqual([-1, 70000, 2147483647]);
    expect([...read('f32.idx').data]).toEqual([1.5, -0.25]);
    expect(read('f64.idx').dims).toEqual([1, 2]);
    expect([...read('f64.idx').data]).toEqual([1 / 3, -1e300]);
    expect([...read('i8.idx').data]).toEqual([-128, 0, 127]);
  });

  it('detects gzip by its magic bytes: the .gz and raw fixtures decode to the same images', () => {
    const gz = ok(readIdxFile(join(fixtures, 'idx-gz', 'train-images-idx3-ubyte.gz')));
    const raw = ok(readIdxFile(join(fixtures, 'idx-raw', 'train-images-idx3-ubyte')));
    expect(gz.dtype).toBe('u8');
    expect(gz.dims).toEqual([6, 4, 4]);
    // make-fixtures.py: pixel p of image i is (16 i + 7 p) mod 256.
    const expected = Array.from({ length: 6 * 16 }, (_, k) => (16 * Math.floor(k / 16) + 7 * (k % 16)) % 256);
    expect([...gz.data]).toEqual(expected);
    expect([...raw.data]).toEqual(expected);
  });
});

describe('readIdx round trip', () => {
  const kinds: Kind[] = ['u8', 'i8', 'i16', 'i32', 'f32', 'f64'];
  const valueOf = (kind: Kind): fc.Arbitrary<number> => {
    switch (kind) {
      case 'u8': return fc.integer({ min: 0, max: 255 });
      case 'i8': return fc.integer({ min: -128, max: 127 });
      case 'i16': return fc.integer({ min: -32768, max: 32767 });
      case 'i32': return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
      case 'f32': return fc.float({ noNaN: true });
      case 'f64': return fc.double({ noNaN: true });
    }
  };
  it('decodes what an independent writer wrote, gzipped or not', () => {
    const arb = fc
      .record({ kind: fc.constantFrom(...kinds), dims: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }), gz: fc.boolean() })
      .chain(({ kind, dims, gz }) =>
        fc.record({
          kind: fc.constant(kind),
          dims: fc.constant(dims),
          gz: fc.constant(gz),
          values: fc.array(valueOf(kind), { minLength: dims.reduce((p, d) => p * d, 1), maxLength: dims.reduce((p, d) => p * d, 1) }),
        }),
      );
    fc.assert(
      fc.property(arb, ({ kind, dims, gz, values }) => {
        const bytes = idxBytes(kind, dims, values);
        const a = ok(readIdx(gz ? gzipSync(bytes) : bytes, 'prop.idx'));
        expect(a.dtype).toBe(kind);
        expect(a.dims).toEqual(dims);
        expect([...a.data]).toEqual(values);
      }),
    );
  });
});

describe('readIdx errors', () => {
  const labels = idxBytes('u8', [5], [1, 2, 3, 4, 5]);

  it('reports a truncated body with expected and actual byte counts, naming the file', () => {
    const e = errs(readIdx(labels.subarray(0, 10), 'labels.idx'));
    expect(e).toHaveLength(1);
    expect(e[0]).toMatchObject({ tag: 'Truncated', file: 'labels.idx', expected: 13, actual: 10 });
    expect(e[0]!.message).toContain('labels.idx');
    expect(e[0]!.message).toMatch(/truncated/);
  });

  it('reports a truncated header', () => {
    const images = idxBytes('u8', [2, 3, 3], new Array(18).fill(0));
    expect(errs(readIdx(images.subarray(0, 9), 'x'))[0]).toMatchObject({ tag: 'Truncated', expected: 16, actual: 9 });
    expect(errs(readIdx(images.subarray(0, 3), 'x'))[0]).toMatchObject({ tag: 'Truncated', expected: 4, actual: 3 });
  });

  it('reports a truncated gzip stream', () => {
    const gz = gzipSync(idxBytes('u8', [200], new Array(200).fill(7)));
    const e = errs(readIdx(gz.subarray(0, gz.length - 10), 'labels.gz'));
    expect(e[0]).toMatchObject({ tag: 'CorruptGzip', file: 'labels.gz' });
    expect(e[0]!.message).toContain('labels.gz');
  });

  it('reports trailing bytes', () => {
    const longer = new Uint8Array([...labels, 0, 0]);
    expect(errs(readIdx(longer, 'f'))[0]).toMatchObject({ tag: 'TrailingBytes', expected: 13, actual: 15 });
  });

  it('reports a bad magic number and an unsupported dtype together', () => {
    const html = new TextEncoder().encode('<html>not found</html>');
    const e = errs(readIdx(html, 'train-images-idx3-ubyte'));
    expect(e.map((x) => x.tag)).toEqual(['BadMagic', 'UnsupportedDtype']);
    expect(e[0]).toMatchObject({ magic: 0x3c68746d });
    expect(e[0]!.message).toContain('train-images-idx3-ubyte');
    expect(e[0]!.message).toContain('bad magic number 0x3c68746d');
  });

  it('reports an unsupported dtype alone when the magic is fine', () => {
    const bad = labels.slice();
    bad[2] = 0x0a;
    const e = errs(readIdx(bad, 'f'));
    expect(e).toEqual([expect.objectContaining({ tag: 'UnsupportedDtype', code: 0x0a })]);
  });

  it('reports a missing file with the hint given', () => {
    const e = errs(readIdxFile('/nonexistent/labels.idx', ' (install it)'));
    expect(e).toEqual([expect.objectContaining({ tag: 'FileMissing', file: '/nonexistent/labels.idx' })]);
    expect(e[0]!.message).toBe('/nonexistent/labels.idx: no such file (install it)');
  });

  it('reports an unreadable path (a directory)', () => {
    expect(errs(readIdxFile(fixtures))[0]).toMatchObject({ tag: 'FileUnreadable', file: fixtures });
  });

  it('reads the real fixture bytes identically through readIdx and readIdxFile', () => {
    const path = join(fixtures, 'idx-gz', 't10k-labels-idx1-ubyte.gz');
    expect(ok(readIdx(readFileSync(path), path))).toEqual(ok(readIdxFile(path)));
  });
});
