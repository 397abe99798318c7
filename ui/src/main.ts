/**
 * The NAS UI page: routes (route.ts) to the views, fetches their data from the server or the report's inlined
 * data (api.ts), and re-renders the view on screen when the server says one of its runs' files changed.
 */
import './style.css';
import { pickSource, type RunDetail } from './api.ts';
import { sweepCharts } from './charts.ts';
import { duration, h, pct } from './dom.ts';
import { type Route, type RunTab, parseRoute, runHref } from './route.ts';
import { compareView, experimentsView, statusBadge } from './views/experiments.ts';
import { curvesViewEl } from './views/curves.ts';
import { graphViewEl } from './views/graph.ts';
import { trialsViewEl } from './views/trials.ts';
import { weightsViewEl } from './views/weights.ts';

const source = pickSource();
const app = document.getElementById('app')!;
const crumbs = document.getElementById('crumbs')!;
const live = document.getElementById('live')!;

const TAB_LABEL: Record<RunTab, string> = { graph: 'Supernet graph', weights: 'Architecture weights', trials: 'Trials', curves: 'Training curves' };

const runHeader = (d: RunDetail, tab: RunTab): HTMLElement => {
  const s = d.summary;
  const tabs: RunTab[] = s.kind === 'classic' ? ['trials', 'graph', 'curves'] : ['weights', 'graph', 'curves'];
  return h(
    'div',
    { class: 'run-head' },
    h('h1', {}, s.id, ' ', statusBadge(s.status)),
    h(
      'p',
      { class: 'facts' },
      h('span', {}, h('span', { class: 'muted' }, 'model '), s.model ?? '—'),
      h('span', {}, h('span', { class: 'muted' }, 'strategy '), `${s.strategy} (${s.kind === 'classic' ? 'classic' : 'one-shot'})`),
      h('span', {}, h('span', { class: 'muted' }, 'best '), h('b', { id: 'run-best' }, pct(s.best))),
      h('span', {}, h('span', { class: 'muted' }, 'test '), pct(s.testAccuracy)),
      h('span', {}, h('span', { class: 'muted' }, 'progress '), `${s.progress}${s.budget === null ? '' : ` / ${s.budget}`} ${s.kind === 'classic' ? 'trials' : 'epochs'}`),
      h('span', {}, h('span', { class: 'muted' }, 'elapsed '), duration(s.elapsedSeconds)),
    ),
    s.problems.length === 0 ? null : h('details', { class: 'warn' }, h('summary', {}, `${s.problems.length} problem(s) reading the files`), h('ul', {}, s.problems.map((p) => h('li', {}, p)))),
    h(
      'nav',
      { class: 'tabs', 'aria-label': 'views of this run' },
      tabs.map((t) => h('a', { href: runHref(s.id, t), class: t === tab ? 'tab on' : 'tab', ...(t === tab ? { 'aria-current': 'page' } : {}) }, TAB_LABEL[t])),
    ),
  );
};

const renderRoute = async (route: Route): Promise<{ el: HTMLElement; title: string; crumb: (HTMLElement | string)[] }> => {
  if (route.page === 'experiments') return { el: await experimentsView(source), title: 'Experiments', crumb: ['Experiments'] };
  if (route.page === 'compare') {
    const a = route.params.get('a');
    const b = route.params.get('b');
    return { el: await compareView(source, a, b), title: `Compare ${a ?? ''} ${b ?? ''}`, crumb: [h('a', { href: '#/' }, 'Experiments'), 'Compare'] };
  }
  const d = await source.run(route.id);
  const tab = route.tab ?? (d.summary.kind === 'classic' ? 'trials' : 'weights');
  const body =
    tab === 'graph'
      ? await graphViewEl(source, route.id, d, route.params)
      : tab === 'weights'
        ? weightsViewEl(route.id, d)
        : tab === 'trials'
          ? trialsViewEl(route.id, d, route.params)
          : curvesViewEl(d);
  const el = h('div', {}, runHeader(d, tab), h('div', { class: 'view', 'data-view': tab }, body));
  return { el, title: `${route.id} · ${TAB_LABEL[tab]}`, crumb: [h('a', { href: '#/' }, 'Experiments'), route.id, TAB_LABEL[tab]] };
};

let rendering = 0;
let firstRender = true;
const render = async (reason: 'navigate' | 'live'): Promise<void> => {
  const ticket = ++rendering;
  const route = parseRoute(location.hash);
  const scroll = window.scrollY;
  try {
    const out = await renderRoute(route);
    if (ticket !== rendering) return;
    app.replaceChildren(out.el);
    crumbs.replaceChildren(...out.crumb.flatMap((c, i) => (i === 0 ? [c] : [' › ', c])));
    document.title = `${out.title} · nasgraph NAS UI`;
    if (reason === 'live') window.scrollTo(0, scroll);
    else if (!firstRender) app.focus({ preventScroll: true });
    firstRender = false;
  } catch (e) {
    if (ticket !== rendering) return;
    app.replaceChildren(h('p', { class: 'warn', role: 'alert' }, e instanceof Error ? e.message : String(e)), h('p', {}, h('a', { href: '#/' }, 'Back to the experiments')));
  }
  sweepCharts();
  document.body.dataset['rendered'] = String(ticket);
};

window.addEventListener('hashchange', () => void render('navigate'));
void render('navigate');

if (source.live) {
  let timer: number | undefined;
  source.subscribe(
    (id) => {
      const r = parseRoute(location.hash);
      const concerned = r.page === 'experiments' || (r.page === 'compare' && (r.params.get('a') === id || r.params.get('b') === id)) || (r.page === 'run' && r.id === id);
      if (!concerned) return;
      window.clearTimeout(timer);
      timer = window.setTimeout(() => {
        void render('live').then(() => {
          live.textContent = `live · ${id} updated ${new Date().toLocaleTimeString()}`;
        });
      }, 250);
    },
    (ok) => {
      live.classList.toggle('down', !ok);
      if (!ok) live.textContent = 'live updates disconnected (retrying)';
      else if (live.textContent === '' || live.textContent.startsWith('live updates disc')) live.textContent = 'live';
    },
  );
} else {
  const data = window.__NASGRAPH_REPORT__;
  live.textContent = `report · ${data === undefined ? '' : new Date(data.generatedAt).toLocaleString()}`;
}
