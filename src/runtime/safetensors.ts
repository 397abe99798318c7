/**
 * The safetensors checkpoint format (Hugging Face's; what `safetensors.torch.save_file` writes), implemented
 * here because npm has no maintained library for it (the `safetensors` package is a 0.0.1 stub).
 *
 * Layout: an 8-byte little-endian u64 N; N bytes of UTF-8 JSON `{ name: { dtype, shape, data_offsets:
 * [begin, end] }, "__metadata__"?: { string: string } }`; then the byte buffer, offsets relative to its start,
 * tensors little-endian in C order. The writer follows the reference implementation (safetensors/src/
 * tensor.rs) byte for byte: compact JSON with `__metadata__` first and tensors in data order, the header padded
 * with spaces to a multiple of 8 (so the data of every tensor is aligned), tensors sorted by name (byte
 * order) — the reference sorts by dtype alignment first, and we write only F32.
 *
 * Parameter names: our paths use '/' (`conv1/weight`), PyTorch state dicts use '.' (`conv1.weight`);
 * `findTensor` and `matchParameters` accept either form.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';

/** The dtypes we decode. Floats come back as Float32Array. */
export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'U8';

/** Element sizes of every dtype of the format (so that files with others still validate). */
const DTYPE_SIZE: Readonly<Record<string, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
};
const SUPPORTED: ReadonlySet<string> = new Set<SafetensorsDtype>(['F32', 'F16', 'BF16', 'F64', 'I64', 'I32', 'U8']);

/** The reference implementation's limit on the header length. */
export const MAX_HEADER_BYTES = 100_000_000;

/** A tensor read from a file, its data converted as the dtype says. */
export type StoredTensor =
  | { readonly dtype: 'F32' | 'F16' | 'BF16' | 'F64'; readonly shape: readonly number[]; readonly data: Float32Array }
  | { readonly dtype: 'I32'; readonly shape: readonly number[]; readonly data: Int32Array }
  | { readonly dtype: 'I64'; readonly shape: readonly number[]; readonly data: BigInt64Array }
  | { readonly dtype: 'U8'; readonly shape: readonly number[]; readonly data: Uint8Array };

export interface SafetensorsFile {
  /** In file (data) order. */
  readonly tensors: ReadonlyMap<string, StoredTensor>;
  readonly metadata: Readonly<Record<string, string>> | undefined;
}

