/**
 * `nasgraph report`'s work: the NAS UI's page as one self-contained HTML file. Every view model of every run
 * under the roots (and each run's supernet graph) is inlined as `window.__NASGRAPH_REPORT__`, and the built page's
 * script and stylesheet are inlined too, so the file opens from disk with no server and no network. Only reads
 * the run directories.
 *
 * @example
 * const r = await buildReport(['runs/darts']);
 * if (E.isRight(r)) fs.writeFileSync('report.html', r.right.html);
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { discoverRuns, readRun } from './load.ts';
import { type GraphAnswer, type RunDetail, type RunsList, UI_DIST, graphCache, pageBuilt, runDetail } from './server.ts';
import { isOneShotRun, runSummary } from './view-model.ts';

/** What a report inlines (the page reads it as its data source). */
export interface ReportData {
  readonly generatedAt: string;
  readonly runs: RunsList;
  readonly details: Readonly<Record<string, RunDetail>>;
  readonly graphs: Readonly<Record<string, GraphAnswer>>;
}

/** Options of `buildReport`. */
export interface ReportOptions {
  /** The model file of runs whose result.json does not name one. */
  readonly model?: string;
  /** The built page (default `UI_DIST`). */
  readonly dist?: string;
  /** The time the statuses are judged at (default now). */
  readonly nowMs?: number;
}

/** The data of a report over `roots`; left when no run is found (naming each root and why). */
export const reportData = async (roots: readonly string[], o: ReportOptions = {}): Promise<E.Either<string, ReportData>> => {
  const found = discoverRuns(roots);
  if (found.runs.length === 0) return E.left(found.others.map((x) => `${x.dir}: ${x.reason}`).join('; ') || 'no directory given');
  const now = o.nowMs ?? Date.now();
  const graphOf = graphCache();
  const details: Record<string, RunDetail> = {};
  const graphs: Record<string, GraphAnswer> = {};
  for (const ref of found.runs) {
    const f = readRun(o.model === undefined ? ref : { ...ref, model: o.model });
    const g = await graphOf(f);
    graphs[ref.id] = g;
    details[ref.id] = runDetail(f, now, isOneShotRun(f) && 'decisions' in g ? g.decisions : []);
  }
  return E.right({ generatedAt: new Date(now).toISOString(), runs: { runs: Object.values(details).map((d) => d.summary), others: found.others }, details, graphs });
};

// Text inlined into <script> must not end the element early: '</script' and '<!--' are escaped (in JSON every '<').
const inlineScript = (code: string): string => code.replace(/<\/(script)/gi, '<\\/$1');
const inlineJson = (data: unknown): string => JSON.stringify(data).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

/** The page (from `dist`) with its assets and `data` inlined: one HTML file. Left when the page is not built. */
export const reportHtml = (data: ReportData, dist = UI_DIST): E.Either<string, string> => {
  if (!pageBuilt(dist)) return E.left(`the UI page is not built (no ${path.join(dist, 'index.html')}): run \`npm run build:ui\``);
  let html = fs.readFileSync(path.join(dist, 'index.html'), 'utf8');
  const problems: string[] = [];
  const asset = (ref: string): string | undefined => {
    const file = path.resolve(dist, ref);
    if (!file.startsWith(path.resolve(dist) + path.sep) || !fs.existsSync(file)) {
      problems.push(`the built page refers to ${ref}, which is not in ${dist}: rebuild it with \`npm run build:ui\``);
      return undefined;
    }
    return fs.readFileSync(file, 'utf8');
  };
  // Function replacers: the bundled code holds '$' sequences a replacement string would interpret.
  html = html.replace(/<link rel="stylesheet"[^>]*href="([^"]+)"[^>]*>/g, (m, ref: string) => {
    const css = asset(ref);
    return css === undefined ? m : `<style>${css.replace(/<\/(style)/gi, '<\\/$1')}</style>`;
  });
  html = html.replace(/<script type="module"[^>]*src="([^"]+)"[^>]*><\/script>/g, (m, ref: string) => {
    const js = asset(ref);
    return js === undefined ? m : `<script>window.__NASGRAPH_REPORT__ = ${inlineJson(data)};</script>\n<script type="module">${inlineScript(js)}</script>`;
  });
  if (!html.includes('__NASGRAPH_REPORT__')) problems.push(`the built page ${path.join(dist, 'index.html')} has no module script to inline: rebuild it with \`npm run build:ui\``);
  return problems.length > 0 ? E.left(problems[0]!) : E.right(html);
};

/** The report of `roots` as one HTML file's text, with the number of runs in it. */
export const buildReport = async (roots: readonly string[], o: ReportOptions = {}): Promise<E.Either<string, { readonly html: string; readonly runs: number }>> => {
  const data = await reportData(roots, o);
  if (E.isLeft(data)) return data;
  const html = reportHtml(data.right, o.dist);
  return E.isLeft(html) ? html : E.right({ html: html.right, runs: data.right.runs.runs.length });
};
