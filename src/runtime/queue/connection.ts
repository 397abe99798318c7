/**
 * Redis connections for the trial queue, through ioredis (BullMQ's client). Every connection retries forever
 * with a capped backoff and never fails a command while Redis is away (`maxRetriesPerRequest: null`, as BullMQ's
 * workers require), so a Redis restart pauses a search instead of ending it. `probeRedis` is the one exception:
 * it checks once, at start, that the URL reaches a Redis, so a typo is an error and not a silent wait.
 *
 * @example
 * const p = await probeRedis('redis://127.0.0.1:6379'); // Left('cannot reach Redis at redis://127.0.0.1:6379: connect ECONNREFUSED …')
 */
import * as E from 'fp-ts/lib/Either.js';
import { Redis } from 'ioredis';
import { redactUrl } from './protocol.ts';

/** A connection that waits through outages (see the module comment). Close it with `quit()` or `disconnect()`. */
export const connectRedis = (url: string): Redis =>
  new Redis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (times) => Math.min(100 * times, 1000),
  });

/** Messages from ioredis, without the URL (which may hold a password). */
const errorText = (url: string, e: unknown): string => {
  const m = e instanceof Error ? e.message : String(e);
  const u = (() => {
    try {
      return new URL(url).password;
    } catch {
      return '';
    }
  })();
  return u === '' ? m : m.split(u).join('***');
};

/** Right when a Redis answers PING at `url` within `timeoutMs`; left with a one-line message (password hidden). */
export const probeRedis = async (url: string, timeoutMs = 10_000): Promise<E.Either<string, void>> => {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs, enableOfflineQueue: false });
  // The socket's error (ECONNREFUSED, a wrong password) says more than the rejected connect ('Connection is closed.').
  let first: unknown;
  r.on('error', (e: unknown) => {
    first ??= e;
  });
  try {
    await r.connect();
    await r.ping();
    return E.right(undefined);
  } catch (e) {
    return E.left(`cannot reach Redis at ${redactUrl(url)}: ${errorText(url, first ?? e)}`);
  } finally {
    r.disconnect();
  }
};

/** `connectRedis` that swallows connection errors (ioredis reconnects by itself) after reporting the first of a run. */
export const quietRedis = (url: string, warn: (message: string) => void): Redis => {
  const r = connectRedis(url);
  let down = false;
  r.on('error', (e: unknown) => {
    if (!down) warn(`Redis at ${redactUrl(url)} is unreachable (${errorText(url, e)}); retrying`);
    down = true;
  });
  r.on('ready', () => {
    down = false;
  });
  return r;
};
