/** The Experiments view (every run: model, strategy, status, best, elapsed) and the side-by-side comparison. */
import type { RunSummary } from '../../../src/ui/view-model.ts';
import type { RunDetail, Source } from '../api.ts';
import { lineChart } from '../charts.ts';
import { duration, h, pct } from '../dom.ts';
import { runHref } from '../route.ts';

/** The status as a badge (text, not only colour). */
export const statusBadge = (s: RunSummary['status']): HTMLElement => h('span', { class: `badge ${s}` }, s);

const defaultTab = (r: RunSummary): 'trials' | 'weights' => (r.kind === 'classic' ? 'trials' : 'weights');

/** The runs table with two-run selection for comparing. */
export const experimentsView = async (source: Source): Promise<HTMLElement> => {
  const list = await source.runs();
  const picked: string[] = [];
  const compare = h('a', { class: 'button disabled', href: '#/compare', 'aria-disabled': 'true' }, 'Compare selected (pick two)');
  const update = (): void => {
    const ok = picked.length === 2;
    compare.className = ok ? 'button' : 'button disabled';
    compare.setAttribute('aria-disabled', String(!ok));
    compare.setAttribute('href', ok ? `#/compare?a=${encodeURIComponent(picked[0]!)}&b=${encodeURIComponent(picked[1]!)}` : '#/compare');
    compare.textContent = ok ? `Compare ${picked[0]} with ${picked[1]}` : `Compare selected (pick two; ${picked.length} picked)`;
  };
  const rows = list.runs.map((r) => {
    const box = h('input', {
      type: 'checkbox',
      'aria-label': `select ${r.id} to compare`,
      onchange: (e: Event) => {
        const on = (e.target as HTMLInputElement).checked;
        const i = picked.indexOf(r.id);
        if (on && i < 0) picked.push(r.id);
        if (!on && i >= 0) picked.splice(i, 1);
        while (picked.length > 2) picked.shift();
        update();
      },
    });
    return h(
      'tr',
      { 'data-run': r.id },
      h('td', {}, box),
      h('th', { scope: 'row' }, h('a', { href: runHref(r.id, defaultTab(r)) }, r.id)),
      h('td', {}, r.model ?? '—'),
      h('td', {}, `${r.strategy}`, h('span', { class: 'muted' }, ` · ${r.kind === 'classic' ? 'classic' : 'one-shot'}`)),
      h('td', {}, statusBadge(r.status)),
      h('td', { class: 'n' }, pct(r.best)),
      h('td', { class: 'n' }, pct(r.testAccuracy)),
      h('td', { class: 'n' }, `${r.progress}${r.budget === null ? '' : ` / ${r.budget}`} ${r.kind === 'classic' ? 'trials' : 'epochs'}`),
      h('td', { class: 'n' }, duration(r.elapsedSeconds)),
      h('td', {}, new Date(r.updatedAt).toLocaleString()),
      h('td', {}, r.problems.length === 0 ? '' : h('details', {}, h('summary', { class: 'warn' }, `${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}`), h('ul', {}, r.problems.map((p) => h('li', {}, p))))),
    );
  });
  update();
  return h(
    'section',
    { 'aria-labelledby': 'exp-title' },
    h('h1', { id: 'exp-title' }, 'Experiments'),
    list.runs.length === 0
      ? h('p', {}, 'No run directories found.')
      : h(
          'div',
          { class: 'scroll' },
          h(
            'table',
            { class: 'grid', id: 'runs', 'aria-label': 'experiments' },
            h('thead', {}, h('tr', {}, ['', 'run', 'model', 'strategy', 'status', 'best', 'test acc.', 'progress', 'elapsed', 'updated', ''].map((c) => h('th', { scope: 'col' }, c)))),
            h('tbody', {}, rows),
          ),
        ),
    list.runs.length >= 2 ? h('p', {}, compare) : null,
    list.others.length === 0
      ? null
      : h('section', { class: 'others' }, h('h2', {}, 'Not experiments'), h('ul', {}, list.others.map((o) => h('li', {}, h('code', {}, o.dir), ': ', o.reason)))),
  );
};

const archOf = (d: RunDetail): Record<string, string> => {
  const a = d.summary.bestArchitecture ?? {};
  return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, Array.isArray(v) ? `[${v.join(', ')}]` : String(v)]));
};

/** The progress curve of a run: running best per trial (classic) or the derived architecture's accuracy per epoch. */
const progressOf = (d: RunDetail): { x: number[]; y: (number | null)[] } =>
  d.trials !== null
    ? { x: d.trials.history.map((_, i) => i + 1), y: d.trials.history.map((p) => p.best) }
    : { x: [...(d.weights?.epochs ?? [])], y: [...(d.weights?.metrics['validAccuracy'] ?? [])] };

