/**
 * Charts, drawn by uPlot: line charts, scatter + running best, a stacked area and parallel coordinates. Every chart
 * is a `<figure>` with a caption and an aria-label that says what it shows, and a "data" disclosure holding the
 * same numbers as a table, so a screen reader user gets the values, not a picture.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { colorAt, cssVar, h, num, viridis } from './dom.ts';

/** One line of a chart. */
export interface Line {
  readonly label: string;
  readonly values: readonly (number | null)[];
  readonly color?: string;
  /** Points only, no line (a scatter). */
  readonly pointsOnly?: boolean;
  /** A step line (a running best). */
  readonly stepped?: boolean;
  readonly dash?: boolean;
  readonly width?: number;
}

/** A chart's description. */
export interface ChartSpec {
  readonly title: string;
  /** What the chart shows, for the aria-label (the title when absent). */
  readonly description?: string;
  readonly xLabel: string;
  readonly yLabel?: string;
  readonly x: readonly number[];
  readonly lines: readonly Line[];
  readonly height?: number;
  readonly yRange?: readonly [number, number];
  /** No legend (many lines); the data table still lists them. */
  readonly noLegend?: boolean;
  /** Hide the data table (charts with many lines). */
  readonly noTable?: boolean;
  /** Formats a legend / table value. */
  readonly format?: (v: number | null) => string;
}

/** Tick steps for integer axes (trials, epochs): no 1.5th epoch. */
const INT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];

const charts = new Set<uPlot>();
const observer = new ResizeObserver((entries) => {
  for (const e of entries) {
    for (const u of charts) {
      if (u.root.parentElement === e.target) {
        const w = Math.floor(e.contentRect.width);
        if (w > 0 && Math.abs(w - u.width) > 2) u.setSize({ width: w, height: u.height });
      }
    }
  }
});

/** Destroys every chart whose element left the document (after a view is replaced). */
export const sweepCharts = (): void => {
  for (const u of [...charts]) {
    if (!u.root.isConnected) {
      observer.unobserve(u.root.parentElement ?? u.root);
      u.destroy();
      charts.delete(u);
    }
  }
};

