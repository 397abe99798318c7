/**
 * The executor on training Programs: reading back only the loss, per-step scalars (the dropout seed), parameters
 * that stay on the device across runs (BatchNorm running statistics accumulate run after run, as the reference
 * applied twice), readParams / writeParams, and the errors of each. Tolerance 2e-4 relative to each array's scale
 * (see test/compile/lower-train-harness.ts).
 */
import * as E from 'fp-ts/lib/Either.js';
import { expect, it } from 'vitest';
import { batchNorm2d, buildModel, conv2d, defineModel, dropout, flatten, linear, relu, sequential } from '../../src/ir/index.ts';
import { lowerTraining } from '../../src/compile/lower-train.ts';
import { trainingGraph } from '../../src/compile/training-graph.ts';
import { Executable } from '../../src/runtime/execute.ts';
import { describeGpu } from '../gpu.ts';
import { closeTo, randomCase, referenceOf } from '../compile/lower-train-harness.ts';

const built = buildModel(
  defineModel({
    name: 't',
    input: [1, 5, 5],
    layer: sequential({ conv: conv2d({ out: 3, kernel: 3 }), bn: batchNorm2d({}), act: relu(), drop: dropout(0.5), flat: flatten(), fc: linear({ out: 4 }) }),
  }),
);
if (E.isLeft(built)) throw new Error('build');
const step = trainingGraph(built.right);
const B = 4;
const prog = lowerTraining(step, { mode: 'fixed', batch: B });
if (E.isLeft(prog)) throw new Error(prog.left.map((e) => e.message).join('; '));
const program = prog.right;
const base = randomCase(step.graph.outputs, B, 3, 4);
const inputs = { x: base.inputs['x']!, labels: base.inputs['labels']! };

const unwrap = <T>(r: E.Either<readonly { readonly message: string }[], T>): T => {
  if (E.isLeft(r)) throw new Error(r.left.map((e) => e.message).join('; '));
  return r.right;
};

await describeGpu('executing training programs', (gpu) => {
  it('reads back only what is asked; the seed scalar drives dropout; running statistics accumulate across runs', async () => {
    expect(program.scalars.map((s) => s.name)).toEqual(['seed']);
    const exe = unwrap(await Executable.instantiate(gpu, program, base.params));
    try {
      const r1 = unwrap(await exe.run({ inputs, readback: [0], scalars: { seed: 1 } }));
      expect(r1.length).toBe(1);
      expect(r1[0]!.length).toBe(1); // the loss: unbatched, one value
      const ref1 = referenceOf(step.graph, { ...base, seed: 1 });
      closeTo(r1[0]!, ref1.outputs[0]!, 'loss (seed 1)', 2e-4);
      // Second step with another seed: the parameters on the device now hold the updated running statistics.
      const after1 = new Map([...base.params, ...(ref1.updatedStats ?? new Map<string, Float32Array>())]);
      const [grad0, loss2] = unwrap(await exe.run({ inputs, readback: [2, 0], scalars: { seed: 2 } }));
      const ref2 = referenceOf(step.graph, { ...base, params: after1, seed: 2 });
      closeTo(loss2!, ref2.outputs[0]!, 'loss (seed 2)', 2e-4);
      closeTo(grad0!, ref2.outputs[2]!, `gradient of ${step.grads[0]!.path}`, 2e-4);
      expect(Math.abs(loss2![0]! - r1[0]![0]!)).toBeGreaterThan(0); // another dropout mask
      const params = unwrap(await exe.readParams());
      for (const [path, v] of ref2.updatedStats ?? new Map<string, Float32Array>()) closeTo(params.get(path)!, v, `${path} after two steps`, 2e-4);
      // Trainable parameters are untouched by the step itself (no optimizer in this program).
      closeTo(params.get('fc/weight')!, base.params.get('fc/weight')!, 'fc/weight', 0);
      // A scalar not given keeps its value: seed 2 again gives the same loss.
      const again = unwrap(await exe.run({ inputs, readback: [0] }));
      const ref3 = referenceOf(step.graph, { ...base, params: new Map([...base.params, ...(ref2.updatedStats ?? new Map<string, Float32Array>())]), seed: 2 });
      closeTo(again[0]!, ref3.outputs[0]!, 'loss (seed kept)', 2e-4);
      // writeParams replaces parameters by path.
      unwrap(await exe.writeParams(new Map(base.params)));
      const reset = unwrap(await exe.run({ inputs, readback: [0], scalars: { seed: 1 } }));
      closeTo(reset[0]!, ref1.outputs[0]!, 'loss after writeParams', 2e-4);
    } finally {
      exe.destroy();
    }
  }, 300_000);

  it('reports bad readback indices, unknown or invalid scalars and bad parameters, all at once', async () => {
    const exe = unwrap(await Executable.instantiate(gpu, program, base.params));
    try {
      const r = await exe.run({ inputs, readback: [0, 99, -1], scalars: { seed: -3, lr: 0.1 } });
      expect(E.isLeft(r) && r.left.map((e) => e.tag).sort()).toEqual(['BadReadback', 'BadReadback', 'BadScalar', 'UnknownScalar']);
      const w = await exe.writeParams(new Map([['nope', new Float32Array(1)], ['fc/bias', new Float32Array(3)]]));
      expect(E.isLeft(w) && w.left.map((e) => e.tag).sort()).toEqual(['MissingParam', 'ParamSize']);
    } finally {
      exe.destroy();
    }
    expect(E.isLeft(await exe.readParams())).toBe(true);
  }, 120_000);
});
