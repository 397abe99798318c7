import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ArchError,
  architectureFromJson,
  architectureKey,
  decodeArchValue,
  enumerateArchitectures,
  exportArchitecture,
  exportsNames,
  firstArchitecture,
  formatArchitectureJson,
  parseArchitectureJson,
  randomArchitecture,
  resolveArchitecture,
} from '../../src/ir/architecture.ts';
import {
  type Architecture,
  type SearchSpace,
  add,
  apply,
  block,
  buildModel,
  conv2d,
  defineModel,
  inputChoice,
  layerChoice,
  searchSpace,
  seedRng,
} from '../../src/ir/index.ts';
import {
  type Supernet,
  arbArchitectureJson,
  arbMultiMutant,
  arbMutant,
  arbSupernet,
  arbValidArchitecture,
  exportedJson,
  textWithDuplicateKey,
} from './arbitraries.ts';

const arbCase: fc.Arbitrary<[Supernet, Architecture]> = arbSupernet.chain((sn) => arbValidArchitecture(sn.space).map((a) => [sn, a] as [Supernet, Architecture]));

const tags = (r: E.Either<readonly ArchError[], unknown>): string[] => (E.isLeft(r) ? r.left.map((e) => e.tag).sort() : []);

// ---------------------------------------------------------------------------------------------------------
// parseArchitectureJson

