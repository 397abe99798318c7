/** The Training-curves view: the retrain's loss and accuracy per epoch, and a one-shot search's supernet metrics. */
import type { RunDetail } from '../api.ts';
import { lineChart } from '../charts.ts';
import { h, num, pct } from '../dom.ts';

const pick = (m: Readonly<Record<string, readonly (number | null)[]>>, test: (k: string) => boolean): { label: string; values: readonly (number | null)[] }[] =>
  Object.entries(m)
    .filter(([k]) => test(k))
    .map(([k, v]) => ({ label: k, values: v }));

/** The view. */
export const curvesViewEl = (d: RunDetail): HTMLElement => {
  const sec = h('section', { 'aria-labelledby': 'c-title' }, h('h2', { id: 'c-title' }, 'Training curves'));
  const c = d.curves;
  if (c.retrain === null) sec.append(h('p', {}, 'No retrain recorded (result.json has no retrain history: the search is still running, or it ran with --retrain-epochs 0).'));
  else {
    sec.append(h('p', { class: 'lead' }, 'Retrain of the best architecture: test accuracy ', h('b', { id: 'test-acc' }, pct(c.testAccuracy)), ', test loss ', h('b', {}, num(c.testLoss)), '.'));
    const row = h('div', { class: 'charts two' });
    sec.append(row);
    const r = c.retrain;
    lineChart(row, { title: 'Retrain loss', description: `loss per retrain epoch; last test loss ${num(c.testLoss)}`, xLabel: 'epoch', yLabel: 'loss', x: r.epochs, lines: pick(r.metrics, (k) => /loss/i.test(k)) });
    lineChart(row, { title: 'Retrain accuracy', description: `accuracy per retrain epoch; final test accuracy ${pct(c.testAccuracy)}`, xLabel: 'epoch', yLabel: 'accuracy', x: r.epochs, lines: pick(r.metrics, (k) => /accuracy/i.test(k)), format: (v) => pct(v) });
    const lr = r.metrics['lr'];
    if (lr !== undefined) lineChart(row, { title: 'Learning rate', xLabel: 'epoch', yLabel: 'lr', x: r.epochs, lines: [{ label: 'lr', values: lr }], height: 160 });
  }
  if (c.search !== null) {
    sec.append(h('h3', {}, 'Supernet during the search'));
    const row = h('div', { class: 'charts two' });
    sec.append(row);
    const s = c.search;
    lineChart(row, { title: 'Search loss', description: 'supernet train loss and architecture loss per search epoch', xLabel: 'epoch', yLabel: 'loss', x: s.epochs, lines: pick(s.metrics, (k) => /loss/i.test(k)) });
    lineChart(row, { title: 'Search accuracy', description: "supernet train accuracy and the derived architecture's validation accuracy per search epoch", xLabel: 'epoch', yLabel: 'accuracy', x: s.epochs, lines: pick(s.metrics, (k) => /accuracy/i.test(k)), format: (v) => pct(v) });
  }
  return sec;
};
