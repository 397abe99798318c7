// The NAS UI server over real HTTP on a free port: the JSON API, the live SSE events, path traversal, a port in use.
import { appendFileSync, cpSync, mkdtempSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunDetail, type RunsList, type UiServer, startUiServer } from '../../src/ui/server.ts';

const fixtures = join(import.meta.dirname, 'fixtures');
const dir = mkdtempSync(join(tmpdir(), 'nasgraph-ui-server-'));
const root = join(dir, 'runs');
const dist = join(dir, 'dist');
let ui: UiServer;

beforeAll(async () => {
  cpSync(join(fixtures, 'classic'), join(root, 'classic'), { recursive: true });
  cpSync(join(fixtures, 'darts'), join(root, 'darts'), { recursive: true });
  // A search still running: no result.json yet, two trials logged.
  mkdirSync(join(root, 'live'));
  for (const f of ['search.json', 'experiment.json']) cpSync(join(fixtures, 'classic', f), join(root, 'live', f));
  const lines = readFileSync(join(fixtures, 'classic', 'trials.jsonl'), 'utf8').split('\n').filter((l) => l !== '');
  writeFileSync(join(root, 'live', 'trials.jsonl'), `${lines.slice(0, 2).join('\n')}\n`);
  mkdirSync(dist);
  writeFileSync(join(dist, 'index.html'), '<!doctype html><title>page</title>');
  writeFileSync(join(dir, 'secret.txt'), 'TOP-SECRET-CONTENT');
  ui = await startUiServer({ roots: [root], port: 0, dist });
});
afterAll(async () => {
  await ui?.close();
  rmSync(dir, { recursive: true, force: true });
});

const get = async (p: string): Promise<Response> => fetch(new URL(p, ui.url));

describe('nasgraph ui server', () => {
  it('binds to 127.0.0.1 and serves the page', async () => {
    expect(ui.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const r = await get('/');
    expect(r.status).toBe(200);
    expect(await r.text()).toContain('<title>page</title>');
  });

  it('lists the runs with status and best value', async () => {
    const body = (await (await get('/api/runs')).json()) as RunsList;
    const byId = new Map(body.runs.map((r) => [r.id, r]));
    expect([...byId.keys()].sort()).toEqual(['runs/classic', 'runs/darts', 'runs/live']);
    expect(byId.get('runs/classic')?.status).toBe('finished');
    expect(byId.get('runs/live')?.status).toBe('running');
    expect(byId.get('runs/darts')?.kind).toBe('oneshot');
    const objectives = readFileSync(join(fixtures, 'classic', 'trials.jsonl'), 'utf8').split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { objective: number }).objective);
    expect(byId.get('runs/classic')?.best).toBe(Math.max(...objectives));
  });

  it('answers one run\'s views, and the graph built from the model file', async () => {
    const d = (await (await get('/api/run?id=runs/classic')).json()) as RunDetail;
    expect(d.trials?.rows).toHaveLength(5);
    const g = (await (await get('/api/graph?id=runs/darts')).json()) as { graph: { nodes: { choice: unknown }[] } };
    expect(g.graph.nodes.filter((n) => n.choice !== null).length).toBeGreaterThan(0);
    const w = (await (await get('/api/run?id=runs/darts')).json()) as RunDetail;
    expect(w.weights?.keys[0]?.names.some((n) => /conv|pool|skip|none/i.test(n))).toBe(true);
  });

  it('serves nothing outside the page and the runs', async () => {
    for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/%2e%2e%2f%2e%2e%2fpackage.json', '/api/run?id=../secret.txt', '/api/run?id=runs/../../secret.txt']) {
      const r = await get(p);
      expect(r.status, p).toBeGreaterThanOrEqual(400);
      expect(await r.text(), p).not.toContain('TOP-SECRET-CONTENT');
    }
  });

  it('a line appended to trials.jsonl arrives as an SSE change event, and a half-written line is skipped', async () => {
    const controller = new AbortController();
    const res = await fetch(new URL('/api/events', ui.url), { signal: controller.signal });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    while (!text.includes('event: hello')) text += (await reader.read()).value ?? '';
    const lines = readFileSync(join(fixtures, 'classic', 'trials.jsonl'), 'utf8').split('\n').filter((l) => l !== '');
    const before = statSync(join(root, 'live', 'trials.jsonl')).size;
    appendFileSync(join(root, 'live', 'trials.jsonl'), `${lines[2]}\n${lines[3]!.slice(0, 40)}`);
    while (!text.includes('event: change')) text += (await reader.read()).value ?? '';
    expect(text).toMatch(/event: change\ndata: \{"id":"runs\/live"\}/);
    controller.abort();
    const d = (await (await get('/api/run?id=runs/live')).json()) as RunDetail;
    expect(d.trials?.rows).toHaveLength(3);
    expect(d.summary.problems).toEqual([]);
    expect(statSync(join(root, 'live', 'trials.jsonl')).size).toBeGreaterThan(before);
  });

  it('a port in use is a clear error', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    await expect(startUiServer({ roots: [root], port, dist })).rejects.toThrow(`port ${port} on 127.0.0.1 is in use: choose another with --port`);
    await new Promise<void>((r) => blocker.close(() => r()));
  });
});
