/**
 * The NAS UI's HTTP server (Hono on @hono/node-server): the built page (`ui/dist`, made by `npm run build:ui`)
 * and a read-only JSON + Server-Sent-Events API over the run directories under the given roots. chokidar watches
 * the runs' files; every change is pushed to the page as an SSE `change` event naming the run, so the page
 * updates live while a search writes. Nothing is ever written into a run directory; only the page's own files and
 * the runs found under the roots are served (runs are looked up by id in a table, never by a path from the URL).
 *
 * API: `GET /api/runs` (summaries and the directories that are not experiments), `GET /api/run?id=ID` (every view
 * model of one run), `GET /api/graph?id=ID` (the supernet graph from the model file), `GET /api/events` (SSE).
 *
 * @example
 * const ui = await startUiServer({ roots: ['runs'], port: 0 });
 * console.log(ui.url); // http://127.0.0.1:43117/
 * await ui.close();
 */
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { createAdaptorServer } from '@hono/node-server';
import { serveStatic } from '@hono/node-server/serve-static';
import { watch } from 'chokidar';
import * as E from 'fp-ts/lib/Either.js';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { graphDecisions, graphView } from './graph-model.ts';
import type { GraphView } from './graph-active.ts';
import { type RunRef, RUN_FILES, discoverRuns, loadRunGraph, readRun } from './load.ts';
import { type DecisionInfo, type NotAnExperiment, type RunFiles, type RunSummary, classicDecisions, curvesView, isOneShotRun, runSummary, trialsView, weightsView, type CurvesView, type TrialsView, type WeightsView } from './view-model.ts';

/** The built page's directory. */
export const UI_DIST = path.resolve(import.meta.dirname, '..', '..', 'ui', 'dist');

/** Every view model of one run (what `/api/run` answers and `nasgraph report` inlines). */
export interface RunDetail {
  readonly summary: RunSummary;
  readonly trials: TrialsView | null;
  readonly weights: WeightsView | null;
  readonly curves: CurvesView;
  readonly decisions: readonly DecisionInfo[];
}

/** The supernet graph of a run, or why there is none. */
export type GraphAnswer = { readonly graph: GraphView; readonly decisions: readonly DecisionInfo[] } | { readonly error: string };

/** The runs list (what `/api/runs` answers). */
export interface RunsList {
  readonly runs: readonly RunSummary[];
  readonly others: readonly NotAnExperiment[];
}

/** Every view model of a run's files at time `nowMs`; candidate names from the graph's decisions when known. */
export const runDetail = (f: RunFiles, nowMs: number, graphDecisionList: readonly DecisionInfo[] = []): RunDetail => {
  const oneShot = isOneShotRun(f);
  const decisions = oneShot ? graphDecisionList : classicDecisions(f);
  return {
    summary: runSummary(f, nowMs),
    trials: oneShot ? null : trialsView(f),
    weights: oneShot ? weightsView(f, decisions) : null,
    curves: curvesView(f),
    decisions,
  };
};

/** Builds (and caches by model file) the graph answer of a run. */
export const graphCache = (): ((f: RunFiles) => Promise<GraphAnswer>) => {
  const cache = new Map<string, Promise<GraphAnswer>>();
  return (f) => {
    const key = f.model === undefined ? `none:${f.id}` : path.resolve(f.model);
    let p = cache.get(key);
    if (p === undefined) {
      p = loadRunGraph(f).then((g) => (E.isLeft(g) ? { error: g.left } : { graph: graphView(g.right), decisions: graphDecisions(g.right) }));
      if (f.model !== undefined) cache.set(key, p);
    }
    return p;
  };
};

/** Options of `startUiServer`. */
export interface UiServerOptions {
  /** Directories holding runs (each, or any directory below it, may be a run directory). */
  readonly roots: readonly string[];
  /** 0 picks a free port. */
  readonly port: number;
  /** Default 127.0.0.1: reachable from this machine only. */
  readonly host?: string;
  /** The model file of the runs whose result.json does not name one yet (a running search). */
  readonly model?: string;
  /** The built page's directory (default `UI_DIST`). */
  readonly dist?: string;
}

/** A started server: its URL, and `close` (stops watching, ends the event streams, closes the port). */
export interface UiServer {
  readonly url: string;
  readonly port: number;
  readonly close: () => Promise<void>;
}

/**
 * Starts the UI server (see the module comment). Rejects with a one-line Error when the port cannot be bound
 * (in use, not permitted).
 */
