// safetensors: byte-exact against the reference implementation's own test vectors and against files
// hand-crafted by test/fixtures/make-fixtures.py (PyTorch and the `safetensors` package cannot be installed
// here, so "a file written by PyTorch" is reproduced byte for byte from the reference serialiser's rules);
// round trips (fast-check); every validation error; parameter-name mapping.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import {
  findTensor,
  fromTorchName,
  matchParameters,
  readSafetensors,
  readSafetensorsFile,
  toFloat32,
  toTorchName,
  writeSafetensors,
  writeSafetensorsFile,
  type SafetensorsError,
  type SafetensorsFile,
  type TensorToWrite,
} from '../../src/runtime/safetensors.ts';

const fixtures = join(import.meta.dirname, '..', 'fixtures');

const ok = <T>(r: E.Either<readonly SafetensorsError[], T>): T => {
  if (E.isLeft(r)) throw new Error(r.left.map((e) => e.message).join('\n'));
  return r.right;
};
const errs = <T>(r: E.Either<readonly SafetensorsError[], T>): readonly SafetensorsError[] => {
  if (E.isRight(r)) throw new Error('expected errors');
  return r.left;
};
const f32 = (shape: number[], values: number[]): TensorToWrite => ({ shape, data: Float32Array.from(values) });

/** A file built by hand: header text (unpadded), then `data`. Independent of the writer. */
const raw = (header: string | object, data: Uint8Array | number = 0): Uint8Array => {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
};

