/**
 * JSON serialisation of graphs, so that a search space or a fixed model can be saved, diffed and sent to a
 * worker.
 *
 * The format lists every node once, inputs before users, each with its stored id, op, input ids, name and
 * shape. Decoding rebuilds the nodes with `mkNode`, so shapes are re-inferred and ids recomputed; the stored
 * id and shape are then checked against them, which catches a hand-edited or corrupted file. Ops are decoded
 * with io-ts codecs, one per op kind, that reject missing, mistyped and unexpected fields.
 *
 * @example
 * const text = graphToJsonText(graph);
 * const back = graphFromJsonText(text); // Either<readonly DecodeError[], Graph>
 * // E.isRight(back) && graphEq(back.right, graph)
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { type IRError, toIRError } from './errors.ts';
import type { Graph } from './graph.ts';
import { type Node, mkNode, nodeId, topoOrder } from './node.ts';
import { byKind, closed, ShapeC } from './codec.ts';
import { type Op, type OpKind, type OpOf, OP_DEFS } from './ops.ts';
import { type Shape, shapeEq, showShape } from './shape.ts';

export const GRAPH_FORMAT = 'nasgraph.graph';
export const GRAPH_VERSION = 1;

/** One node of a serialised graph. `shape` is informative: it is re-inferred, and checked, on decode. */
export interface NodeJson {
  readonly id: string;
  readonly op: Op;
  readonly inputs: readonly string[];
  readonly name: string;
  readonly shape: Shape;
}

/** A serialised graph: a plain JSON value. */
export interface GraphJson {
  readonly format: typeof GRAPH_FORMAT;
  readonly version: typeof GRAPH_VERSION;
  /** Every node reachable from the graph's inputs and outputs, once, inputs before users. */
  readonly nodes: readonly NodeJson[];
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
}

/**
 * What can go wrong when decoding a graph: the IR's own errors (a shape that no longer fits, raised by
 * `mkNode`) and the format's. `node` is the stored id of the node at fault, or `inputs[i]`/`outputs[i]`
 * for the graph's own references.
 */
export type DecodeError =
  | IRError
  | { readonly tag: 'InvalidJsonText'; readonly message: string }
  | { readonly tag: 'InvalidJson'; readonly path: string; readonly expected: string; readonly message: string }
  | { readonly tag: 'UnknownNode'; readonly node: string; readonly ref: string; readonly message: string }
  | { readonly tag: 'ForwardReference'; readonly node: string; readonly ref: string; readonly message: string }
  | { readonly tag: 'DuplicateNode'; readonly node: string; readonly message: string }
  | { readonly tag: 'IdMismatch'; readonly node: string; readonly stored: string; readonly computed: string; readonly message: string }
  | { readonly tag: 'StoredShapeMismatch'; readonly node: string; readonly stored: Shape; readonly inferred: Shape; readonly message: string };

// ---------------------------------------------------------------------------------------------------------
// Codecs

/** Every op kind's codec, from its definition (ops.ts): the registry's type makes a missing kind a compile error. */
const opCodecs = Object.fromEntries(Object.entries(OP_DEFS).map(([kind, def]) => [kind, def.codec])) as {
  readonly [K in OpKind]: t.Decoder<unknown, OpOf<K>>;
};

/** The codec of an op: its attributes' types are checked here, their values (ranges, arities) by `mkNode`. */
export const OpCodec: t.Type<Op, Op, unknown> = byKind<Op>('Op', opCodecs);

const NodeCodec = closed('NodeJson', { id: t.string, op: OpCodec, inputs: t.readonlyArray(t.string, 'string[]'), name: t.string, shape: ShapeC });

const Envelope = closed('GraphJson', {
  format: t.literal(GRAPH_FORMAT),
  version: t.literal(GRAPH_VERSION),
  nodes: new t.Type<readonly unknown[], readonly unknown[], unknown>('NodeJson[]', t.UnknownArray.is, t.UnknownArray.validate, t.identity),
  inputs: t.readonlyArray(t.string, 'string[]'),
  outputs: t.readonlyArray(t.string, 'string[]'),
});

// ---------------------------------------------------------------------------------------------------------
// io-ts errors made readable

const showValue = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

