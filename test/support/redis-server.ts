// Starts Debian's redis-server for a test: a free loopback port, a temporary directory, the append-only file on
// (so a restart keeps the queue), optionally a password; `restart` stops it (SIGTERM: Redis flushes its AOF) and
// starts it again on the same port and directory; `stop` ends it and removes the directory.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export const REDIS_SERVER = '/usr/bin/redis-server';

const freePort = (): Promise<number> =>
  new Promise((done, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => done(port));
    });
  });

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  readonly restart: () => Promise<void>;
  readonly stop: () => Promise<void>;
}

const waitReady = async (url: string, child: ChildProcess, log: () => string): Promise<void> => {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}: ${log()}`);
    const r = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    r.on('error', () => undefined);
    try {
      await r.connect();
      if ((await r.ping()) === 'PONG') return;
    } catch {
      // not yet
    } finally {
      r.disconnect();
    }
    await new Promise((d) => setTimeout(d, 100));
  }
  throw new Error(`redis-server did not answer: ${log()}`);
};

/** Starts a server (see the file comment). */
export const startRedis = async (o: { readonly password?: string } = {}): Promise<RedisServer> => {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'nasgraph-redis-'));
  const auth = o.password === undefined ? '' : `:${o.password}@`;
  const url = `redis://${auth}127.0.0.1:${port}`;
  let child: ChildProcess;
  let out = '';
  const launch = async (): Promise<void> => {
    out = '';
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', '', '--daemonize', 'no', '--protected-mode', 'no'];
    if (o.password !== undefined) args.push('--requirepass', o.password);
    child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    await waitReady(url, child, () => out);
  };
  const halt = (): Promise<void> =>
    new Promise((done) => {
      if (child.exitCode !== null || child.signalCode !== null) return done();
      child.once('exit', () => done());
      child.kill('SIGTERM');
    });
  await launch();
  return {
    url,
    port,
    dir,
    restart: async () => {
      await halt();
      await launch();
    },
    stop: async () => {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};

/** A redis-server for one test file, with BullMQ connections and close actions undone at its end. */
export interface RedisFixture {
  /** The server (set by the file's beforeAll). */
  readonly server: () => RedisServer;
  /** A connection for BullMQ in the test, disconnected at the end (BullMQ's close leaves a given connection open). */
  readonly conn: () => Redis;
  /** Close actions run (last first) at the end, before the connections and the server stop. */
  readonly closers: (() => Promise<unknown>)[];
}

/**
 * Registers beforeAll/afterAll hooks (vitest's, passed in) that start a redis-server on a free loopback port and,
 * at the end, run the closers, disconnect every connection from `conn()` and stop the server.
 *
 * @example
 * const fx = redisFixture(beforeAll, afterAll);
 * it('…', async () => { const q = new Queue('q', { connection: fx.conn() }); fx.closers.push(() => q.close()); });
 */
export const redisFixture = (before: (fn: () => Promise<void>) => void, after: (fn: () => Promise<void>) => void): RedisFixture => {
  let redis: RedisServer | undefined;
  const closers: (() => Promise<unknown>)[] = [];
  const opened: Redis[] = [];
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    for (const c of closers.reverse()) await c();
    for (const r of opened) r.disconnect();
    await redis?.stop();
  });
  const server = (): RedisServer => {
    if (redis === undefined) throw new Error('redisFixture: the server is not started yet (use it inside tests)');
    return redis;
  };
  return {
    server,
    conn: () => {
      const r = new Redis(server().url, { maxRetriesPerRequest: null });
      r.on('error', () => undefined);
      opened.push(r);
      return r;
    },
    closers,
  };
};
