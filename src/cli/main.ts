/**
 * The `nasgraph` command line: one sub-command per file in src/cli. Exit codes: 0 success, 1 errors in the
 * model or architecture (every one listed), 2 wrong usage (unknown flag, missing argument or file).
 *
 * `bin/nasgraph.js` registers tsx and calls `runCli`, so model files may be TypeScript; `tsx src/cli/main.ts`
 * runs this file directly.
 *
 * @example
 * $ nasgraph space examples/darts.ts --json
 * $ nasgraph check examples/mnist.ts arch.json
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { checkCommand } from './check.ts';
import { EXIT_OK, EXIT_USAGE, type Io, processIo } from './io.ts';
import { addExportCommand } from './export.ts';
import { addLatencyCommand } from './latency.ts';
import { addRetrainCommand } from './retrain.ts';
import { addRunCommand } from './run.ts';
import { addSearchCommand } from './search.ts';
import { spaceCommand } from './space.ts';
import { addWorkerCommand } from './worker.ts';
import { addUiCommand } from './ui.ts';
import { addReportCommand } from './report.ts';

/** The program, writing through `io` and reporting its exit code through `setCode` (never exiting itself). */
export const buildProgram = (io: Io, setCode: (code: number) => void): Command => {
  const program = new Command('nasgraph')
    .description('Neural architecture search for TypeScript: search spaces as graphs, compiled to WebGPU.')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride()
    .showSuggestionAfterError(true);

  program
    .command('space')
    .description("list a model's search space: its decisions and the exact number of architectures")
    .argument('<model>', 'model file (.ts or .js) whose default export is a ModelDef')
    .option('--json', "print NNI's ss_gen search-space JSON instead of a table")
    .action(async (model: string, o: { json?: boolean }) => setCode(await spaceCommand(model, o.json === true ? { json: true } : {}, io)));

  program
    .command('check')
    .description('apply an architecture (NNI JSON) to a model and list the fixed model, or every error')
    .argument('<model>', 'model file (.ts or .js) whose default export is a ModelDef')
    .argument('<arch>', 'architecture JSON file (any of the value forms NNI accepts)')
    .action(async (model: string, arch: string) => setCode(await checkCommand(model, arch, io)));

  addRunCommand(program, io, setCode);
  addRetrainCommand(program, io, setCode);
  addSearchCommand(program, io, setCode);
  addExportCommand(program, io, setCode);
  addLatencyCommand(program, io, setCode);
  addWorkerCommand(program, io, setCode);
  addUiCommand(program, io, setCode);
  addReportCommand(program, io, setCode);

  return program;
};

/**
 * Runs the command line `argv` (as `process.argv`: node, script, arguments…) and resolves to the exit code.
 *
 * @example
 * process.exitCode = await runCli(process.argv);
 */
export const runCli = async (argv: readonly string[], io: Io = processIo): Promise<number> => {
  let code = EXIT_OK;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync([...argv]);
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    // Help asked for ends with exit code 0; every other commander error (an unknown flag or command, a missing
    // argument, no command at all) is wrong usage, already printed on stderr.
    return e.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  }
  return code;
};

const isEntry = (): boolean => {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
};

if (isEntry()) process.exitCode = await runCli(process.argv);
