/**
 * Counts the dispatches and distinct pipelines (WGSL sources) of the DARTS supernet's training step (8 cells, 16
 * channels, Fashion-MNIST input, batch 64, mixed relaxation, SGD with momentum), lowered without a device.
 *
 * Run: npx tsx scripts/darts-step-kernels.ts
 */
import * as E from 'fp-ts/lib/Either.js';
import { dartsSpace } from '../examples/darts.ts';
import { lowerTraining } from '../src/compile/lower-train.ts';
import { mixGraph } from '../src/compile/mix.ts';
import { withOptimizer } from '../src/compile/optimizer.ts';
import { trainingGraph } from '../src/compile/training-graph.ts';
import { buildModel, nodes } from '../src/ir/index.ts';

const orThrow = <T>(r: E.Either<readonly { readonly message: string }[], T>): T => {
  if (E.isLeft(r)) throw new Error(r.left.map((e) => e.message).join('; '));
  return r.right;
};
const g = orThrow(buildModel(dartsSpace({ cells: 8, nodes: 4, channels: 16, input: [1, 28, 28], classes: 10 })));
const mixed = orThrow(mixGraph(g));
const step = trainingGraph(mixed.graph, { extraWrt: () => mixed.weights.map((w) => w.leaf) });
const prog = orThrow(withOptimizer(orThrow(lowerTraining(step, { mode: 'fixed', batch: 64, adapter: 'software' })), { optimizer: { kind: 'sgd', lr: 0.01, momentum: 0.9 } })).program;
const sources = new Set(prog.kernels.map((k) => k.wgsl));
const bytes = prog.buffers.reduce((s, b) => s + b.bytes, 0);
console.log(JSON.stringify({ graphNodes: nodes(step.graph).length, dispatches: prog.dispatches.length, kernels: prog.kernels.length, distinctSources: sources.size, bufferMiB: +(bytes / 2 ** 20).toFixed(1) }));
