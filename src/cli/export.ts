/**
 * `nasgraph export MODEL --arch arch.json --weights weights.safetensors -o model.onnx`: the fixed model of an
 * architecture with its trained weights (matched by parameter path, as `retrain --init` does) as an ONNX file,
 * in inference form (src/runtime/onnx/export.ts). Every error on its own line: a bad architecture, a missing or
 * mis-shaped tensor, an op without an ONNX mapping (named with its layer).
 *
 * @example
 * $ nasgraph retrain examples/mnist.ts --arch arch.json --data fashion-mnist --epochs 1 --out runs/m
 * $ nasgraph export examples/mnist.ts --arch arch.json --weights runs/m/weights.safetensors -o runs/m/model.onnx
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import * as E from 'fp-ts/lib/Either.js';
import { parseArchitectureJson, resolveArchitecture } from '../ir/architecture.ts';
import { type Graph, apply, exportArchitecture, searchSpace } from '../ir/index.ts';
import { loadModel } from '../runtime/load-model.ts';
import { toOnnx } from '../runtime/onnx/export.ts';
import { paramShapes } from '../runtime/params.ts';
import { matchParameters, readSafetensorsFile } from '../runtime/safetensors.ts';
import { EXIT_ERRORS, EXIT_OK, EXIT_USAGE, type Io } from './io.ts';
import { reportLoadErrors } from './space.ts';

/** Options of `export`. */
export interface ExportOptions {
  /** Architecture JSON file; required when the model has choices. */
  readonly arch?: string;
  /** The trained weights (.safetensors, e.g. `retrain`'s `weights.safetensors`). */
  readonly weights: string;
  /** Where to write the .onnx file. */
  readonly out: string;
}

const fail = (io: Io, code: number, lines: readonly string[]): number => {
  for (const l of lines) io.err(`error: ${l}\n`);
  return code;
};

const readText = (file: string): E.Either<string, string> => {
  try {
    return E.right(readFileSync(file, 'utf8'));
  } catch (e) {
    return E.left(`${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : e instanceof Error ? e.message : String(e)}`);
  }
};

/** Runs `export`; returns the exit code. */
export const exportCommand = async (model: string, o: ExportOptions, io: Io): Promise<number> => {
  const loaded = await loadModel(model);
  if (E.isLeft(loaded)) return reportLoadErrors(io, loaded.left);
  const graph = loaded.right.graph;
  const space = searchSpace(graph);
  let fixed: Graph = graph;
  let archText = '';
  if (space.decisions.length > 0) {
    if (o.arch === undefined) return fail(io, EXIT_USAGE, [`${model} has choices (${space.decisions.map((d) => d.key).join(', ')}): pass --arch arch.json`]);
    const text = readText(o.arch);
    if (E.isLeft(text)) return fail(io, EXIT_USAGE, [text.left]);
    const json = parseArchitectureJson(text.right);
    if (E.isLeft(json)) return fail(io, EXIT_ERRORS, json.left.map((e) => `${o.arch}: ${e.message}`));
    const arch = resolveArchitecture(space, json.right);
    if (E.isLeft(arch)) return fail(io, EXIT_ERRORS, arch.left.map((e) => `${o.arch}: ${e.message}`));
    const applied = apply(graph, arch.right);
    if (E.isLeft(applied)) return fail(io, EXIT_ERRORS, applied.left.map((e) => `${o.arch}: applying it to ${model}: ${e.message}`));
    fixed = applied.right;
    archText = JSON.stringify(exportArchitecture(space, arch.right));
  }
  const file = readSafetensorsFile(o.weights);
  if (E.isLeft(file)) return fail(io, file.left.some((e) => /no such file/.test(e.message)) ? EXIT_USAGE : EXIT_ERRORS, file.left.map((e) => e.message));
  const matched = matchParameters(file.right, paramShapes(fixed), o.weights);
  if (E.isLeft(matched)) return fail(io, EXIT_ERRORS, matched.left.map((e) => e.message));
  const bytes = toOnnx(fixed, matched.right.values, { name: loaded.right.def.name, docString: archText === '' ? '' : `architecture: ${archText}` });
  if (E.isLeft(bytes)) return fail(io, EXIT_ERRORS, bytes.left.map((e) => `${model}: ${e.message}`));
  try {
    writeFileSync(`${o.out}.tmp`, bytes.right);
    renameSync(`${o.out}.tmp`, o.out);
  } catch (e) {
    return fail(io, EXIT_ERRORS, [`${o.out}: cannot write (${e instanceof Error ? e.message : String(e)})`]);
  }
  io.out(`model: ${loaded.right.def.name}${archText === '' ? '' : `  arch: ${archText}`}\n`);
  io.out(`weights: ${o.weights} (${matched.right.values.size} tensors${matched.right.unused.length > 0 ? `, ${matched.right.unused.length} not used by this architecture` : ''})\n`);
  io.out(`wrote ${o.out} (${bytes.right.length} bytes, ONNX opset 13)\n`);
  return EXIT_OK;
};

/** Registers `export` on the command line. */
export const addExportCommand = (program: Command, io: Io, setCode: (code: number) => void): Command =>
  program
    .command('export')
    .description("write the fixed model of an architecture with its trained weights as an ONNX file (inference form: BatchNorm's running statistics)")
    .argument('<model>', 'model file (.ts or .js) whose default export is a ModelDef')
    .option('--arch <file>', 'architecture JSON file (NNI value forms); required when the model has choices')
    .requiredOption('--weights <file>', 'trained weights (.safetensors), matched by parameter path')
    .requiredOption('-o, --out <file>', 'the .onnx file to write')
    .action(async (model: string, o: { arch?: string; weights: string; out: string }) => {
      setCode(await exportCommand(model, { weights: o.weights, out: o.out, ...(o.arch === undefined ? {} : { arch: o.arch }) }, io));
    });