describe('parseArchitectureJson', () => {
  it('agrees with JSON.parse on valid JSON', () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        // fc.json writes objects with distinct keys, so there is no duplicate to report.
        expect(parseArchitectureJson(text)).toEqual(E.right(JSON.parse(text)));
      }),
    );
  });

  it('accepts exactly what JSON.parse accepts (on JSON-like noise)', () => {
    const unit = fc.constantFrom('{', '}', '[', ']', ',', ':', '"', '\\', 'u', '0', '1', '-', '.', 'e', '+', ' ', '\n', 'true', 'null', 'a', '"k"', '\t', '\u0001', 'f');
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 20 }), (text) => {
        let expected: { ok: true; value: unknown } | { ok: false };
        try {
          expected = { ok: true, value: JSON.parse(text) };
        } catch {
          expected = { ok: false };
        }
        const got = parseArchitectureJson(text);
        if (!expected.ok) {
          expect(tags(got)).toEqual(['InvalidJson']);
        } else if (E.isRight(got)) {
          expect(got.right).toEqual(expected.value);
        } else {
          // Only a duplicate key with different values may turn valid JSON into an error.
          expect(got.left.every((e) => e.tag === 'SharedKeyConflict')).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts exactly what JSON.parse accepts (on valid JSON with one character inserted, deleted or replaced)', () => {
    const ch = fc.constantFrom(',', ':', '{', '}', '[', ']', '"', '\\', '0', '1', '-', '.', 'e', ' ', 'x', '\u0001');
    const edited = fc.tuple(fc.json({ maxDepth: 3 }), fc.nat(), fc.constantFrom('insert', 'delete', 'replace'), ch).map(([text, at, how, c]) => {
      const i = at % (text.length + 1);
      return how === 'insert' ? text.slice(0, i) + c + text.slice(i) : text.slice(0, i) + (how === 'replace' ? c : '') + text.slice(i + 1);
    });
    fc.assert(
      fc.property(edited, (text) => {
        let valid = true;
        try {
          JSON.parse(text);
        } catch {
          valid = false;
        }
        const got = parseArchitectureJson(text);
        if (!valid) expect(tags(got)).toEqual(['InvalidJson']);
        else expect(tags(got).every((t) => t === 'SharedKeyConflict')).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('reports a key given twice with different values, and accepts identical repetitions', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ minLength: 1, maxLength: 4 }), fc.jsonValue({ maxDepth: 2 }), { minKeys: 1, maxKeys: 4 }),
        fc.jsonValue({ maxDepth: 2 }),
        fc.nat(),
        (obj, other, pick) => {
          const keys = Object.keys(obj);
          const key = keys[pick % keys.length]!;
          const same = JSON.stringify(other) === JSON.stringify(obj[key]) || (JSON.stringify(obj[key]) === undefined);
          fc.pre(!same);
          const r = parseArchitectureJson(textWithDuplicateKey(obj, key, other));
          expect(tags(r)).toEqual(['SharedKeyConflict']);
          const err = E.isLeft(r) ? r.left[0]! : undefined;
          expect(err?.tag === 'SharedKeyConflict' && err.key).toBe(key);
          expect(err?.message).toContain(`'${key}'`);
          expect(parseArchitectureJson(textWithDuplicateKey(obj, key, obj[key]))).toEqual(E.right(JSON.parse(JSON.stringify(obj))));
        },
      ),
    );
  });

  it('treats duplicates as identical when they differ only in layout or key order', () => {
    expect(parseArchitectureJson('{"a": [0, 1], "a": [0,1], "b": {"x": 1, "y": 2}, "b": {"y": 2, "x": 1}}')).toEqual(
      E.right({ a: [0, 1], b: { x: 1, y: 2 } }),
    );
    // Only the top level is checked: nested duplicates follow JSON.parse (last wins).
    expect(parseArchitectureJson('{"a": {"x": 1, "x": 2}}')).toEqual(E.right({ a: { x: 2 } }));
  });

  it('reports every truncation of an architecture file as InvalidJson with a position inside the text', () => {
    fc.assert(
      fc.property(arbCase, fc.nat(), ([sn, a], cut) => {
        const text = formatArchitectureJson(sn.space, a);
        const end = cut % text.lastIndexOf('}');
        const r = parseArchitectureJson(text.slice(0, end));
        expect(tags(r)).toEqual(['InvalidJson']);
        const err = E.isLeft(r) ? r.left[0]! : undefined;
        if (err?.tag !== 'InvalidJson') return;
        expect(err.position).toBeLessThanOrEqual(end);
        const before = text.slice(0, err.position);
        expect(err.line).toBe(before.split('\n').length);
        expect(err.column).toBe(err.position - before.lastIndexOf('\n'));
      }),
    );
  });

  it('gives the position, line and column of a syntax error', () => {
    const r = parseArchitectureJson('{\n  "a": 1,\n  "b": 2,\n}');
    expect(r).toEqual(E.left([expect.objectContaining({ tag: 'InvalidJson', position: 22, line: 4, column: 1 })]));
    expect(E.isLeft(r) && r.left[0]!.message).toMatch(/line 4, column 1/);
    expect(tags(parseArchitectureJson(''))).toEqual(['InvalidJson']);
    const at = (text: string): number | undefined => {
      const e = parseArchitectureJson(text);
      return E.isLeft(e) && e.left[0]!.tag === 'InvalidJson' ? e.left[0]!.position : undefined;
    };
    expect(at('{"a": 01}')).toBe(7);
    expect(at('{"a": "\u0001"}')).toBe(7);
    expect(at('{"a": 1} x')).toBe(9);
    expect(at('{"a": [1, 2,]}')).toBe(12);
    expect(at('{"a": "\\q"}')).toBe(8);
    expect(at('{"a": tru}')).toBe(9);
  });

  it('never throws, even on very deep nesting', () => {
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    expect(() => parseArchitectureJson(deep)).not.toThrow();
    expect(tags(parseArchitectureJson('['.repeat(200_000)))).toEqual(['InvalidJson']);
  });
});

// ---------------------------------------------------------------------------------------------------------
// ArchValue forms

describe('decodeArchValue', () => {
  it('tells NNI value forms apart; a list of integers is always indices', () => {
    const form = (u: unknown): string => E.match(() => 'invalid', (f: { form: string }) => f.form)(decodeArchValue(u));
    expect(form('conv3x3')).toBe('name');
    expect(form(2)).toBe('index');
    expect(form([])).toBe('list');
    expect(form([1, 0])).toBe('list');
    expect(form(JSON.parse('[1.0, 0.0]'))).toBe('list');
    expect(form(['a', 1])).toBe('list');
    expect(form([true, false])).toBe('multiHot');
    expect(form([0.3, 0, 0.7])).toBe('weights');
    expect(form(1.5)).toBe('invalid');
    expect(form([true, 1])).toBe('invalid');
    expect(form(null)).toBe('invalid');
    expect(form({})).toBe('invalid');
  });
});

// ---------------------------------------------------------------------------------------------------------
// resolve / export

