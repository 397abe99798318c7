/**
 * fast-check arbitraries for the IR's property tests: random supernets built with the real combinators, valid
 * architectures of their spaces, and mutations that break a valid architecture in a known way.
 *
 * A model is generated as a plain-data spec first (so a failing case prints readably and shrinks), then built
 * into a `ModelDef`. Every block preserves its input's [C, H, W] shape, so any block fits anywhere; shapes
 * are tiny (C ≤ 3, H, W ≤ 4) so that hundreds of runs take well under a second each.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { type ArchErrorTag, exportArchitecture, namesResolvable } from '../../src/ir/architecture.ts';
import {
  type Architecture,
  type Decision,
  type Graph,
  type Layer,
  type ModelDef,
  type SearchSpace,
  add,
  avgPool2d,
  batchNorm2d,
  block,
  buildModel,
  child,
  chooseInputs,
  conv2d,
  defineModel,
  globalAvgPool,
  identity,
  inputChoice,
  layerChoice,
  linear,
  maxPool2d,
  relu,
  residual,
  scope,
  searchSpace,
  sequential,
  tanh,
  zero,
} from '../../src/ir/index.ts';

// ---------------------------------------------------------------------------------------------------------
// Specs

export type OpSpec = 'relu' | 'tanh' | 'identity' | 'bn' | 'conv1' | 'conv3' | 'maxpool' | 'avgpool' | 'zero';
export type Reduction = 'sum' | 'mean' | 'concat' | 'none';
export interface NamedSpec {
  readonly name: string;
  readonly body: BlockSpec;
}

export type BlockSpec =
  | { readonly kind: 'op'; readonly op: OpSpec }
  | { readonly kind: 'seq'; readonly items: readonly BlockSpec[] }
  | { readonly kind: 'residual'; readonly body: BlockSpec }
  | { readonly kind: 'scope'; readonly name: string; readonly body: BlockSpec }
  /** A layer choice with a default key; candidates a record when `named`, else a list. */
  | { readonly kind: 'layer'; readonly named: boolean; readonly candidates: readonly NamedSpec[] }
  /**
   * An input choice over one branch per entry (all applied to the block's input). `none` uses `chooseInputs`
   * and adds the chosen values to the input; `concat` projects back to C channels; `sum`/`mean` add the input
   * when `skip` or when nChosen is null (so an empty selection only ever meets `add`).
   */
  | {
      readonly kind: 'input';
      readonly reduction: Reduction;
      readonly nChosen: number | null;
      readonly named: boolean;
      readonly branches: readonly NamedSpec[];
      readonly skip: boolean;
    }
  /** A site of the shared layer choice `index` of the model. */
  | { readonly kind: 'shared'; readonly index: number };

/** A layer choice with an explicit key, used at two or more sites of the top-level sequence. */
export interface SharedSpec {
  readonly key: string;
  readonly named: boolean;
  readonly candidates: readonly NamedSpec[];
}

export interface ModelSpec {
  readonly input: readonly [number, number, number];
  readonly shared: readonly SharedSpec[];
  readonly body: readonly BlockSpec[];
}

// ---------------------------------------------------------------------------------------------------------
// Building

const opLayer = (op: OpSpec, channels: number): Layer => {
  switch (op) {
    case 'relu':
      return relu();
    case 'tanh':
      return tanh();
    case 'identity':
      return identity();
    case 'bn':
      return batchNorm2d();
    case 'conv1':
      return conv2d({ out: channels, kernel: 1 });
    case 'conv3':
      return conv2d({ out: channels, kernel: 3, padding: 1 });
    case 'maxpool':
      return maxPool2d({ kernel: 3, stride: 1, padding: 1 });
    case 'avgpool':
      return avgPool2d({ kernel: 3, stride: 1, padding: 1 });
    case 'zero':
      return zero(1);
    default: {
      const never: never = op;
      return never;
    }
  }
};

const named = <T>(isNamed: boolean, xs: readonly NamedSpec[], f: (s: BlockSpec) => T): readonly T[] | Readonly<Record<string, T>> =>
  isNamed ? Object.fromEntries(xs.map((c) => [c.name, f(c.body)] as const)) : xs.map((c) => f(c.body));

/**
 * Every candidate of a shared choice starts with a BatchNorm named `tag`, so the fixed graph shows which
 * candidate each site took: `<site>/<candidate name>/tag/running_mean`.
 */