describe('writeSafetensors: byte-exact with the reference implementation', () => {
  // Expected bytes copied from huggingface/safetensors, safetensors/src/tensor.rs, tests test_serialization,
  // test_empty and test_serialization_forced_alignement.
  const F32_0_TO_5 = [0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64];

  it('test_serialization: "attn.0" F32 [1, 2, 3]', () => {
    const out = writeSafetensors(new Map([['attn.0', f32([1, 2, 3], [0, 1, 2, 3, 4, 5])]]));
    expect([...out]).toEqual([
      64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115,
      104, 97, 112, 101, 34, 58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44,
      50, 52, 93, 125, 125, ...F32_0_TO_5,
    ]);
  });

  it('test_serialization_forced_alignement: the header is padded with spaces to a multiple of 8', () => {
    const out = writeSafetensors(new Map([['attn0', f32([1, 1, 2, 3], [0, 1, 2, 3, 4, 5])]]));
    expect([...out]).toEqual([
      72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115,
      104, 97, 112, 101, 34, 58, 91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115, 101, 116, 115, 34, 58, 91,
      48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32, 32, 32, ...F32_0_TO_5,
    ]);
  });

  it('test_empty: no tensors, with and without metadata', () => {
    expect([...writeSafetensors(new Map())]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    expect([...writeSafetensors(new Map(), { framework: 'pt' })]).toEqual([
      40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95, 95, 34, 58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114,
      107, 34, 58, 34, 112, 116, 34, 125, 125, 32, 32, 32, 32, 32,
    ]);
  });

  it('matches make-fixtures.py byte for byte: byte-order name sort, raw UTF-8 names, metadata first', () => {
    const out = writeSafetensors(
      new Map([
        ['\u00fc/x', f32([1], [42])],
        ['conv1.weight', f32([2, 2], [1, 2, 3, 4])],
        ['a', f32([3], [-1, 0.5, 0.25])],
      ]),
      { note: 'written by make-fixtures.py', format: 'pt' },
    );
    expect(Buffer.from(out).equals(readFileSync(join(fixtures, 'f32-only.safetensors')))).toBe(true);
  });

  it('writes integer-like names in byte order too ("10" < "9"), not in JavaScript object key order', () => {
    const out = writeSafetensors(new Map([['9', f32([1], [9])], ['10', f32([1], [10])]]));
    const header = new TextDecoder().decode(out.subarray(8, 8 + Number(new DataView(out.buffer).getBigUint64(0, true))));
    expect(header.indexOf('"10"')).toBeLessThan(header.indexOf('"9"'));
  });

  it('sorts names by UTF-8 bytes (Rust String order), not by UTF-16 code units', () => {
    // U+FFFD (EF BF BD) sorts before U+1F600 (F0 9F 98 80) in bytes; in UTF-16 (FFFD vs D83D) after it.
    const out = writeSafetensors(new Map([['\u{1F600}', f32([1], [1])], ['\uFFFD', f32([1], [2])]]));
    const file = ok(readSafetensors(out));
    expect([...file.tensors.keys()]).toEqual(['\uFFFD', '\u{1F600}']);
  });

  it('refuses data that does not fit the shape, and the reserved name', () => {
    expect(() => writeSafetensors(new Map([['w', f32([2, 2], [1, 2, 3])]]))).toThrow(/w has 3 values but shape \[2, 2\] needs 4/);
    expect(() => writeSafetensors(new Map([['__metadata__', f32([1], [1])]]))).toThrow(/reserved/);
  });
});

describe('readSafetensors on hand-crafted "PyTorch" files', () => {
  it('reads a state dict as safetensors.torch.save_file writes it, and matches it by our parameter paths', () => {
    const file = ok(readSafetensorsFile(join(fixtures, 'torch-state-dict.safetensors')));
    expect(file.metadata).toEqual({ format: 'pt' });
    expect([...file.tensors.keys()]).toEqual([
      'bn1.num_batches_tracked', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var', 'bn1.weight', 'conv1.bias', 'conv1.weight', 'fc.bias', 'fc.weight',
    ]);
    const nbt = file.tensors.get('bn1.num_batches_tracked')!;
    expect(nbt.dtype).toBe('I64');
    expect(nbt.shape).toEqual([]);
    expect([...(nbt.data as BigInt64Array)]).toEqual([7n]);

    const expected = new Map<string, readonly number[]>([
      ['conv1/weight', [2, 1, 3, 3]],
      ['conv1/bias', [2]],
      ['bn1/running_mean', [2]],
      ['bn1/running_var', [2]],
      ['fc/weight', [3, 2]],
      ['fc/bias', [3]],
    ]);
    const { values, unused } = ok(matchParameters(file, expected, 'torch-state-dict.safetensors'));
    // Values as make-fixtures.py wrote them, rounded to float32 (exact comparisons after Math.fround).
    expect([...values.get('conv1/weight')!]).toEqual(Array.from({ length: 18 }, (_, i) => i * 0.125 - 1));
    expect([...values.get('conv1/bias')!]).toEqual([0.5, -0.25]);
    expect([...values.get('bn1/running_mean')!]).toEqual([0.1, 0.2].map(Math.fround));
    expect([...values.get('bn1/running_var')!]).toEqual([0.9, 1.1].map(Math.fround));
    expect([...values.get('fc/weight')!]).toEqual([0, 1, 2, 3, 4, 5].map((i) => (i - 3) / 4));
    expect([...values.get('fc/bias')!]).toEqual([0.1, 0.2, 0.3].map(Math.fround));
    expect(unused).toEqual(['bn1.num_batches_tracked', 'bn1.bias', 'bn1.weight']);
  });

  it('decodes every supported dtype: F64, I64, F32, I32, BF16, F16 (subnormal, inf, NaN), U8', () => {
    const file = ok(readSafetensorsFile(join(fixtures, 'dtypes.safetensors')));
    expect(file.metadata).toBeUndefined();
    const get = (n: string) => file.tensors.get(n)!;
    expect(get('a_f64')).toMatchObject({ dtype: 'F64', shape: [2] });
    expect([...get('a_f64').data]).toEqual([Math.fround(1 / 3), -2.5]);
    expect([...(get('b_i64').data as BigInt64Array)]).toEqual([-1n, 2n ** 40n, 3n]);
    expect([...get('c_f32').data]).toEqual([1.5, -2, 0.1, 1e-3].map(Math.fround));
    expect(get('c_f32').shape).toEqual([2, 2]);
    expect([...get('d_i32').data]).toEqual([-7, 2147483647]);
    const half = [...get('e_f16').data];
    expect(half.slice(0, 5)).toEqual([1, -0.5, 65504, 2 ** -24, Infinity]);
    expect(Number.isNaN(half[5])).toBe(true);
    const bf = [...get('f_bf16').data];
    expect(bf.slice(0, 3)).toEqual([1, -3.140625, 2 ** 100]);
    expect(Object.is(bf[3], -0)).toBe(true);
    expect(get('g_u8').data).toEqual(new Uint8Array([0, 1, 128, 255]));
    expect([...toFloat32(get('b_i64'))]).toEqual([-1, 2 ** 40, 3]);
    expect([...toFloat32(get('g_u8'))]).toEqual([0, 1, 128, 255]);
  });
});

describe('round trip', () => {
  const name = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).filter((s) => s !== '__metadata__');
  const tensor = fc
    .array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 })
    .chain((shape) => {
      const n = shape.reduce((p, d) => p * d, 1);
      return fc.record({ shape: fc.constant(shape), data: fc.float32Array({ minLength: n, maxLength: n }) });
    });

  it('readSafetensors(writeSafetensors(m, meta)) gives back m and meta, bit for bit', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(name, tensor), { selector: ([k]) => k, maxLength: 6 }), fc.option(fc.dictionary(fc.string(), fc.string()), { nil: undefined }), (entries, meta) => {
        const m = new Map(entries);
        const bytes = writeSafetensors(m, meta);
        const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
        expect(headerLength % 8).toBe(0);
        const back: SafetensorsFile = ok(readSafetensors(bytes));
        expect(back.metadata).toEqual(meta);
        expect(new Set(back.tensors.keys())).toEqual(new Set(m.keys()));
        for (const [k, t] of m) {
          const got = back.tensors.get(k)!;
          expect(got.dtype).toBe('F32');
          expect(got.shape).toEqual(t.shape);
          // Bit patterns, so that NaN payloads and -0 count.
          expect(new Uint32Array(Float32Array.from(got.data as Float32Array).buffer)).toEqual(new Uint32Array(Float32Array.from(t.data).buffer));
        }
      }),
    );
  });

  it('through a file on disk', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nasgraph-st-'));
    const path = join(dir, 'ckpt.safetensors');
    ok(writeSafetensorsFile(path, new Map([['conv1/weight', f32([1, 2], [3, 4])]]), { epoch: '2' }));
    expect(existsSync(`${path}.tmp`)).toBe(false);
    const back = ok(readSafetensorsFile(path));
    expect(back.metadata).toEqual({ epoch: '2' });
    expect([...back.tensors.get('conv1/weight')!.data]).toEqual([3, 4]);
    expect(errs(readSafetensorsFile(join(dir, 'missing.safetensors')))[0]).toMatchObject({ tag: 'FileError' });
  });
});

