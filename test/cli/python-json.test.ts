import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pythonJson } from '../../src/cli/python-json.ts';

describe("pythonJson (Python's json.dump(indent=2, sort_keys=True) layout)", () => {
  it('sorts integer-like keys as strings, as Python does', () => {
    // Python: json.dumps({"10": 1, "2": 2, "a": 3}, indent=2, sort_keys=True)
    expect(pythonJson({ a: 3, 2: 2, 10: 1 })).toBe('{\n  "10": 1,\n  "2": 2,\n  "a": 3\n}');
  });

  it('writes empty containers inline and null for n_chosen', () => {
    expect(pythonJson({ k: { _type: 'input_choice', _value: { candidates: [], n_chosen: null } }, e: {} })).toBe(
      '{\n  "e": {},\n  "k": {\n    "_type": "input_choice",\n    "_value": {\n      "candidates": [],\n      "n_chosen": null\n    }\n  }\n}',
    );
  });

  it('escapes non-ASCII characters (ensure_ascii)', () => {
    // Python: json.dumps("é→\x7f😀") == '"\\u00e9\\u2192\\u007f\\ud83d\\ude00"'
    expect(pythonJson('é→\x7f😀')).toBe('"\\u00e9\\u2192\\u007f\\ud83d\\ude00"');
  });

  it('parses back to the same value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(JSON.parse(pythonJson(v))).toEqual(JSON.parse(JSON.stringify(v)));
      }),
    );
  });
});