const taggedCandidate = (body: Layer): Layer => sequential({ tag: batchNorm2d(), body });

export const buildBlock = (s: BlockSpec, channels: number, shared: readonly Layer[]): Layer => {
  const sub = (b: BlockSpec): Layer => buildBlock(b, channels, shared);
  switch (s.kind) {
    case 'op':
      return opLayer(s.op, channels);
    case 'seq':
      return sequential(s.items.map(sub));
    case 'residual':
      return residual(sub(s.body));
    case 'scope':
      return scope(s.name, sub(s.body));
    case 'layer':
      return layerChoice(named(s.named, s.candidates, sub));
    case 'input':
      return block((ctx, x) => {
        const outs = s.branches.map((b) => ctx.call(b.name, sub(b.body), x));
        const inputs = s.named ? Object.fromEntries(s.branches.map((b, i) => [b.name, outs[i]!] as const)) : outs;
        switch (s.reduction) {
          case 'none':
            return add(x, ...chooseInputs(child(ctx, 'pick'), inputs, { nChosen: s.nChosen ?? 1 }));
          case 'concat': {
            const y = ctx.call('pick', inputChoice({ nChosen: s.nChosen ?? 1, reduction: 'concat' }), inputs);
            return ctx.call('proj', conv2d({ out: channels, kernel: 1 }), y);
          }
          case 'sum':
          case 'mean': {
            const y = ctx.call('pick', inputChoice({ nChosen: s.nChosen, reduction: s.reduction }), inputs);
            return s.skip || s.nChosen === null ? add(x, y) : y;
          }
          default: {
            const never: never = s.reduction;
            return never;
          }
        }
      });
    case 'shared': {
      const layer = shared[s.index];
      if (layer === undefined) throw new Error(`spec refers to shared choice ${s.index}, which does not exist`);
      return layer;
    }
    default: {
      const never: never = s;
      return never;
    }
  }
};

/** The model of a spec: the body as `b0`, `b1`, … then a tiny head (global pooling, linear to 2). */
export const modelDefOf = (spec: ModelSpec): ModelDef => {
  const c = spec.input[0];
  const shared = spec.shared.map((sh) => layerChoice(named(sh.named, sh.candidates, (b) => taggedCandidate(buildBlock(b, c, []))), { key: sh.key }));
  const body = Object.fromEntries(spec.body.map((b, i) => [`b${i}`, buildBlock(b, c, shared)] as const));
  return defineModel({
    name: 'arbitrary',
    input: spec.input,
    layer: sequential({ ...body, head: sequential({ pool: globalAvgPool(), fc: linear({ out: 2 }) }) }),
  });
};

// ---------------------------------------------------------------------------------------------------------
// Spec arbitraries

const CANDIDATE_NAMES = ['conv', 'pool', 'skip', 'bn', 'a_b', 'x-y', 'é', '7', '42'];
const INPUT_NAMES = ['prev', 'skip', 'p0', 'p1', 'x'];
const SCOPE_NAMES = ['cell', 'cellA', 'node'];

const arbOp: fc.Arbitrary<BlockSpec> = fc
  .constantFrom<OpSpec>('relu', 'tanh', 'identity', 'bn', 'conv1', 'conv3', 'maxpool', 'avgpool', 'zero')
  .map((op) => ({ kind: 'op', op }));

const arbNamedList = (body: fc.Arbitrary<BlockSpec>, names: readonly string[], max: number): fc.Arbitrary<readonly NamedSpec[]> =>
  fc
    .uniqueArray(fc.constantFrom(...names), { minLength: 1, maxLength: max })
    .chain((ns) => fc.tuple(...ns.map((name) => body.map((b): NamedSpec => ({ name, body: b })))));

const arbInputBlock = (body: fc.Arbitrary<BlockSpec>): fc.Arbitrary<BlockSpec> =>
  fc
    .record({
      reduction: fc.constantFrom<Reduction>('sum', 'mean', 'concat', 'none'),
      named: fc.boolean(),
      branches: arbNamedList(body, INPUT_NAMES, 4),
      skip: fc.boolean(),
      fixed: fc.boolean(),
      k: fc.nat(),
    })
    .map(({ reduction, named: isNamed, branches, skip, fixed, k }): BlockSpec => {
      const n = branches.length;
      // concat and none need a fixed count; sum and mean take either.
      const nChosen = fixed || reduction === 'concat' || reduction === 'none' ? 1 + (k % n) : null;
      return { kind: 'input', reduction, nChosen, named: isNamed, branches, skip };
    });

