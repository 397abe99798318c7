/**
 * Architectures (choice maps) in NNI's JSON format: decoding every value form NNI accepts, resolving against a
 * search space to the canonical `Architecture` (per key, ascending chosen indices) with every error collected,
 * exporting back in NNI's format, and the architectures every search starts from: the first (NNI standalone
 * mode), a uniformly random one, and all of them in a stable order.
 *
 * @example
 * const space = searchSpace(graph);
 * const arch = pipe(parseArchitectureJson(text), E.chain((json) => resolveArchitecture(space, json)));
 * formatArchitectureJson(space, firstArchitecture(space)); // '{\n  "conv1": "conv3x3",\n  "skip": []\n}\n'
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import type { Architecture } from './apply.ts';
import { type ArchError, showValue } from './architecture-errors.ts';
import { parseArchitectureJson } from './architecture-json.ts';
import { type Rng, nextInt, sampleDistinct } from './rng.ts';
import type { Decision, SearchSpace } from './space.ts';

export * from './architecture-errors.ts';
export * from './architecture-json.ts';

// ---------------------------------------------------------------------------------------------------------
// Value forms

interface FiniteBrand {
  readonly Finite: unique symbol;
}
const Finite = t.brand(t.number, (n): n is t.Branded<number, FiniteBrand> => Number.isFinite(n), 'Finite');

/** A candidate's name (or, for an input choice, the name of a `choose_from` source). */
export const ArchName = t.string;
/** A candidate's index. */
export const ArchIndex = t.Int;
/** Several candidates by name and/or index; `[]` chooses nothing. A list of integers is always indices. */
export const ArchList = t.readonlyArray(t.union([t.string, t.Int]));
/** A multi-hot mask of exactly the candidate count. */
export const ArchMultiHot = t.readonlyArray(t.boolean);
/** Soft weights of exactly the candidate count (as DARTS exports them); a non-zero weight means chosen. */
export const ArchWeights = t.readonlyArray(Finite);

/**
 * NNI's value forms for one key, in the order they are tried: name, index, list of names/indices (so `[]` and
 * any list of integers are indices, never a mask), multi-hot booleans, float weights.
 */
export const ArchValue = t.union([ArchName, ArchIndex, ArchList, ArchMultiHot, ArchWeights]);
export type ArchValue = t.TypeOf<typeof ArchValue>;

/** A decoded value, told apart by form. */
export type ArchForm =
  | { readonly form: 'name'; readonly name: string }
  | { readonly form: 'index'; readonly index: number }
  | { readonly form: 'list'; readonly items: readonly (string | number)[] }
  | { readonly form: 'multiHot'; readonly mask: readonly boolean[] }
  | { readonly form: 'weights'; readonly weights: readonly number[] };

/** Decodes one value with `ArchValue` and tells its form; `left` when it is none of NNI's forms. */
export const decodeArchValue = (u: unknown): E.Either<t.Errors, ArchForm> =>
  E.map((v: ArchValue): ArchForm => {
    if (typeof v === 'string') return { form: 'name', name: v };
    if (typeof v === 'number') return { form: 'index', index: v };
    if (ArchList.is(v)) return { form: 'list', items: v };
    if (ArchMultiHot.is(v)) return { form: 'multiHot', mask: v };
    return { form: 'weights', weights: v as readonly number[] };
  })(ArchValue.decode(u));

// ---------------------------------------------------------------------------------------------------------
// Names

/** Names select candidates only when they are unique and non-empty (unnamed input sources are all ""). */
export const namesResolvable = (names: readonly string[]): boolean => names.every((n) => n !== '') && new Set(names).size === names.length;

const allDigits = (s: string): boolean => /^[0-9]+$/.test(s);

/** NNI's export rule: a candidate is written by name when names are resolvable and none is all digits. */
export const exportsNames = (names: readonly string[]): boolean => namesResolvable(names) && !names.some(allDigits);

const quoteList = (names: readonly string[], max = 12): string =>
  names.length <= max ? names.map((n) => JSON.stringify(n)).join(', ') : `${names.slice(0, max).map((n) => JSON.stringify(n)).join(', ')}, … (${names.length} in all)`;

