/**
 * The IDX file format (LeCun's MNIST files, Zalando's Fashion-MNIST), gzipped or not, and the errors of the
 * data layer.
 *
 * An IDX file is: two zero bytes, a dtype byte (0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float,
 * 0x0E double), a rank byte, `rank` big-endian u32 dimensions, then the elements big-endian in C order.
 * A gzipped file is recognised by its magic bytes (1f 8b), not by its name, so a renamed file still loads.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import * as E from 'fp-ts/lib/Either.js';

/** Errors of loading a data set, each naming the file (or option) at fault. */
export type DataError =
  | { readonly tag: 'FileMissing'; readonly file: string; readonly message: string }
  | { readonly tag: 'FileUnreadable'; readonly file: string; readonly message: string }
  | { readonly tag: 'CorruptGzip'; readonly file: string; readonly message: string }
  | { readonly tag: 'Truncated'; readonly file: string; readonly expected: number; readonly actual: number; readonly message: string }
  | { readonly tag: 'TrailingBytes'; readonly file: string; readonly expected: number; readonly actual: number; readonly message: string }
  | { readonly tag: 'BadMagic'; readonly file: string; readonly magic: number; readonly message: string }
  | { readonly tag: 'UnsupportedDtype'; readonly file: string; readonly code: number; readonly message: string }
  | { readonly tag: 'UnexpectedLayout'; readonly file: string; readonly message: string }
  | {
      readonly tag: 'CountMismatch';
      readonly images: string;
      readonly labels: string;
      readonly imageCount: number;
      readonly labelCount: number;
      readonly message: string;
    }
  | {
      readonly tag: 'LabelOutOfRange';
      readonly file: string;
      /** How many labels are outside 0..classes-1, and the first of them. */
      readonly count: number;
      readonly firstIndex: number;
      readonly firstLabel: number;
      readonly classes: number;
      readonly message: string;
    }
  | { readonly tag: 'InvalidOption'; readonly option: string; readonly message: string };

export type IdxDtype = 'u8' | 'i8' | 'i16' | 'i32' | 'f32' | 'f64';

export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A decoded IDX file: its element type, its dimensions (outermost first) and its elements in C order. */
export interface IdxArray {
  readonly dtype: IdxDtype;
  readonly dims: readonly number[];
  readonly data: IdxData;
}

const DTYPES: ReadonlyMap<number, { readonly dtype: IdxDtype; readonly size: number }> = new Map([
  [0x08, { dtype: 'u8', size: 1 }],
  [0x09, { dtype: 'i8', size: 1 }],
  [0x0b, { dtype: 'i16', size: 2 }],
  [0x0c, { dtype: 'i32', size: 4 }],
  [0x0d, { dtype: 'f32', size: 4 }],
  [0x0e, { dtype: 'f64', size: 8 }],
]);

const hex = (n: number, digits: number): string => `0x${n.toString(16).padStart(digits, '0')}`;

/** True when `bytes` start with the gzip magic number (1f 8b). */
export const isGzip = (bytes: Uint8Array): boolean => bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;

/** Inflates `bytes` when they are gzipped; other bytes pass through unchanged. */
export const gunzipIfNeeded = (bytes: Uint8Array, file: string): E.Either<readonly DataError[], Uint8Array> => {
  if (!isGzip(bytes)) return E.right(bytes);
  try {
    const out = gunzipSync(bytes);
    return E.right(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return E.left([{ tag: 'CorruptGzip', file, message: `${file}: the gzip stream is truncated or corrupt (${why}); download or reinstall the file` }]);
  }
};

/** Elements of a big-endian IDX body, decoded into a typed array of the file's element type. */
const decodeBody = (bytes: Uint8Array, offset: number, count: number, dtype: IdxDtype): IdxData => {
  // One-byte types are views on the decoded bytes (no copy of a 47 MB image file): for a file that was not
  // gzipped they alias the caller's input, which callers do not mutate.
  if (dtype === 'u8') return bytes.subarray(offset, offset + count);
  if (dtype === 'i8') return new Int8Array(bytes.buffer, bytes.byteOffset + offset, count);
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset);
  switch (dtype) {
    case 'i16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(2 * i, false);
      return out;
    }
    case 'i32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i, false);
      return out;
    }
    case 'f32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, false);
      return out;
    }
    case 'f64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, false);
      return out;
    }
    default: {
      const never: never = dtype;
      return never;
    }
  }
};

