/**
 * What a CLI command may do to the outside world besides reading files: write to stdout and stderr. Commands
 * return their exit code instead of calling `process.exit`, so they can be run in-process by tests.
 */

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
