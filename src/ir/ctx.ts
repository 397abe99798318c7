/**
 * The building context: where in the model a layer is being built. It gives parameters their stable paths
 * (`cell1/node2/sep_conv_3x3/dw/weight`), choices their default keys, and errors their location.
 *
 * A `Layer<I>` is a value: a function of a context and an input (one node, or a list for multi-input layers
 * such as input choices) that returns the output node. Layers compose with `sequential`, `residual`, `block`
 * (free-form DAGs) and `scope`; the same layer value built at two paths yields two sets of parameters.
 */
import type { Node } from './node.ts';

export interface Ctx {
  /** Module path: the names of the enclosing layers, outermost first. */
  readonly path: readonly string[];
  /** Keys of the enclosing `scope`s (NNI's MutableScope), outermost first. */
  readonly scopes: readonly string[];
  /** Runs `layer` on `input` as the sub-module `name` of this context. */
  readonly call: <I>(name: string, layer: Layer<I>, input: I) => Node;
}

export type Layer<I = Node> = (ctx: Ctx, input: I) => Node;

export const makeCtx = (path: readonly string[], scopes: readonly string[] = []): Ctx => {
  const ctx: Ctx = {
    path,
    scopes,
    call: (name, layer, input) => layer(child(ctx, name), input),
  };
  return ctx;
};

/** The context of sub-module `name`; an empty name stays at this level (an anonymous wrapper). */
export const child = (ctx: Ctx, name: string): Ctx => (name === '' ? ctx : makeCtx([...ctx.path, name], ctx.scopes));

export const pathOf = (ctx: Ctx, leaf?: string): string => [...ctx.path, ...(leaf === undefined ? [] : [leaf])].join('/');

/** A context of a new scope: prefixes the module path with `key` and records the scope. */
export const enterScope = (ctx: Ctx, key: string): Ctx => makeCtx([...ctx.path, key], [...ctx.scopes, key]);