export const startUiServer = async (o: UiServerOptions): Promise<UiServer> => {
  const host = o.host ?? '127.0.0.1';
  const dist = o.dist ?? UI_DIST;
  const graphOf = graphCache();
  let table = new Map<string, RunRef>();
  let others: readonly NotAnExperiment[] = [];
  const rescan = (): void => {
    const d = discoverRuns(o.roots);
    table = new Map(d.runs.map((r) => [r.id, o.model === undefined ? r : { ...r, model: o.model }]));
    others = d.others;
  };
  rescan();

  const listeners = new Set<(id: string) => void>();
  const app = new Hono();
  app.get('/api/runs', (c) => {
    rescan();
    const now = Date.now();
    const body: RunsList = { runs: [...table.values()].map((r) => runSummary(readRun(r), now)), others };
    return c.json(body);
  });
  const lookup = (id: string | undefined): RunRef | undefined => (id === undefined ? undefined : table.get(id));
  app.get('/api/run', async (c) => {
    const ref = lookup(c.req.query('id'));
    if (ref === undefined) return c.json({ error: `no run with id ${JSON.stringify(c.req.query('id') ?? '')}` }, 404);
    const f = readRun(ref);
    const g = isOneShotRun(f) ? await graphOf(f) : undefined;
    return c.json(runDetail(f, Date.now(), g !== undefined && 'decisions' in g ? g.decisions : []));
  });
  app.get('/api/graph', async (c) => {
    const ref = lookup(c.req.query('id'));
    if (ref === undefined) return c.json({ error: `no run with id ${JSON.stringify(c.req.query('id') ?? '')}` }, 404);
    return c.json(await graphOf(readRun(ref)));
  });
  app.get('/api/events', (c) =>
    streamSSE(c, async (stream) => {
      let wake: (() => void) | undefined;
      const queue: string[] = [];
      const listener = (id: string): void => {
        queue.push(id);
        wake?.();
      };
      listeners.add(listener);
      stream.onAbort(() => {
        listeners.delete(listener);
        wake?.();
      });
      await stream.writeSSE({ event: 'hello', data: JSON.stringify({ runs: table.size }) });
      while (!stream.aborted && !stream.closed) {
        if (queue.length === 0) {
          await new Promise<void>((r) => {
            wake = r;
            setTimeout(r, 15_000).unref(); // a comment line keeps proxies from closing an idle stream
          });
          wake = undefined;
          if (queue.length === 0 && !stream.aborted) await stream.write(': keep-alive\n\n');
          continue;
        }
        const ids = [...new Set(queue.splice(0))];
        for (const id of ids) await stream.writeSSE({ event: 'change', data: JSON.stringify({ id }) });
      }
      listeners.delete(listener);
    }),
  );
  app.all('/api/*', (c) => c.json({ error: 'not found' }, 404));
  app.use('/*', serveStatic({ root: path.relative(process.cwd(), dist) || '.' }));
  app.get('/', (c) => c.text(`The NAS UI's page is not built: run \`npm run build:ui\` (looked in ${dist}).`, 503));
  app.all('*', (c) => c.text('not found', 404));

  // Watching: the run files of every root; a change names its run (by directory), debounced per run.
  const watcher = watch(
    o.roots.map((r) => path.resolve(r)),
    { ignoreInitial: true, depth: 4, ignored: (p, st) => st?.isFile() === true && !RUN_FILES.some((f) => p.endsWith(`${path.sep}${f}`)) },
  );
  const timers = new Map<string, NodeJS.Timeout>();
  watcher.on('all', (_event, file) => {
    const dir = path.dirname(file);
    let ref = [...table.values()].find((r) => r.dir === dir);
    if (ref === undefined) {
      rescan();
      ref = [...table.values()].find((r) => r.dir === dir);
      if (ref === undefined) return;
    }
    const id = ref.id;
    clearTimeout(timers.get(id));
    timers.set(
      id,
      setTimeout(() => {
        timers.delete(id);
        for (const l of listeners) l(id);
      }, 100),
    );
  });
  await new Promise<void>((r) => watcher.once('ready', () => r()));

  const server = createAdaptorServer({ fetch: app.fetch });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    await watcher.close();
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'EADDRINUSE' ? `port ${o.port} on ${host} is in use: choose another with --port` : `cannot listen on ${host}:${o.port}: ${code ?? (e instanceof Error ? e.message : String(e))}`,
    );
  }
  const port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    close: async () => {
      for (const t of timers.values()) clearTimeout(t);
      listeners.clear();
      await watcher.close();
      await new Promise<void>((r) => {
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => r());
      });
    },
  };
};

/** Whether the page is built (its index.html exists). */
export const pageBuilt = (dist = UI_DIST): boolean => fs.existsSync(path.join(dist, 'index.html'));
