/**
 * JSON text laid out as Python's `json.dump(value, f, indent=2, sort_keys=True)` writes it (NNI's `ss_gen` and
 * export files): keys sorted by code point, two-space indent, `": "` and `","` separators, empty containers as
 * `[]` and `{}`, and non-ASCII characters escaped (`ensure_ascii`). JavaScript's own `JSON.stringify` cannot sort
 * keys that look like integers (objects list them first), hence this writer.
 *
 * @example
 * pythonJson({ b: [1, 2], a: { _type: 'layer_choice' } });
 * // '{\n  "a": {\n    "_type": "layer_choice"\n  },\n  "b": [\n    1,\n    2\n  ]\n}'
 */

const byCodePoint = (a: string, b: string): number => {
  const ca = [...a];
  const cb = [...b];
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    const d = ca[i]!.codePointAt(0)! - cb[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return ca.length - cb.length;
};

/** A JSON string literal with everything outside printable ASCII escaped as \uXXXX, as Python's ensure_ascii. */
const asciiString = (s: string): string =>
  JSON.stringify(s).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** The JSON text of `value` (null, booleans, finite numbers, strings, arrays and plain objects). */
export const pythonJson = (value: unknown, depth = 0): string => {
  const pad = '  '.repeat(depth + 1);
  const end = '  '.repeat(depth);
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return asciiString(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`pythonJson: ${value} has no JSON form`);
    return JSON.stringify(value);
  }
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) {
    return value.length === 0 ? '[]' : `[\n${value.map((v) => pad + pythonJson(v, depth + 1)).join(',\n')}\n${end}]`;
  }
  if (typeof value === 'object') {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort(byCodePoint);
    return keys.length === 0 ? '{}' : `{\n${keys.map((k) => `${pad}${asciiString(k)}: ${pythonJson(o[k], depth + 1)}`).join(',\n')}\n${end}}`;
  }
  throw new Error(`pythonJson: a ${typeof value} has no JSON form`);
};
