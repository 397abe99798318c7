/**
 * The memory plan of training steps (pure, no GPU): on random supernets (test/ir/arbitraries.ts) made trainable —
 * the fixed graph of a random architecture, and the mixed graph of the whole supernet with ∂L/∂w per key —
 * simulating the dispatch list never reads a value whose buffer another value overwrote, and every gradient
 * buffer still holds its gradient after the last dispatch (an optimizer appended there reads it). Gradient
 * buffers belong to no other value.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { trainingSchedule } from '../../src/compile/lower.ts';
import { lowerTraining } from '../../src/compile/lower-train.ts';
import { type Schedule, assignBuffers } from '../../src/compile/memory.ts';
import { mixGraph } from '../../src/compile/mix.ts';
import { type TrainingGraph, trainingGraph } from '../../src/compile/training-graph.ts';
import { type Architecture, apply } from '../../src/ir/index.ts';
import type { Graph } from '../../src/ir/graph.ts';
import { mkNode } from '../../src/ir/node.ts';
import { type Supernet, arbSupernet, arbValidArchitecture } from '../ir/arbitraries.ts';

/** The same check as memory.test.ts: the first read of a clobbered value, or an overwritten output. */
const simulate = (s: Schedule): string | undefined => {
  const { assign } = assignBuffers(s);
  const holder = new Map<number, number>();
  for (const v of s.values) if (v.role === 'input' || v.role === 'param' || v.role === 'choiceWeights' || v.role === 'scalar') holder.set(assign.get(v.id)!, v.id);
  for (let i = 0; i < s.dispatches.length; i++) {
    const d = s.dispatches[i]!;
    for (const [b, v] of d.values.entries()) {
      if (d.kernel.bindings[b]!.access === 'read' && holder.get(assign.get(v)!) !== v) {
        return `dispatch ${i} (${d.label}) reads value ${v} (${s.values[v]!.label}) after value ${holder.get(assign.get(v)!)} overwrote its buffer`;
      }
    }
    d.values.forEach((v, b) => {
      if (d.kernel.bindings[b]!.access === 'read_write') holder.set(assign.get(v)!, v);
    });
  }
  for (const o of s.outputs) if (holder.get(assign.get(o.value)!) !== o.value) return `output ${o.label} was overwritten`;
  return undefined;
};

/** A classifier head over any output shape, so that crossEntropy applies. */
const classifier = (g: Graph): Graph => ({ inputs: g.inputs, outputs: [mkNode({ kind: 'flatten' }, [g.outputs[0]!], 'head/flatten')] });

const check = (step: TrainingGraph): void => {
  const s = trainingSchedule(step.graph, { mode: 'fixed', batch: 2 });
  if (E.isLeft(s)) throw new Error(s.left.map((e) => e.message).join('; '));
  expect(simulate(s.right)).toBeUndefined();
  const p = lowerTraining(step, { mode: 'fixed', batch: 2 });
  if (E.isLeft(p)) throw new Error(p.left.map((e) => e.message).join('; '));
  const { assign } = assignBuffers(s.right);
  const gradBuffers = new Set([...p.right.grads.map((g) => g.grad), ...p.right.choiceGrads.map((g) => g.buffer)]);
  const gradValues = new Set(s.right.outputs.slice(2).map((o) => o.value));
  // No value other than a gradient (or what aliases it: the same logical value) lives in a gradient buffer.
  for (const v of s.right.values) if (gradBuffers.has(assign.get(v.id)!)) expect(gradValues.has(v.id), `${v.label} shares a gradient buffer`).toBe(true);
  expect(p.right.peakBytes).toBeLessThanOrEqual(p.right.unplannedBytes);
};

describe('training memory plan', () => {
  it('fixed architectures of random supernets: no clobbered read, gradients intact at the end', () => {
    fc.assert(
      fc.property(
        arbSupernet.chain((net) => fc.tuple(fc.constant(net), arbValidArchitecture(net.space))),
        ([net, arch]: readonly [Supernet, Architecture]) => {
          const fixed = apply(net.graph, arch);
          fc.pre(E.isRight(fixed));
          if (E.isRight(fixed)) check(trainingGraph(classifier(fixed.right)));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('mixed supernets: the same, with ∂L/∂w per key', () => {
    fc.assert(
      fc.property(arbSupernet, (net) => {
        const mixed = mixGraph(net.graph);
        fc.pre(E.isRight(mixed));
        if (E.isRight(mixed)) check(trainingGraph(classifier(mixed.right.graph), { extraWrt: () => mixed.right.weights.map((w) => w.leaf) }));
      }),
      { numRuns: 60 },
    );
  });
});
