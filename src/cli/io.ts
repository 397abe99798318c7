/**
 * What a CLI command may do to the outside world besides reading files: write to stdout and stderr. Commands
 * return their exit code instead of calling `process.exit`, so they can be run in-process by tests.
 */
import { InvalidArgumentError } from 'commander';

export interface Io {
  /** Writes text to stdout as is (callers add the newline). */
  readonly out: (text: string) => void;
  /** Writes text to stderr as is. */
  readonly err: (text: string) => void;
}

/** The process's own streams. */
export const processIo: Io = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

/** Exit codes: success, errors in the model or architecture, wrong usage (bad flags, a missing file). */
export const EXIT_OK = 0;
export const EXIT_ERRORS = 1;
export const EXIT_USAGE = 2;

/**
 * A commander parser for a count flag (`--batch`, `--epochs`, …): an integer ≥ `min`, written in decimal or
 * exponent notation (`--batch 1e9` is the integer 1,000,000,000; whether the device can hold it is checked later,
 * with its own message). Throws commander's `InvalidArgumentError` with a message naming the flag and the value.
 *
 * @example
 * program.option('--batch <n>', 'batch size', countFlag('--batch', 1), 32);
 * countFlag('--batch', 1)('1e9'); // 1000000000
 * countFlag('--batch', 1)('1.5'); // throws "--batch must be an integer ≥ 1, got '1.5'"
 */
export const countFlag =
  (flag: string, min: number) =>
  (v: string): number => {
    const n = Number(v);
    if (!/^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(v) || !Number.isFinite(n)) throw new InvalidArgumentError(`${flag} must be an integer ≥ ${min}, got '${v}'`);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${flag} must be an integer ≥ ${min}, got '${v}'`);
    if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`${flag} ${v} is too large (at most ${Number.MAX_SAFE_INTEGER})`);
    return n;
  };

/**
 * Why `batch` cannot train on these sets (the first one with fewer samples than one batch: the last short batch of
 * an epoch is dropped, so such a set gives no step at all), or undefined. Checked before any device work.
 *
 * @example
 * batchExceeds(30000, [['training set', 2500]]); // "--batch 30000 is larger than the training set (2500 samples): …"
 */
export const batchExceeds = (batch: number, sets: readonly (readonly [string, number])[]): string | undefined => {
  const short = sets.find(([, n]) => n < batch);
  return short === undefined ? undefined : `--batch ${batch} is larger than the ${short[0]} (${short[1]} samples): no step would run; use --batch ${short[1]} or less`;
};
