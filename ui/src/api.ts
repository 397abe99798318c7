/**
 * Where the page's data comes from: the `nasgraph ui` server's JSON + SSE API, or (a `nasgraph report` file) the
 * data inlined into the page as `window.__NASGRAPH_REPORT__`. The views only see `Source`.
 */
import type { ReportData } from '../../src/ui/report.ts';
import type { GraphAnswer, RunDetail, RunsList } from '../../src/ui/server.ts';

export type { GraphAnswer, ReportData, RunDetail, RunsList };

/** The page's data: the same three questions the server answers, and live change notices. */
export interface Source {
  readonly live: boolean;
  runs(): Promise<RunsList>;
  run(id: string): Promise<RunDetail>;
  graph(id: string): Promise<GraphAnswer>;
  /** Calls `onChange(runId)` whenever a run's files change (never for a report); `onState` with the link's state. */
  subscribe(onChange: (id: string) => void, onState: (connected: boolean) => void): void;
}

const getJson = async <A>(url: string): Promise<A> => {
  const r = await fetch(url, { cache: 'no-store' });
  const body = (await r.json()) as A & { error?: string };
  if (!r.ok) throw new Error(body.error ?? `${url}: HTTP ${r.status}`);
  return body;
};

const serverSource = (): Source => ({
  live: true,
  runs: () => getJson<RunsList>('api/runs'),
  run: (id) => getJson<RunDetail>(`api/run?id=${encodeURIComponent(id)}`),
  graph: (id) => getJson<GraphAnswer>(`api/graph?id=${encodeURIComponent(id)}`),
  subscribe(onChange, onState) {
    const es = new EventSource('api/events');
    es.addEventListener('hello', () => onState(true));
    es.addEventListener('change', (e) => {
      try {
        onChange((JSON.parse((e as MessageEvent<string>).data) as { id: string }).id);
      } catch {
        /* a malformed event is ignored */
      }
    });
    es.onerror = () => onState(false);
  },
});

const reportSource = (d: ReportData): Source => {
  const missing = (id: string): Error => new Error(`no run with id ${JSON.stringify(id)} in this report`);
  return {
    live: false,
    runs: async () => d.runs,
    run: async (id) => {
      const r = d.details[id];
      if (r === undefined) throw missing(id);
      return r;
    },
    graph: async (id) => d.graphs[id] ?? { error: 'this report holds no graph for the run' },
    subscribe: () => undefined,
  };
};

declare global {
  interface Window {
    __NASGRAPH_REPORT__?: ReportData;
  }
}

/** The report's inlined data when there is some, else the server. */
export const pickSource = (): Source => (window.__NASGRAPH_REPORT__ !== undefined ? reportSource(window.__NASGRAPH_REPORT__) : serverSource());