/** Two runs side by side: settings, best architectures (differences marked) and their curves on one chart. */
export const compareView = async (source: Source, a: string | null, b: string | null): Promise<HTMLElement> => {
  if (a === null || b === null) return h('p', {}, 'Pick two runs on the ', h('a', { href: '#/' }, 'Experiments'), ' page to compare them.');
  const [da, db] = await Promise.all([source.run(a), source.run(b)]);
  const sec = h('section', { 'aria-labelledby': 'cmp-title' }, h('h1', { id: 'cmp-title' }, `Compare ${a} and ${b}`));
  const row = (label: string, x: string, y: string): HTMLElement => h('tr', { class: x === y ? '' : 'diff' }, h('th', { scope: 'row' }, label), h('td', {}, x), h('td', {}, y));
  const sa = da.summary;
  const sb = db.summary;
  const keys = [...new Set([...Object.keys(sa.settings), ...Object.keys(sb.settings)])].filter((k) => k !== 'strategyOptions');
  const str = (v: unknown): string => (v === undefined ? '—' : typeof v === 'string' ? v : JSON.stringify(v));
  const aa = archOf(da);
  const ab = archOf(db);
  const archKeys = [...new Set([...Object.keys(aa), ...Object.keys(ab)])];
  const head = (): HTMLElement => h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, ''), h('th', { scope: 'col' }, h('a', { href: runHref(a) }, a)), h('th', { scope: 'col' }, h('a', { href: runHref(b) }, b))));
  const tables = h(
    'div',
    { class: 'charts two' },
    h(
      'table',
      { class: 'grid compare', 'aria-label': 'comparison: results and best architectures' },
      head(),
      h(
        'tbody',
        {},
        row('model', sa.model ?? '—', sb.model ?? '—'),
        row('strategy', sa.strategy, sb.strategy),
        row('status', sa.status, sb.status),
        row('best (validation)', pct(sa.best), pct(sb.best)),
        row('test accuracy (retrain)', pct(sa.testAccuracy), pct(sb.testAccuracy)),
        row('progress', `${sa.progress} / ${sa.budget ?? '—'}`, `${sb.progress} / ${sb.budget ?? '—'}`),
        row('elapsed', duration(sa.elapsedSeconds), duration(sb.elapsedSeconds)),
        h('tr', {}, h('th', { colspan: 3, class: 'sub' }, 'best architecture')),
        archKeys.map((k) => row(k, aa[k] ?? '—', ab[k] ?? '—')),
      ),
    ),
    h('table', { class: 'grid compare', 'aria-label': 'comparison: settings' }, head(), h('tbody', {}, keys.filter((k) => k !== 'strategy').map((k) => row(k, str(sa.settings[k]), str(sb.settings[k]))))),
  );
  sec.append(h('p', { class: 'small muted' }, 'Rows that differ are shaded.'));
  const pa = progressOf(da);
  const pb = progressOf(db);
  const n = Math.max(pa.x.length, pb.x.length);
  const x = Array.from({ length: n }, (_, i) => i + 1);
  const charts = h('div', { class: 'charts two' });
  sec.append(charts);
  lineChart(charts, {
    title: 'Search progress',
    description: `best validation accuracy so far (classic: per trial; one-shot: derived architecture per epoch) of ${a} and ${b}`,
    xLabel: 'trial / epoch',
    yLabel: 'accuracy',
    x,
    lines: [
      { label: a, values: x.map((i) => pa.y[i - 1] ?? null) },
      { label: b, values: x.map((i) => pb.y[i - 1] ?? null) },
    ],
    format: (v) => pct(v),
  });
  const ra = da.curves.retrain;
  const rb = db.curves.retrain;
  if (ra !== null || rb !== null) {
    const m = Math.max(ra?.epochs.length ?? 0, rb?.epochs.length ?? 0);
    const ex = Array.from({ length: m }, (_, i) => i + 1);
    lineChart(charts, {
      title: 'Retrain test accuracy',
      description: `test accuracy per retrain epoch of ${a} and ${b}`,
      xLabel: 'epoch',
      yLabel: 'accuracy',
      x: ex,
      lines: [
        { label: a, values: ex.map((i) => ra?.metrics['testAccuracy']?.[i - 1] ?? null) },
        { label: b, values: ex.map((i) => rb?.metrics['testAccuracy']?.[i - 1] ?? null) },
      ],
      format: (v) => pct(v),
    });
  }
  sec.append(tables);
  return sec;
};
