/**
 * The Supernet-graph view model, built from our IR: every value node of the model's graph (parameters folded into
 * the node that reads them), choice nodes expanded into their candidates, and one edge per input. An edge into a
 * choice node is a candidate edge: it carries the choice's key and the candidate's index, so the page colours it
 * by that candidate's weight (one-shot) and highlights the chosen ones (`activeSet`).
 *
 * Pure: no I/O. The page imports only the types and `activeSet` (graph-active.ts).
 *
 * @example
 * const view = graphView(graph); // { nodes: [{ id, label, shape, params, macs, ... }], edges: [...] }
 */
import { type Graph, nodes as graphNodes } from '../ir/graph.ts';
import type { Node } from '../ir/node.ts';
import { numel } from '../ir/shape.ts';
import { searchSpace } from '../ir/space.ts';
import type { DecisionInfo } from './view-model.ts';

export { activeSet } from './graph-active.ts';
export type { GraphEdge, GraphNode, GraphView } from './graph-active.ts';
import type { GraphEdge, GraphNode, GraphView } from './graph-active.ts';

/** Multiply-accumulates of one node per sample (convolution and linear layers; others 0), as `countMacs`. */
export const nodeMacs = (n: Node): number => {
  const w = n.inputs[1]?.shape;
  if (w === undefined) return 0;
  if (n.op.kind === 'conv2d') return numel(n.shape) * numel(w.slice(1));
  if (n.op.kind === 'linear') return numel(w);
  return 0;
};

const attrs = (n: Node): string => {
  const op = n.op as unknown as Record<string, unknown>;
  return Object.entries(op)
    .filter(([k]) => k !== 'kind' && k !== 'scope' && k !== 'names' && k !== 'key')
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(' ');
};

/** The graph view of `graph` (see the module comment). */
export const graphView = (graph: Graph): GraphView => {
  const all = graphNodes(graph);
  const out: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  for (const n of all) {
    if (n.op.kind === 'param') continue;
    const params = n.inputs.filter((i) => i.op.kind === 'param');
    const choice =
      n.op.kind === 'layerChoice' || n.op.kind === 'inputChoice'
        ? { key: n.op.key, type: n.op.kind === 'layerChoice' ? ('layer' as const) : ('input' as const), names: [...n.op.names] }
        : null;
    const short = n.name.split('/').at(-1) ?? n.name;
    out.push({
      id: n.id,
      kind: n.op.kind,
      label: choice !== null ? `${choice.type === 'layer' ? 'LayerChoice' : 'InputChoice'} ${choice.key}` : n.op.kind === 'input' ? `input ${JSON.stringify(n.shape)}` : `${n.op.kind}${short !== '' && short !== n.op.kind ? ` ${short}` : ''}`,
      name: n.name,
      shape: [...n.shape],
      params: params.reduce((s, p) => s + numel(p.shape), 0),
      paramShapes: params.map((p) => ({ path: p.op.kind === 'param' ? p.op.path : p.name, shape: [...p.shape] })),
      macs: nodeMacs(n),
      attrs: attrs(n),
      choice,
      output: graph.outputs.some((o) => o.id === n.id),
    });
    n.inputs.forEach((i, index) => {
      if (i.op.kind === 'param') return;
      edges.push({ id: `${i.id}>${n.id}#${index}`, from: i.id, to: n.id, choice: choice === null ? null : { key: choice.key, index, name: choice.names[index] || String(index) } });
    });
  }
  return { nodes: out, edges };
};

/** The decisions of a graph with their candidates' names (unnamed input sources by index). */
export const graphDecisions = (graph: Graph): readonly DecisionInfo[] =>
  searchSpace(graph).decisions.map((d) => ({ key: d.key, kind: d.kind, names: d.names.map((n, i) => (n === '' ? String(i) : n)) }));
