/**
 * The models of the training bench, and their compiled training steps (forward + backward + SGD momentum in one
 * Program):
 *
 * - `pytorchMnistCnn`: the PyTorch MNIST example network exactly (pytorch/examples mnist/main.py): conv 3×3 1→32,
 *   relu, conv 3×3 32→64, relu, max pool 2, dropout 0.25, flatten, fc 9216→128, relu, dropout 0.5, fc 128→10,
 *   log-softmax. examples/mnist.ts is NNI's variant of it (a 1×1 conv3 and a skip, no relu after conv2), so it is
 *   not used here.
 * - `dartsBench`: examples/darts.ts's `dartsSpace({ cells: 8, channels: 16 })` (the DARTS paper's search network
 *   size) on Fashion-MNIST-shaped input [1, 28, 28], trained as a mixed supernet (mixGraph: every candidate of
 *   every edge computed, weighted by run-time choice weights), with ∂L/∂w per choice key as a DARTS step needs.
 */
import * as E from 'fp-ts/lib/Either.js';
import { dartsSpace } from '../examples/darts.ts';
import { lowerTraining } from '../src/compile/lower-train.ts';
import { mixGraph } from '../src/compile/mix.ts';
import { type OptimizerLayout, type OptimizerSpec, withOptimizer } from '../src/compile/optimizer.ts';
import type { TrainingProgram } from '../src/compile/program.ts';
import { trainingGraph } from '../src/compile/training-graph.ts';
import type { AdapterKind } from '../src/compile/kernels/tiles.ts';
import {
  type Graph,
  type ModelDef,
  buildModel,
  conv2d,
  defineModel,
  dropout,
  flatten,
  linear,
  logSoftmax,
  maxPool2d,
  nodes,
  numel,
  relu,
  sequential,
} from '../src/ir/index.ts';

/** The PyTorch MNIST example CNN, layer for layer (about 1.2 M parameters). */
export const pytorchMnistCnn: ModelDef = defineModel({
  name: 'pytorch-mnist-cnn',
  input: [1, 28, 28],
  layer: sequential({
    conv1: conv2d({ out: 32, kernel: 3 }),
    relu1: relu(),
    conv2: conv2d({ out: 64, kernel: 3 }),
    relu2: relu(),
    pool: maxPool2d({ kernel: 2 }),
    dropout1: dropout(0.25),
    flatten: flatten(),
    fc1: linear({ out: 128 }),
    relu3: relu(),
    dropout2: dropout(0.5),
    fc2: linear({ out: 10 }),
    logSoftmax: logSoftmax(),
  }),
  description: 'the PyTorch MNIST example CNN (conv3x3 1→32, conv3x3 32→64, maxpool, dropout, fc 9216→128→10)',
});

/** The options of the bench's DARTS supernet (also given to the tfjs network of bench/darts-tfjs.ts). */
export const dartsBenchOptions = { cells: 8, nodes: 4, channels: 16, input: [1, 28, 28], classes: 10 } as const;

/** The DARTS supernet of the bench: 8 cells (reductions at 2 and 5), 4 nodes, 16 channels, input [1, 28, 28]. */
export const dartsBench: ModelDef = dartsSpace(dartsBenchOptions);

/** The SGD-with-momentum optimizer of every training row (PyTorch's `SGD(lr=0.01, momentum=0.9)`). */
export const BENCH_SGD: OptimizerSpec = { kind: 'sgd', lr: 0.01, momentum: 0.9 };

/**
 * Floating-point operations of one sample's forward pass through `g`'s conv2d and linear nodes (2 per
 * multiply-add; a supernet counts every candidate, as mixed mode computes them all).
 *
 * @example
 * forwardFlops(build(pytorchMnistCnn)); // 2·(26·26·32·9 + 24·24·64·288 + 9216·128 + 128·10) ≈ 24.0 M
 */
export const forwardFlops = (g: Graph): number =>
  nodes(g).reduce((s, n) => {
    if (n.op.kind !== 'conv2d' && n.op.kind !== 'linear') return s;
    const w = n.inputs[1]?.shape;
    if (w === undefined || w[0] === undefined) return s;
    // numel(out) · (weights per output channel): cout·oh·ow · (cin/groups)·kh·kw for conv2d, out · in for linear.
    return s + 2 * numel(n.shape) * (numel(w) / w[0]);
  }, 0);

/**
 * FLOPs of one training step of `batch` samples, by the usual convention: 3 × the forward conv/linear FLOPs
 * (forward, ∂X, ∂W), an upper bound by one ∂X of the first layer (the image needs no gradient).
 */
export const trainingFlops = (g: Graph, batch: number): number => 3 * forwardFlops(g) * batch;

/** `def` built, or an exception naming it (the bench's models are fixed: a failure is a bug). */
export const buildOrThrow = (def: ModelDef): Graph => {
  const g = buildModel(def);
  if (E.isLeft(g)) throw new Error(`${def.name} does not build: ${g.left.map((e) => e.message).join('; ')}`);
  return g.right;
};

/** A compiled training step: the Program (with its optimizer), and the keys and sizes of its choice weights. */
export interface BenchStep {
  readonly program: TrainingProgram;
  readonly layout: OptimizerLayout;
  /** Mixed supernets: one entry per choice key with its candidate count; empty for a fixed model. */
  readonly choices: readonly { readonly key: string; readonly n: number }[];
  /** Buffers of the Program before the optimizer was appended (the memory plan's own). */
  readonly plannedBuffers: number;
  /** Seconds spent in the (pure) compiler: mixGraph, trainingGraph, lowerTraining, withOptimizer. */
  readonly compileS: number;
}

/**
 * Compiles the training step of `g` at `batch`: mixed (`mixGraph`, with ∂L/∂w per key) when `g` has choices,
 * fixed otherwise, followed by `BENCH_SGD`. Throws on a compile error (the bench's models are fixed).
 */
export const compileStep = (g: Graph, batch: number, adapter: AdapterKind): BenchStep => {
  const t0 = performance.now();
  const mixed = mixGraph(g);
  if (E.isLeft(mixed)) throw new Error(`mixGraph: ${mixed.left.map((e) => e.message).join('; ')}`);
  const leaves = mixed.right.weights.map((w) => w.leaf);
  const step = trainingGraph(mixed.right.graph, leaves.length === 0 ? {} : { extraWrt: () => leaves });
  const prog = lowerTraining(step, { mode: 'fixed', batch, adapter });
  if (E.isLeft(prog)) throw new Error(`lowerTraining: ${prog.left.map((e) => e.message).join('; ')}`);
  const opt = withOptimizer(prog.right, { optimizer: BENCH_SGD });
  if (E.isLeft(opt)) throw new Error(`withOptimizer: ${opt.left.map((e) => e.message).join('; ')}`);
  return {
    program: opt.right.program,
    layout: opt.right.layout,
    plannedBuffers: prog.right.buffers.length,
    choices: mixed.right.weights.map((w) => ({ key: w.key, n: w.n })),
    compileS: (performance.now() - t0) / 1000,
  };
};
