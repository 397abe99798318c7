/**
 * The graph view's types and `activeSet`, with no imports, so that the page (a browser bundle) uses them as the
 * server does.
 *
 * @example
 * const { nodes, edges } = activeSet(view, { conv1: [1], skip: [] }); // what the architecture computes
 */

/** One value node of the graph view. */
export interface GraphNode {
  readonly id: string;
  /** The op's kind: conv2d, relu, layerChoice, ... */
  readonly kind: string;
  readonly label: string;
  /** Where the node was built (its module path). */
  readonly name: string;
  /** The per-sample output shape. */
  readonly shape: readonly number[];
  /** Parameters the node reads (its weights and bias), and their paths and shapes. */
  readonly params: number;
  readonly paramShapes: readonly { readonly path: string; readonly shape: readonly number[] }[];
  /** Multiply-accumulates per sample. */
  readonly macs: number;
  /** The op's attributes as text (stride=[1,1] ...). */
  readonly attrs: string;
  readonly choice: { readonly key: string; readonly type: 'layer' | 'input'; readonly names: readonly string[] } | null;
  readonly output: boolean;
}

/** An edge from a node to one of its users; into a choice node, the candidate it stands for. */
export interface GraphEdge {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly choice: { readonly key: string; readonly index: number; readonly name: string } | null;
}

/** The Supernet-graph view. */
export interface GraphView {
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
}

/**
 * The nodes and edges an architecture computes: walking back from the outputs, a choice node follows only the
 * candidate edges `arch` chose for its key (a key missing from `arch` follows every candidate).
 */
export const activeSet = (view: GraphView, arch: Readonly<Record<string, readonly number[]>>): { readonly nodes: ReadonlySet<string>; readonly edges: ReadonlySet<string> } => {
  const into = new Map<string, GraphEdge[]>();
  for (const e of view.edges) into.set(e.to, [...(into.get(e.to) ?? []), e]);
  const nodes = new Set<string>();
  const edges = new Set<string>();
  const stack = view.nodes.filter((n) => n.output).map((n) => n.id);
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (nodes.has(id)) continue;
    nodes.add(id);
    for (const e of into.get(id) ?? []) {
      const chosen = e.choice === null ? true : (arch[e.choice.key] ?? [e.choice.index]).includes(e.choice.index);
      if (!chosen) continue;
      edges.add(e.id);
      stack.push(e.from);
    }
  }
  return { nodes, edges };
};
