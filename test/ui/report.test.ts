// `nasgraph report`: one self-contained HTML file of the NAS UI's views, opened from disk in headless Chromium with
// no server: the trial rows and the graph are there, and the page asks the network for nothing.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/main.ts';
import { type ReportData, reportHtml } from '../../src/ui/report.ts';
import { ensurePageBuilt, launchChromium } from './chromium.ts';

const fixtures = join(import.meta.dirname, 'fixtures');
const dir = mkdtempSync(join(tmpdir(), 'nasgraph-ui-report-'));
const out = join(dir, 'report.html');
const WAIT = { timeout: 90_000 };
const trialCount = readFileSync(join(fixtures, 'classic', 'trials.jsonl'), 'utf8').split('\n').filter((l) => l !== '').length;

const cli = async (...args: string[]): Promise<{ code: number; out: string; err: string }> => {
  let o = '';
  let e = '';
  const code = await runCli(['node', 'nasgraph', ...args], { out: (t) => void (o += t), err: (t) => void (e += t) });
  return { code, out: o, err: e };
};

beforeAll(async () => ensurePageBuilt());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('nasgraph report', () => {
  it('writes one HTML file with the data and the page inlined', async () => {
    const r = await cli('report', fixtures, '-o', out);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`^report of 2 runs written to ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(`));
    const html = readFileSync(out, 'utf8');
    expect(html).toContain('window.__NASGRAPH_REPORT__ = ');
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(html).not.toMatch(/<link[^>]+stylesheet/);
    expect(statSync(out).size).toBeGreaterThan(100_000);
  });

  it('opens from disk in Chromium: trial rows, the graph, no network', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      const url = pathToFileURL(out).href;
      await page.goto(`${url}#/run/fixtures%2Fclassic/trials`);
      const rows = page.locator('#trials tbody tr');
      await expect.poll(() => rows.count(), WAIT).toBe(trialCount);
      expect(await page.locator('#live').innerText()).toMatch(/^report/);
      await page.goto(`${url}#/run/fixtures%2Fdarts/graph`);
      await page.waitForSelector('svg.graph .node', WAIT);
      expect(await page.locator('#arch-summary li[data-key="op1"] .v').innerText()).toBe('avgpool3x3');
      await page.goto(`${url}#/`);
      await expect.poll(() => page.locator('#runs tbody tr').count(), WAIT).toBe(2);
      expect(errors).toEqual([]);
      // The layout worker is inlined: a blob: URL made by the page itself.
      expect(requests.filter((u) => !/^(file|data|blob):/.test(u))).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it('inlined data survives any text and cannot end its script element early', () => {
    const marker = 'window.__NASGRAPH_REPORT__ = ';
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const data: ReportData = { generatedAt: text, runs: { runs: [], others: [{ id: text, dir: `</script>${text}`, reason: `<!--${text}\u2028` }] }, details: {}, graphs: {} };
        const html = reportHtml(data);
        if (E.isLeft(html)) throw new Error(html.left);
        const start = html.right.indexOf(marker) + marker.length;
        const json = html.right.slice(start, html.right.indexOf(';</script>', start));
        expect(json.toLowerCase()).not.toContain('</script');
        expect(json).not.toContain('<!--');
        expect(JSON.parse(json)).toEqual(data);
      }),
      { numRuns: 20 },
    );
  });

  it('a directory with no run is a one-line error, exit 1', async () => {
    const r = await cli('report', join(dir, 'nothing-here'), '-o', join(dir, 'x.html'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: .*nothing-here: no such directory\n$/);
  });
});
