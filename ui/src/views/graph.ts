/**
 * The Supernet-graph view: the model's graph from our IR, laid out by ELK's layered algorithm, choice nodes with
 * one edge per candidate. One-shot runs colour each candidate edge by its weight at the epoch picked on the slider
 * and highlight the architecture derived at that epoch; classic runs colour candidates by how often the trials
 * sampled them and highlight the picked trial's architecture. Clicking (or Enter on) a node shows its shape,
 * parameters and MACs.
 */
import ELK, { type ElkNode } from 'elkjs/lib/elk-api.js';
// ELK runs in a Web Worker (inlined, so a report file has it too): a big supernet lays out without freezing the page.
import ElkWorker from 'elkjs/lib/elk-worker.min.js?worker&inline';
import { activeSet, type GraphEdge, type GraphNode, type GraphView } from '../../../src/ui/graph-active.ts';
import type { RunDetail, Source } from '../api.ts';
import { count, h, pct, svg, viridis } from '../dom.ts';
import { runHref, setParams } from '../route.ts';

const CHAR = 6.6;
const NODE_H = 38;
const layouts = new Map<string, Promise<ElkNode>>();

const nodeText = (n: GraphNode): { title: string; sub: string } => ({
  title: n.choice !== null ? `${n.choice.type === 'layer' ? 'LayerChoice' : 'InputChoice'} ${n.choice.key}` : n.kind,
  sub: n.choice !== null ? `${n.choice.names.length} candidates` : n.kind === 'input' ? `[${n.shape.join('×')}]` : n.name,
});

const layout = (key: string, view: GraphView): Promise<ElkNode> => {
  let p = layouts.get(key);
  if (p === undefined) {
    const elk = new ELK({ workerFactory: () => new ElkWorker() });
    p = elk.layout({
      id: 'root',
      layoutOptions: {
        'elk.algorithm': 'layered',
        'elk.direction': 'DOWN',
        'elk.layered.spacing.nodeNodeBetweenLayers': '34',
        'elk.spacing.nodeNode': '22',
        'elk.spacing.edgeLabel': '4',
        'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF',
        'elk.edgeLabels.placement': 'CENTER',
      },
      children: view.nodes.map((n) => {
        const t = nodeText(n);
        return { id: n.id, width: Math.max(70, Math.max(t.title.length, t.sub.length) * CHAR + 18), height: NODE_H };
      }),
      edges: view.edges.map((e) => ({
        id: e.id,
        sources: [e.from],
        targets: [e.to],
        labels: e.choice === null ? [] : [{ id: `${e.id}/l`, text: e.choice.name, width: (e.choice.name.length + 9) * CHAR, height: 14 }],
      })),
    });
    layouts.set(key, p);
  }
  return p;
};

/** What the graph shows for one run at one moment: candidate weights, the architecture to highlight. */
interface Colouring {
  readonly caption: string;
  readonly weight: (key: string, index: number) => number | null;
  readonly arch: Readonly<Record<string, readonly number[]>>;
  readonly archLabel: string;
}