describe('readSafetensors validation', () => {
  const entry = (dtype: string, shape: number[], begin: number, end: number) => ({ dtype, shape, data_offsets: [begin, end] });
  const tags = (r: E.Either<readonly SafetensorsError[], unknown>) => errs(r).map((e) => e.tag);

  it('too small for the header length', () => {
    expect(errs(readSafetensors(new Uint8Array(5), 'a.safetensors'))).toEqual([expect.objectContaining({ tag: 'HeaderTooSmall', file: 'a.safetensors', size: 5 })]);
  });

  it('header length over the 100 MB limit', () => {
    const b = new Uint8Array(16);
    new DataView(b.buffer).setBigUint64(0, 2n ** 40n, true);
    expect(tags(readSafetensors(b))).toEqual(['HeaderTooLarge']);
  });

  it('header length past the end of the file', () => {
    const b = raw('{}').slice(0, 9);
    expect(errs(readSafetensors(b, 'cut.safetensors'))).toEqual([expect.objectContaining({ tag: 'InvalidHeaderLength', length: 2, size: 9 })]);
    expect(errs(readSafetensors(b, 'cut.safetensors'))[0]!.message).toContain('cut.safetensors');
  });

  it('header not UTF-8, not JSON, not an object', () => {
    const bad = raw('{}');
    bad[8] = 0xff;
    expect(tags(readSafetensors(bad))).toEqual(['InvalidHeader']);
    expect(tags(readSafetensors(raw('{"a": ')))).toEqual(['InvalidHeader']);
    expect(tags(readSafetensors(raw('[1, 2]')))).toEqual(['InvalidHeader']);
  });

  it('malformed entries and metadata, all reported', () => {
    const r = readSafetensors(raw({
      __metadata__: { format: 1 },
      a: { shape: [1], data_offsets: [0, 4] },
      b: entry('F32', [-1], 0, 4),
      c: { dtype: 'F32', shape: [1], data_offsets: [0, 4, 8] },
      d: entry('Q8', [1], 0, 1),
      e: 'x',
    }));
    expect(tags(r)).toEqual(['InvalidHeader', 'InvalidEntry', 'InvalidEntry', 'InvalidEntry', 'InvalidEntry', 'InvalidEntry']);
    expect(errs(r)[1]!.message).toContain('tensor "a"');
    expect(errs(r)[4]!.message).toContain('unknown dtype "Q8"');
  });

  it('a dtype of the format that we do not decode (U16), still checked for size', () => {
    const e = errs(readSafetensors(raw({ w: entry('U16', [3], 0, 6) }, 6)));
    expect(e).toEqual([expect.objectContaining({ tag: 'UnsupportedDtype', name: 'w', dtype: 'U16' })]);
  });

  it('byte count different from numel × dtype size', () => {
    const e = errs(readSafetensors(raw({ w: entry('F32', [2, 3], 0, 20) }, 20), 'm.safetensors'));
    expect(e).toEqual([expect.objectContaining({ tag: 'SizeMismatch', name: 'w', expected: 24, actual: 20 })]);
    expect(e[0]!.message).toContain('m.safetensors');
  });

  it('offsets: gap, overlap, end before begin, past the buffer, incomplete buffer', () => {
    expect(errs(readSafetensors(raw({ a: entry('U8', [4], 0, 4), b: entry('U8', [4], 6, 10) }, 10)))).toEqual([
      expect.objectContaining({ tag: 'InvalidOffsets', name: 'b', begin: 6, end: 10 }),
    ]);
    expect(errs(readSafetensors(raw({ a: entry('U8', [4], 0, 4), b: entry('U8', [4], 2, 6) }, 6)))[0]!.message).toMatch(/"b".*overlap "a"/);
    expect(tags(readSafetensors(raw({ a: entry('U8', [0], 4, 0) }, 4)))).toEqual(['InvalidOffsets', 'InvalidOffsets', 'IncompleteBuffer', 'SizeMismatch']);
    expect(tags(readSafetensors(raw({ a: entry('U8', [8], 0, 8) }, 4)))).toEqual(['InvalidOffsets']);
    expect(errs(readSafetensors(raw({ a: entry('U8', [4], 0, 4) }, 7)))).toEqual([expect.objectContaining({ tag: 'IncompleteBuffer', covered: 4, size: 7 })]);
  });

  it('accepts entries listed out of data order, a scalar, an empty tensor, an unpadded header, null metadata', () => {
    const data = new Uint8Array(12);
    new DataView(data.buffer).setFloat32(0, 2.5, true);
    new DataView(data.buffer).setFloat32(4, -1, true);
    new DataView(data.buffer).setFloat32(8, 7, true);
    const file = ok(readSafetensors(raw({ __metadata__: null, z: entry('F32', [2], 0, 8), a: entry('F32', [], 8, 12), e: entry('F32', [0, 3], 12, 12) }, data)));
    expect([...file.tensors.keys()]).toEqual(['z', 'a', 'e']);
    expect([...file.tensors.get('z')!.data]).toEqual([2.5, -1]);
    expect([...file.tensors.get('a')!.data]).toEqual([7]);
    expect(file.tensors.get('e')!.data).toHaveLength(0);
    expect(file.metadata).toBeUndefined();
  });
});

