/**
 * The experiment directory (`--out`) of `search` and `retrain`: created and checked writable before any work, and
 * locked for the life of the command, so that two processes never run on one directory (they would overwrite each
 * other's trials, checkpoints and results). The lock is proper-lockfile's (a maintained library: an atomic `mkdir`
 * of `DIR/.nasgraph.lock`, its mtime refreshed while held, stale after 30 s without refresh); the holder's pid is
 * written beside it (`DIR/.nasgraph.lock.json`) so that a refusal names it, and a lock whose holder no longer runs
 * on this host (killed with SIGKILL) is recovered at once instead of after the stale period.
 *
 * @example
 * const out = prepareOut('runs/x');            // Either<string, string>: the absolute path, or one line
 * const lock = await lockOut(out.right);      // Either<string, () => void>: release, or who holds it
 */
import { accessSync, constants, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import lockfile from 'proper-lockfile';

/** The lock directory proper-lockfile creates inside the experiment directory. */
export const LOCK_DIR = '.nasgraph.lock';
/** Who holds the lock: `{ pid, host, since }`. */
export const LOCK_OWNER = '.nasgraph.lock.json';

const ownerCodec = t.type({ pid: t.number, host: t.string, since: t.string });
type Owner = t.TypeOf<typeof ownerCodec>;

const reason = (e: unknown): string => {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return 'not writable (permission denied)';
  if (code === 'EEXIST' || code === 'ENOTDIR') return 'a path component is a file, not a directory';
  return e instanceof Error ? e.message : String(e);
};

/**
 * Creates `dir` (and its parents) and checks that files can be written there; left: one line naming `flag` and the
 * directory (a file in the way, no permission, a read-only file system).
 */
export const prepareOut = (dir: string, flag = '--out'): E.Either<string, string> => {
  const abs = resolve(dir);
  if (existsSync(abs) && !statSync(abs).isDirectory()) return E.left(`${flag} ${abs}: is a file, not a directory; choose another ${flag}`);
  try {
    mkdirSync(abs, { recursive: true });
    accessSync(abs, constants.W_OK);
    // access() says yes to root on a read-only mount or a pseudo file system: write a probe to be sure.
    const probe = join(abs, `.nasgraph-write-probe-${process.pid}`);
    writeFileSync(probe, '');
    unlinkSync(probe);
  } catch (e) {
    return E.left(`${flag} ${abs}: ${reason(e)}; choose another ${flag}`);
  }
  return E.right(abs);
};

/**
 * Removes `dir` when it holds nothing but (released) lock files: what a command that created `dir` and was then
 * refused leaves behind. Anything else in it is kept.
 */
export const removeIfEmpty = (dir: string): void => {
  try {
    if (readdirSync(dir).every((f) => f === LOCK_DIR || f === LOCK_OWNER)) rmSync(dir, { recursive: true, force: true });
  } catch {
    // Gone already, or unreadable: nothing to clean.
  }
};

const readOwner = (dir: string): Owner | undefined => {
  try {
    const d = ownerCodec.decode(JSON.parse(readFileSync(join(dir, LOCK_OWNER), 'utf8')));
    return E.isRight(d) ? d.right : undefined;
  } catch {
    return undefined;
  }
};

const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Takes the exclusive lock on experiment directory `dir` (which must exist). Right: the release (also done by
 * proper-lockfile on any exit of the process). Left: one line naming the holder's pid. `warn` receives a note
 * when a stale lock (its holder gone) is recovered.
 */
export const lockOut = async (dir: string, warn: (line: string) => void = () => {}): Promise<E.Either<string, () => void>> => {
  const lockPath = join(dir, LOCK_DIR);
  const options = { lockfilePath: lockPath, realpath: false, stale: 30_000, retries: 0, onCompromised: () => warn(`the lock on ${dir} was taken over by another process`) };
  const owner = readOwner(dir);
  if (existsSync(lockPath) && owner !== undefined && owner.host === hostname() && owner.pid !== process.pid && !isRunning(owner.pid)) {
    // The holder was killed (SIGKILL leaves the lock behind): no process refreshes it, so it is safe to take.
    rmSync(lockPath, { recursive: true, force: true });
    warn(`recovered a stale lock on ${dir} (its holder, pid ${owner.pid}, no longer runs)`);
  }
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(dir, options);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ELOCKED') return E.left(`${dir}: cannot lock (${reason(e)})`);
    const o = readOwner(dir);
    const who = o === undefined ? 'another nasgraph process' : `another nasgraph process (pid ${o.pid}${o.host === hostname() ? '' : ` on ${o.host}`}, since ${o.since})`;
    return E.left(`${dir} is in use by ${who}: wait for it to end or stop it; two processes on one directory would overwrite each other's work`);
  }
  try {
    writeFileSync(join(dir, LOCK_OWNER), `${JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() })}\n`);
  } catch {
    // The lock holds without the note; a refusal then names no pid.
  }
  return E.right(() => {
    try {
      unlinkSync(join(dir, LOCK_OWNER));
    } catch {
      // already gone
    }
    release().catch(() => {});
  });
};
