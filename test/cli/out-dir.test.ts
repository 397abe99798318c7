/**
 * The experiment directory (`--out`): created and checked writable before any work (a file in the way, a
 * directory that cannot be written), and locked: a second process on one directory is refused with the holder's
 * pid, and a lock left by a process killed with SIGKILL is recovered.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { afterAll, describe, expect, it } from 'vitest';
import { LOCK_DIR, LOCK_OWNER, lockOut, prepareOut } from '../../src/cli/out-dir.ts';
import { irImport, lines, nasgraph, root, scratch } from './run-cli.ts';

const tmp = scratch();
afterAll(() => tmp.dispose());

const model = tmp.file(
  'fixed.ts',
  `${irImport('block, defineModel, flatten, linear')}
export default defineModel({ name: 'fixed', input: [1, 4, 4], layer: block((ctx, x) => ctx.call('fc', linear({ out: 2 }), flatten()(ctx, x))) });
`,
);

/** A directory this process cannot write: a read-only one, or (as root, whom modes do not stop) sysfs. */
const unwritable = (): string => {
  if (process.getuid?.() === 0) return '/sys/kernel';
  const d = join(tmp.file('ro-marker', ''), '..', 'ro');
  mkdirSync(d, { recursive: true });
  chmodSync(d, 0o555);
  return d;
};

describe('prepareOut', () => {
  it('creates a missing directory with its parents', () => {
    const d = join(tmp.file('x', ''), '..', 'a', 'b', 'c');
    expect(prepareOut(d)).toEqual(E.right(d));
    expect(existsSync(d)).toBe(true);
  });
  it('refuses a file in the way and a directory it cannot write, in one line each', () => {
    const f = tmp.file('a-file', 'x');
    expect(prepareOut(f)).toEqual(E.left(`--out ${f}: is a file, not a directory; choose another --out`));
    const sub = prepareOut(join(f, 'sub'));
    expect(E.isLeft(sub) && sub.left).toMatch(/^--out .*a-file\/sub: a path component is a file, not a directory; choose another --out$/);
    const ro = unwritable();
    expect(prepareOut(ro)).toEqual(E.left(`--out ${ro}: not writable (permission denied); choose another --out`));
  });
});

describe('lockOut', () => {
  it('a second holder is refused with the first holder\'s pid; after the release it gets the lock', async () => {
    const d = join(tmp.file('y', ''), '..', 'locked');
    mkdirSync(d);
    const first = await lockOut(d);
    expect(E.isRight(first)).toBe(true);
    expect(JSON.parse(readFileSync(join(d, LOCK_OWNER), 'utf8'))).toMatchObject({ pid: process.pid });
    const second = await lockOut(d);
    expect(E.isLeft(second) && second.left).toMatch(new RegExp(`is in use by another nasgraph process \\(pid ${process.pid}, since `));
    if (E.isRight(first)) first.right();
    await new Promise((r) => setTimeout(r, 200));
    expect(existsSync(join(d, LOCK_DIR))).toBe(false);
    const third = await lockOut(d);
    expect(E.isRight(third)).toBe(true);
    if (E.isRight(third)) third.right();
  });

  it('a lock left by a process killed with SIGKILL is recovered at once, with a warning naming its pid', async () => {
    const d = join(tmp.file('z', ''), '..', 'killed');
    mkdirSync(d);
    const script = `import { lockOut } from ${JSON.stringify(join(root, 'src', 'cli', 'out-dir.ts'))};\nconst r = await lockOut(${JSON.stringify(d)});\nconsole.log(r._tag === 'Right' ? 'LOCKED' : r.left);\nsetInterval(() => {}, 1000);\n`;
    const file = tmp.file('holder.mts', script);
    const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes('LOCKED')) resolve();
      });
      child.on('exit', () => reject(new Error(`holder exited: ${out}`)));
    });
    const held = await lockOut(d);
    expect(E.isLeft(held) && held.left).toContain(`pid ${child.pid}`);
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    expect(existsSync(join(d, LOCK_DIR))).toBe(true); // SIGKILL leaves the lock behind
    const warnings: string[] = [];
    const after = await lockOut(d, (m) => warnings.push(m));
    expect(E.isRight(after)).toBe(true);
    expect(warnings).toEqual([`recovered a stale lock on ${d} (its holder, pid ${child.pid}, no longer runs)`]);
    if (E.isRight(after)) after.right();
  });
});

describe('the CLI', () => {
  it('search and retrain refuse a --out that is a file, or locked by another process, in one line before any work', async () => {
    const f = tmp.file('out-file', 'x');
    const search = await nasgraph('search', model, '--data', 'synthetic', '--out', f);
    expect(search.code).toBe(2);
    expect(lines(search.stderr)).toEqual([`error: --out ${f}: is a file, not a directory; choose another --out`]);
    const retrain = await nasgraph('retrain', model, '--data', 'synthetic', '--out', unwritable());
    expect(retrain.code).toBe(2);
    expect(lines(retrain.stderr)).toEqual([`error: --out ${unwritable()}: not writable (permission denied); choose another --out`]);
    const d = join(tmp.file('w', ''), '..', 'busy');
    mkdirSync(d);
    const held = await lockOut(d);
    expect(E.isRight(held)).toBe(true);
    const busy = await nasgraph('search', model, '--strategy', 'darts', '--data', 'synthetic', '--out', d);
    expect(busy.code).toBe(2);
    expect(lines(busy.stderr)).toHaveLength(1);
    expect(busy.stderr).toMatch(new RegExp(`^error: ${d} is in use by another nasgraph process \\(pid ${process.pid}, since `));
    if (E.isRight(held)) held.right();
  });
});
