// Runs the real `nasgraph` bin as a child process, as a user would, and writes scratch files for it.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const root = join(import.meta.dirname, '..', '..');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * How long a child may run before it is killed: far above the slowest loaded run seen (a 3-trial search took 64.6 s
 * at load 9–12, where a 60 s limit failed CI), so that no test depends on the machine's speed; a child that hangs is
 * still ended, below vitest's test timeout (vitest.config.ts), with what it printed.
 */
export const CHILD_TIMEOUT_MS = 480_000;

/** Runs `nasgraph ...args` in the repository root; several calls may run at once. */
export const nasgraph = (...args: string[]): Promise<CliResult> =>
  new Promise((done) => {
    execFile(process.execPath, [join(root, 'bin', 'nasgraph.js'), ...args], { cwd: root, encoding: 'utf8', timeout: CHILD_TIMEOUT_MS }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      done({ code, stdout, stderr });
    });
  });

/** The non-empty lines of a stream. */
export const lines = (s: string): string[] => s.split('\n').filter((l) => l.trim() !== '');

/** A scratch directory; `file` writes into it and returns the path; `dispose` removes it. */
export const scratch = (): { readonly file: (name: string, text: string) => string; readonly dispose: () => void } => {
  const dir = mkdtempSync(join(tmpdir(), 'nasgraph-cli-'));
  return {
    file: (name, text) => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
};

/** An import line for the IR by absolute path, for model files written outside the repository. */
export const irImport = (names: string): string => `import { ${names} } from ${JSON.stringify(join(root, 'src', 'ir', 'index.ts'))};\n`;