const blockCache = new Map<number, fc.Arbitrary<BlockSpec>>();

/** A shape-preserving block with at most `depth` levels of nesting. */
export const arbBlock = (depth: number): fc.Arbitrary<BlockSpec> => {
  if (depth <= 0) return arbOp;
  const cached = blockCache.get(depth);
  if (cached !== undefined) return cached;
  const inner = arbBlock(depth - 1);
  const arb = fc.oneof(
    { arbitrary: arbOp, weight: 3 },
    { arbitrary: fc.array(inner, { minLength: 1, maxLength: 3 }).map((items): BlockSpec => ({ kind: 'seq', items })), weight: 1 },
    { arbitrary: inner.map((body): BlockSpec => ({ kind: 'residual', body })), weight: 1 },
    { arbitrary: fc.tuple(fc.constantFrom(...SCOPE_NAMES), inner).map(([name, body]): BlockSpec => ({ kind: 'scope', name, body })), weight: 1 },
    {
      arbitrary: fc.tuple(fc.boolean(), arbNamedList(inner, CANDIDATE_NAMES, 4)).map(([isNamed, candidates]): BlockSpec => ({ kind: 'layer', named: isNamed, candidates })),
      weight: 2,
    },
    { arbitrary: arbInputBlock(inner), weight: 2 },
  );
  blockCache.set(depth, arb);
  return arb;
};

const arbShared = (index: number): fc.Arbitrary<SharedSpec> =>
  fc
    .tuple(fc.boolean(), arbNamedList(arbBlock(1), CANDIDATE_NAMES, 4))
    .map(([isNamed, candidates]) => ({ key: `shared${index}`, named: isNamed, candidates }));

/** A model spec: 1-4 blocks of nesting depth ≤ 2, plus 0-2 shared choices each used at 2-3 top-level sites. */
export const arbModelSpec: fc.Arbitrary<ModelSpec> = fc
  .record({
    input: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 })),
    shared: fc.integer({ min: 0, max: 2 }).chain((k) => fc.tuple(...Array.from({ length: k }, (_, i) => arbShared(i)))),
    body: fc.array(arbBlock(2), { minLength: 1, maxLength: 4 }),
  })
  .chain(({ input, shared, body }) => {
    const refs = shared.flatMap((_, index) => [{ kind: 'shared', index } as const, { kind: 'shared', index } as const]);
    const items: readonly BlockSpec[] = [...body, ...refs];
    // A random interleaving of the blocks and the shared sites (a permutation of all of them).
    return fc
      .shuffledSubarray([...items], { minLength: items.length, maxLength: items.length })
      .map((order): ModelSpec => ({ input, shared, body: order }));
  });

export const arbModelDef: fc.Arbitrary<ModelDef> = arbModelSpec.map(modelDefOf);

export interface Supernet {
  readonly spec: ModelSpec;
  readonly def: ModelDef;
  readonly graph: Graph;
  readonly space: SearchSpace;
}

/** A spec built into its supernet graph and search space (a generator bug if the build fails). */
export const supernetOf = (spec: ModelSpec): Supernet => {
  const def = modelDefOf(spec);
  const built = buildModel(def);
  if (E.isLeft(built)) throw new Error(`arbitrary model failed to build: ${built.left.map((e) => e.message).join('; ')}\n${JSON.stringify(spec)}`);
  const graph = built.right;
  // Print the spec, not the graph, when a property fails.
  return Object.assign({ spec, def, graph, space: searchSpace(graph) }, { [fc.toStringMethod]: () => `Supernet(${JSON.stringify(spec)})` });
};

export const arbSupernet: fc.Arbitrary<Supernet> = arbModelSpec.map(supernetOf);

// ---------------------------------------------------------------------------------------------------------
// Architectures

const upTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

const arbDecisionValue = (d: Decision): fc.Arbitrary<readonly number[]> => {
  const n = d.names.length;
  if (d.kind === 'layer') return fc.nat(n - 1).map((i) => [i]);
  return d.nChosen === null ? fc.subarray(upTo(n)) : fc.subarray(upTo(n), { minLength: d.nChosen, maxLength: d.nChosen });
};