const range = (n: number): string => (n === 1 ? 'index 0' : `an index 0..${n - 1}`);

const countText = (d: Decision): string =>
  d.kind === 'layer' ? 'exactly one candidate' : d.nChosen === null ? 'any number of inputs' : `exactly ${d.nChosen} distinct input${d.nChosen === 1 ? '' : 's'}`;

/** What a value for `d` must be, for messages. */
const expectation = (d: Decision): string => {
  const n = d.names.length;
  const what = d.kind === 'layer' ? `a layer choice over ${n} candidate${n === 1 ? '' : 's'}` : `an input choice over ${n} input${n === 1 ? '' : 's'}`;
  const by = namesResolvable(d.names) ? `by name (${quoteList(d.names)}) or by ${range(n)}` : `by ${range(n)}`;
  return `${what}: ${countText(d)}, ${by}`;
};

// ---------------------------------------------------------------------------------------------------------
// Resolution

/** One item (a name or an index) of a value for `d`, as an index. */
const resolveItem = (d: Decision, item: string | number): E.Either<ArchError, number> => {
  const n = d.names.length;
  if (typeof item === 'number') {
    return item >= 0 && item < n
      ? E.right(item)
      : E.left({ tag: 'IndexOutOfRange', key: d.key, index: item, count: n, message: `key '${d.key}': index ${item} is out of range; expected ${range(n)} (${n} candidates)` });
  }
  const unknown = (why: string): E.Either<ArchError, number> =>
    E.left({ tag: 'UnknownName', key: d.key, name: item, candidates: d.names, message: `key '${d.key}': ${JSON.stringify(item)} ${why}` });
  if (d.names.every((nm) => nm === '')) {
    return unknown(`cannot select an input: the ${n} inputs of this input choice are unnamed (given as a list, so their names are ""); use ${range(n)}`);
  }
  if (!namesResolvable(d.names)) {
    return unknown(`cannot select a candidate: the candidate names (${quoteList(d.names)}) are not unique and non-empty; use ${range(n)}`);
  }
  const i = d.names.indexOf(item);
  return i >= 0 ? E.right(i) : unknown(`is not a candidate name; expected one of ${quoteList(d.names)} or ${range(n)}`);
};

/** The chosen indices of one value for `d`, ascending, or every error in it. */
const resolveValue = (d: Decision, u: unknown): E.Either<readonly ArchError[], readonly number[]> => {
  const n = d.names.length;
  const decoded = decodeArchValue(u);
  if (E.isLeft(decoded)) {
    return E.left([
      {
        tag: 'WrongType',
        key: d.key,
        value: u,
        message: `key '${d.key}': ${showValue(u)} is not an architecture value; expected a candidate name, an index, a list of names/indices, or a multi-hot list of ${n} booleans or ${n} weights, for ${expectation(d)}`,
      },
    ]);
  }
  const v = decoded.right;
  const errors: ArchError[] = [];
  let chosen: number[];
  switch (v.form) {
    case 'name':
    case 'index':
    case 'list': {
      const items = v.form === 'name' ? [v.name] : v.form === 'index' ? [v.index] : v.items;
      chosen = [];
      for (const item of items) {
        const r = resolveItem(d, item);
        if (E.isLeft(r)) errors.push(r.left);
        else if (chosen.includes(r.right)) {
          errors.push({
            tag: 'DuplicateIndex',
            key: d.key,
            index: r.right,
            message: `key '${d.key}': ${showValue(u)} selects candidate ${r.right}${d.names[r.right] ? ` (${JSON.stringify(d.names[r.right])})` : ''} more than once; list each candidate once`,
          });
        } else chosen.push(r.right);
      }
      break;
    }
    case 'multiHot':
    case 'weights': {
      const mask = v.form === 'multiHot' ? v.mask : v.weights.map((w) => w !== 0);
      if (mask.length !== n) {
        errors.push({
          tag: 'MultiHotLength',
          key: d.key,
          length: mask.length,
          count: n,
          message: `key '${d.key}': the ${v.form === 'multiHot' ? 'multi-hot mask' : 'weight list'} ${showValue(u)} has ${mask.length} entries; expected one per candidate (${n}) for ${expectation(d)}`,
        });
      }
      chosen = mask.flatMap((b, i) => (b ? [i] : []));
      break;
    }
    default: {
      const never: never = v;
      return never;
    }
  }
  // The count is judged only when every item was understood: otherwise the item errors say what is wrong.
  if (errors.length > 0) return E.left(errors);
  // A layer choice takes exactly one candidate, or `[]`: NNI's DARTS export writes `[]` for an edge its node's
  // input choice dropped. Such a choice is never reached by `apply`, which reports it by key if it is.
  const want = d.kind === 'layer' ? (chosen.length === 0 && Array.isArray(u) ? 0 : 1) : d.nChosen;
  if (want !== null && chosen.length !== want) {
    return E.left([
      {
        tag: 'WrongCount',
        key: d.key,
        got: chosen.length,
        expected: want,
        message: `key '${d.key}': ${showValue(u)} selects ${chosen.length} candidate${chosen.length === 1 ? '' : 's'}; expected ${expectation(d)}`,
      },
    ]);
  }
  return E.right(chosen.sort((a, b) => a - b));
};

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> => typeof u === 'object' && u !== null && !Array.isArray(u);

