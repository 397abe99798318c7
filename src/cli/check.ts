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
import { type Architecture, type Graph, type Node, type Op, apply, nodes, numel, paramCount, searchSpace, showShape } from '../ir/index.ts';
import { parseArchitectureJson, resolveArchitecture } from '../ir/architecture.ts';
import { loadModel } from '../runtime/load-model.ts';
import { EXIT_ERRORS, EXIT_OK, EXIT_USAGE, type Io } from './io.ts';
import { formatTable, reportLoadErrors } from './space.ts';

const pairStr = (p: readonly [number, number]): string => (p[0] === p[1] ? String(p[0]) : `${p[0]}x${p[1]}`);

/** A short description of an op with the attributes that tell two ops of a kind apart. */
export const describeOp = (node: Node): string => {
  const op: Op = node.op;
  switch (op.kind) {
    case 'conv2d': {
      const w = node.inputs[1]?.shape ?? [];
      const attrs = [`${w[2]}x${w[3]}`];
      if (op.stride[0] !== 1 || op.stride[1] !== 1) attrs.push(`stride ${pairStr(op.stride)}`);
      if (op.padding[0] !== 0 || op.padding[1] !== 0) attrs.push(`pad ${pairStr(op.padding)}`);
      if (op.dilation[0] !== 1 || op.dilation[1] !== 1) attrs.push(`dil ${pairStr(op.dilation)}`);
      if (op.groups !== 1) attrs.push(`groups ${op.groups}`);
      return `conv2d ${attrs.join(' ')}`;
    }
    case 'maxPool2d':
    case 'avgPool2d':
      return `${op.kind} ${op.kernel[0]}x${op.kernel[1]} stride ${pairStr(op.stride)}${op.padding[0] + op.padding[1] > 0 ? ` pad ${pairStr(op.padding)}` : ''}`;
    case 'batchNorm2d':
      return op.affine ? 'batchNorm2d' : 'batchNorm2d (no affine)';
    case 'dropout':
      return `dropout${op.channelwise ? '2d' : ''} ${op.p}`;
    case 'scale':
      return `scale ${op.factor}`;
    case 'zero':
      return op.stride === 1 ? 'zero' : `zero stride ${op.stride}`;
    case 'adaptiveAvgPool2d':
      return `adaptiveAvgPool2d ${op.output[0]}x${op.output[1]}`;
    default:
      return op.kind;
  }
};

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
