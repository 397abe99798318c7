/**
 * NNI 2.x's value choices and repeats, by expansion into layer choices (no new op: every algorithm that searches
 * layer choices searches them).
 *
 * - `valueChoice([16, 32, 64], { key: 'width' })` is a choice of a hyper-parameter value. `chooseValue(vc, (v) =>
 *   layer)` makes a layer choice keyed `vc.key` whose candidate for each value is `layer(v)`, named by the value as
 *   text ("16", "32"); `valueLayer(conv2d, { out: width, kernel: valueChoice([3, 5]) })` does it for every field of
 *   a layer's options that is a value choice (nested layer choices, one per field).
 * - Equal keys share one decision: the same `width` used for a convolution's output channels and again for the
 *   next layers (`chooseValue(width, () => batchNorm2d())`) is one choice. A layer choice whose key is shared with a
 *   shape-varying choice upstream builds each candidate on its input as it is under that candidate, so channel
 *   counts follow the value. A layer that is not keyed by the value (a plain `conv2d` after a width choice) is
 *   sized for the first value; the fit check (`fitCheck`, `nasgraph check`, before any search) names it.
 * - `repeat(block, [1, 2, 3])` (or a value choice of depths): the block applied d times in a chain; the i-th block
 *   has one set of parameters shared by every depth (NNI's `Repeat`), at `<path>/<i>`.
 * - `ssGen` writes such a key in NNI's HPO form `{"_type": "choice", "_value": [16, 32, 64]}`; an architecture gives
 *   the value itself (`{"width": 32}`), or its text (`"32"`); `exportArchitecture` writes the value.
 * - Without a key, a value choice's key is the module path where it is used (plus the option's name in
 *   `valueLayer`): two uses are two decisions. Give a key to share one.
 *
 * Classic search and the sampled one-shot algorithms (ENAS, SPOS) search every value choice; mixed mode (DARTS,
 * GDAS, P-DARTS, FBNet, ProxylessNAS) searches those whose candidates agree in output shape (kernel sizes with
 * "same" padding, expansion ratios inside a residual block, dropout rates, depths of shape-preserving blocks) and
 * refuses, by key and shapes, those that change shape (channels).
 *
 * @example
 * const width = valueChoice([8, 16], { key: 'width' });
 * const net = sequential({
 *   conv: valueLayer(conv2d, { out: width, kernel: valueChoice([3, 5], { key: 'k' }), padding: valueChoice([1, 2], { key: 'k' }) }),
 *   bn: chooseValue(width, () => batchNorm2d()),
 *   body: repeat(() => residual(sequential({ conv: conv2d({ out: 16, kernel: 3, padding: 1 }), act: relu() })), valueChoice([1, 2, 3], { key: 'depth' })),
 * });
 */
import { layerChoice } from './choice.ts';
import { type Ctx, type Layer, child, pathOf } from './ctx.ts';
import { fail } from './errors.ts';

/** A value a value choice may take. */
export type ChoiceValue = number | string | boolean;

/** A choice among values of a layer's hyper-parameter (NNI's `ValueChoice`). */
export interface ValueChoice<T extends ChoiceValue = ChoiceValue> {
  readonly _tag: 'ValueChoice';
  readonly values: readonly T[];
  /** The decision's key; equal keys share one decision. Default: the module path where it is used. */
  readonly key?: string;
}

/**
 * A value choice over `values` (distinct, at least one; their text forms must be distinct too: they name the
 * candidates).
 *
 * @example
 * const width = valueChoice([16, 32, 64], { key: 'width' });
 */
export const valueChoice = <T extends ChoiceValue>(values: readonly T[], o: { readonly key?: string } = {}): ValueChoice<T> =>
  Object.freeze({ _tag: 'ValueChoice' as const, values: Object.freeze([...values]), ...(o.key === undefined ? {} : { key: o.key }) });

/** Whether `u` is a value choice. */
export const isValueChoice = (u: unknown): u is ValueChoice =>
  typeof u === 'object' && u !== null && (u as { _tag?: unknown })._tag === 'ValueChoice' && Array.isArray((u as { values?: unknown }).values);

const checkValues = (ctx: Ctx, key: string, values: readonly ChoiceValue[]): void => {
  const node = pathOf(ctx) || key;
  const bad = (message: string): never => fail({ tag: 'InvalidAttribute', node, op: 'valueChoice', message: `${node}: value choice '${key}' ${message}` });
  if (values.length === 0) bad('has no values');
  const texts = values.map(String);
  if (new Set(texts).size !== texts.length) bad(`has repeated values [${values.map((v) => JSON.stringify(v)).join(', ')}]`);
  for (const v of values) if (typeof v === 'number' && !Number.isFinite(v)) bad(`has a non-finite value ${v}`);
};