/**
 * Resolves a decoded JSON architecture against `space` to the canonical form (per key, ascending chosen
 * indices, keys in the space's order). Accepts every NNI value form per key. Collects every error: unknown keys,
 * missing keys, and each bad value, each naming the key, the value and the expectation.
 *
 * @example
 * resolveArchitecture(space, { conv1: 'conv5x5', skip: [] });      // right({ conv1: [1], skip: [] })
 * resolveArchitecture(space, { conv1: [true, false], skip: [0] }); // right({ conv1: [0], skip: [0] })
 * resolveArchitecture(space, { conv1: 7 });                        // left([IndexOutOfRange conv1, MissingKey skip])
 */
export const resolveArchitecture = (space: SearchSpace, json: unknown): E.Either<readonly ArchError[], Architecture> => {
  if (!isRecord(json)) {
    return E.left([
      { tag: 'WrongType', key: null, value: json, message: `an architecture must be a JSON object mapping each key to its choice, got ${showValue(json)}` },
    ]);
  }
  const byKey = new Map(space.decisions.map((d) => [d.key, d] as const));
  const errors: ArchError[] = [];
  for (const key of Object.keys(json)) {
    if (!byKey.has(key)) {
      errors.push({
        tag: 'UnknownKey',
        key,
        message: `unknown key '${key}' (value ${showValue(json[key])}); the space's keys are ${quoteList(space.decisions.map((d) => d.key))}`,
      });
    }
  }
  const entries: (readonly [string, readonly number[]])[] = [];
  for (const d of space.decisions) {
    if (!Object.hasOwn(json, d.key)) {
      errors.push({ tag: 'MissingKey', key: d.key, message: `missing key '${d.key}'; expected ${expectation(d)}` });
      continue;
    }
    const r = d.kind === 'layer' && d.values !== undefined ? resolveByValue(d, d.values, json[d.key]) : resolveValue(d, json[d.key]);
    if (E.isLeft(r)) errors.push(...r.left);
    else entries.push([d.key, r.right]);
  }
  return errors.length > 0 ? E.left(errors) : E.right(Object.fromEntries(entries));
};

/**
 * A value choice's value: the value itself (NNI 2.x's form: `{"width": 32}`), or one of the layer-choice forms with
 * the candidate names being the values as text (`"32"`, `["32"]`). A number is always a value, never an index.
 */
const resolveByValue = (d: Decision, values: readonly (number | string | boolean)[], u: unknown): E.Either<readonly ArchError[], readonly number[]> => {
  const at = values.findIndex((v) => v === u);
  if (at >= 0) return E.right([at]);
  if (typeof u === 'number' || typeof u === 'boolean') {
    return E.left([
      {
        tag: 'UnknownName',
        key: d.key,
        name: String(u),
        candidates: d.names,
        message: `key '${d.key}': ${JSON.stringify(u)} is not one of the value choice's values [${values.map((v) => JSON.stringify(v)).join(', ')}]`,
      },
    ]);
  }
  return resolveValue(d, u);
};