describe('resolveArchitecture and exportArchitecture', () => {
  it('resolve any accepted JSON form of an architecture to it', () => {
    const arb = arbCase.chain(([sn, a]) => arbArchitectureJson(sn.space, a).map((json) => [sn, a, json] as const));
    fc.assert(
      fc.property(arb, ([sn, a, json]) => {
        expect(resolveArchitecture(sn.space, json)).toEqual(E.right(a));
      }),
    );
  });

  it('round-trip: resolve(export(a)) = a and export(resolve(j)) = j for canonical j', () => {
    fc.assert(
      fc.property(arbCase, ([sn, a]) => {
        const j = exportArchitecture(sn.space, a);
        const back = resolveArchitecture(sn.space, j);
        expect(back).toEqual(E.right(a));
        expect(E.map((b: Architecture) => exportArchitecture(sn.space, b))(back)).toEqual(E.right(j));
        expect(architectureFromJson(sn.space, formatArchitectureJson(sn.space, a))).toEqual(E.right(a));
      }),
    );
  });

  it('export names when unique, non-empty and not all digits, scalars for one, [] for none', () => {
    fc.assert(
      fc.property(arbCase, ([sn, a]) => {
        const j = exportArchitecture(sn.space, a);
        for (const d of sn.space.decisions) {
          const v = j[d.key];
          const chosen = a[d.key]!;
          const items = Array.isArray(v) ? v : [v];
          if (chosen.length === 1) expect(Array.isArray(v)).toBe(false);
          else expect(items.length).toBe(chosen.length);
          const named = d.names.every((n) => n !== '' && !/^\d+$/.test(n)) && new Set(d.names).size === d.names.length;
          expect(exportsNames(d.names)).toBe(named);
          expect(items).toEqual(chosen.map((i) => (named ? d.names[i] : i)));
        }
      }),
    );
  });

  it('formats files with sorted keys, 2-space indent and a final newline', () => {
    fc.assert(
      fc.property(arbCase, ([sn, a]) => {
        const text = formatArchitectureJson(sn.space, a);
        const j = exportArchitecture(sn.space, a);
        const sorted = Object.keys(j).sort();
        // No key is integer-like here, so JSON.stringify keeps the (sorted) insertion order: an independent layout.
        expect(sorted.some((k) => /^\d+$/.test(k))).toBe(false);
        expect(Object.keys(j)).toEqual(sorted);
        expect(text).toBe(`${JSON.stringify(j, null, 2)}\n`);
      }),
    );
  });

  it('reject each single mutation with the right error kind', () => {
    const arb = arbCase.chain(([sn, a]) => arbMutant(sn.space, a).map((m) => [sn, m] as const));
    fc.assert(
      fc.property(arb, ([sn, m]) => {
        const r = resolveArchitecture(sn.space, m.json);
        expect(tags(r)).toEqual([...m.expected]);
        if (E.isLeft(r)) for (const e of r.left) if ('key' in e && e.key !== null) expect(e.message).toContain(e.key);
      }),
      { numRuns: 300 },
    );
  });

  it('report every error when several keys are broken', () => {
    const arb = arbCase.chain(([sn, a]) => arbMultiMutant(sn.space, a).map((m) => [sn, m] as const));
    fc.assert(
      fc.property(arb, ([sn, m]) => {
        const r = resolveArchitecture(sn.space, m.json);
        expect(tags(r)).toEqual([...m.expected]);
      }),
      { numRuns: 300 },
    );
  });

  it('report a duplicate key with different values in the text', () => {
    fc.assert(
      fc.property(
        arbCase.filter(([sn]) => sn.space.decisions.length > 0),
        fc.nat(),
        ([sn, a], pick) => {
          const json = exportedJson(sn.space, a);
          const d = sn.space.decisions[pick % sn.space.decisions.length]!;
          const other = Array.isArray(json[d.key]) ? 'other' : [json[d.key]];
          expect(tags(architectureFromJson(sn.space, textWithDuplicateKey(json, d.key, other)))).toEqual(['SharedKeyConflict']);
        },
      ),
    );
  });
});

// ---------------------------------------------------------------------------------------------------------
// first / random / enumerate / key