/**
 * A layer choice keyed by `vc` whose candidate for each value `v` is `make(v)`, named `String(v)`.
 *
 * @example
 * chooseValue(valueChoice([0.1, 0.3], { key: 'drop' }), (p) => dropout(p));
 */
export const chooseValue =
  <T extends ChoiceValue>(vc: ValueChoice<T>, make: (v: T) => Layer, defaultKey?: string): Layer =>
  (ctx, x) => {
    const key = vc.key ?? defaultKey ?? (pathOf(ctx) || 'valuechoice');
    checkValues(ctx, key, vc.values);
    // layerChoice names the candidates of a list by the values' text when `values` is given (in the values' order).
    return layerChoice(vc.values.map(make), { key, values: vc.values })(ctx, x);
  };

/** Options of a layer where any field may be a value choice of that field's type. */
export type WithValueChoices<O> = { readonly [K in keyof O]: O[K] | ValueChoice<Extract<O[K], ChoiceValue>> };

/**
 * `factory(options)` with every field of `options` that is a value choice expanded into a layer choice (one per
 * field, nested in the fields' order; fields sharing a key take one decision). Without a key, a field's choice is
 * keyed `<module path>/<field>`.
 *
 * @example
 * valueLayer(conv2d, { out: valueChoice([16, 32], { key: 'width' }), kernel: 3, padding: 1 });
 */
export const valueLayer =
  <O extends object>(factory: (o: O) => Layer, options: WithValueChoices<O>): Layer =>
  (ctx, x) => {
    const fields = Object.entries(options as Record<string, unknown>).filter((e): e is [string, ValueChoice] => isValueChoice(e[1]));
    const base = pathOf(ctx);
    const keyOf = (field: string, vc: ValueChoice): string => vc.key ?? (base === '' ? field : `${base}/${field}`);
    // Fields with one key share a decision: expand each key once, and give every field of that key the value at
    // the same position.
    const keys: { key: string; vcs: [string, ValueChoice][] }[] = [];
    for (const [f, vc] of fields) {
      const k = keyOf(f, vc);
      const seen = keys.find((e) => e.key === k);
      if (seen === undefined) keys.push({ key: k, vcs: [[f, vc]] });
      else {
        if (seen.vcs[0]![1].values.length !== vc.values.length) {
          fail({ tag: 'KeyConflict', key: k, sites: [`${base}.${seen.vcs[0]![0]}`, `${base}.${f}`], message: `value choices with key '${k}' at ${base || '(top level)'} have different numbers of values: ${seen.vcs[0]![0]} and ${f}` });
        }
        seen.vcs.push([f, vc]);
      }
    }
    const build = (i: number, fixed: Record<string, ChoiceValue>): Layer => {
      if (i === keys.length) return factory({ ...(options as object), ...fixed } as O);
      const { key, vcs } = keys[i]!;
      const first = vcs[0]![1];
      return chooseValue(valueChoice(first.values, { key }), (v) => {
        const j = first.values.indexOf(v);
        const assigned = Object.fromEntries(vcs.map(([f, vc]) => [f, vc.values[j]!] as const));
        return build(i + 1, { ...fixed, ...assigned });
      });
    };
    return build(0, {})(ctx, x);
  };

/**
 * NNI's `Repeat`: `block` applied d times in a chain, d one of `depths` (a list, or a value choice of depths ≥ 0;
 * 0 is the identity). `block` may be a layer or a function of the block's index. The i-th block is built at
 * `<path>/<i>` for every depth, so depths share its parameters. Key: the value choice's, `o.key`, or the path.
 *
 * @example
 * repeat((i) => residual(conv2d({ out: 16, kernel: 3, padding: 1 })), [1, 2, 3], { key: 'depth' });
 */
export const repeat =
  (block: Layer | ((index: number) => Layer), depths: readonly number[] | ValueChoice<number>, o: { readonly key?: string } = {}): Layer =>
  (ctx, x) => {
    const vc = isValueChoice(depths) ? depths : valueChoice(depths, o.key === undefined ? {} : { key: o.key });
    const node = pathOf(ctx) || 'repeat';
    for (const d of vc.values) {
      if (!(Number.isInteger(d) && d >= 0)) fail({ tag: 'InvalidAttribute', node, op: 'repeat', message: `${node}: repeat depths must be integers ≥ 0, got ${d}` });
    }
    const layerAt = (i: number): Layer => (isLayer(block) ? block : block(i));
    return chooseValue(vc, (d) => (_cctx, y) => {
      let h = y;
      for (let i = 0; i < d; i++) h = layerAt(i)(child(ctx, String(i)), h);
      return h;
    }, o.key)(ctx, x);
  };

// A Layer takes (ctx, input): two parameters; a block factory takes (index): one.
const isLayer = (f: Layer | ((index: number) => Layer)): f is Layer => f.length >= 2;
