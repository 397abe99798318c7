/**
 * Choice nodes with NNI's semantics (see shared/NNI-SEMANTICS.md): `layerChoice`, `inputChoice`, `scope`.
 *
 * Keys identify decisions; equal keys share one decision (checked for equal candidates by `buildModel`).
 * A default key is the choice's module path (`cell1/node2/op0`), a pure function of the model's structure:
 * building the same model twice gives the same keys (unlike NNI's global counter, NNI #2726). An explicit
 * `key` is used verbatim, so two cells can share decisions by naming the same key.
 *
 * @example
 * const conv1 = layerChoice({ conv3x3: conv2d({ out: 32, kernel: 3 }), conv5x5: conv2d({ out: 32, kernel: 5, padding: 1 }) });
 * const skip = inputChoice({ nChosen: null }); // choose the input or nothing
 */
import { type Ctx, type Layer, child, enterScope, pathOf } from './ctx.ts';
import { fail } from './errors.ts';
import { entries } from './layers.ts';
import { specialiseNode } from './apply.ts';
import { type Node, mkNode, topoOrder } from './node.ts';
import { shapeEq } from './shape.ts';
import type { Reduction } from './ops.ts';

type Named<T> = readonly T[] | Readonly<Record<string, T>>;

const defaultKey = (ctx: Ctx, kind: string): string => (ctx.path.length > 0 ? pathOf(ctx) : kind);

export interface LayerChoiceOptions {
  readonly key?: string;
  /** The value each candidate stands for (set by `valueChoice`-based layers and `repeat`; one per candidate). */
  readonly values?: readonly (number | string | boolean)[];
}

/** Whether a layer choice with `key` whose candidates differ in shape is upstream of `x` (within the graph). */
const shapeVaryingUpstream = (x: Node, key: string): boolean =>
  topoOrder([x]).some((n) => n.op.kind === 'layerChoice' && n.op.key === key && n.inputs.some((c) => !shapeEq(c.shape, n.inputs[0]!.shape)));

/**
 * NNI's LayerChoice: one of `candidates` (a list, named "0", "1", …, or a record), all applied to the same
 * input. Candidates may contain further choices, and may differ in output shape: layers after the choice are
 * built for the first candidate's shape, each architecture's shapes are inferred by `apply`, and mixed-mode
 * one-shot algorithms (which sum the candidates) refuse such a choice by key (see `shapeVaryingChoices`).
 */
export const layerChoice =
  (candidates: Named<Layer>, o: LayerChoiceOptions = {}): Layer =>
  (ctx, x) => {
    const values = o.values;
    const cands = values !== undefined && Array.isArray(candidates) ? (candidates as readonly Layer[]).map((l, i) => [String(values[i]), l] as const) : entries(candidates);
    const key = o.key ?? defaultKey(ctx, 'layerchoice');
    const node = pathOf(ctx) || key;
    if (cands.length === 0) fail({ tag: 'InvalidAttribute', node, op: 'layerChoice', message: `${node}: layer choice '${key}' has no candidates` });
    // Candidates may differ in output shape (NNI's classic mode allows it): the choice's node takes the first
    // candidate's shape, so what follows is built (and sized: a linear layer's inputs) for the first candidate;
    // `apply` infers every architecture's own shapes, and `fitCheck` finds the ones that do not fit.
    // A key shared with a shape-varying choice upstream (a value choice of channels used again here): candidate i
    // is built on the input as it is when that choice takes i, so its parameters get that architecture's sizes.
    const shared = shapeVaryingUpstream(x, key);
    const outs = cands.map(([name, layer], i) => layer(child(ctx, name), shared ? specialiseNode(x, { [key]: [i] }) : x));
    if (o.values !== undefined && o.values.length !== cands.length) {
      fail({ tag: 'InvalidAttribute', node, op: 'layerChoice', message: `${node}: layer choice '${key}' has ${cands.length} candidates but ${o.values.length} values` });
    }
    return mkNode({ kind: 'layerChoice', key, names: cands.map(([n]) => n), scope: ctx.scopes, ...(o.values === undefined ? {} : { values: o.values }) }, outs, node);
  };

export interface InputChoiceOptions {
  /** How many inputs are chosen: a number k, or null for any number including none (NNI's default). */
  readonly nChosen?: number | null;
  /** How chosen inputs combine; 'sum' by default, as NNI. Use `chooseInputs` for 'none'. */
  readonly reduction?: Exclude<Reduction, 'none'>;
  readonly key?: string;
}

const inputChoiceNodes = (
  ctx: Ctx,
  inputs: Named<Node>,
  o: InputChoiceOptions,
  reduction: Reduction,
  positions: number,
): readonly Node[] => {
  const ins = entries(inputs);
  const key = o.key ?? defaultKey(ctx, 'inputchoice');
  // Unnamed (list) sources are "" in NNI's ss_gen; named ones keep their names.
  const names = Array.isArray(inputs) ? ins.map(() => '') : ins.map(([n]) => n);
  const nChosen = o.nChosen === undefined ? null : o.nChosen;
  const node = pathOf(ctx) || key;
  return Array.from({ length: positions }, (_, position) =>
    mkNode({ kind: 'inputChoice', key, names, nChosen, reduction, scope: ctx.scopes, position }, ins.map(([, v]) => v), node),
  );
};

/**
 * NNI's InputChoice: chooses `nChosen` of the inputs (a list, or a record naming them) and reduces them.
 * An empty selection (possible with `nChosen: null`) is an absent value that `add` ignores.
 */
export const inputChoice =
  (o: InputChoiceOptions = {}): Layer<Named<Node>> =>
  (ctx, inputs) =>
    inputChoiceNodes(ctx, inputs, o, o.reduction ?? 'sum', 1)[0]!;

/** InputChoice with reduction 'none': the chosen inputs themselves, one node per chosen position. */
export const chooseInputs = (
  ctx: Ctx,
  inputs: Named<Node>,
  o: { readonly nChosen: number; readonly key?: string },
): readonly Node[] => inputChoiceNodes(ctx, inputs, o, 'none', o.nChosen);

/** NNI's MutableScope: names a sub-graph; prefixes the module path (so default keys and parameter paths). */
export const scope =
  <I>(key: string, layer: Layer<I>): Layer<I> =>
  (ctx, x) =>
    layer(enterScope(ctx, key), x);