/**
 * One io-ts error as a path (`nodes[3].op.stride[0]`) and the type expected there. A union's members are
 * keyed by their index in the context; those keys are not part of the value's path, so they are skipped.
 */
const readable = (e: t.ValidationError): DecodeError => {
  let path = '';
  let expected = e.context[0]?.type.name ?? 'unknown';
  let actual: unknown = e.value;
  e.context.forEach((entry, i) => {
    if (i === 0 || e.context[i - 1]!.type instanceof t.UnionType) return;
    path += /^\d+$/.test(entry.key) ? `[${entry.key}]` : path === '' ? entry.key : `.${entry.key}`;
    expected = entry.type.name;
    actual = entry.actual;
  });
  const where = path === '' ? '(root)' : path;
  const message =
    e.message !== undefined
      ? `${where}: ${e.message}`
      : actual === undefined
        ? `${where}: missing (expected ${expected})`
        : `${where}: expected ${expected}, got ${showValue(actual)}`;
  return { tag: 'InvalidJson', path: where, expected, message };
};

const report = (errors: t.Errors): DecodeError[] => {
  const seen = new Set<string>();
  return errors.map(readable).filter((d) => !seen.has(d.message) && (seen.add(d.message), true));
};

// ---------------------------------------------------------------------------------------------------------
// Encode / decode

/**
 * A graph as a plain JSON value: every node reachable from its inputs and outputs, inputs before users.
 *
 * @example
 * const json = encodeGraph(graph);
 * json.nodes[0]; // { id: '…', op: { kind: 'input', name: 'x', shape: [1, 28, 28] }, inputs: [], name: 'x', shape: [1, 28, 28] }
 */
export const encodeGraph = (g: Graph): GraphJson => ({
  format: GRAPH_FORMAT,
  version: GRAPH_VERSION,
  nodes: topoOrder([...g.inputs, ...g.outputs]).map((n) => ({
    id: n.id,
    op: structuredClone(n.op), // a copy: editing the JSON must not edit the graph
    inputs: n.inputs.map((i) => i.id),
    name: n.name,
    shape: [...n.shape],
  })),
  inputs: g.inputs.map((n) => n.id),
  outputs: g.outputs.map((n) => n.id),
});

/**
 * Rebuilds a graph from its JSON value, collecting every error it can find: malformed JSON (with the path
 * and the expected type), a reference to an unknown node or to one defined later, a duplicate node, a stored
 * id or shape that differs from the recomputed one, and the IR's own shape errors. A node that cannot be
 * rebuilt is reported once; the nodes that use it are skipped without further errors.
 *
 * @example
 * const g = decodeGraph(JSON.parse(text)); // Either<readonly DecodeError[], Graph>
 */