/** A tensor to write: float32 values in C order. */
export interface TensorToWrite {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export type SafetensorsError =
  | { readonly tag: 'FileError'; readonly file: string; readonly message: string }
  | { readonly tag: 'HeaderTooSmall'; readonly file: string; readonly size: number; readonly message: string }
  | { readonly tag: 'HeaderTooLarge'; readonly file: string; readonly length: number; readonly message: string }
  | { readonly tag: 'InvalidHeaderLength'; readonly file: string; readonly length: number; readonly size: number; readonly message: string }
  | { readonly tag: 'InvalidHeader'; readonly file: string; readonly message: string }
  | { readonly tag: 'InvalidEntry'; readonly file: string; readonly name: string; readonly message: string }
  | { readonly tag: 'UnsupportedDtype'; readonly file: string; readonly name: string; readonly dtype: string; readonly message: string }
  | { readonly tag: 'InvalidOffsets'; readonly file: string; readonly name: string; readonly begin: number; readonly end: number; readonly message: string }
  | { readonly tag: 'SizeMismatch'; readonly file: string; readonly name: string; readonly expected: number; readonly actual: number; readonly message: string }
  | { readonly tag: 'IncompleteBuffer'; readonly file: string; readonly covered: number; readonly size: number; readonly message: string }
  | { readonly tag: 'MissingTensor'; readonly file: string; readonly path: string; readonly message: string }
  | { readonly tag: 'ShapeMismatch'; readonly file: string; readonly path: string; readonly expected: readonly number[]; readonly actual: readonly number[]; readonly message: string };

const utf8 = new TextEncoder();
const compareBytes = (a: Uint8Array, b: Uint8Array): number => {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
};
const isDims = (s: readonly number[]): boolean => s.every((d) => Number.isSafeInteger(d) && d >= 0);
const product = (s: readonly number[]): number => s.reduce((p, d) => p * d, 1);

/**
 * Serialises float32 tensors (and optional string metadata) to the bytes of a .safetensors file, as the
 * reference implementation writes them. Throws a RangeError when a tensor's data length is not the product of
 * its shape or a name is `__metadata__` (programming errors, not conditions of the input data).
 *
 * @example
 * const bytes = writeSafetensors(new Map([['conv1/weight', { shape: [2, 1, 3, 3], data }]]), { format: 'pt' });
 */
export const writeSafetensors = (
  tensors: ReadonlyMap<string, TensorToWrite>,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array => {
  const entries = [...tensors].map(([name, t]) => {
    if (name === '__metadata__') throw new RangeError('writeSafetensors: "__metadata__" is reserved and cannot name a tensor');
    if (!isDims(t.shape)) throw new RangeError(`writeSafetensors: tensor ${name} has an invalid shape [${t.shape.join(', ')}]`);
    if (product(t.shape) !== t.data.length) {
      throw new RangeError(`writeSafetensors: tensor ${name} has ${t.data.length} values but shape [${t.shape.join(', ')}] needs ${product(t.shape)}`);
    }
    return { name, key: utf8.encode(name), t };
  });
  entries.sort((a, b) => compareBytes(a.key, b.key));
  // Built by hand rather than with JSON.stringify(object): objects put integer-like keys ("0", "12") first.
  const parts: string[] = [];
  if (metadata !== undefined) {
    const keys = Object.keys(metadata).sort();
    parts.push(`"__metadata__":{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`).join(',')}}`);
  }
  let offset = 0;
  for (const { name, t } of entries) {
    const end = offset + 4 * t.data.length;
    parts.push(`${JSON.stringify(name)}:{"dtype":"F32","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const json = utf8.encode(`{${parts.join(',')}}`);
  const headerLength = json.length + ((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + headerLength + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let at = 8 + headerLength;
  for (const { t } of entries) {
    for (let i = 0; i < t.data.length; i++) view.setFloat32(at + 4 * i, t.data[i]!, true);
    at += 4 * t.data.length;
  }
  return out;
};

/** IEEE 754 binary16 → number. */
const halfToNumber = (h: number): number => {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
};

const bf16Scratch = new Uint32Array(1);
const bf16Float = new Float32Array(bf16Scratch.buffer);
/** bfloat16 → number: the upper half of a float32. */
const bf16ToNumber = (b: number): number => {
  bf16Scratch[0] = b << 16;
  return bf16Float[0]!;
};

const decode = (dtype: SafetensorsDtype, shape: readonly number[], bytes: Uint8Array, begin: number, count: number): StoredTensor => {
  const view = new DataView(bytes.buffer, bytes.byteOffset + begin);
  const floats = (size: number, get: (at: number) => number): Float32Array => {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = get(i * size);
    return out;
  };
  switch (dtype) {
    case 'F32':
      return { dtype, shape, data: floats(4, (at) => view.getFloat32(at, true)) };
    case 'F64':
      return { dtype, shape, data: floats(8, (at) => view.getFloat64(at, true)) };
    case 'F16':
      return { dtype, shape, data: floats(2, (at) => halfToNumber(view.getUint16(at, true))) };
    case 'BF16':
      return { dtype, shape, data: floats(2, (at) => bf16ToNumber(view.getUint16(at, true))) };
    case 'I32': {
      const data = new Int32Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getInt32(4 * i, true);
      return { dtype, shape, data };
    }
    case 'I64': {
      const data = new BigInt64Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getBigInt64(8 * i, true);
      return { dtype, shape, data };
    }
    case 'U8':
      return { dtype, shape, data: bytes.slice(begin, begin + count) };
    default: {
      const never: never = dtype;
      return never;
    }
  }
};

interface Entry {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Structural checks of one header entry (types of dtype, shape, data_offsets). */
const parseEntry = (file: string, name: string, v: unknown): E.Either<SafetensorsError, Entry> => {
  const bad = (what: string): E.Either<SafetensorsError, Entry> =>
    E.left({ tag: 'InvalidEntry', file, name, message: `${file}: tensor ${JSON.stringify(name)}: ${what}` });
  if (!isObject(v)) return bad('its header entry is not an object');
  const { dtype, shape, data_offsets: offsets } = v;
  if (typeof dtype !== 'string' || !(dtype in DTYPE_SIZE)) return bad(`unknown dtype ${JSON.stringify(dtype)}`);
  if (!Array.isArray(shape) || !shape.every((d): d is number => typeof d === 'number') || !isDims(shape)) {
    return bad(`shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d): d is number => typeof d === 'number') || !isDims(offsets)) {
    return bad(`data_offsets must be [begin, end] with non-negative integers, got ${JSON.stringify(offsets)}`);
  }
  return E.right({ name, dtype, shape, begin: offsets[0]!, end: offsets[1]! });
};

/** Offsets (sorted by begin, as the reference does): contiguous from 0, non-overlapping, covering the buffer. */
const offsetErrors = (file: string, entries: readonly Entry[], size: number): SafetensorsError[] => {
  const errors: SafetensorsError[] = [];
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: string | undefined;
  for (const e of sorted) {
    const at = `${file}: tensor ${JSON.stringify(e.name)}: data_offsets [${e.begin}, ${e.end}]`;
    const err = (why: string): SafetensorsError => ({ tag: 'InvalidOffsets', file, name: e.name, begin: e.begin, end: e.end, message: `${at} ${why}` });
    if (e.end < e.begin) errors.push(err('end before begin'));
    else if (e.end > size) errors.push(err(`extend past the end of the data buffer (${size} bytes)`));
    if (e.begin > covered) errors.push(err(`leave a gap: bytes ${covered}..${e.begin} belong to no tensor`));
    if (e.begin < covered) errors.push(err(`overlap ${previous === undefined ? 'the previous tensor' : JSON.stringify(previous)} (which ends at ${covered})`));
    covered = Math.max(covered, e.end);
    previous = e.name;
  }
  if (covered < size) {
    errors.push({ tag: 'IncompleteBuffer', file, covered, size, message: `${file}: the tensors cover ${covered} bytes of a ${size}-byte data buffer: ${size - covered} trailing bytes belong to no tensor` });
  }
  return errors;
};

const sizeErrors = (file: string, e: Entry): SafetensorsError[] => {
  const errors: SafetensorsError[] = [];
  const count = product(e.shape);
  const expected = count * DTYPE_SIZE[e.dtype]!;
  const actual = e.end - e.begin;
  if (!Number.isSafeInteger(expected) || expected !== actual) {
    errors.push({
      tag: 'SizeMismatch', file, name: e.name, expected, actual,
      message: `${file}: tensor ${JSON.stringify(e.name)}: shape [${e.shape.join(', ')}] of ${e.dtype} needs ${expected} bytes, its data_offsets span ${actual}`,
    });
  }
  if (!SUPPORTED.has(e.dtype)) {
    errors.push({ tag: 'UnsupportedDtype', file, name: e.name, dtype: e.dtype, message: `${file}: tensor ${JSON.stringify(e.name)}: dtype ${e.dtype} is not supported (supported: ${[...SUPPORTED].join(', ')})` });
  }
  return errors;
};

/**
 * Parses and validates the bytes of a .safetensors file: header length within bounds and the file, UTF-8 JSON,
 * well-formed entries, offsets within the buffer, contiguous and non-overlapping, each tensor's byte count =
 * numel × dtype size. Every error found is reported, naming `file` and the tensor. Floats (F32, F16, BF16,
 * F64) are converted to Float32Array; I32 → Int32Array, I64 → BigInt64Array, U8 → Uint8Array.
 *
 * @example
 * const r = readSafetensors(readFileSync('model.safetensors'), 'model.safetensors');
 * if (E.isRight(r)) console.log([...r.right.tensors.keys()]);
 */
export const readSafetensors = (bytes: Uint8Array, file = '<bytes>'): E.Either<readonly SafetensorsError[], SafetensorsFile> => {
  if (bytes.length < 8) {
    return E.left([{ tag: 'HeaderTooSmall', file, size: bytes.length, message: `${file}: ${bytes.length} bytes: too small for a safetensors file (an 8-byte header length comes first)` }]);
  }
  const big = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (big > BigInt(MAX_HEADER_BYTES)) {
    return E.left([{ tag: 'HeaderTooLarge', file, length: Number(big), message: `${file}: header length ${big} exceeds the limit of ${MAX_HEADER_BYTES} bytes (not a safetensors file, or corrupt)` }]);
  }
  const n = Number(big);
  if (8 + n > bytes.length) {
    return E.left([{ tag: 'InvalidHeaderLength', file, length: n, size: bytes.length, message: `${file}: header length ${n} runs past the end of the ${bytes.length}-byte file (truncated?)` }]);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return E.left([{ tag: 'InvalidHeader', file, message: `${file}: the header is not valid UTF-8 JSON (${why})` }]);
  }
  if (!isObject(json)) return E.left([{ tag: 'InvalidHeader', file, message: `${file}: the header must be a JSON object` }]);
  const errors: SafetensorsError[] = [];
  let metadata: Record<string, string> | undefined;
  const entries: Entry[] = [];
  for (const [name, v] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (v === null) continue;
      if (isObject(v) && Object.values(v).every((s) => typeof s === 'string')) metadata = v as Record<string, string>;
      else errors.push({ tag: 'InvalidHeader', file, message: `${file}: __metadata__ must map strings to strings, got ${JSON.stringify(v)}` });
      continue;
    }
    const e = parseEntry(file, name, v);
    if (E.isLeft(e)) errors.push(e.left);
    else entries.push(e.right);
  }
  const data = bytes.subarray(8 + n);
  errors.push(...offsetErrors(file, entries, data.length), ...entries.flatMap((e) => sizeErrors(file, e)));
  if (errors.length > 0) return E.left(errors);
  const ordered = [...entries].sort((a, b) => a.begin - b.begin);
  const tensors = new Map<string, StoredTensor>(
    ordered.map((e) => [e.name, decode(e.dtype as SafetensorsDtype, e.shape, data, e.begin, product(e.shape))]),
  );
  return E.right({ tensors, metadata });
};

/** Reads and validates a .safetensors file from disk. */
export const readSafetensorsFile = (path: string): E.Either<readonly SafetensorsError[], SafetensorsFile> => {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : e instanceof Error ? e.message : String(e);
    return E.left([{ tag: 'FileError', file: path, message: `${path}: cannot read the checkpoint (${why})` }]);
  }
  return readSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
};

/**
 * Writes a .safetensors file atomically (to `path.tmp`, then renamed), so that a crash while writing a
 * checkpoint leaves the previous one intact.
 */
export const writeSafetensorsFile = (
  path: string,
  tensors: ReadonlyMap<string, TensorToWrite>,
  metadata?: Readonly<Record<string, string>>,
): E.Either<readonly SafetensorsError[], void> => {
  const tmp = `${path}.tmp`;
  try {
    writeFileSync(tmp, writeSafetensors(tensors, metadata));
    renameSync(tmp, path);
    return E.right(undefined);
  } catch (e) {
    return E.left([{ tag: 'FileError', file: path, message: `${path}: cannot write the checkpoint (${e instanceof Error ? e.message : String(e)})` }]);
  }
};

/** A parameter path in PyTorch's state-dict form: `cell1/conv/weight` → `cell1.conv.weight`. */
export const toTorchName = (path: string): string => path.split('/').join('.');

/** A PyTorch state-dict name as a parameter path: `cell1.conv.weight` → `cell1/conv/weight`. */
export const fromTorchName = (name: string): string => name.split('.').join('/');

/** The tensor stored for parameter `path`, under its own name or its PyTorch ('.'-separated) name. */
export const findTensor = (file: SafetensorsFile, path: string): { readonly name: string; readonly tensor: StoredTensor } | undefined => {
  for (const name of [path, toTorchName(path)]) {
    const tensor = file.tensors.get(name);
    if (tensor !== undefined) return { name, tensor };
  }
  return undefined;
};

/** A stored tensor's values as float32 (integers converted). */
export const toFloat32 = (t: StoredTensor): Float32Array => {
  switch (t.dtype) {
    case 'F32':
    case 'F16':
    case 'BF16':
    case 'F64':
      return t.data;
    case 'I32':
    case 'U8':
      return Float32Array.from(t.data);
    case 'I64':
      return Float32Array.from(t.data, (v) => Number(v));
    default: {
      const never: never = t;
      return never;
    }
  }
};

/**
 * The values of every expected parameter, matched by path in either naming form, with shapes checked.
 * Missing tensors and wrong shapes are all reported; `unused` lists stored tensors no parameter matched.
 * `file` names the checkpoint in messages.
 *
 * @example
 * const r = matchParameters(ckpt, new Map([['conv1/weight', [32, 1, 3, 3]]]), 'supernet.safetensors');
 */
export const matchParameters = (
  stored: SafetensorsFile,
  expected: ReadonlyMap<string, readonly number[]>,
  file = '<checkpoint>',
): E.Either<readonly SafetensorsError[], { readonly values: ReadonlyMap<string, Float32Array>; readonly unused: readonly string[] }> => {
  const errors: SafetensorsError[] = [];
  const values = new Map<string, Float32Array>();
  const used = new Set<string>();
  for (const [path, shape] of expected) {
    const hit = findTensor(stored, path);
    if (hit === undefined) {
      const names = path === toTorchName(path) ? `"${path}"` : `"${path}" or "${toTorchName(path)}"`;
      errors.push({ tag: 'MissingTensor', file, path, message: `${file}: no tensor for parameter ${path} (looked for ${names})` });
      continue;
    }
    used.add(hit.name);
    const actual = hit.tensor.shape;
    if (actual.length !== shape.length || actual.some((d, i) => d !== shape[i])) {
      errors.push({ tag: 'ShapeMismatch', file, path, expected: shape, actual, message: `${file}: tensor "${hit.name}" has shape [${actual.join(', ')}], parameter ${path} needs [${shape.join(', ')}]` });
      continue;
    }
    values.set(path, toFloat32(hit.tensor));
  }
  if (errors.length > 0) return E.left(errors);
  return E.right({ values, unused: [...stored.tensors.keys()].filter((k) => !used.has(k)) });
};
