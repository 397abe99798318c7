/**
 * `apply(graph, arch)`: substitutes every choice by its chosen candidate (or the reduction of the chosen
 * inputs) and drops what is no longer reachable. Parameters keep their paths, so supernet weights load into
 * the fixed graph directly.
 *
 * @example
 * const fixed = apply(graph, { conv1: [1], skipcon: [] }); // Either<readonly IRError[], Graph>
 */
import * as E from 'fp-ts/lib/Either.js';
import { type IRError, GraphError, toIRError } from './errors.ts';
import type { Graph } from './graph.ts';
import { type Node, mkNode, withInputs } from './node.ts';
import { shapeEq, showShape } from './shape.ts';

/**
 * A canonical architecture: for each key, the chosen candidate indices in ascending order (exactly one for a
 * layer choice). `resolveArchitecture` turns NNI's JSON forms into this.
 */
export type Architecture = Readonly<Record<string, readonly number[]>>;

const absentError = (absent: Node, consumer: Node): IRError => {
  const key = absent.op.kind === 'absent' ? absent.op.key : '?';
  return {
    tag: 'AbsentValue',
    key,
    consumer: consumer.name,
    message: `input choice '${key}' chose nothing, but ${consumer.name} (${consumer.op.kind}) needs its value; only add() accepts an absent input`,
  };
};

/**
 * The fixed graph of `arch`. Only the chosen path is visited, so choices nested inside unchosen candidates are
 * never evaluated. Shapes are inferred again along the chosen path, so a layer choice whose candidates differ in
 * output shape (NNI's classic MNIST: `first_conv` gives [20, 24, 24] or [20, 26, 26]) yields each architecture's
 * own shapes downstream. Errors: a key missing from `arch`, an index out of range, an empty selection flowing into
 * an op other than `add`, a layer that does not fit the shapes of this architecture (the message names the layer
 * and, first, the shape-varying choices upstream with their chosen candidate: `with first_conv = 1 → [20, 26, 26]:
 * fc1: linear expects 800 input features, got 1014`), or a fixed output whose shape differs from the supernet's.
 */
export const apply = (g: Graph, arch: Architecture): E.Either<readonly IRError[], Graph> => specialise(g, arch, false);

/**
 * The graph with the choices of `arch` fixed and every other choice kept (its candidates rebuilt on the new
 * shapes). What `fitCheck` uses to try one combination of shape-varying choices against the rest of the space.
 */
export const applyPartial = (g: Graph, arch: Architecture): E.Either<readonly IRError[], Graph> => specialise(g, arch, true);

/**
 * `node` rebuilt with the choices of `arch` fixed (others kept), its shape inferred again; throws the first error
 * (a GraphError). Layer choices use it to build each candidate on its input as it is under the candidate's own key
 * (a key shared with a shape-varying choice upstream: a value choice's channels, for example).
 */
export const specialiseNode = (node: Node, arch: Architecture): Node => {
  const r = specialise({ inputs: [], outputs: [node] }, arch, true, false);
  if (E.isLeft(r)) throw new GraphError(r.left[0]!);
  return r.right.outputs[0]!;
};

/** `key = name → [shape]` of a chosen candidate whose shape differs from its siblings' (for messages). */
const varyingLabel = (node: Node, i: number): string | undefined => {
  if (node.op.kind !== 'layerChoice') return undefined;
  const first = node.inputs[0]!.shape;
  if (node.inputs.every((x) => shapeEq(x.shape, first))) return undefined;
  return `${node.op.key} = ${node.op.names[i]} → ${showShape(node.inputs[i]!.shape)}`;
};

/** A shape error re-thrown with the shape-varying choices upstream of where it happened (key, candidate, shape). */
const withProvenance = (e: unknown, labels: readonly string[]): unknown => {
  if (labels.length === 0 || !(e instanceof GraphError)) return e;
  const d = e.detail;
  const prefix = `with ${labels.join(', ')}: `;
  return new GraphError({ ...d, message: `${prefix}${d.message}` } as IRError);
};

