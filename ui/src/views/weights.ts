/**
 * The Architecture-weights view (one-shot): the derived architecture's shared-weight validation accuracy per
 * epoch, how decided each choice is (normalised entropy), and per decision its distribution over the candidates
 * per epoch as a stacked area and as a heat map table with the derived choice marked.
 */
import type { RunDetail } from '../api.ts';
import { lineChart, stackedChart } from '../charts.ts';
import { colorAt, h, num, pct } from '../dom.ts';
import { runHref } from '../route.ts';

const entropy = (ps: readonly (number | null)[]): number | null => {
  const xs = ps.filter((p): p is number => p !== null && p > 0);
  if (xs.length === 0 || ps.length < 2) return null;
  const s = xs.reduce((a, b) => a + b, 0);
  return -xs.reduce((a, p) => a + (p / s) * Math.log(p / s), 0) / Math.log(ps.length);
};

/** The view. */
export const weightsViewEl = (id: string, d: RunDetail): HTMLElement => {
  const sec = h('section', { 'aria-labelledby': 'w-title' }, h('h2', { id: 'w-title' }, 'Architecture weights over time'));
  const w = d.weights;
  if (w === null) {
    sec.append(h('p', {}, 'This is a classic search: each trial trains one architecture, there are no architecture weights. See ', h('a', { href: runHref(id, 'trials') }, 'Trials'), '.'));
    return sec;
  }
  if (w.epochs.length === 0) {
    sec.append(h('p', {}, 'No epoch recorded yet (history.json appears after the first search epoch).'));
    return sec;
  }
  const charts = h('div', { class: 'charts two' });
  sec.append(charts);
  const acc = w.metrics['validAccuracy'];
  const metricLines = [
    ...(acc ? [{ label: 'derived arch · validation accuracy', values: acc }] : []),
    ...(w.metrics['trainAccuracy'] ? [{ label: 'supernet · train accuracy', values: w.metrics['trainAccuracy'], dash: true }] : []),
  ];
  if (metricLines.length > 0)
    lineChart(charts, {
      title: "Derived architecture's accuracy (shared weights)",
      description: `validation accuracy of the architecture derived after each epoch, evaluated with the supernet's shared weights; last: ${pct(acc?.at(-1) ?? null)}`,
      xLabel: 'epoch',
      yLabel: 'accuracy',
      x: w.epochs,
      lines: metricLines,
      format: (v) => pct(v),
    });
  lineChart(charts, {
    title: 'How decided each choice is',
    description: 'normalised entropy of each decision’s distribution per epoch: 1 is uniform (undecided), 0 is one candidate',
    xLabel: 'epoch',
    yLabel: 'entropy',
    x: w.epochs,
    yRange: [0, 1],
    lines: w.keys.map((k) => ({ label: k.key, values: w.epochs.map((_, e) => entropy(k.series.map((s) => s[e] ?? null))) })),
    format: (v) => num(v, 3),
  });
  for (const k of w.keys) {
    const last = k.series.map((s) => s.at(-1) ?? null);
    const lastChosen = k.chosen.at(-1) ?? [];
    const box = h('section', { class: 'decision', 'data-key': k.key, 'aria-labelledby': `k-${k.key}` });
    box.append(h('h3', { id: `k-${k.key}` }, k.key, ' ', h('span', { class: 'muted small' }, `derived: ${lastChosen.map((i) => k.names[i] ?? i).join(', ') || '(none)'}`)));
    sec.append(box);
    const row = h('div', { class: 'charts two' });
    box.append(row);
    stackedChart(row, {
      title: `${k.key}: distribution per epoch`,
      description: `stacked area of ${k.key}'s weight per candidate per epoch; at the last epoch ${k.names.map((n, i) => `${n} ${pct(last[i] ?? null)}`).join(', ')}`,
      xLabel: 'epoch',
      x: k.epochs,
      names: k.names,
      values: k.series,
    });
    const max = Math.max(1e-9, ...k.series.flat().filter((v): v is number => v !== null));
    row.append(
      h(
        'figure',
        { class: 'chart heat' },
        h('figcaption', {}, `${k.key}: heat map (✓ derived)`),
        h(
          'div',
          { class: 'scroll' },
          h(
            'table',
            { class: 'heat', 'aria-label': `${k.key}: weight of each candidate per epoch; a check mark is the derived choice` },
            h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'candidate'), k.epochs.map((e) => h('th', { scope: 'col' }, String(e))))),
            h(
              'tbody',
              {},
              k.names.map((n, c) =>
                h(
                  'tr',
                  {},
                  h('th', { scope: 'row' }, h('span', { class: 'swatch', style: `background:${colorAt(c)}` }), n),
                  k.epochs.map((_, e) => {
                    const v = k.series[c]?.[e] ?? null;
                    const on = (k.chosen[e] ?? []).includes(c);
                    return h('td', { class: on ? 'on' : '', style: `--w:${v === null ? 0 : (v / max).toFixed(3)}`, title: `${n} @ epoch ${k.epochs[e]}: ${pct(v)}` }, `${on ? '✓' : ''}${v === null ? '—' : (v * 100).toFixed(1)}`);
                  }),
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }
  return sec;
};
