// `nasgraph ui` in process: prints its URL and serves the runs until stopped; a port in use is a one-line error
// (exit 1); a server without the built page says how to build it.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uiCommand } from '../../src/cli/ui.ts';
import { type RunsList, startUiServer } from '../../src/ui/server.ts';
import { ensurePageBuilt } from './chromium.ts';

const fixtures = join(import.meta.dirname, 'fixtures');
const empty = mkdtempSync(join(tmpdir(), 'nasgraph-ui-nopage-'));
const capture = (): { out: string[]; err: string[]; io: { out: (t: string) => void; err: (t: string) => void } } => {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (t) => void out.push(t), err: (t) => void err.push(t) } };
};

beforeAll(async () => ensurePageBuilt());
afterAll(() => rmSync(empty, { recursive: true, force: true }));

describe('nasgraph ui', () => {
  it('prints its URL, serves the runs, stops on a signal with exit 0', async () => {
    const c = capture();
    const stop = new AbortController();
    const done = uiCommand([fixtures], { port: 0, host: '127.0.0.1' }, c.io, stop.signal);
    await expect.poll(() => c.out.join(''), { timeout: 60_000 }).toMatch(/^NAS UI {3}http:\/\/127\.0\.0\.1:\d+\/ {2}\(Ctrl-C to stop\)\n$/);
    const url = /http:\/\/\S+/.exec(c.out.join(''))![0];
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>nasgraph · NAS UI</title>');
    const list = (await (await fetch(new URL('api/runs', url))).json()) as RunsList;
    expect(list.runs.map((r) => r.id).sort()).toEqual(['fixtures/classic', 'fixtures/darts']);
    stop.abort();
    expect(await done).toBe(0);
    expect(c.err).toEqual([]);
  });

  it('a port in use: one line, exit 1', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    const c = capture();
    expect(await uiCommand([fixtures], { port, host: '127.0.0.1' }, c.io)).toBe(1);
    await new Promise<void>((r) => blocker.close(() => r()));
    expect(c.err).toEqual([`error: port ${port} on 127.0.0.1 is in use: choose another with --port\n`]);
    expect(c.out).toEqual([]);
  });

  it('without the built page the server says how to build it (and still answers the API)', async () => {
    const ui = await startUiServer({ roots: [fixtures], port: 0, dist: empty });
    try {
      const r = await fetch(ui.url);
      expect(r.status).toBe(503);
      expect(await r.text()).toMatch(/^The NAS UI's page is not built: run `npm run build:ui`/);
      expect((await fetch(new URL('api/runs', ui.url))).status).toBe(200);
    } finally {
      await ui.close();
    }
  });
});
