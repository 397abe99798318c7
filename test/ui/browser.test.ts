// The NAS UI end to end in headless Chromium: `nasgraph ui`'s server over a classic run, a DARTS run and a run still
// "running" that this test appends to; every view is opened and checked for what a person sees; screenshots of each
// view go to docs/screenshots (the README shows them). Waits are generous (a loaded CI machine), never timed asserts.
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type UiServer, startUiServer } from '../../src/ui/server.ts';
import { SCREENSHOTS, ensurePageBuilt, launchChromium } from './chromium.ts';

const fixtures = join(import.meta.dirname, 'fixtures');
const dir = mkdtempSync(join(tmpdir(), 'nasgraph-ui-browser-'));
const root = join(dir, 'runs');
const trialLines = readFileSync(join(fixtures, 'classic', 'trials.jsonl'), 'utf8').split('\n').filter((l) => l !== '');
const trials = trialLines.map((l) => JSON.parse(l) as { id: number; objective: number; architecture: Record<string, unknown> });
const WAIT = { timeout: 90_000 };

let ui: UiServer;
let browser: { context: BrowserContext; close: () => Promise<void> };
let page: Page;

beforeAll(async () => {
  await ensurePageBuilt();
  cpSync(join(fixtures, 'classic'), join(root, 'classic'), { recursive: true });
  cpSync(join(fixtures, 'darts'), join(root, 'darts'), { recursive: true });
  mkdirSync(join(root, 'live'));
  for (const f of ['search.json', 'experiment.json']) cpSync(join(fixtures, 'classic', f), join(root, 'live', f));
  writeFileSync(join(root, 'live', 'trials.jsonl'), `${trialLines.slice(0, 2).join('\n')}\n`);
  mkdirSync(join(dir, 'notes'));
  writeFileSync(join(dir, 'notes', 'todo.txt'), 'not a run');
  ui = await startUiServer({ roots: [root, join(dir, 'notes')], port: 0 });
  browser = await launchChromium();
  page = await browser.context.newPage();
  mkdirSync(SCREENSHOTS, { recursive: true });
});
afterAll(async () => {
  await browser?.close();
  await ui?.close();
  rmSync(dir, { recursive: true, force: true });
});

const open = async (hash: string): Promise<void> => {
  await page.goto(`${ui.url}${hash}`);
  await page.waitForFunction('document.body.dataset.rendered !== undefined', undefined, WAIT);
};
const shot = async (name: string): Promise<void> => {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
};