const specialise = (g: Graph, arch: Architecture, partial: boolean, checkOutputs = true): E.Either<readonly IRError[], Graph> => {
  const memo = new Map<string, Node>();
  // Per rebuilt node: the chosen shape-varying candidates upstream of it ("first_conv = 1 → [20, 26, 26]").
  const prov = new Map<string, readonly string[]>();
  const errors: IRError[] = [];

  const choice = (key: string, n: number, at: string): readonly number[] | undefined => {
    const chosen = arch[key];
    if (chosen === undefined) {
      if (partial) return undefined;
      throw new GraphError({ tag: 'BuildFailed', message: `architecture has no value for key '${key}' (needed at ${at})` });
    }
    for (const i of chosen) {
      if (!(Number.isInteger(i) && i >= 0 && i < n)) {
        throw new GraphError({ tag: 'BuildFailed', message: `architecture value for '${key}' has index ${i}, but ${at} has ${n} candidates` });
      }
    }
    return chosen;
  };

  // The values a node needs before it can be rebuilt: the chosen candidates of a choice (so unchosen
  // candidates are never visited), every input otherwise. Validates the architecture value on the way.
  const needs = (node: Node): readonly Node[] => {
    const op = node.op;
    if (op.kind === 'layerChoice') {
      const chosen = choice(op.key, node.inputs.length, node.name);
      if (chosen === undefined) return node.inputs;
      if (chosen.length !== 1) {
        throw new GraphError({
          tag: 'BuildFailed',
          message:
            chosen.length === 0
              ? `layer choice '${op.key}' chose no candidate ([]), but ${node.name} is used by the architecture (only an edge its input choice dropped may be [])`
              : `layer choice '${op.key}' needs exactly one candidate, got [${chosen.join(', ')}]`,
        });
      }
      return [node.inputs[chosen[0]!]!];
    }
    if (op.kind === 'inputChoice') {
      const chosen = choice(op.key, node.inputs.length, node.name);
      if (chosen === undefined) return node.inputs;
      if (op.nChosen !== null && chosen.length !== op.nChosen) {
        throw new GraphError({ tag: 'BuildFailed', message: `input choice '${op.key}' needs ${op.nChosen} inputs, got [${chosen.join(', ')}]` });
      }
      return chosen.map((i) => node.inputs[i]!);
    }
    return node.inputs;
  };

  // `node` rebuilt from its needed values, which are all in `memo` already.
  const rebuild = (node: Node, xs: readonly Node[]): Node => {
    const op = node.op;
    if ((op.kind === 'layerChoice' || op.kind === 'inputChoice') && arch[op.key] === undefined) return withInputs(node, xs);
    switch (op.kind) {
      case 'layerChoice':
        return xs[0]!;
      case 'inputChoice':
        if (xs.length === 0) return mkNode({ kind: 'absent', key: op.key, shape: node.shape }, [], node.name);
        if (op.reduction === 'none') return xs[op.position]!;
        if (xs.length === 1) return xs[0]!;
        if (op.reduction === 'concat') return mkNode({ kind: 'concat' }, xs, node.name);
        {
          const sum = mkNode({ kind: 'add' }, xs, node.name);
          return op.reduction === 'mean' ? mkNode({ kind: 'scale', factor: 1 / xs.length }, [sum], node.name) : sum;
        }
      default: {
        const absent = xs.filter((x) => x.op.kind === 'absent');
        if (absent.length === 0) return withInputs(node, xs);
        if (op.kind === 'add') {
          const present = xs.filter((x) => x.op.kind !== 'absent');
          return present.length === 0 ? absent[0]! : present.length === 1 ? present[0]! : mkNode(op, present, node.name);
        }
        // Record every such error, and go on with the node as it was so that later errors are found too.
        for (const a of absent) errors.push(absentError(a, node));
        return node;
      }
    }
  };

  // Iterative post-order over the chosen path: a 5,000-layer chain must not overflow the call stack.
  const visit = (root: Node): Node => {
    const stack: Node[] = [root];
    while (stack.length > 0) {
      const node = stack[stack.length - 1]!;
      if (memo.has(node.id)) {
        stack.pop();
        continue;
      }
      const deps = needs(node);
      const pending = deps.filter((d) => !memo.has(d.id));
      if (pending.length > 0) {
        for (let i = pending.length - 1; i >= 0; i--) stack.push(pending[i]!); // first input on top: the recursive order
        continue;
      }
      stack.pop();
      const labels = [...new Set(deps.flatMap((d) => prov.get(d.id) ?? []))];
      let built: Node;
      try {
        built = rebuild(node, deps.map((d) => memo.get(d.id)!));
      } catch (e) {
        throw withProvenance(e, labels);
      }
      memo.set(node.id, built);
      const own = node.op.kind === 'layerChoice' && deps.length === 1 ? varyingLabel(node, node.inputs.indexOf(deps[0]!)) : undefined;
      const all = own === undefined ? labels : [...labels, own];
      if (all.length > 0) prov.set(node.id, all);
    }
    return memo.get(root.id)!;
  };

  try {
    const outputs = g.outputs.map(visit);
    outputs.forEach((o, i) => {
      const want = g.outputs[i]!;
      if (o.op.kind === 'absent') {
        errors.push({ tag: 'AbsentValue', key: o.op.key, consumer: 'the model output', message: `input choice '${o.op.key}' chose nothing, and its value is the model's output` });
      } else if (checkOutputs && !shapeEq(o.shape, want.shape)) {
        const labels = prov.get(want.id) ?? [];
        errors.push({
          tag: 'ShapeMismatch',
          node: want.name,
          op: want.op.kind,
          shapes: [want.shape, o.shape],
          message: `${labels.length > 0 ? `with ${labels.join(', ')}: ` : ''}output ${i} of the fixed model has shape ${showShape(o.shape)}, the supernet's has ${showShape(want.shape)}`,
        });
      }
    });
    return errors.length > 0 ? E.left(errors) : E.right({ inputs: g.inputs, outputs });
  } catch (e) {
    return E.left([...errors, toIRError(e)]);
  }
};