// Longer than 80 lines: one pass over the nodes that collects every error (format, references, ids, shapes) with
// the node's position; splitting it would thread the same four maps through each part.
export const decodeGraph = (json: unknown): E.Either<readonly DecodeError[], Graph> => {
  const envelope = Envelope.decode(json);
  const headerOk = t.UnknownRecord.is(json) && json['format'] === GRAPH_FORMAT && json['version'] === GRAPH_VERSION;
  // A file that is not ours, or of another version, would only produce noise below.
  if (!headerOk || !Array.isArray(json['nodes'])) return E.left(E.isLeft(envelope) ? report(envelope.left) : []);
  const errors: DecodeError[] = E.isLeft(envelope) ? report(envelope.left) : [];
  const rawNodes = json['nodes'] as readonly unknown[];

  // Every stored id and where it is defined, so that a reference can be told unknown or merely early.
  const definedAt = new Map<string, number>();
  rawNodes.forEach((raw, i) => {
    const id = t.UnknownRecord.is(raw) ? raw['id'] : undefined;
    if (typeof id !== 'string') return;
    if (definedAt.has(id)) errors.push({ tag: 'DuplicateNode', node: id, message: `nodes[${i}]: node ${id} is defined twice (first at nodes[${definedAt.get(id)}])` });
    else definedAt.set(id, i);
  });

  const built = new Map<string, Node>();
  const failed = new Set<string>();
  const rootContext = (i: number, raw: unknown): t.Context => [
    { key: '', type: Envelope, actual: json },
    { key: 'nodes', type: t.UnknownArray, actual: rawNodes },
    { key: String(i), type: NodeCodec, actual: raw },
  ];

  rawNodes.forEach((raw, i) => {
    const decoded = NodeCodec.validate(raw, rootContext(i, raw));
    const rawId = t.UnknownRecord.is(raw) && typeof raw['id'] === 'string' ? raw['id'] : undefined;
    if (E.isLeft(decoded)) {
      errors.push(...report(decoded.left));
      if (rawId !== undefined) failed.add(rawId);
      return;
    }
    const n = decoded.right;
    if (definedAt.get(n.id) !== i) return; // a duplicate, reported above
    const at = `nodes[${i}] (${n.name})`;
    const inputs: Node[] = [];
    let ok = true;
    for (const ref of n.inputs) {
      const node = built.get(ref);
      if (node !== undefined) inputs.push(node);
      else {
        ok = false;
        if (failed.has(ref)) continue; // its own error is reported already
        const where = definedAt.get(ref);
        errors.push(
          where === undefined
            ? { tag: 'UnknownNode', node: n.id, ref, message: `${at}: input ${ref} is not a node of the graph` }
            : { tag: 'ForwardReference', node: n.id, ref, message: `${at}: input ${ref} is used before it is defined (at nodes[${where}])` },
        );
      }
    }
    if (!ok) {
      failed.add(n.id);
      return;
    }
    const computed = nodeId(n.op, n.inputs);
    if (computed !== n.id) {
      errors.push({ tag: 'IdMismatch', node: n.id, stored: n.id, computed, message: `${at}: stored id ${n.id} does not match its op and inputs (${computed}); the file was altered` });
    }
    let node: Node;
    try {
      node = mkNode(structuredClone(n.op), inputs, n.name); // a copy: mkNode freezes it, and the caller's JSON is theirs
    } catch (e) {
      errors.push(toIRError(e));
      failed.add(n.id);
      return;
    }
    if (!shapeEq(node.shape, n.shape)) {
      errors.push({
        tag: 'StoredShapeMismatch',
        node: n.id,
        stored: n.shape,
        inferred: node.shape,
        message: `${at}: stored shape ${showShape(n.shape)} differs from the inferred ${showShape(node.shape)}`,
      });
    }
    built.set(n.id, node);
  });

  const resolve = (field: 'inputs' | 'outputs', ids: readonly string[]): Node[] =>
    ids.flatMap((ref, i) => {
      const node = built.get(ref);
      if (node !== undefined) return [node];
      if (!failed.has(ref)) errors.push({ tag: 'UnknownNode', node: `${field}[${i}]`, ref, message: `${field}[${i}]: ${ref} is not a node of the graph` });
      return [];
    });
  const inputs = E.isRight(envelope) ? resolve('inputs', envelope.right.inputs) : [];
  const outputs = E.isRight(envelope) ? resolve('outputs', envelope.right.outputs) : [];
  return errors.length > 0 ? E.left(errors) : E.right({ inputs, outputs });
};

/**
 * The graph as JSON text, one node per line so that two versions diff line by line.
 *
 * @example
 * fs.writeFileSync('space.graph.json', graphToJsonText(graph));
 */
export const graphToJsonText = (g: Graph): string => {
  const j = encodeGraph(g);
  const line = (v: unknown): string => JSON.stringify(v);
  return [
    '{',
    `  "format": ${line(j.format)},`,
    `  "version": ${line(j.version)},`,
    `  "nodes": [${j.nodes.length === 0 ? '' : `\n${j.nodes.map((n) => `    ${line(n)}`).join(',\n')}\n  `}],`,
    `  "inputs": ${line(j.inputs)},`,
    `  "outputs": ${line(j.outputs)}`,
    '}',
    '',
  ].join('\n');
};

/**
 * Parses JSON text and decodes the graph; text that is not JSON is an error value, never a throw.
 *
 * @example
 * const g = graphFromJsonText(fs.readFileSync('space.graph.json', 'utf8'));
 */
export const graphFromJsonText = (text: string): E.Either<readonly DecodeError[], Graph> => {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return E.left([{ tag: 'InvalidJsonText', message: `not JSON: ${e instanceof Error ? e.message : String(e)}` }]);
  }
  return decodeGraph(json);
};
