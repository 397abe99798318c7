/**
 * `nasgraph worker` and `nasgraph search --queue` refusing bad input as a user meets it (the real bin, child
 * processes): a malformed queue URL or queue name is wrong usage (exit 2, one line naming the flag), a Redis that
 * does not answer is an error (exit 1) naming the URL without its password, and `--queue` with a one-shot strategy
 * is wrong usage. The working paths (trials on workers, faults) are in test/runtime/queue/faults.test.ts.
 */
import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT_ERRORS, EXIT_USAGE } from '../../src/cli/io.ts';
import { irImport, lines, nasgraph, scratch } from './run-cli.ts';

process.env['XDG_RUNTIME_DIR'] ??= '/tmp';

const tmp = scratch();
afterAll(() => tmp.dispose());

/** A loopback port nothing listens on (taken from the OS, then released). */
const closedPort = (): Promise<number> =>
  new Promise((done, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => done(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });

const model = tmp.file(
  'tiny.ts',
  `${irImport('block, conv2d, defineModel, flatten, layerChoice, linear')}
export default defineModel({ name: 'tiny', input: [1, 6, 6], layer: block((ctx, x) => {
  const c = ctx.call('conv', layerChoice({ k3: conv2d({ out: 4, kernel: 3, padding: 1 }), k1: conv2d({ out: 4, kernel: 1 }) }), x);
  return ctx.call('fc', linear({ out: 3 }), flatten()(ctx, c));
}) });
`,
);

describe('nasgraph worker / search --queue: bad input', () => {
  it.concurrent('worker: a URL that is not redis:// and a bad queue name are wrong usage, both named', async () => {
    const r = await nasgraph('worker', '--queue', 'http://:hunter2@example.org', '--queue-name', 'a b');
    expect(r.code).toBe(EXIT_USAGE);
    expect(lines(r.stderr)).toEqual([
      'error: --queue http://:***@example.org: not a redis:// or rediss:// URL',
      "error: --queue-name must be 1–64 letters, digits, '.', '_' or '-', got 'a b'",
    ]);
    expect(r.stderr).not.toContain('hunter2');
  });

  it.concurrent('worker: a Redis that does not answer is an error naming the URL without its password', async () => {
    const port = await closedPort();
    const r = await nasgraph('worker', '--queue', `redis://:hunter2@127.0.0.1:${port}`);
    expect(r.code).toBe(EXIT_ERRORS);
    const errs = lines(r.stderr);
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatch(new RegExp(`^error: --queue: cannot reach Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
    expect(r.stderr + r.stdout).not.toContain('hunter2');
  });

  it.concurrent('worker: --concurrency 0 is wrong usage', async () => {
    const r = await nasgraph('worker', '--queue', 'redis://127.0.0.1:1', '--concurrency', '0');
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.stderr).toMatch(/--concurrency must be an integer ≥ 1, got '0'/);
  });

  it.concurrent('search --queue: a one-shot strategy is wrong usage; an unreachable Redis is an error, password hidden', async () => {
    const oneShot = await nasgraph('search', model, '--strategy', 'darts', '--out', tmp.file('x', '') + '-d', '--queue', 'redis://127.0.0.1:1');
    expect(oneShot.code).toBe(EXIT_USAGE);
    expect(lines(oneShot.stderr)).toEqual(['error: --queue is for classic searches (trials); a one-shot search trains one supernet in process']);
    const port = await closedPort();
    const out = `${tmp.file('y', '')}-run`;
    const r = await nasgraph('search', model, '--strategy', 'grid', '--trials', '1', '--data', 'synthetic', '--out', out, '--queue', `redis://:hunter2@127.0.0.1:${port}`);
    expect(r.code).toBe(EXIT_ERRORS);
    expect(r.stderr).toMatch(new RegExp(`^error: --queue: cannot reach Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port}: `, 'm'));
    expect(r.stderr + r.stdout).not.toContain('hunter2');
  });
});
