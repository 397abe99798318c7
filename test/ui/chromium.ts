// Headless Chromium for the NAS UI's browser tests: Debian's /usr/bin/chromium (installed by scripts/setup.sh)
// driven by playwright-core (never a browser download), with a fresh profile; and the page built if it is not.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import lockfile from 'proper-lockfile';
import { pageBuilt } from '../../src/ui/server.ts';

/** The browser binary: $CHROMIUM or Debian's. */
export const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium';

/** Flags that work on a headless, sandbox-less CI machine. */
export const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/**
 * Builds the page (`npm run build:ui`) unless ui/dist holds it (CI's setup.sh has built it already). Test files
 * run in parallel: a lock on ui/ lets one build while the others wait, then find it built.
 */
export const ensurePageBuilt = async (): Promise<void> => {
  if (pageBuilt()) return;
  const ui = join(import.meta.dirname, '..', '..', 'ui');
  const release = await lockfile.lock(ui, { stale: 600_000, retries: { retries: 900, minTimeout: 1000, maxTimeout: 1000 } });
  try {
    if (!pageBuilt()) execFileSync('npm', ['run', 'build:ui', '--silent'], { cwd: join(ui, '..'), stdio: 'inherit' });
  } finally {
    await release();
  }
};

/** A fresh browser with a laptop-sized viewport; `close` also removes its profile. */
export const launchChromium = async (): Promise<{ context: BrowserContext; close: () => Promise<void> }> => {
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: scripts/setup.sh installs Debian's chromium`);
  const profile = mkdtempSync(join(tmpdir(), 'nasgraph-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1366, height: 800 },
    timeout: 180_000,
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
};

/** Where the tests save the screenshots the README shows. */
export const SCREENSHOTS = join(import.meta.dirname, '..', '..', 'docs', 'screenshots');