/**
 * Parses (`parseArchitectureJson`) and resolves (`resolveArchitecture`) an architecture file's text.
 *
 * @example
 * architectureFromJson(space, fs.readFileSync('arch.json', 'utf8')); // Either<readonly ArchError[], Architecture>
 */
export const architectureFromJson = (space: SearchSpace, text: string): E.Either<readonly ArchError[], Architecture> =>
  E.chain((json: unknown) => resolveArchitecture(space, json))(parseArchitectureJson(text));

// ---------------------------------------------------------------------------------------------------------
// Export

export type ExportedValue = string | number | readonly (string | number)[];

/** Compares by Unicode code point, as Python's `sort_keys` does (JS `<` compares UTF-16 units). */
const byCodePoint = (a: string, b: string): number => {
  const ca = [...a];
  const cb = [...b];
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    const d = ca[i]!.codePointAt(0)! - cb[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return ca.length - cb.length;
};

const sortedDecisions = (space: SearchSpace): readonly Decision[] => [...space.decisions].sort((a, b) => byCodePoint(a.key, b.key));

const exportValue = (d: Decision, chosen: readonly number[]): ExportedValue => {
  // A value choice is written as its value (NNI 2.x), e.g. "width": 32.
  if (d.kind === 'layer' && d.values !== undefined && chosen.length === 1) {
    const v = d.values[chosen[0]!]!;
    return typeof v === 'boolean' ? String(v) : v;
  }
  const items = exportsNames(d.names) ? chosen.map((i) => d.names[i] ?? i) : chosen;
  return items.length === 1 ? items[0]! : items;
};

/**
 * An architecture in NNI's export format: a candidate's name when the names are unique, non-empty and not all
 * digits, otherwise its index; a one-element selection as a scalar; an empty one as `[]`; keys sorted.
 * `arch` must be canonical for `space` (as `resolveArchitecture` returns); a key it lacks is written as `[]`.
 * (JavaScript objects list integer-like keys first whatever the insertion order: use `formatArchitectureJson`
 * for a file.)
 *
 * @example
 * exportArchitecture(space, { conv1: [1], mid_conv: [1], skip: [] }); // { conv1: 'conv5x5', mid_conv: 1, skip: [] }
 */
export const exportArchitecture = (space: SearchSpace, arch: Architecture): Readonly<Record<string, ExportedValue>> =>
  Object.fromEntries(sortedDecisions(space).map((d) => [d.key, exportValue(d, arch[d.key] ?? [])] as const));

const indent = (v: ExportedValue): string =>
  typeof v === 'object' ? (v.length === 0 ? '[]' : `[\n${v.map((x) => `    ${JSON.stringify(x)}`).join(',\n')}\n  ]`) : JSON.stringify(v);

/**
 * The exported architecture as a file: sorted keys, 2-space indent and a trailing newline, the layout of
 * Python's `json.dump(arch, f, indent=2, sort_keys=True)`.
 *
 * @example
 * formatArchitectureJson(space, arch); // '{\n  "conv1": "conv5x5",\n  "skip": []\n}\n'
 */
export const formatArchitectureJson = (space: SearchSpace, arch: Architecture): string => {
  const lines = sortedDecisions(space).map((d) => `  ${JSON.stringify(d.key)}: ${indent(exportValue(d, arch[d.key] ?? []))}`);
  return lines.length === 0 ? '{}\n' : `{\n${lines.join(',\n')}\n}\n`;
};

// ---------------------------------------------------------------------------------------------------------
// Architectures to start from

const upTo = (k: number): number[] => Array.from({ length: k }, (_, i) => i);

/**
 * NNI's standalone mode (a trial run with no tuner): the first candidate of every layer choice, the first
 * `nChosen` inputs of every input choice, all of them when `nChosen` is null.
 *
 * @example
 * firstArchitecture(space); // { conv1: [0], skip: [0] }
 */
export const firstArchitecture = (space: SearchSpace): Architecture =>
  Object.fromEntries(
    space.decisions.map((d) => [d.key, d.kind === 'layer' ? [0] : upTo(d.nChosen ?? d.names.length)] as const),
  );

const randomValue = (d: Decision, rng: Rng): [readonly number[], Rng] => {
  const n = d.names.length;
  if (d.kind === 'layer') {
    const [i, r] = nextInt(rng, n);
    return [[i], r];
  }
  if (d.nChosen !== null) return sampleDistinct(rng, n, d.nChosen); // without replacement, ascending
  // Each input independently with probability 1/2: every one of the 2^n subsets is equally likely.
  const chosen: number[] = [];
  let r = rng;
  for (let i = 0; i < n; i++) {
    const [bit, next] = nextInt(r, 2);
    r = next;
    if (bit === 1) chosen.push(i);
  }
  return [chosen, r];
};

/**
 * A uniformly random architecture, decision by decision: a uniform candidate per layer choice, a uniform
 * k-subset (without replacement) per input choice with `nChosen = k`, a uniform subset (each of the 2^n)
 * when `nChosen` is null. Returns the next generator state.
 *
 * @example
 * const [arch, rng2] = randomArchitecture(space, seedRng(0));
 */
export const randomArchitecture = (space: SearchSpace, rng: Rng): [Architecture, Rng] => {
  let r = rng;
  const entries: (readonly [string, readonly number[]])[] = [];
  for (const d of space.decisions) {
    const [v, next] = randomValue(d, r);
    r = next;
    entries.push([d.key, v]);
  }
  return [Object.fromEntries(entries), r];
};

/** The k-subsets of 0..n-1, ascending each, in lexicographic order. */
function* combinations(n: number, k: number): Generator<readonly number[]> {
  if (k < 0 || k > n) return;
  const idx = upTo(k);
  for (;;) {
    yield [...idx];
    let i = k - 1;
    while (i >= 0 && idx[i] === n - k + i) i--;
    if (i < 0) return;
    idx[i]!++;
    for (let j = i + 1; j < k; j++) idx[j] = idx[j - 1]! + 1;
  }
}

/**
 * Every value of one decision: candidates in order; k-subsets lexicographically; any-subsets from the largest
 * (all inputs) down to the empty one, lexicographically within a size. Each starts with NNI's standalone value.
 */
function* decisionValues(d: Decision): Generator<readonly number[]> {
  const n = d.names.length;
  if (d.kind === 'layer') for (let i = 0; i < n; i++) yield [i];
  else if (d.nChosen !== null) yield* combinations(n, d.nChosen);
  else for (let k = n; k >= 0; k--) yield* combinations(n, k);
}

/**
 * Every architecture of `space`, lazily, in a stable order (the last decision varies fastest, like
 * `itertools.product`), each exactly once: `space.size` of them, starting with `firstArchitecture(space)`.
 * For grid search and small spaces.
 *
 * @example
 * for (const arch of enumerateArchitectures(space)) console.log(architectureKey(arch));
 */
export function* enumerateArchitectures(space: SearchSpace): Generator<Architecture> {
  const ds = space.decisions;
  const iters = ds.map((d) => decisionValues(d));
  const current: (readonly number[])[] = [];
  for (const it of iters) {
    const r = it.next();
    if (r.done === true) return; // a decision without values: the space is empty
    current.push(r.value);
  }
  for (;;) {
    yield Object.fromEntries(ds.map((d, i) => [d.key, current[i]!] as const));
    let i = ds.length - 1;
    for (; i >= 0; i--) {
      const r = iters[i]!.next();
      if (r.done !== true) {
        current[i] = r.value;
        break;
      }
      iters[i] = decisionValues(ds[i]!);
      current[i] = (iters[i]!.next() as IteratorYieldResult<readonly number[]>).value;
    }
    if (i < 0) return;
  }
}

/**
 * A canonical string of an architecture, for deduplication: keys sorted, indices ascending, so equal choice
 * maps give equal keys whatever their key order.
 *
 * @example
 * architectureKey({ b: [1], a: [2, 0] }) === architectureKey({ a: [0, 2], b: [1] }); // true
 */
export const architectureKey = (arch: Architecture): string =>
  JSON.stringify(
    Object.keys(arch)
      .sort(byCodePoint)
      .map((k) => [k, [...arch[k]!].sort((a, b) => a - b)]),
  );