/** A canonical valid architecture of `space` (per key ascending indices, keys in the space's order). */
export const arbValidArchitecture = (space: SearchSpace): fc.Arbitrary<Architecture> =>
  fc.tuple(...space.decisions.map(arbDecisionValue)).map((vs) => Object.fromEntries(space.decisions.map((d, i) => [d.key, vs[i]!] as const)));

/**
 * One of NNI's accepted JSON forms for a valid selection of `d`: a scalar name/index (one chosen), a list of
 * names and/or indices in any order, a multi-hot mask, or soft weights (non-zero = chosen).
 */
export const arbJsonValue = (d: Decision, chosen: readonly number[]): fc.Arbitrary<unknown> => {
  const n = d.names.length;
  const byName = namesResolvable(d.names);
  const item = (i: number): fc.Arbitrary<string | number> => (byName ? fc.constantFrom<string | number>(i, d.names[i]!) : fc.constant(i));
  const forms: fc.Arbitrary<unknown>[] = [
    fc.tuple(...chosen.map(item)).chain((items) => fc.shuffledSubarray(items, { minLength: items.length, maxLength: items.length })),
    fc.constant(upTo(n).map((i) => chosen.includes(i))),
    // Weights with at least one non-integer entry (a list of integers is indices), zero for the unchosen.
    fc.array(fc.double({ min: 0.01, max: 0.99, noNaN: true }), { minLength: n, maxLength: n }).map((ws) => ws.map((w, i) => (chosen.includes(i) ? w : 0))),
  ];
  if (chosen.length === 1) forms.push(item(chosen[0]!));
  // A weight list with every chosen entry 0 would be all integers, so only use weights when something is chosen.
  return fc.oneof(...(chosen.length === 0 ? forms.filter((_, i) => i !== 2) : forms));
};

/** A random JSON encoding of `arch` in NNI's accepted forms (keys in random order). */
export const arbArchitectureJson = (space: SearchSpace, arch: Architecture): fc.Arbitrary<Record<string, unknown>> =>
  fc
    .tuple(...space.decisions.map((d) => arbJsonValue(d, arch[d.key] ?? [])))
    .chain((vs) => {
      const pairs = space.decisions.map((d, i) => [d.key, vs[i]] as const);
      return fc.shuffledSubarray(pairs, { minLength: pairs.length, maxLength: pairs.length });
    })
    .map((pairs) => Object.fromEntries(pairs));

// ---------------------------------------------------------------------------------------------------------
// Mutations

/** An invalid architecture and the error tags `resolveArchitecture` must report for it (sorted). */
export interface Mutant {
  readonly json: unknown;
  readonly expected: readonly ArchErrorTag[];
}

interface BadValue {
  readonly value: unknown;
  readonly expected: ArchErrorTag;
}

const UNKNOWN_NAME = '?not-a-candidate';

/** A value for `d` that is wrong in exactly one way, with the error kind it must produce. */
export const arbBadValue = (d: Decision): fc.Arbitrary<BadValue> => {
  const n = d.names.length;
  const bad = (expected: ArchErrorTag, value: fc.Arbitrary<unknown>): fc.Arbitrary<BadValue> => value.map((v) => ({ value: v, expected }));
  const valid = fc.nat(n - 1);
  const options: fc.Arbitrary<BadValue>[] = [
    // With unnamed inputs (names ""), even "" is not a usable name.
    bad('UnknownName', fc.constantFrom<unknown>(UNKNOWN_NAME, [UNKNOWN_NAME], ...(namesResolvable(d.names) ? [] : ['', [d.names[0]!]]))),
    bad('IndexOutOfRange', fc.oneof(fc.integer({ min: n, max: n + 5 }), fc.integer({ min: -5, max: -1 })).chain((i) => fc.constantFrom<unknown>(i, [i]))),
    bad(
      'DuplicateIndex',
      valid.chain((i) => fc.constantFrom<unknown>([i, i], ...(namesResolvable(d.names) ? [[d.names[i]!, i], [d.names[i]!, d.names[i]!]] : []))),
    ),
    bad(
      'MultiHotLength',
      fc.oneof(
        fc.integer({ min: 1, max: n + 2 }).filter((len) => len !== n).map((len) => upTo(len).map((i) => i === 0)),
        fc.integer({ min: 1, max: n + 2 }).filter((len) => len !== n).map((len) => upTo(len).map((i) => (i === 0 ? 0.5 : 0))),
      ),
    ),
    bad('WrongType', fc.constantFrom<unknown>(null, {}, { a: 1 }, 1.5, true, [true, 1], [[0]], [null], [0.5, 'a'], [false, 'x'])),
  ];
  // A layer choice takes one candidate, or none (`[]`: NNI's export of an edge dropped by its node's switch).
  const wrongCounts = upTo(n + 1).filter((k) => (d.kind === 'layer' ? k > 1 : d.nChosen !== null && k !== d.nChosen));
  if (wrongCounts.length > 0) {
    options.push(
      bad(
        'WrongCount',
        fc.constantFrom(...wrongCounts).chain((k) =>
          fc.subarray(upTo(n), { minLength: k, maxLength: k }).chain((sel) => fc.constantFrom<unknown>(sel, upTo(n).map((i) => sel.includes(i)))),
        ),
      ),
    );
  }
  return fc.oneof(...options);
};

