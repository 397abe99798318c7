/**
 * `nasgraph latency MODEL [--batch 32] [-o table.json] [--device NAME] [--fresh] [--repeats 5] [--cache-dir DIR]`:
 * FBNet's latency lookup table of a model, measured on the device — every candidate of every layer choice timed
 * alone at its input shape (src/runtime/oneshot/latency-table.ts). Prints one row per candidate (key, candidate,
 * input shape, µs per batch) and writes the table with `-o` (what `--strategy fbnet --strategy-options
 * '{"latencyTable":FILE}'` reads). Measurements are cached per adapter name, so a second run (or the search
 * itself) measures nothing: `--fresh` measures again.
 *
 * @example
 * $ nasgraph latency examples/fbnet.ts --batch 32 -o runs/fbnet-latency.json
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import * as E from 'fp-ts/lib/Either.js';
import { searchSpace } from '../ir/index.ts';
import { showShape } from '../ir/shape.ts';
import { defaultCacheDir } from '../runtime/autotune.ts';
import { acquireDevice } from '../runtime/device.ts';
import { loadModel } from '../runtime/load-model.ts';
import { latencyCacheFile, measureLatencyTable, writeLatencyTable } from '../runtime/oneshot/latency-table.ts';
import { EXIT_ERRORS, EXIT_OK, type Io } from './io.ts';
import { formatTable, reportLoadErrors } from './space.ts';

/** Options of `latency`. */
export interface LatencyCommandOptions {
  /** Samples per timed run (use the search's batch size). */
  readonly batch: number;
  /** Where to write the table (JSON); none: print only. */
  readonly out?: string;
  /** Adapter name filter (e.g. `llvmpipe`, `nvidia`). */
  readonly device?: string;
  /** Measure again even when cached. */
  readonly fresh?: boolean;
  /** Timed rounds per candidate (the median is kept). */
  readonly repeats?: number;
  /** The cache directory (default $NASGRAPH_CACHE_DIR, $XDG_CACHE_HOME/nasgraph or ~/.cache/nasgraph). */
  readonly cacheDir?: string;
}

/** Runs `latency`; returns the exit code. */
export const latencyCommand = async (model: string, o: LatencyCommandOptions, io: Io): Promise<number> => {
  const loaded = await loadModel(model);
  if (E.isLeft(loaded)) return reportLoadErrors(io, loaded.left);
  const { graph, def } = loaded.right;
  const space = searchSpace(graph);
  if (!space.decisions.some((d) => d.kind === 'layer')) {
    io.err(`error: ${model} has no layer choice: there is nothing to time\n`);
    return EXIT_ERRORS;
  }
  const gpu = await acquireDevice(o.device === undefined ? {} : { adapter: o.device });
  if (E.isLeft(gpu)) {
    io.err(`error: ${gpu.left.message}\n`);
    return EXIT_ERRORS;
  }
  const cacheDir = o.cacheDir ?? defaultCacheDir();
  const table = await measureLatencyTable(gpu.right, graph, {
    model: def.name,
    batch: o.batch,
    cacheDir,
    ...(o.repeats === undefined ? {} : { repeats: o.repeats }),
    ...(o.fresh === true ? { fresh: true } : {}),
    note: (line) => io.err(`measured ${line}\n`),
  });
  if (E.isLeft(table)) {
    for (const m of table.left) io.err(`error: ${model}: ${m}\n`);
    return EXIT_ERRORS;
  }
  const t = table.right;
  const rows = Object.entries(t.layers).flatMap(([key, row]) =>
    row.candidates.map((c, i) => [key, c, showShape(row.inputShape), row.latency[i]!.toFixed(1)]),
  );
  io.out(`model: ${t.model}  adapter: ${t.adapter}  batch: ${t.batch}\n`);
  io.out(`${formatTable(['KEY', 'CANDIDATE', 'INPUT', 'US_PER_BATCH'], rows)}\n`);
  io.out(`cache: ${latencyCacheFile(cacheDir, t.adapter)}\n`);
  if (o.out !== undefined) {
    try {
      writeLatencyTable(o.out, t);
    } catch (e) {
      io.err(`error: ${o.out}: cannot write (${e instanceof Error ? e.message : String(e)})\n`);
      return EXIT_ERRORS;
    }
    io.out(`wrote ${o.out}\n`);
  }
  return EXIT_OK;
};

const positiveInt =
  (what: string) =>
  (v: string): number => {
    const n = Number(v);
    if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be a positive integer, got '${v}'`);
    return n;
  };

/** Registers `latency` on the command line. */
export const addLatencyCommand = (program: Command, io: Io, setCode: (code: number) => void): Command =>
  program
    .command('latency')
    .description("measure FBNet's latency lookup table on the device: every candidate of every layer choice, alone at its input shape (cached per adapter)")
    .argument('<model>', 'model file (.ts or .js) whose default export is a ModelDef')
    .option('--batch <n>', 'samples per timed run (the search batch size)', positiveInt('--batch'), 32)
    .option('-o, --out <file>', 'write the table (JSON) here, for --strategy-options {"latencyTable":FILE}')
    .option('--device <name>', 'use the adapter whose name contains this text (e.g. llvmpipe, nvidia)')
    .option('--fresh', 'measure again even when the cache has the figures')
    .option('--repeats <n>', 'timed rounds per candidate (median kept)', positiveInt('--repeats'))
    .option('--cache-dir <dir>', 'the latency cache directory')
    .action(async (model: string, o: { batch: number; out?: string; device?: string; fresh?: boolean; repeats?: number; cacheDir?: string }) => {
      setCode(
        await latencyCommand(
          model,
          {
            batch: o.batch,
            ...(o.out === undefined ? {} : { out: o.out }),
            ...(o.device === undefined ? {} : { device: o.device }),
            ...(o.fresh === true ? { fresh: true } : {}),
            ...(o.repeats === undefined ? {} : { repeats: o.repeats }),
            ...(o.cacheDir === undefined ? {} : { cacheDir: o.cacheDir }),
          },
          io,
        ),
      );
    });
