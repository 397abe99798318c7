/**
 * Graphs and model definitions.
 *
 * A `Graph` is its inputs and outputs; what is not reachable from the outputs does not exist. A `ModelDef` is
 * what a model module exports: a name, an input shape and a layer, built lazily by `buildModel` so that a
 * broken definition is reported as errors rather than thrown at import.
 *
 * @example
 * const def = defineModel({ name: 'tiny', input: [1, 28, 28], layer: sequential([flatten(), linear({ out: 10 })]) });
 * const g = buildModel(def); // Either<readonly IRError[], Graph>
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Layer, makeCtx } from './ctx.ts';
import { type IRError, toIRError } from './errors.ts';
import { input } from './layers.ts';
import { type Node, topoOrder } from './node.ts';
import { type ChoiceOp, isChoice } from './ops.ts';
import { type Shape, numel, shapeEq, showShape } from './shape.ts';

export interface Graph {
  readonly inputs: readonly Node[];
  readonly outputs: readonly Node[];
}

export interface ModelDef {
  readonly name: string;
  /** Per-sample input shape, e.g. [1, 28, 28]. */
  readonly input: Shape;
  readonly layer: Layer;
  readonly description?: string;
}

export const defineModel = (def: ModelDef): ModelDef => def;

/** Every node of the graph, inputs before users. */
export const nodes = (g: Graph): readonly Node[] => topoOrder(g.outputs);

/** Parameter leaves reachable from the outputs, in topological order. */
export const params = (g: Graph): readonly Node[] => nodes(g).filter((n) => n.op.kind === 'param');

/** The number of trainable scalars (BatchNorm running statistics excluded, as PyTorch's `parameters()`). */
export const paramCount = (g: Graph): number =>
  params(g).reduce((s, p) => s + (p.op.kind === 'param' && p.op.trainable ? numel(p.shape) : 0), 0);

export type ChoiceNode = Node & { readonly op: ChoiceOp };

/** Every choice node reachable from the outputs. */
export const choiceNodes = (g: Graph): readonly ChoiceNode[] => nodes(g).filter((n): n is ChoiceNode => isChoice(n.op));

const signature = (op: ChoiceOp): string =>
  op.kind === 'layerChoice'
    ? `layer choice over [${op.names.join(', ')}]`
    : `input choice of ${op.nChosen ?? 'any number'} from ${op.names.length} inputs [${op.names.map((n) => JSON.stringify(n)).join(', ')}]`;

/** All key conflicts (equal keys with different candidates) and parameter-path conflicts of a graph. */
export const validate = (g: Graph): readonly IRError[] => {
  const errors: IRError[] = [];
  const byKey = new Map<string, ChoiceNode>();
  for (const n of choiceNodes(g)) {
    const seen = byKey.get(n.op.key);
    if (seen === undefined) byKey.set(n.op.key, n);
    else if (signature(seen.op) !== signature(n.op)) {
      errors.push({
        tag: 'KeyConflict',
        key: n.op.key,
        sites: [seen.name, n.name],
        message: `key '${n.op.key}' is shared by choices with different candidates: ${seen.name} has a ${signature(seen.op)}, ${n.name} has a ${signature(n.op)}`,
      });
    }
  }
  // Two different choices built at the same module path: the default key (the path) would silently merge them.
  const bySite = new Map<string, ChoiceNode>();
  for (const n of choiceNodes(g)) {
    const site = `${n.op.key}\u0000${n.name}`;
    const seen = bySite.get(site);
    if (seen === undefined) bySite.set(site, n);
    else if (
      seen.inputs.map((i) => i.id).join() !== n.inputs.map((i) => i.id).join() &&
      // Copies of one choice built on inputs of different shapes are the same site specialised to a value choice
      // upstream (a width): one decision, not two choices built at one place.
      seen.inputs.every((x, i) => n.inputs[i] !== undefined && shapeEq(x.shape, n.inputs[i]!.shape))
    ) {
      errors.push({
        tag: 'DuplicateSite',
        key: n.op.key,
        node: n.name,
        message: `two different choices with key '${n.op.key}' were built at the same place '${n.name || '(top level)'}'; build each as its own sub-module with ctx.call(name, ...) or give explicit keys`,
      });
    }
  }
  const byPath = new Map<string, Node>();
  for (const p of params(g)) {
    if (p.op.kind !== 'param') continue;
    const seen = byPath.get(p.op.path);
    if (seen === undefined) byPath.set(p.op.path, p);
    else if (seen.id !== p.id) {
      errors.push({
        tag: 'ParamConflict',
        path: p.op.path,
        message: `parameter path '${p.op.path}' is used twice with different shapes or initialisations (${showShape(seen.shape)} and ${showShape(p.shape)}); name the layers apart`,
      });
    }
  }
  return errors;
};

/** Builds a model definition into a graph, collecting the build error or every key/parameter conflict. */
export const buildModel = (def: ModelDef): E.Either<readonly IRError[], Graph> => {
  let g: Graph;
  try {
    const x = input(def.input);
    g = { inputs: [x], outputs: [def.layer(makeCtx([]), x)] };
  } catch (e) {
    return E.left([toIRError(e)]);
  }
  const errors = validate(g);
  return errors.length > 0 ? E.left(errors) : E.right(g);
};

/** Structural equality of two graphs (same ids of inputs and outputs). */
export const graphEq = (a: Graph, b: Graph): boolean =>
  a.inputs.length === b.inputs.length &&
  a.outputs.length === b.outputs.length &&
  a.inputs.every((n, i) => n.id === b.inputs[i]!.id) &&
  a.outputs.every((n, i) => n.id === b.outputs[i]!.id && shapeEq(n.shape, b.outputs[i]!.shape));