const nodeDetails = (n: GraphNode, c: Colouring, edges: readonly GraphEdge[]): HTMLElement => {
  const dl = h(
    'dl',
    { class: 'kv' },
    h('dt', {}, 'op'),
    h('dd', {}, n.kind),
    h('dt', {}, 'name'),
    h('dd', {}, h('code', {}, n.name === '' ? '—' : n.name)),
    h('dt', {}, 'output shape'),
    h('dd', {}, `[${n.shape.join(', ')}] per sample`),
    h('dt', {}, 'parameters'),
    h('dd', {}, count(n.params)),
    h('dt', {}, 'MACs'),
    h('dd', {}, count(n.macs)),
    n.attrs === '' ? null : [h('dt', {}, 'attributes'), h('dd', {}, h('code', {}, n.attrs))],
  );
  const parts: HTMLElement[] = [h('h3', {}, `${nodeText(n).title}`), dl];
  if (n.paramShapes.length > 0) parts.push(h('ul', { class: 'small' }, n.paramShapes.map((p) => h('li', {}, h('code', {}, p.path), ` [${p.shape.join(', ')}]`))));
  if (n.choice !== null) {
    const chosen = c.arch[n.choice.key] ?? [];
    parts.push(
      h(
        'table',
        { class: 'grid small', 'aria-label': `candidates of ${n.choice.key}` },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'candidate'), h('th', { scope: 'col' }, 'weight'), h('th', { scope: 'col' }, 'chosen'))),
        h(
          'tbody',
          {},
          edges
            .filter((e) => e.to === n.id && e.choice !== null)
            .map((e) => h('tr', {}, h('td', {}, e.choice!.name), h('td', { class: 'n' }, pct(c.weight(e.choice!.key, e.choice!.index))), h('td', {}, chosen.includes(e.choice!.index) ? '✓' : ''))),
        ),
      ),
    );
  }
  return h('div', {}, parts);
};

/** Draws the laid-out graph as SVG with the colouring; returns the element and a function that recolours it. */
const drawGraph = (view: GraphView, laid: ElkNode, onPick: (n: GraphNode) => void): { el: SVGSVGElement; paint: (c: Colouring) => void } => {
  const W = (laid.width ?? 400) + 20;
  const H = (laid.height ?? 400) + 20;
  const root = svg('svg', { viewBox: `-10 -10 ${W} ${H}`, width: W, height: H, class: 'graph', role: 'group', 'aria-label': `supernet graph, ${view.nodes.length} nodes` });
  const defs = svg('defs');
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse' });
  marker.append(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrowhead' }));
  defs.append(marker);
  root.append(defs);
  const byId = new Map(view.nodes.map((n) => [n.id, n]));
  const edgeEls = new Map<string, { path: SVGPathElement; label: SVGTextElement | null; e: GraphEdge }>();
  const gEdges = svg('g', { class: 'edges' });
  const gLabels = svg('g', { class: 'labels' });
  for (const le of laid.edges ?? []) {
    const e = view.edges.find((x) => x.id === le.id);
    if (e === undefined) continue;
    const s = le.sections?.[0];
    if (s === undefined) continue;
    const pts = [s.startPoint, ...(s.bendPoints ?? []), s.endPoint];
    const path = svg('path', { d: pts.map((p, i) => `${i === 0 ? 'M' : 'L'} ${p.x} ${p.y}`).join(' '), class: e.choice === null ? 'edge' : 'edge cand', 'marker-end': 'url(#arrow)' });
    const title = svg('title');
    title.textContent = e.choice === null ? `${byId.get(e.from)?.name ?? ''} → ${byId.get(e.to)?.name ?? ''}` : `candidate ${e.choice.name} of ${e.choice.key}`;
    path.append(title);
    gEdges.append(path);
    let label: SVGTextElement | null = null;
    const ll = le.labels?.[0];
    if (e.choice !== null && ll !== undefined) {
      label = svg('text', { x: (ll.x ?? 0) + (ll.width ?? 0) / 2, y: (ll.y ?? 0) + 11, class: 'edge-label', 'text-anchor': 'middle', 'data-key': e.choice.key, 'data-name': e.choice.name });
      gLabels.append(label);
    }
    edgeEls.set(e.id, { path, label, e });
  }
  const nodeEls = new Map<string, SVGGElement>();
  const gNodes = svg('g', { class: 'nodes' });
  for (const ln of laid.children ?? []) {
    const n = byId.get(ln.id);
    if (n === undefined) continue;
    const t = nodeText(n);
    const g = svg('g', { class: `node k-${n.kind}${n.choice !== null ? ' choice' : ''}`, transform: `translate(${ln.x ?? 0} ${ln.y ?? 0})`, tabindex: 0, role: 'button', 'data-id': n.id, 'aria-label': `${t.title} ${t.sub}, output [${n.shape.join(', ')}], ${n.params} parameters` });
    g.append(svg('rect', { width: ln.width ?? 80, height: ln.height ?? NODE_H, rx: 6 }));
    const t1 = svg('text', { x: 8, y: 15, class: 'title' });
    t1.textContent = t.title;
    const t2 = svg('text', { x: 8, y: 30, class: 'sub' });
    t2.textContent = t.sub;
    g.append(t1, t2);
    g.addEventListener('click', () => onPick(n));
    g.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        onPick(n);
      }
    });
    gNodes.append(g);
    nodeEls.set(n.id, g);
  }
  root.append(gEdges, gNodes, gLabels);
  const paint = (c: Colouring): void => {
    const act = activeSet(view, c.arch);
    for (const [id, g] of nodeEls) g.classList.toggle('off', !act.nodes.has(id));
    // Per choice, the weights' range, so the colour tells the candidates of one decision apart.
    const range = new Map<string, [number, number]>();
    for (const { e } of edgeEls.values()) {
      if (e.choice === null) continue;
      const w = c.weight(e.choice.key, e.choice.index);
      if (w === null) continue;
      const r = range.get(e.choice.key) ?? [Infinity, -Infinity];
      range.set(e.choice.key, [Math.min(r[0], w), Math.max(r[1], w)]);
    }
    for (const { path, label, e } of edgeEls.values()) {
      const on = act.edges.has(e.id);
      path.classList.toggle('off', !on);
      if (e.choice === null) continue;
      const w = c.weight(e.choice.key, e.choice.index);
      const r = range.get(e.choice.key);
      const t = w === null || r === undefined ? 0 : r[1] === r[0] ? 1 : (w - r[0]) / (r[1] - r[0]);
      path.style.stroke = w === null ? '' : viridis(0.15 + 0.85 * t);
      path.style.strokeWidth = w === null ? '' : String(1.2 + 5 * w);
      path.classList.toggle('chosen', on);
      if (label !== null) {
        label.textContent = `${on ? '✓ ' : ''}${e.choice.name}${w === null ? '' : ` ${(w * 100).toFixed(1)}%`}`;
        label.classList.toggle('chosen', on);
      }
    }
  };
  return { el: root, paint };
};