describe('architectures to start from', () => {
  it('firstArchitecture is NNI standalone mode: first candidate, first nChosen inputs (all when null)', () => {
    fc.assert(
      fc.property(arbSupernet, (sn) => {
        const first = firstArchitecture(sn.space);
        for (const d of sn.space.decisions) {
          const want = d.kind === 'layer' ? [0] : [...Array(d.nChosen ?? d.names.length).keys()];
          expect(first[d.key]).toEqual(want);
        }
        expect(Object.keys(first).length).toBe(sn.space.decisions.length);
        expect(E.isRight(apply(sn.graph, first))).toBe(true);
      }),
    );
  });

  it('randomArchitecture is canonical, always resolves, and depends only on the seed', () => {
    fc.assert(
      fc.property(arbSupernet, fc.integer(), (sn, seed) => {
        const [a, r1] = randomArchitecture(sn.space, seedRng(seed));
        const [b, r2] = randomArchitecture(sn.space, seedRng(seed));
        expect(b).toEqual(a);
        expect(r2).toEqual(r1);
        expect(resolveArchitecture(sn.space, a)).toEqual(E.right(a));
        expect(resolveArchitecture(sn.space, exportArchitecture(sn.space, a))).toEqual(E.right(a));
        for (const d of sn.space.decisions) {
          const sel = a[d.key]!;
          expect(new Set(sel).size).toBe(sel.length); // without replacement
          expect([...sel].sort((x, y) => x - y)).toEqual(sel);
        }
      }),
    );
  });

  /** Chi-square statistic of observed counts against a uniform expectation. */
  const chiSquare = (counts: readonly number[], total: number): number => {
    const e = total / counts.length;
    return counts.reduce((s, c) => s + (c - e) ** 2 / e, 0);
  };

  it('randomArchitecture samples each decision uniformly', () => {
    const g = buildModel(
      defineModel({
        name: 'uniform',
        input: [1, 2, 2],
        layer: block((ctx, x) => {
          const y = ctx.call('op', layerChoice([conv2d({ out: 1, kernel: 1 }), conv2d({ out: 1, kernel: 3, padding: 1 }), conv2d({ out: 1, kernel: 1, bias: false })], { key: 'op' }), x);
          const ins = [x, y, add(x, y), add(y, y)];
          const k2 = ctx.call('k2', inputChoice({ nChosen: 2, key: 'k2' }), ins);
          return add(k2, ctx.call('any', inputChoice({ nChosen: null, key: 'any' }), ins.slice(0, 3)));
        }),
      }),
    );
    if (E.isLeft(g)) throw new Error(g.left.map((e) => e.message).join('; '));
    const space = searchSpace(g.right);
    const N = 12_000;
    const counts = new Map<string, Map<string, number>>();
    let rng = seedRng(12345);
    for (let i = 0; i < N; i++) {
      const [a, next] = randomArchitecture(space, rng);
      rng = next;
      for (const [k, v] of Object.entries(a)) {
        const m = counts.get(k) ?? new Map<string, number>();
        m.set(v.join(','), (m.get(v.join(',')) ?? 0) + 1);
        counts.set(k, m);
      }
    }
    // Every value occurs (3 candidates, C(4,2) = 6 pairs, 2^3 = 8 subsets), and the chi-square statistic stays
    // below its 0.1% critical value for the degrees of freedom (2: 13.82, 5: 20.52, 7: 24.32).
    const check = (key: string, values: number, critical: number): void => {
      const m = counts.get(key)!;
      expect(m.size).toBe(values);
      expect(chiSquare([...m.values()], N)).toBeLessThan(critical);
    };
    check('op', 3, 13.82);
    check('k2', 6, 20.52);
    check('any', 8, 24.32);
  });

  it('enumerateArchitectures starts with the first architecture and is stable', () => {
    fc.assert(
      fc.property(arbSupernet, (sn) => {
        const take = (n: number): Architecture[] => {
          const out: Architecture[] = [];
          for (const a of enumerateArchitectures(sn.space)) {
            if (out.length >= n) break;
            out.push(a);
          }
          return out;
        };
        const a = take(20);
        expect(a[0]).toEqual(firstArchitecture(sn.space));
        expect(take(20)).toEqual(a);
        expect(new Set(a.map(architectureKey)).size).toBe(a.length);
        for (const x of a) expect(resolveArchitecture(sn.space, x)).toEqual(E.right(x));
      }),
    );
  });

  it('architectureKey ignores key order and index order, and tells architectures apart', () => {
    expect(architectureKey({ b: [1], a: [2, 0] })).toBe(architectureKey({ a: [0, 2], b: [1] }));
    expect(architectureKey({ a: [0], b: [1] })).not.toBe(architectureKey({ a: [1], b: [0] }));
    expect(architectureKey({ 'a,b': [] })).not.toBe(architectureKey({ a: [], b: [] }));
  });
});