const axisColors = (): Partial<uPlot.Axis> => {
  const fg = cssVar('--muted') || '#666';
  const grid = cssVar('--grid') || '#ddd';
  return { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
};

/** The figure around a chart: caption, the plot's box (role img) and the data table disclosure. */
const figure = (spec: ChartSpec, rows: readonly string[][] | null, head: readonly string[]): { fig: HTMLElement; box: HTMLElement } => {
  const box = h('div', { class: 'plot', role: 'img', 'aria-label': spec.description ?? spec.title });
  const fig = h('figure', { class: 'chart' }, h('figcaption', {}, spec.title), box);
  if (rows !== null && !spec.noTable) {
    fig.append(
      h(
        'details',
        { class: 'data' },
        h('summary', {}, 'data'),
        h('table', { class: 'grid small' }, h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col' }, c)))), h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c)))))),
      ),
    );
  }
  return { fig, box };
};

const mount = (box: HTMLElement, opts: Omit<uPlot.Options, 'width'>, data: uPlot.AlignedData): uPlot => {
  const width = Math.max(280, Math.floor(box.clientWidth || box.parentElement?.clientWidth || 600));
  const u = new uPlot({ ...opts, width } as uPlot.Options, data, box);
  charts.add(u);
  observer.observe(box);
  return u;
};

/**
 * Appends a line (or scatter) chart to `parent`; the figure must be in the document for its width, so the
 * chart is mounted after appending.
 */
export const lineChart = (parent: HTMLElement, spec: ChartSpec): HTMLElement => {
  const fmt = spec.format ?? ((v: number | null) => num(v));
  const rows = spec.x.map((x, i) => [num(x), ...spec.lines.map((l) => fmt(l.values[i] ?? null))]);
  const { fig, box } = figure(spec, rows, [spec.xLabel, ...spec.lines.map((l) => l.label)]);
  parent.append(fig);
  const ax = axisColors();
  const series: uPlot.Series[] = [
    { label: spec.xLabel },
    ...spec.lines.map((l, i): uPlot.Series => {
      const color = l.color ?? colorAt(i);
      const s: uPlot.Series = {
        label: l.label,
        stroke: color,
        width: l.width ?? 2,
        spanGaps: true,
        value: (_u, v) => fmt(v),
        points: { show: l.pointsOnly === true || spec.x.length <= 30, size: l.pointsOnly === true ? 7 : 5, fill: color },
      };
      if (l.pointsOnly === true) s.paths = () => null;
      if (l.stepped === true) s.paths = uPlot.paths.stepped!({ align: 1 });
      if (l.dash === true) s.dash = [6, 4];
      return s;
    }),
  ];
  mount(
    box,
    {
      height: spec.height ?? 220,
      legend: { show: spec.noLegend !== true },
      scales: { x: { time: false }, ...(spec.yRange ? { y: { range: [spec.yRange[0], spec.yRange[1]] } } : {}) },
      axes: [
        { ...ax, label: spec.xLabel, ...(spec.x.every((v) => Number.isInteger(v)) ? { incrs: INT_INCRS } : {}) },
        { ...ax, label: spec.yLabel ?? '', size: 56 },
      ],
      series,
      ...(spec.noLegend === true ? { focus: { alpha: 0.25 }, cursor: { focus: { prox: 16 } } } : {}),
    },
    [spec.x as number[], ...spec.lines.map((l) => l.values.map((v) => v ?? null) as (number | null)[])] as uPlot.AlignedData,
  );
  return fig;
};

/**
 * A stacked area: each candidate's share per x (they sum to 1), drawn as cumulative series from the top down, so
 * each band is one candidate. The legend and the table show each candidate's own value.
 */
export const stackedChart = (parent: HTMLElement, spec: { title: string; description: string; xLabel: string; x: readonly number[]; names: readonly string[]; values: readonly (readonly (number | null)[])[]; height?: number }): HTMLElement => {
  const rows = spec.x.map((x, i) => [num(x), ...spec.values.map((v) => num(v[i] ?? null, 3))]);
  const { fig, box } = figure({ title: spec.title, description: spec.description, xLabel: spec.xLabel, x: spec.x, lines: [] }, rows, [spec.xLabel, ...spec.names]);
  parent.append(fig);
  const n = spec.names.length;
  const cum: number[][] = [];
  for (let c = 0; c < n; c++) cum.push(spec.x.map((_, i) => (cum[c - 1]?.[i] ?? 0) + (spec.values[c]?.[i] ?? 0)));
  const order = [...Array(n).keys()].reverse(); // top band first: later fills cover the lower part
  const ax = axisColors();
  mount(
    box,
    {
      height: spec.height ?? 200,
      scales: { x: { time: false }, y: { range: [0, Math.max(1, ...cum.at(-1) ?? [1])] } },
      axes: [
        { ...ax, label: spec.xLabel, incrs: INT_INCRS },
        { ...ax, label: 'weight', size: 48 },
      ],
      series: [
        { label: spec.xLabel },
        ...order.map(
          (c): uPlot.Series => ({
            label: spec.names[c] ?? String(c),
            stroke: colorAt(c),
            fill: colorAt(c),
            width: 1,
            points: { show: false },
            value: (_u, _v, _si, idx) => (idx === null || idx === undefined ? '—' : num(spec.values[c]?.[idx] ?? null, 3)),
          }),
        ),
      ],
    },
    [spec.x as number[], ...order.map((c) => cum[c]!)] as uPlot.AlignedData,
  );
  return fig;
};

/** Parallel coordinates: one polyline per item across categorical axes and a last numeric axis, coloured by it. */
export const parallelChart = (
  parent: HTMLElement,
  spec: { title: string; description: string; axes: readonly { key: string; categories: readonly string[] }[]; valueLabel: string; items: readonly { label: string; cats: readonly (string | undefined)[]; value: number | null }[]; height?: number },
): HTMLElement => {
  const rows = spec.items.map((it) => [it.label, ...it.cats.map((c) => c ?? '—'), num(it.value)]);
  const { fig, box } = figure({ title: spec.title, description: spec.description, xLabel: '', x: [], lines: [] }, rows, ['trial', ...spec.axes.map((a) => a.key), spec.valueLabel]);
  parent.append(fig);
  const vals = spec.items.map((i) => i.value).filter((v): v is number => v !== null);
  const lo = vals.length > 0 ? Math.min(...vals) : 0;
  const hi = vals.length > 0 ? Math.max(...vals) : 1;
  const norm = (v: number | null): number | null => (v === null ? null : hi === lo ? 0.5 : (v - lo) / (hi - lo));
  const pos = (a: { categories: readonly string[] }, c: string | undefined): number | null => {
    if (c === undefined) return null;
    const i = a.categories.indexOf(c);
    return i < 0 ? null : a.categories.length === 1 ? 0.5 : i / (a.categories.length - 1);
  };
  const labels = [...spec.axes.map((a) => a.key), spec.valueLabel];
  const x = labels.map((_, i) => i);
  const fg = cssVar('--fg') || '#222';
  const muted = cssVar('--muted') || '#666';
  const ax = axisColors();
  const drawAxes = (u: uPlot): void => {
    const ctx = u.ctx;
    const dpr = devicePixelRatio;
    ctx.save();
    ctx.font = `${11 * dpr}px system-ui, sans-serif`;
    ctx.textBaseline = 'middle';
    labels.forEach((_, i) => {
      const px = u.valToPos(i, 'x', true);
      ctx.strokeStyle = muted;
      ctx.lineWidth = dpr;
      ctx.beginPath();
      ctx.moveTo(px, u.valToPos(0, 'y', true));
      ctx.lineTo(px, u.valToPos(1, 'y', true));
      ctx.stroke();
      const ticks: [number, string][] =
        i < spec.axes.length ? spec.axes[i]!.categories.map((c, k, all) => [all.length === 1 ? 0.5 : k / (all.length - 1), c]) : [[0, num(lo, 3)], [1, num(hi, 3)]];
      ctx.fillStyle = fg;
      ctx.textAlign = i === labels.length - 1 ? 'right' : 'left';
      for (const [t, text] of ticks) ctx.fillText(text, px + (i === labels.length - 1 ? -4 : 4) * dpr, u.valToPos(t, 'y', true));
    });
    ctx.restore();
  };
  mount(
    box,
    {
      height: spec.height ?? 260,
      legend: { show: false },
      padding: [16, 24, 0, 24],
      scales: { x: { time: false, range: [-0.05, labels.length - 0.95] }, y: { range: [-0.05, 1.05] } },
      axes: [
        { ...ax, grid: { show: false }, splits: () => x, values: () => labels, label: '' },
        { show: false },
      ],
      cursor: { show: true, focus: { prox: 12 }, points: { show: false } },
      focus: { alpha: 0.2 },
      hooks: { draw: [drawAxes] },
      series: [
        { label: 'axis' },
        ...spec.items.map((it): uPlot.Series => ({ label: it.label, stroke: it.value === null ? muted : viridis(norm(it.value) ?? 0), width: 1.5, points: { show: false } })),
      ],
    },
    [x, ...spec.items.map((it) => [...spec.axes.map((a, i) => pos(a, it.cats[i])), norm(it.value)])] as uPlot.AlignedData,
  );
  return fig;
};
