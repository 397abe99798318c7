/**
 * `nasgraph ui [DIR...] [--port N] [--host H] [--model FILE]`: the NAS UI, a live web page over the experiment
 * directories under each DIR (default `runs`): experiments, supernet graph, architecture weights over time,
 * trials, training curves. It reads the runs' files and never writes into them; the page updates live while a
 * search writes. Binds to 127.0.0.1 unless `--host` says otherwise. Runs until Ctrl-C.
 *
 * Exit codes: 0 after Ctrl-C; 1 when the port cannot be bound (in use) or the page is not built; 2 wrong usage.
 *
 * @example
 * $ nasgraph ui runs --port 8080
 */
import { type Command, InvalidArgumentError } from 'commander';
import { pageBuilt, startUiServer, UI_DIST } from '../ui/server.ts';
import { EXIT_ERRORS, EXIT_OK, type Io } from './io.ts';

const port = (v: string): number => {
  const n = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || n > 65535) throw new InvalidArgumentError(`--port must be an integer from 0 to 65535, got '${v}'`);
  return n;
};

/** Options of `uiCommand`. */
export interface UiFlags {
  readonly port: number;
  readonly host: string;
  readonly model?: string;
}

/**
 * Starts the UI server and resolves when it stops (SIGINT/SIGTERM, or `signal`); returns the exit code.
 *
 * @example
 * await uiCommand(['runs'], { port: 0, host: '127.0.0.1' }, io);
 */
export const uiCommand = async (dirs: readonly string[], f: UiFlags, io: Io, signal?: AbortSignal): Promise<number> => {
  if (!pageBuilt()) {
    io.err(`error: the UI page is not built (no ${UI_DIST}/index.html): run \`npm run build:ui\`\n`);
    return EXIT_ERRORS;
  }
  let ui;
  try {
    ui = await startUiServer({ roots: dirs.length > 0 ? dirs : ['runs'], port: f.port, host: f.host, ...(f.model === undefined ? {} : { model: f.model }) });
  } catch (e) {
    io.err(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT_ERRORS;
  }
  io.out(`NAS UI   ${ui.url}  (Ctrl-C to stop)\n`);
  await new Promise<void>((done) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    signal?.addEventListener('abort', stop);
  });
  await ui.close();
  return EXIT_OK;
};

/**
 * `nasgraph search --ui [port]`: starts the UI server over the search's directory `dir` (the graph built from
 * `model`) and prints its URL; resolves to the function that stops it, or to exit code 1 after a one-line error
 * (the page not built, a port in use or not a port).
 *
 * @example
 * const stop = await startUiBeside('runs/a', 'examples/darts.ts', '0', io); // prints "NAS UI   http://127.0.0.1:…/"
 */
export const startUiBeside = async (dir: string, model: string, portFlag: string | true, io: Io): Promise<number | (() => Promise<void>)> => {
  let p: number;
  try {
    p = portFlag === true ? 8080 : port(portFlag);
  } catch (e) {
    io.err(`error: ${(e instanceof Error ? e.message : String(e)).replace('--port', '--ui')}\n`);
    return EXIT_ERRORS;
  }
  if (!pageBuilt()) {
    io.err(`error: --ui: the UI page is not built (no ${UI_DIST}/index.html): run \`npm run build:ui\`\n`);
    return EXIT_ERRORS;
  }
  try {
    const ui = await startUiServer({ roots: [dir], port: p, model });
    io.out(`NAS UI   ${ui.url}  (live while the search runs; afterwards: nasgraph ui ${dir})\n`);
    return ui.close;
  } catch (e) {
    io.err(`error: --ui: ${e instanceof Error ? e.message.replace('--port', '--ui PORT') : String(e)}\n`);
    return EXIT_ERRORS;
  }
};

/** Adds `ui` to the `nasgraph` program. */
export const addUiCommand = (program: Command, io: Io, setCode: (code: number) => void): Command =>
  program
    .command('ui')
    .description('the NAS UI: a live web page over experiment directories (experiments, supernet graph, architecture weights, trials, curves)')
    .argument('[dirs...]', 'experiment directories, or directories holding them (default: runs)')
    .option('--port <n>', 'port to listen on (0: a free one)', port, 8080)
    .option('--host <host>', 'address to bind (default: this machine only)', '127.0.0.1')
    .option('--model <file>', 'model file of runs whose result.json does not name one yet (a running search)')
    .action(async (dirs: string[], o: UiFlags) => setCode(await uiCommand(dirs, o, io)));