/** The legend and summary of what is highlighted. */
const archSummary = (view: GraphView, c: Colouring): HTMLElement => {
  const act = activeSet(view, c.arch);
  const nodes = view.nodes.filter((n) => act.nodes.has(n.id));
  const seen = new Set<string>();
  // A key shared by several choice nodes (one decision in many cells) is listed once.
  const choices = view.nodes.filter((n) => n.choice !== null && act.nodes.has(n.id) && !seen.has(n.choice.key) && seen.add(n.choice.key) !== undefined);
  return h(
    'div',
    { class: 'arch-summary', id: 'arch-summary' },
    h('h3', {}, c.archLabel),
    h(
      'ul',
      { class: 'arch' },
      choices.map((n) => {
        const chosen = c.arch[n.choice!.key];
        const names = chosen === undefined ? 'every candidate' : chosen.map((i) => n.choice!.names[i] ?? String(i)).join(', ') || '(none)';
        return h('li', { 'data-key': n.choice!.key }, h('span', { class: 'k' }, n.choice!.key), ' ', h('b', { class: 'v' }, names));
      }),
    ),
    h('p', { class: 'small muted' }, `${nodes.length} of ${view.nodes.length} nodes compute · ${count(nodes.reduce((s, n) => s + n.params, 0))} parameters · ${count(nodes.reduce((s, n) => s + n.macs, 0), true)} MACs per sample`),
    h('p', { class: 'small muted' }, c.caption),
  );
};

