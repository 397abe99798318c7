// `nasgraph search ... --ui`: the UI server starts beside the search (a child process, as a user runs it), prints
// its URL, answers while the search runs and shows the run; a port in use is a one-line error, exit 1.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunsList } from '../../src/ui/server.ts';
import { CHILD_TIMEOUT_MS, lines, nasgraph, root } from '../cli/run-cli.ts';
import { ensurePageBuilt } from './chromium.ts';

process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
const dir = mkdtempSync(join(tmpdir(), 'nasgraph-search-ui-'));
const tiny = ['--data', 'synthetic', '--train-size', '64', '--valid-size', '32', '--test-size', '32', '--batch', '16', '--epochs', '1', '--retrain-epochs', '0'];

beforeAll(async () => ensurePageBuilt());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('nasgraph search --ui', () => {
  it('prints the URL and serves the run while the search runs', async () => {
    const out = join(dir, 'run');
    const child = spawn(process.execPath, [join(root, 'bin', 'nasgraph.js'), 'search', 'examples/fashion-small.ts', '--strategy', 'random', '--trials', '2', '--out', out, '--ui', '0', ...tiny], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    let stdout = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => void (stderr += c));
    // The server's answers, asked from the moment the URL is printed until they list the run (its search.json is
    // written once the search has started) or the search ends.
    let ended = false;
    child.on('close', () => void (ended = true));
    const answer = new Promise<RunsList | string>((done) => {
      const poll = async (url: URL): Promise<void> => {
        while (!ended) {
          try {
            const list = (await (await fetch(url)).json()) as RunsList;
            if (list.runs.length > 0) return done(list);
          } catch (e) {
            return done(String(e));
          }
          await new Promise((r) => setTimeout(r, 200));
        }
        done('the search ended before the server listed the run');
      };
      child.stdout.setEncoding('utf8').on('data', (c: string) => {
        const had = /NAS UI {3}(http:\/\/\S+)/.test(stdout);
        stdout += c;
        const m = /NAS UI {3}(http:\/\/\S+)/.exec(stdout);
        if (m !== null && !had) void poll(new URL('api/runs', m[1]));
      });
      child.on('close', () => done('the search ended before the server listed the run'));
    });
    const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    clearTimeout(killer);
    expect(stderr.includes('error'), stderr).toBe(false);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^NAS UI {3}http:\/\/127\.0\.0\.1:\d+\/ {2}\(live while the search runs; afterwards: nasgraph ui /m);
    const a = await answer;
    expect(typeof a === 'string' ? a : a.runs.map((r) => [r.id, r.status])).toEqual([['run', 'running']]);
    expect(existsSync(join(out, 'result.json'))).toBe(true);
  });

  it('a port in use is a one-line error, exit 1, and nothing is left behind', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    const out = join(dir, 'refused');
    const r = await nasgraph('search', 'examples/fashion-small.ts', '--out', out, '--ui', String(port), ...tiny);
    await new Promise<void>((done) => blocker.close(() => done()));
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual([`error: --ui: port ${port} on 127.0.0.1 is in use: choose another with --ui PORT`]);
    expect(existsSync(out)).toBe(false);
  });
});
