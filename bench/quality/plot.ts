/**
 * Renders the search-quality plots as PNG with the project's chart library (uPlot) in headless Chromium
 * (playwright-core, Debian's /usr/bin/chromium): the regret curves of bench/quality/regret-<table>.json (mean
 * regret per budget, with the 95 % interval of the mean as dashed lines) and, when bench/quality/ranking.json
 * exists, Kendall τ per one-shot algorithm with its bootstrap interval. Writes bench/quality/*.png.
 *
 * @example
 * $ npx tsx bench/quality/plot.ts
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const Q = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const uplotDir = dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2'];

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 520 }, deviceScaleFactor: 1 });
  const render = async (title: string, xs: number[], series: { label: string; ys: number[]; dash?: boolean; color: string; points?: boolean }[], xLabel: string, yLabel: string, file: string, yRange?: [number, number]): Promise<void> => {
    await page.setContent('<html><body style="margin:0;background:#fff;font-family:sans-serif"><div id="c"></div></body></html>');
    await page.addStyleTag({ path: join(uplotDir, 'uPlot.min.css') });
    await page.addScriptTag({ path: join(uplotDir, 'uPlot.iife.min.js') });
    await page.evaluate(
      ({ title, xs, series, xLabel, yLabel, yRange }) => {
        const U = (globalThis as unknown as { uPlot: new (o: unknown, d: unknown, el: unknown) => unknown }).uPlot;
        const opts = {
          title,
          width: 880,
          height: 460,
          scales: { x: { time: false }, ...(yRange === null ? {} : { y: { range: yRange } }) },
          axes: [{ label: xLabel }, { label: yLabel }],
          series: [{ label: xLabel }, ...series.map((s) => ({ label: s.label, stroke: s.color, width: s.dash ? 1 : 2, dash: s.dash ? [4, 4] : undefined, points: { show: s.points ?? false, size: 8 } }))],
        };
        new U(opts, [xs, ...series.map((s) => s.ys)], (globalThis as unknown as { document: { getElementById: (id: string) => unknown } }).document.getElementById('c'));
      },
      { title, xs, series, xLabel, yLabel, yRange: yRange ?? null },
    );
    await page.locator('#c').screenshot({ path: join(Q, file) });
    console.log(`wrote bench/quality/${file}`);
  };

  for (const table of ['fashion-small', 'fashion-cells']) {
    const f = join(Q, `regret-${table}.json`);
    if (!existsSync(f)) continue;
    const r = JSON.parse(readFileSync(f, 'utf8')) as { budget: number; seeds: number; composition: string; curves: Record<string, { mean: number[]; ciLo: number[]; ciHi: number[] }> };
    const xs = Array.from({ length: r.budget }, (_, i) => i + 1);
    const series = Object.entries(r.curves).flatMap(([name, c], i) => [
      { label: `${name} (mean)`, ys: c.mean.map((v) => 100 * v), color: COLORS[i % COLORS.length]! },
      { label: `${name} 95% CI`, ys: c.ciHi.map((v) => 100 * v), color: COLORS[i % COLORS.length]!, dash: true },
      { label: `${name} 95% CI`, ys: c.ciLo.map((v) => 100 * v), color: COLORS[i % COLORS.length]!, dash: true },
    ]);
    await render(`${table}: regret vs trials, mean and 95% CI of the mean over ${r.seeds} searches (y clipped at 4 pp)`, xs, series, 'trials', 'regret (pp of validation accuracy)', `regret-${table}.png`, [0, 4]);
  }

  const rf = join(Q, 'ranking.json');
  if (existsSync(rf)) {
    const rk = JSON.parse(readFileSync(rf, 'utf8')) as { rows: { algorithm: string; tau: { estimate: number; lo: number; hi: number } }[] };
    const xs = rk.rows.map((_, i) => i + 1);
    await render(
      `Kendall τ, supernet estimate vs standalone accuracy (${rk.rows.map((r, i) => `${i + 1}=${r.algorithm}`).join(', ')})`,
      xs,
      [
        { label: 'τ', ys: rk.rows.map((r) => r.tau.estimate), color: COLORS[0]!, points: true },
        { label: '95% bootstrap lo', ys: rk.rows.map((r) => r.tau.lo), color: COLORS[1]!, points: true, dash: true },
        { label: '95% bootstrap hi', ys: rk.rows.map((r) => r.tau.hi), color: COLORS[1]!, points: true, dash: true },
      ],
      'algorithm',
      'Kendall τ',
      'ranking-tau.png',
    );
  }
} finally {
  await browser.close();
}