describe('parameter names', () => {
  it('maps our paths to PyTorch names and back', () => {
    expect(toTorchName('conv1/weight')).toBe('conv1.weight');
    expect(toTorchName('cell1/node2/sepconv3x3/dw/weight')).toBe('cell1.node2.sepconv3x3.dw.weight');
    expect(fromTorchName('features.0.weight')).toBe('features/0/weight');
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-z0-9_]{1,6}$/), { minLength: 1, maxLength: 5 }), (segs) => {
        expect(fromTorchName(toTorchName(segs.join('/')))).toBe(segs.join('/'));
      }),
    );
  });

  it('finds a tensor under either name, preferring the exact one', () => {
    const file = ok(readSafetensors(writeSafetensors(new Map([['a.b', f32([1], [1])], ['c/d', f32([1], [2])], ['e/f', f32([1], [3])], ['e.f', f32([1], [4])]]))));
    expect(findTensor(file, 'a/b')?.name).toBe('a.b');
    expect(findTensor(file, 'c/d')?.name).toBe('c/d');
    expect([...findTensor(file, 'e/f')!.tensor.data]).toEqual([3]);
    expect(findTensor(file, 'x/y')).toBeUndefined();
  });

  it('reports every missing parameter and shape mismatch', () => {
    const file = ok(readSafetensors(writeSafetensors(new Map([['conv.weight', f32([2, 2], [1, 2, 3, 4])]]))));
    const e = errs(matchParameters(file, new Map([['conv/weight', [4]], ['conv/bias', [2]]]), 'init.safetensors'));
    expect(e).toEqual([
      expect.objectContaining({ tag: 'ShapeMismatch', path: 'conv/weight', expected: [4], actual: [2, 2] }),
      expect.objectContaining({ tag: 'MissingTensor', path: 'conv/bias' }),
    ]);
    expect(e[1]!.message).toBe('init.safetensors: no tensor for parameter conv/bias (looked for "conv/bias" or "conv.bias")');
  });
});