// ---------------------------------------------------------------------------------------------------------
// NNI examples (shared/NNI-SEMANTICS.md)

describe('NNI examples', () => {
  const built = buildModel(
    defineModel({
      name: 'nni',
      input: [1, 4, 4],
      layer: block((ctx, x) => {
        const a = ctx.call(
          'conv1',
          layerChoice({ conv3x3: conv2d({ out: 2, kernel: 3, padding: 1 }), conv5x5: conv2d({ out: 2, kernel: 5, padding: 2 }) }, { key: 'conv1' }),
          x,
        );
        const b = ctx.call('mid', layerChoice([conv2d({ out: 2, kernel: 1 }), conv2d({ out: 2, kernel: 3, padding: 1 })], { key: 'mid_conv' }), a);
        const c = add(b, ctx.call('skip', inputChoice({ nChosen: null, key: 'skip' }), [a]));
        return ctx.call('switch', inputChoice({ nChosen: 2, key: 'normal_n3_switch' }), { normal_n3_p0: a, normal_n3_p1: b, normal_n3_p2: c });
      }),
    }),
  );
  if (E.isLeft(built)) throw new Error(built.left.map((e) => e.message).join('; '));
  const space: SearchSpace = searchSpace(built.right);
  const arch: Architecture = { conv1: [1], mid_conv: [1], skip: [], normal_n3_switch: [0, 1] };

  it('exports the documented example exactly', () => {
    expect(exportArchitecture(space, arch)).toEqual({ conv1: 'conv5x5', mid_conv: 1, skip: [], normal_n3_switch: ['normal_n3_p0', 'normal_n3_p1'] });
    expect(formatArchitectureJson(space, arch)).toBe(
      '{\n  "conv1": "conv5x5",\n  "mid_conv": 1,\n  "normal_n3_switch": [\n    "normal_n3_p0",\n    "normal_n3_p1"\n  ],\n  "skip": []\n}\n',
    );
  });

  it('resolves names and indices alike, and "0", "1" names of a list', () => {
    const json = { conv1: 'conv5x5', mid_conv: '1', skip: [], normal_n3_switch: ['normal_n3_p1', 0] };
    expect(resolveArchitecture(space, json)).toEqual(E.right(arch));
    expect(resolveArchitecture(space, { conv1: 1, mid_conv: 1, skip: [], normal_n3_switch: [true, true, false] })).toEqual(E.right(arch));
    expect(resolveArchitecture(space, { conv1: [0, 0.9], mid_conv: [1], skip: [false], normal_n3_switch: [0.5, 0.5, 0] })).toEqual(E.right(arch));
  });

  it('writes one-element lists as scalars, and unnamed inputs by index', () => {
    expect(exportArchitecture(space, { ...arch, skip: [0] }).skip).toBe(0);
    const r = resolveArchitecture(space, { ...exportArchitecture(space, arch), skip: '' });
    expect(tags(r)).toEqual(['UnknownName']);
    expect(E.isLeft(r) && r.left[0]!.message).toMatch(/unnamed/);
  });

  it('collects every error at once, each naming key, value and expectation', () => {
    const r = resolveArchitecture(space, { conv1: 'conv7x7', mid_conv: 2, normal_n3_switch: ['normal_n3_p0'], extra: 1 });
    expect(tags(r)).toEqual(['IndexOutOfRange', 'MissingKey', 'UnknownKey', 'UnknownName', 'WrongCount']);
    const messages = E.isLeft(r) ? r.left.map((e) => e.message).join('\n') : '';
    expect(messages).toContain(`'conv1': "conv7x7" is not a candidate name; expected one of "conv3x3", "conv5x5" or an index 0..1`);
    expect(messages).toContain(`'mid_conv': index 2 is out of range`);
    expect(messages).toContain(`missing key 'skip'`);
    expect(messages).toContain(`unknown key 'extra'`);
    expect(messages).toContain(`'normal_n3_switch': ["normal_n3_p0"] selects 1 candidate; expected an input choice over 3 inputs: exactly 2 distinct inputs`);
    expect(tags(resolveArchitecture(space, [1, 2]))).toEqual(['WrongType']);
  });
});
