/**
 * `nasgraph report [DIR...] [-o FILE] [--model FILE]`: the NAS UI's views (experiments, supernet graph,
 * architecture weights, trials, training curves) of every run under each DIR as one self-contained HTML file, to
 * share or archive: data, script and styles inlined, it opens from disk with no server.
 *
 * Exit codes: 0 written; 1 no run found, the page not built, or the file cannot be written; 2 wrong usage.
 *
 * @example
 * $ nasgraph report runs/darts -o report.html
 */
import * as fs from 'node:fs';
import type { Command } from 'commander';
import * as E from 'fp-ts/lib/Either.js';
import { buildReport } from '../ui/report.ts';
import { EXIT_ERRORS, EXIT_OK, type Io } from './io.ts';

/** Options of `reportCommand`. */
export interface ReportFlags {
  readonly output: string;
  readonly model?: string;
}

/**
 * Writes the report of `dirs` (default `runs`) to `f.output`; returns the exit code.
 *
 * @example
 * await reportCommand(['runs'], { output: 'report.html' }, processIo);
 */
export const reportCommand = async (dirs: readonly string[], f: ReportFlags, io: Io): Promise<number> => {
  const r = await buildReport(dirs.length > 0 ? dirs : ['runs'], f.model === undefined ? {} : { model: f.model });
  if (E.isLeft(r)) {
    io.err(`error: ${r.left}\n`);
    return EXIT_ERRORS;
  }
  try {
    fs.writeFileSync(f.output, r.right.html);
  } catch (e) {
    io.err(`error: cannot write ${f.output}: ${(e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e))}\n`);
    return EXIT_ERRORS;
  }
  io.out(`report of ${r.right.runs} run${r.right.runs === 1 ? '' : 's'} written to ${f.output} (${(r.right.html.length / 1024 / 1024).toFixed(1)} MB, self-contained)\n`);
  return EXIT_OK;
};

/** Adds `report` to the `nasgraph` program. */
export const addReportCommand = (program: Command, io: Io, setCode: (code: number) => void): Command =>
  program
    .command('report')
    .description('the NAS UI views of experiment directories as one self-contained HTML file')
    .argument('[dirs...]', 'experiment directories, or directories holding them (default: runs)')
    .option('-o, --output <file>', 'the HTML file to write', 'report.html')
    .option('--model <file>', 'model file of runs whose result.json does not name one')
    .action(async (dirs: string[], o: ReportFlags) => setCode(await reportCommand(dirs, o, io)));
