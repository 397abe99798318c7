/**
 * The Trials view (classic): a sortable, filterable grid of every trial (architecture, value, duration, status,
 * error; trials in flight too), the optimization history with the running best, each trial's intermediate curve
 * (objective per epoch) and parallel coordinates over the decisions coloured by the objective.
 */
import type { TrialRow } from '../../../src/ui/view-model.ts';
import type { RunDetail } from '../api.ts';
import { lineChart, parallelChart } from '../charts.ts';
import { count, duration, h, pct } from '../dom.ts';
import { runHref, setParams } from '../route.ts';

type Col = { readonly key: string; readonly label: string; readonly get: (r: TrialRow) => string | number | null; readonly show: (r: TrialRow) => string | HTMLElement; readonly num?: boolean };

/** The view. */
export const trialsViewEl = (id: string, d: RunDetail, params: URLSearchParams): HTMLElement => {
  const sec = h('section', { 'aria-labelledby': 't-title' }, h('h2', { id: 't-title' }, 'Trials'));
  const t = d.trials;
  if (t === null) {
    sec.append(h('p', {}, 'This is a one-shot search: one supernet is trained, there are no trials. See ', h('a', { href: runHref(id, 'weights') }, 'Architecture weights'), '.'));
    return sec;
  }
  const cols: Col[] = [
    { key: 'id', label: '#', get: (r) => r.id, show: (r) => h('a', { href: runHref(id, 'graph', { trial: r.id }), 'aria-label': `trial ${r.id} in the graph` }, String(r.id)), num: true },
    { key: 'status', label: 'status', get: (r) => r.status, show: (r) => h('span', { class: `badge ${r.status}` }, r.status) },
    { key: 'value', label: t.direction === 'maximize' ? 'value ↑' : 'value ↓', get: (r) => r.value, show: (r) => pct(r.value), num: true },
    ...t.decisions.map((dec): Col => ({ key: `a:${dec.key}`, label: dec.key, get: (r) => r.architecture[dec.key] ?? null, show: (r) => r.architecture[dec.key] ?? '—' })),
    { key: 'params', label: 'params', get: (r) => r.params, show: (r) => count(r.params), num: true },
    { key: 'macs', label: 'MACs', get: (r) => r.macs, show: (r) => count(r.macs, true), num: true },
    { key: 'duration', label: 'duration', get: (r) => r.durationMs, show: (r) => duration(r.durationMs === null ? null : r.durationMs / 1000), num: true },
    { key: 'error', label: 'error', get: (r) => r.error, show: (r) => (r.error === null ? '' : h('span', { class: 'err', title: r.error }, r.error)) },
  ];
  let sort = cols.find((c) => c.key === params.get('sort')) ?? cols[0]!;
  let dir: 1 | -1 = params.get('dir') === 'desc' ? -1 : 1;
  let q = params.get('q') ?? '';
  let status = params.get('status') ?? '';

  const shown = h('p', { id: 'trial-count', class: 'small', 'aria-live': 'polite' });
  const tbody = h('tbody');
  const headRow = h('tr');
  const text = (r: TrialRow): string => cols.map((c) => String(c.get(r) ?? '')).join(' ').toLowerCase();
  const fill = (): void => {
    const terms = q.toLowerCase().split(/\s+/).filter((s) => s !== '');
    const rows = t.rows.filter((r) => (status === '' || r.status === status) && terms.every((s) => text(r).includes(s)));
    const cmp = (a: TrialRow, b: TrialRow): number => {
      const x = sort.get(a);
      const y = sort.get(b);
      if (x === y) return a.id - b.id;
      if (x === null) return 1; // no value last, either direction
      if (y === null) return -1;
      return (typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y))) * dir;
    };
    rows.sort(cmp);
    tbody.replaceChildren(...rows.map((r) => h('tr', { class: `trial ${r.status}`, 'data-trial': r.id }, cols.map((c) => h(c.key === 'id' ? 'th' : 'td', { class: c.num ? 'n' : '', ...(c.key === 'id' ? { scope: 'row' } : {}) }, c.show(r))))));
    shown.textContent = `Showing ${rows.length} of ${t.rows.length} trials${t.rows.some((r) => r.status === 'running') ? ` (${t.rows.filter((r) => r.status === 'running').length} running)` : ''}.`;
    headRow.replaceChildren(
      ...cols.map((c) =>
        h(
          'th',
          { scope: 'col', 'aria-sort': c === sort ? (dir === 1 ? 'ascending' : 'descending') : 'none', class: c.num ? 'n' : '' },
          h(
            'button',
            {
              type: 'button',
              class: 'sort',
              'aria-label': `sort by ${c.label}`,
              onclick: () => {
                if (sort === c) dir = dir === 1 ? -1 : 1;
                else {
                  sort = c;
                  dir = c.key === 'value' && t.direction === 'maximize' ? -1 : 1;
                }
                setParams({ sort: sort.key, dir: dir === 1 ? undefined : 'desc' });
                fill();
              },
            },
            c.label,
            c === sort ? (dir === 1 ? ' ▲' : ' ▼') : '',
          ),
        ),
      ),
    );
  };
  const statuses = [...new Set(t.rows.map((r) => r.status))];
  sec.append(
    h(
      'div',
      { class: 'controls' },
      h('label', { for: 'trial-filter' }, 'Filter '),
      h('input', {
        id: 'trial-filter',
        type: 'search',
        value: q,
        placeholder: 'e.g. conv5x5 mlp',
        'aria-label': 'filter trials by any text in the row',
        oninput: (e: Event) => {
          q = (e.target as HTMLInputElement).value;
          setParams({ q });
          fill();
        },
      }),
      h('label', { for: 'trial-status' }, ' Status '),
      h(
        'select',
        {
          id: 'trial-status',
          'aria-label': 'show trials of status',
          onchange: (e: Event) => {
            status = (e.target as HTMLSelectElement).value;
            setParams({ status });
            fill();
          },
        },
        h('option', { value: '' }, 'any'),
        statuses.map((s) => h('option', { value: s, selected: s === status }, s)),
      ),
    ),
    shown,
    h('div', { class: 'scroll tall' }, h('table', { class: 'grid', id: 'trials', 'aria-label': 'trials' }, h('thead', {}, headRow), tbody)),
  );
  fill();

  const charts = h('div', { class: 'charts two' });
  sec.append(charts);
  const hist = t.history;
  if (hist.length > 0) {
    const best = hist.at(-1)!.best;
    lineChart(charts, {
      title: 'Optimization history',
      description: `objective of each finished trial by trial number, and the best so far; best ${pct(best)} after ${hist.length} trials`,
      xLabel: 'trial',
      yLabel: 'objective',
      x: hist.map((p) => p.id),
      lines: [
        { label: 'objective', values: hist.map((p) => p.value), pointsOnly: true },
        { label: 'best so far', values: hist.map((p) => p.best), stepped: true },
      ],
      format: (v) => pct(v),
    });
  }
  const withCurve = t.rows.filter((r) => r.curve.length > 0);
  if (withCurve.length > 0) {
    const epochs = [...new Set(withCurve.flatMap((r) => r.curve.map((c) => c.epoch)))].sort((a, b) => a - b);
    lineChart(charts, {
      title: 'Intermediate values',
      description: `objective after each epoch of ${withCurve.length} trials`,
      xLabel: 'epoch',
      yLabel: 'objective',
      x: epochs,
      lines: withCurve.map((r) => ({ label: `trial ${r.id}`, values: epochs.map((e) => r.curve.find((c) => c.epoch === e)?.value ?? null), width: 1.5 })),
      noLegend: withCurve.length > 12,
      format: (v) => pct(v),
    });
  }
  const done = t.rows.filter((r) => r.status !== 'running');
  if (t.axes.length > 0 && done.length > 0) {
    parallelChart(sec, {
      title: 'Parallel coordinates',
      description: `each of ${done.length} trials as a line through its choice for every decision, ending at its objective; colour: objective (bright = high)`,
      axes: t.axes,
      valueLabel: 'objective',
      items: done.map((r) => ({ label: `trial ${r.id}`, cats: t.axes.map((a) => r.architecture[a.key]), value: r.value })),
    });
  }
  return sec;
};