const sortTags = (tags: readonly ArchErrorTag[]): readonly ArchErrorTag[] => [...tags].sort();

const unknownKey = (space: SearchSpace, i: number): string => {
  let k = `?unknown${i}`;
  while (space.decisions.some((d) => d.key === k)) k += '_';
  return k;
};

/** `arch` exported to NNI's JSON format (a plain object). */
export const exportedJson = (space: SearchSpace, arch: Architecture): Record<string, unknown> => ({ ...exportArchitecture(space, arch) });

/**
 * A valid architecture broken in exactly one way: an unknown key added, a key removed, one key's value made
 * invalid, or the top level replaced by a non-object.
 */
export const arbMutant = (space: SearchSpace, arch: Architecture): fc.Arbitrary<Mutant> => {
  const json = exportedJson(space, arch);
  const options: fc.Arbitrary<Mutant>[] = [
    fc.constantFrom<unknown>(0, 'x', [], null).map((top) => ({ json: top, expected: ['WrongType'] as const })),
    fc.jsonValue({ maxDepth: 1 }).map((v) => ({ json: { ...json, [unknownKey(space, 0)]: v }, expected: ['UnknownKey'] as const })),
  ];
  if (space.decisions.length > 0) {
    options.push(
      fc.constantFrom(...space.decisions).map((d) => {
        const rest = { ...json };
        delete rest[d.key];
        return { json: rest, expected: ['MissingKey'] as const };
      }),
      fc.constantFrom(...space.decisions).chain((d) => arbBadValue(d).map((b) => ({ json: { ...json, [d.key]: b.value }, expected: [b.expected] }))),
    );
  }
  return fc.oneof(...options);
};

/** A valid architecture with several keys broken at once (and 0-2 unknown keys): every error must be reported. */
export const arbMultiMutant = (space: SearchSpace, arch: Architecture): fc.Arbitrary<Mutant> => {
  const json = exportedJson(space, arch);
  const perKey = space.decisions.map((d) =>
    fc.option(fc.oneof(fc.constant<BadValue | 'missing'>('missing'), arbBadValue(d)), { nil: undefined, freq: 2 }),
  );
  return fc.tuple(fc.tuple(...perKey), fc.integer({ min: 0, max: 2 })).map(([changes, extra]) => {
    const out: Record<string, unknown> = { ...json };
    const expected: ArchErrorTag[] = [];
    space.decisions.forEach((d, i) => {
      const c = changes[i];
      if (c === undefined) return;
      if (c === 'missing') {
        delete out[d.key];
        expected.push('MissingKey');
      } else {
        out[d.key] = c.value;
        expected.push(c.expected);
      }
    });
    for (let i = 0; i < extra; i++) {
      out[unknownKey(space, i)] = i;
      expected.push('UnknownKey');
    }
    return { json: out, expected: sortTags(expected) };
  });
};

/**
 * JSON text of `json` with `key` written twice: first with `first`, then with its own value (as a hand-edited
 * file might). `JSON.parse` would keep the second silently.
 */
export const textWithDuplicateKey = (json: Readonly<Record<string, unknown>>, key: string, first: unknown): string => {
  const members = Object.keys(json).map((k) => `${JSON.stringify(k)}: ${JSON.stringify(json[k])}`);
  return `{${JSON.stringify(key)}: ${JSON.stringify(first)}, ${members.join(', ')}}`;
};