describe('NAS UI in Chromium', () => {
  it('Experiments: every run with its status, and the directory that is not an experiment', async () => {
    await open('#/');
    const rows = page.locator('#runs tbody tr');
    await expect.poll(() => rows.count(), WAIT).toBe(3);
    expect(await page.locator('#runs tbody tr[data-run="runs/classic"] .badge').innerText()).toBe('finished');
    expect(await page.locator('#runs tbody tr[data-run="runs/live"] .badge').innerText()).toBe('running');
    expect(await page.locator('#runs tbody tr[data-run="runs/classic"]').innerText()).toContain(`${(Math.max(...trials.map((t) => t.objective)) * 100).toFixed(2)}%`);
    expect(await page.locator('.others').innerText()).toMatch(/notes: not an experiment/);
    await shot('experiments');
    await page.getByLabel('select runs/classic to compare').check();
    await page.getByLabel('select runs/darts to compare').check();
    await page.getByRole('link', { name: /^Compare runs\/classic with runs\/darts$/ }).click();
    await page.waitForSelector('table.compare', WAIT);
    const cmp = page.getByRole('table', { name: 'comparison: results and best architectures' });
    expect(await cmp.innerText()).toContain('evolution');
    expect(await cmp.innerText()).toContain('darts');
    expect(await cmp.locator('tr.diff').count()).toBeGreaterThan(0);
    await shot('compare');
  });

  it('Supernet graph (DARTS): the derived architecture is highlighted; the slider moves it through the epochs', async () => {
    await open('#/run/runs%2Fdarts/graph');
    await page.waitForSelector('svg.graph .node', WAIT);
    const derived = JSON.parse(readFileSync(join(fixtures, 'darts', 'arch.json'), 'utf8')) as Record<string, string>;
    const chosen = async (): Promise<string[]> => (await page.locator('svg.graph .edge-label.chosen').evaluateAll((els) => els.map((e) => e.getAttribute('data-name') ?? ''))).sort();
    expect(await chosen()).toEqual(Object.values(derived).sort());
    for (const [key, name] of Object.entries(derived)) expect(await page.locator(`#arch-summary li[data-key="${key}"] .v`).innerText()).toBe(name);
    await page.getByRole('button', { name: /^LayerChoice op1/ }).click();
    const table = page.getByRole('table', { name: 'candidates of op1' });
    await table.waitFor(WAIT);
    expect(await table.locator('tbody tr').count()).toBe(7);
    await shot('graph');
    // Epoch 1 derived op3 = sep3x3 (history.json); the slider's first position is epoch 1.
    const history = JSON.parse(readFileSync(join(fixtures, 'darts', 'history.json'), 'utf8')) as { arch: Record<string, number[]> }[];
    expect(history[0]!.arch['op3']).toEqual([2]);
    await page.locator('#epoch').fill('0');
    await expect.poll(async () => page.locator('#arch-summary li[data-key="op3"] .v').innerText(), WAIT).toBe('sep3x3');
    expect(page.url()).toContain('epoch=1');
  });

  it('Supernet graph (classic): a trial\'s architecture, picked in the list', async () => {
    await open('#/run/runs%2Fclassic/graph?trial=1');
    await page.waitForSelector('svg.graph .node', WAIT);
    const t1 = trials.find((t) => t.id === 1)!;
    expect(await page.locator('#arch-summary li[data-key="conv1"] .v').innerText()).toBe(t1.architecture['conv1']);
    await page.locator('#trial').selectOption('2');
    await expect.poll(async () => page.locator('#arch-summary li[data-key="conv2"] .v').innerText(), WAIT).toBe(String(trials.find((t) => t.id === 2)!.architecture['conv2']));
    await shot('graph-classic');
  });

  it('Architecture weights: one section per decision, the heat map marks the derived choice', async () => {
    await open('#/run/runs%2Fdarts/weights');
    await page.waitForSelector('section.decision', WAIT);
    expect(await page.locator('section.decision').count()).toBe(3);
    const marked = await page.locator('section.decision[data-key="op1"] table.heat td.on').count();
    expect(marked).toBe(3); // one per epoch
    expect(await page.locator('section.decision[data-key="op1"] h3').innerText()).toContain('avgpool3x3');
    expect(await page.locator('figure.chart .plot[role="img"]').first().getAttribute('aria-label')).toMatch(/validation accuracy/);
    await shot('weights');
  });

  it('Trials: one row per trial, filter and sort, history and parallel coordinates drawn', async () => {
    await open('#/run/runs%2Fclassic/trials');
    const rows = page.locator('#trials tbody tr');
    await expect.poll(() => rows.count(), WAIT).toBe(trials.length);
    await page.getByRole('button', { name: 'sort by value ↑' }).click();
    const best = [...trials].sort((a, b) => b.objective - a.objective)[0]!;
    expect(await rows.first().getAttribute('data-trial')).toBe(String(best.id));
    await page.getByLabel('filter trials by any text in the row').fill('conv5x5');
    const withConv5 = trials.filter((t) => JSON.stringify(t.architecture).includes('conv5x5')).length;
    expect(withConv5).toBeGreaterThan(0);
    expect(withConv5).toBeLessThan(trials.length);
    await expect.poll(() => rows.count(), WAIT).toBe(withConv5);
    expect(await page.locator('#trial-count').innerText()).toBe(`Showing ${withConv5} of ${trials.length} trials.`);
    await page.getByLabel('filter trials by any text in the row').fill('');
    expect(await page.locator('figure.chart canvas').count()).toBeGreaterThanOrEqual(3);
    expect(await page.locator('figcaption').allInnerTexts()).toEqual(expect.arrayContaining(['Optimization history', 'Intermediate values', 'Parallel coordinates']));
    await shot('trials');
  });

  it('Training curves of the retrain', async () => {
    await open('#/run/runs%2Fclassic/curves');
    await page.waitForSelector('#test-acc', WAIT);
    expect(await page.locator('#test-acc').innerText()).toBe('100.00%');
    expect(await page.locator('figcaption').allInnerTexts()).toEqual(expect.arrayContaining(['Retrain loss', 'Retrain accuracy']));
    await shot('curves');
  });

  it('a running search: a trial appended to its log appears without a reload; a half-written line waits', async () => {
    await open('#/run/runs%2Flive/trials');
    const rows = page.locator('#trials tbody tr');
    await expect.poll(() => rows.count(), WAIT).toBe(2);
    appendFileSync(join(root, 'live', 'trials.jsonl'), `${trialLines[2]}\n${trialLines[3]!.slice(0, 50)}`);
    await expect.poll(() => rows.count(), WAIT).toBe(3);
    expect(await page.locator('#live').innerText()).toMatch(/runs\/live updated/);
    appendFileSync(join(root, 'live', 'trials.jsonl'), `${trialLines[3]!.slice(50)}\n`);
    await expect.poll(() => rows.count(), WAIT).toBe(4);
    expect(await page.locator('.run-head .badge').innerText()).toBe('running');
  });

  it('dark mode follows the system', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    await open('#/run/runs%2Fdarts/graph');
    await page.waitForSelector('svg.graph .node', WAIT);
    const bg = await page.evaluate<string>('getComputedStyle(document.body).backgroundColor');
    expect(bg).toBe('rgb(18, 22, 28)');
    await shot('graph-dark');
    await page.emulateMedia({ colorScheme: 'light' });
  });
});
