// Child processes for the queue tests: `nasgraph` commands and fault-injecting workers (queue-worker.ts), with
// their output collected and a way to wait for a line. Every child is killed at the end (`killAll`).
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const root = join(import.meta.dirname, '..', '..');

export interface Proc {
  readonly child: ChildProcess;
  /** What the child printed so far. */
  readonly out: () => string;
  readonly err: () => string;
  /** Resolves once stdout or stderr (together) match `re`; rejects if the child exits first. */
  readonly waitFor: (re: RegExp) => Promise<void>;
  /** Resolves with the exit code (null: killed by a signal) once the child has exited. */
  readonly exited: Promise<number | null>;
}

const all = new Set<ChildProcess>();

const start = (args: readonly string[], cwd: string): Proc => {
  const child = spawn(process.execPath, [...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, XDG_RUNTIME_DIR: process.env['XDG_RUNTIME_DIR'] ?? '/tmp' } });
  all.add(child);
  let out = '';
  let err = '';
  const watchers: (() => void)[] = [];
  const poke = (): void => {
    for (const w of [...watchers]) w();
  };
  child.stdout!.setEncoding('utf8').on('data', (c: string) => ((out += c), poke()));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => ((err += c), poke()));
  const exited = new Promise<number | null>((done) =>
    child.on('close', (code) => {
      all.delete(child);
      poke();
      done(code);
    }),
  );
  const waitFor = (re: RegExp): Promise<void> =>
    new Promise((done, fail) => {
      const check = (): void => {
        if (re.test(out) || re.test(err)) {
          watchers.splice(watchers.indexOf(check), 1);
          done();
        } else if (child.exitCode !== null || child.signalCode !== null) {
          watchers.splice(watchers.indexOf(check), 1);
          fail(new Error(`the child exited (${child.exitCode ?? child.signalCode}) before printing ${re}:\n${out}\n${err}`));
        }
      };
      watchers.push(check);
      check();
    });
  return { child, out: () => out, err: () => err, waitFor, exited };
};

/** `nasgraph ...args` (the real bin) in `cwd`. */
export const nasgraphProc = (cwd: string, ...args: string[]): Proc => start([join(root, 'bin', 'nasgraph.js'), ...args], cwd);

/** A fault-injecting worker (test/support/queue-worker.ts) with these arguments. */
export const faultyWorker = (cwd: string, args: Readonly<Record<string, unknown>>): Proc =>
  start(['--import', pathToFileURL(join(root, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href, join(root, 'test', 'support', 'queue-worker.ts'), JSON.stringify(args)], cwd);

/** SIGTERMs (then SIGKILLs) every child still running. */
export const killAll = async (): Promise<void> => {
  await Promise.all(
    [...all].map(
      (c) =>
        new Promise<void>((done) => {
          if (c.exitCode !== null || c.signalCode !== null) return done();
          const t = setTimeout(() => c.kill('SIGKILL'), 20_000);
          c.once('close', () => (clearTimeout(t), done()));
          c.kill('SIGTERM');
        }),
    ),
  );
};
