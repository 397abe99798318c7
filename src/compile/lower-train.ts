/**
 * `lowerTraining(step, { mode: 'fixed', batch })`: one Program whose dispatches compute a whole training step —
 * forward (BatchNorm with batch statistics, updating its running statistics in place; dropout drawing from a
 * per-step seed), the loss, and the backward pass down to every trainable parameter's gradient (and, for a mixed
 * graph, ∂L/∂w per choice key). An optimizer (compile/optimizer.ts) appends its update after the last dispatch:
 * the Program names, for each parameter, its buffer and its gradient's, and those gradient buffers are outputs,
 * which the memory plan never reuses, so they hold their values until the end.
 *
 * Inputs: `x` and `labels` (class indices as f32, one per sample). Outputs: [loss (one value), logits, ...grads,
 * ...choice-weight grads]; a run reads back only what it asks for (`readback` in the executor). Per-step scalars:
 * `seed` (u32) when the graph has dropout.
 *
 * @example
 * const step = trainingGraph(fixedModel);
 * const prog = lowerTraining(step, { mode: 'fixed', batch: 64 }); // Either<readonly LowerError[], TrainingProgram>
 * prog.right.grads; // [{ path: 'conv1/weight', param: 3, grad: 17, shape: [32, 1, 3, 3] }, ...]
 */
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { planMemory } from './memory.ts';
import { type LowerError, type LowerOptions, trainingSchedule } from './lower.ts';
import type { TrainingProgram } from './program.ts';
import type { TrainingGraph } from './training-graph.ts';

/** Compiles the training step `step` (from `trainingGraph`) to one Program. Errors as `lower`'s, all collected. */
export const lowerTraining = (step: TrainingGraph, o: LowerOptions): E.Either<readonly LowerError[], TrainingProgram> =>
  pipe(
    trainingSchedule(step.graph, o),
    E.map((s) => {
      const p = planMemory(s);
      const outputAt = (i: number): number => p.outputs[i]!.buffer;
      const paramBuffer = (path: string): number => {
        const found = p.params.find((q) => q.path === path);
        if (found === undefined) throw new Error(`lowerTraining: parameter '${path}' has a gradient but no buffer`);
        return found.buffer;
      };
      const grads = step.grads.map((g, i) => ({ path: g.path, param: paramBuffer(g.path), grad: outputAt(2 + i), shape: g.param.shape }));
      const choiceGrads = step.leafGrads.flatMap((l, j) =>
        l.leaf.op.kind === 'choiceWeights' ? [{ key: l.leaf.op.key, buffer: outputAt(2 + step.grads.length + j) }] : [],
      );
      return { ...p, loss: outputAt(0), logits: 1, grads, choiceGrads };
    }),
  );