/**
 * Decodes an IDX file (gzipped or not) held in memory. `file` names it in error messages.
 * Every problem found is reported: a bad magic number together with an unknown dtype; a file shorter than its
 * header says (truncated: expected vs actual bytes) or longer (trailing bytes).
 *
 * @example
 * const r = readIdx(readFileSync('train-labels-idx1-ubyte.gz'), 'train-labels-idx1-ubyte.gz');
 * if (E.isRight(r)) console.log(r.right.dims); // [60000]
 */
export const readIdx = (input: Uint8Array, file = '<bytes>'): E.Either<readonly DataError[], IdxArray> => {
  const inflated = gunzipIfNeeded(input, file);
  if (E.isLeft(inflated)) return inflated;
  const bytes = inflated.right;
  if (bytes.length < 4) {
    return E.left([{ tag: 'Truncated', file, expected: 4, actual: bytes.length, message: `${file}: truncated: an IDX header needs at least 4 bytes, the file has ${bytes.length}` }]);
  }
  const errors: DataError[] = [];
  const magic = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    errors.push({
      tag: 'BadMagic',
      file,
      magic,
      message: `${file}: bad magic number ${hex(magic, 8)}: an IDX file starts with two zero bytes, a dtype byte and a rank byte (e.g. 0x00000803 for images, 0x00000801 for labels); this is not an IDX file`,
    });
  }
  const code = bytes[2]!;
  const type = DTYPES.get(code);
  if (type === undefined) {
    errors.push({
      tag: 'UnsupportedDtype',
      file,
      code,
      message: `${file}: unsupported IDX dtype ${hex(code, 2)} (supported: 0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float, 0x0E double)`,
    });
  }
  if (errors.length > 0 || type === undefined) return E.left(errors);
  const rank = bytes[3]!;
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) {
    return E.left([{ tag: 'Truncated', file, expected: headerBytes, actual: bytes.length, message: `${file}: truncated: the header of a rank-${rank} IDX file has ${headerBytes} bytes, the file has ${bytes.length}` }]);
  }
  const header = new DataView(bytes.buffer, bytes.byteOffset, headerBytes);
  const dims = Array.from({ length: rank }, (_, i) => header.getUint32(4 + 4 * i, false));
  const count = dims.reduce((p, d) => p * d, 1);
  const expected = headerBytes + count * type.size;
  if (bytes.length < expected) {
    return E.left([{ tag: 'Truncated', file, expected, actual: bytes.length, message: `${file}: truncated: dimensions [${dims.join(', ')}] of ${type.dtype} need ${expected} bytes, the file has ${bytes.length}` }]);
  }
  if (bytes.length > expected) {
    return E.left([{ tag: 'TrailingBytes', file, expected, actual: bytes.length, message: `${file}: ${bytes.length - expected} trailing bytes: dimensions [${dims.join(', ')}] of ${type.dtype} need ${expected} bytes, the file has ${bytes.length}` }]);
  }
  return E.right({ dtype: type.dtype, dims, data: decodeBody(bytes, headerBytes, count, type.dtype) });
};

/** Reads the whole of `path`, reporting a missing file as `FileMissing` (with `missingHint` appended). */
export const readFileBytes = (path: string, missingHint = ''): E.Either<readonly DataError[], Uint8Array> => {
  try {
    const b = readFileSync(path);
    return E.right(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return E.left([{ tag: 'FileMissing', file: path, message: `${path}: no such file${missingHint}` }]);
    const why = e instanceof Error ? e.message : String(e);
    return E.left([{ tag: 'FileUnreadable', file: path, message: `${path}: cannot read the file (${why})` }]);
  }
};

/**
 * Reads and decodes one IDX file from disk (gzipped or not).
 *
 * @example
 * const labels = readIdxFile('/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz');
 */
export const readIdxFile = (path: string, missingHint = ''): E.Either<readonly DataError[], IdxArray> => {
  const bytes = readFileBytes(path, missingHint);
  return E.isLeft(bytes) ? bytes : readIdx(bytes.right, path);
};
