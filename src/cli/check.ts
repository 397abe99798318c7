/**
 * `nasgraph check <model> <arch.json>`: resolves an architecture file (any of NNI's value forms) against the
 * model's search space, applies it, and prints the fixed model: one line per op node in topological order
 * (name, op, output shape, trainable parameters) and the total. On errors it lists every one, one per line,
 * each naming the file at fault, and exits 1.
 *
 * @example
 * $ nasgraph check examples/mnist.ts arch.json   # arch.json: {"conv1": "conv5x5", "skipcon": []}
 */
import { readFile } from 'node:fs/promises';
import * as E from 'fp-ts/lib/Either.js';
import { type Architecture, type Graph, type Node, apply, nodes, numel, paramCount, searchSpace, showOp, showShape } from '../ir/index.ts';
import { parseArchitectureJson, resolveArchitecture } from '../ir/architecture.ts';
import { loadModel } from '../runtime/load-model.ts';
import { EXIT_ERRORS, EXIT_OK, EXIT_USAGE, type Io } from './io.ts';
import { formatTable, reportLoadErrors } from './space.ts';

/** A short description of an op with the attributes that tell two ops of a kind apart (the op's registered printer). */
export const describeOp = (node: Node): string =>
  showOp(
    node.op,
    node.inputs.map((i) => i.shape),
  );

/** Trainable scalars among a node's parameter inputs. */
const ownParams = (node: Node): number =>
  node.inputs.reduce((s, i) => s + (i.op.kind === 'param' && i.op.trainable ? numel(i.shape) : 0), 0);

/** The listing of a fixed graph: every op node (not parameters or inputs) in topological order, and the total. */
export const formatFixedModel = (g: Graph): string => {
  const rows = nodes(g)
    .filter((n) => n.op.kind !== 'param' && n.op.kind !== 'input')
    .map((n) => [n.name, describeOp(n), showShape(n.shape), String(ownParams(n))]);
  return `${formatTable(['NODE', 'OP', 'SHAPE', 'PARAMS'], rows)}\n\ntrainable parameters: ${paramCount(g)}\n`;
};

/** Runs `check`; returns the exit code. */
export const checkCommand = async (model: string, archFile: string, io: Io): Promise<number> => {
  const loaded = await loadModel(model);
  if (E.isLeft(loaded)) return reportLoadErrors(io, loaded.left);
  let text: string;
  try {
    text = await readFile(archFile, 'utf8');
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : e instanceof Error ? e.message : String(e);
    io.err(`error: ${archFile}: ${why}\n`);
    return EXIT_USAGE;
  }
  const { graph } = loaded.right;
  const fail = (messages: readonly string[]): number => {
    for (const m of messages) io.err(`error: ${archFile}: ${m}\n`);
    return EXIT_ERRORS;
  };
  const json = parseArchitectureJson(text);
  if (E.isLeft(json)) return fail(json.left.map((e) => e.message));
  const arch: E.Either<readonly { readonly message: string }[], Architecture> = resolveArchitecture(searchSpace(graph), json.right);
  if (E.isLeft(arch)) return fail(arch.left.map((e) => e.message));
  const fixed = apply(graph, arch.right);
  if (E.isLeft(fixed)) return fail(fixed.left.map((e) => `applying it to ${model}: ${e.message}`));
  io.out(formatFixedModel(fixed.right));
  return EXIT_OK;
};