/** The Supernet-graph view of a run. */
export const graphViewEl = async (source: Source, id: string, d: RunDetail, params: URLSearchParams): Promise<HTMLElement> => {
  const answer = await source.graph(id);
  const sec = h('section', { 'aria-labelledby': 'graph-title' }, h('h2', { id: 'graph-title' }, 'Supernet graph'));
  if ('error' in answer) {
    sec.append(h('p', { class: 'warn', role: 'alert' }, `No graph: ${answer.error}`));
    return sec;
  }
  const view = answer.graph;
  const controls = h('div', { class: 'controls' });
  const side = h('aside', { class: 'side', 'aria-label': 'details' });
  const details = h('div', { class: 'node-details', 'aria-live': 'polite' }, h('p', { class: 'muted small' }, 'Click a node (or focus it and press Enter) for its shape, parameters and MACs.'));
  const canvas = h('div', { class: 'graph-box', tabindex: 0, 'aria-label': 'graph drawing, scrollable' }, h('p', { class: 'muted' }, 'Laying out…'));
  sec.append(controls, h('div', { class: 'graph-layout' }, canvas, side));

  let colouring: Colouring;
  const colourings: (() => Colouring)[] = [];
  if (d.weights !== null && d.weights.epochs.length > 0) {
    const w = d.weights;
    const last = w.epochs.length - 1;
    const asked = params.has('epoch') ? Number(params.get('epoch')) : NaN;
    let at = Number.isInteger(asked) && w.epochs.includes(asked) ? w.epochs.indexOf(asked) : last;
    const byKey = new Map(w.keys.map((k) => [k.key, k]));
    const make = (): Colouring => ({
      caption: `Edge colour: the candidate's weight (softmax α, sampling probability or gate) at epoch ${w.epochs[at]}, brightest = largest of its choice; width: the weight itself.`,
      weight: (key, i) => byKey.get(key)?.series[i]?.[at] ?? null,
      arch: Object.fromEntries(w.keys.map((k) => [k.key, k.chosen[at] ?? []])),
      archLabel: `Derived architecture at epoch ${w.epochs[at]}${w.metrics['validAccuracy']?.[at] != null ? ` · validation ${pct(w.metrics['validAccuracy'][at])}` : ''}`,
    });
    colourings.push(make);
    const out = h('output', { id: 'epoch-out' }, `epoch ${w.epochs[at]} of ${w.epochs.at(-1)}`);
    const slider = h('input', {
      type: 'range',
      id: 'epoch',
      min: 0,
      max: last,
      step: 1,
      value: at,
      'aria-label': 'epoch',
      'aria-valuetext': `epoch ${w.epochs[at]}`,
      oninput: (e: Event) => {
        at = Number((e.target as HTMLInputElement).value);
        out.textContent = `epoch ${w.epochs[at]} of ${w.epochs.at(-1)}`;
        (e.target as HTMLInputElement).setAttribute('aria-valuetext', `epoch ${w.epochs[at]}`);
        setParams({ epoch: w.epochs[at] });
        repaint();
      },
    });
    controls.append(h('label', { for: 'epoch' }, 'Epoch '), slider, ' ', out);
  } else if (d.trials !== null && d.trials.rows.length > 0) {
    const t = d.trials;
    const rows = t.rows;
    const best = [...rows].filter((r) => r.value !== null).sort((a, b) => (t.direction === 'maximize' ? (b.value ?? 0) - (a.value ?? 0) : (a.value ?? 0) - (b.value ?? 0)))[0] ?? rows[0]!;
    const asked = params.has('trial') ? Number(params.get('trial')) : NaN;
    let trial = rows.find((r) => r.id === asked) ?? best;
    const freq = (key: string, i: number): number | null => {
      const withKey = rows.filter((r) => r.arch[key] !== undefined);
      return withKey.length === 0 ? null : withKey.filter((r) => r.arch[key]!.includes(i)).length / withKey.length;
    };
    const make = (): Colouring => ({
      caption: `Edge colour and label: the share of the ${rows.length} trials that sampled the candidate.`,
      weight: freq,
      arch: trial.arch,
      archLabel: `Trial ${trial.id}${trial.id === best.id ? ' (best)' : ''} · ${trial.status} · ${pct(trial.value)}`,
    });
    colourings.push(make);
    const select = h(
      'select',
      {
        id: 'trial',
        'aria-label': 'trial whose architecture is highlighted',
        onchange: (e: Event) => {
          trial = rows.find((r) => r.id === Number((e.target as HTMLSelectElement).value)) ?? best;
          setParams({ trial: trial.id });
          repaint();
        },
      },
      rows.map((r) => h('option', { value: r.id, selected: r.id === trial.id }, `trial ${r.id} · ${r.status} · ${pct(r.value)}${r.id === best.id ? ' (best)' : ''}`)),
    );
    controls.append(h('label', { for: 'trial' }, 'Architecture of '), select);
  } else {
    colourings.push(() => ({ caption: 'No weights or trials recorded yet: every candidate is drawn.', weight: () => null, arch: {}, archLabel: 'No architecture yet' }));
  }
  colouring = colourings[0]!();
  const summaryBox = h('div', {}, archSummary(view, colouring));
  side.append(summaryBox, details);

  let painter: ((c: Colouring) => void) | null = null;
  let picked: GraphNode | null = null;
  const repaint = (): void => {
    colouring = colourings[0]!();
    painter?.(colouring);
    summaryBox.replaceChildren(archSummary(view, colouring));
    if (picked !== null) details.replaceChildren(nodeDetails(picked, colouring, view.edges));
  };
  const pick = (n: GraphNode): void => {
    picked = n;
    details.replaceChildren(nodeDetails(n, colouring, view.edges));
    canvas.querySelectorAll('.node.picked').forEach((x) => x.classList.remove('picked'));
    canvas.querySelector(`.node[data-id="${n.id}"]`)?.classList.add('picked');
  };
  let zoom = 1;
  const zoomTo = (z: number): void => {
    zoom = Math.min(2, Math.max(0.05, z));
    const el = canvas.querySelector('svg');
    if (el !== null) {
      const [, , w, hh] = (el.getAttribute('viewBox') ?? '0 0 1 1').split(' ').map(Number);
      el.setAttribute('width', String((w ?? 1) * zoom));
      el.setAttribute('height', String((hh ?? 1) * zoom));
    }
  };
  controls.append(
    h('span', { class: 'spacer' }),
    h('button', { type: 'button', 'aria-label': 'zoom out', onclick: () => zoomTo(zoom / 1.25) }, '−'),
    h('button', { type: 'button', 'aria-label': 'zoom in', onclick: () => zoomTo(zoom * 1.25) }, '+'),
    h('button', { type: 'button', 'aria-label': 'zoom to 100%', onclick: () => zoomTo(1) }, '1:1'),
    h('button', { type: 'button', 'aria-label': 'zoom to fit the width', onclick: () => zoomTo((canvas.clientWidth - 20) / ((laid.width ?? 1) + 20)) }, 'fit'),
  );
  const laid = await layout(`${id}:${view.nodes.length}:${view.edges.length}`, view);
  const drawn = drawGraph(view, laid, pick);
  painter = drawn.paint;
  painter(colouring);
  canvas.replaceChildren(drawn.el);
  // A wide graph: start with its input in view, not its empty top-left corner.
  const input = laid.children?.find((c) => view.nodes.find((n) => n.id === c.id)?.kind === 'input');
  if (input !== undefined) requestAnimationFrame(() => (canvas.scrollLeft = Math.max(0, (input.x ?? 0) + (input.width ?? 0) / 2 - canvas.clientWidth / 2)));
  sec.append(h('p', { class: 'small muted' }, 'Shapes are per sample. ', d.trials !== null ? h('a', { href: runHref(id, 'trials') }, 'All trials') : h('a', { href: runHref(id, 'weights') }, 'Weights over time')));
  return sec;
};
