/**
 * Device profiling (`Executable.profile`, src/runtime/profile.ts): the pure aggregation by kernel family, and on
 * the device a profiled run of a training program returns the same outputs as `run` (to float32 noise: the same
 * kernels in more passes), one time per executed dispatch in program order, all of them non-negative and not all
 * zero; bad input is refused as `run` refuses it.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { batchNorm2d, buildModel, conv2d, defineModel, flatten, linear, relu, sequential } from '../../src/ir/index.ts';
import { lowerTraining } from '../../src/compile/lower-train.ts';
import { trainingGraph } from '../../src/compile/training-graph.ts';
import { Executable } from '../../src/runtime/execute.ts';
import { type DispatchTime, familyOf, profileByFamily, showProfile } from '../../src/runtime/profile.ts';
import { describeGpu } from '../gpu.ts';
import { randomCase } from '../compile/lower-train-harness.ts';

describe('profile aggregation (pure)', () => {
  it('names a family by the op part of a label', () => {
    expect(familyOf('conv2d+bias+relu at cell0/op1')).toBe('conv2d+bias+relu');
    expect(familyOf('sgd update of stem/conv/weight')).toBe('sgd update');
    expect(familyOf('batchNorm2dTrain at stem/bn: batchNorm2dTrain at stem/bn (batch statistics) (parts)')).toBe('batchNorm2dTrain');
    expect(familyOf('fill')).toBe('fill');
  });

  it('sums each family, keeps every dispatch and every nanosecond, shares add to one, largest first', () => {
    const op = fc.constantFrom('conv2d', 'relu', 'add', 'sgd update');
    const time = fc.record({ op, node: fc.stringMatching(/^[a-z0-9/]{1,8}$/), ns: fc.integer({ min: 0, max: 1e9 }) });
    fc.assert(
      fc.property(fc.array(time, { minLength: 1, maxLength: 60 }), (ts) => {
        const times: DispatchTime[] = ts.map((t, i) => ({ index: i, kernel: 0, label: `${t.op}${t.op === 'sgd update' ? ' of ' : ' at '}${t.node}`, ns: t.ns }));
        const fams = profileByFamily(times);
        expect(fams.reduce((s, f) => s + f.dispatches, 0)).toBe(times.length);
        const totalNs = times.reduce((s, t) => s + t.ns, 0);
        expect(fams.reduce((s, f) => s + f.ms, 0)).toBeCloseTo(totalNs / 1e6, 6);
        for (const f of fams) {
          const mine = times.filter((t) => familyOf(t.label) === f.family);
          expect(f.dispatches).toBe(mine.length);
          expect(f.ms).toBeCloseTo(mine.reduce((s, t) => s + t.ns, 0) / 1e6, 6);
        }
        if (totalNs > 0) expect(fams.reduce((s, f) => s + f.share, 0)).toBeCloseTo(1, 9);
        for (let i = 1; i < fams.length; i++) expect(fams[i - 1]!.ms).toBeGreaterThanOrEqual(fams[i]!.ms);
      }),
    );
  });

  it('shows a table with the top families, the rest summed, and the total', () => {
    const fams = profileByFamily([
      { index: 0, kernel: 0, label: 'conv2d at a', ns: 3e6 },
      { index: 1, kernel: 1, label: 'relu at a', ns: 1e6 },
      { index: 2, kernel: 2, label: 'add at b', ns: 0.5e6 },
    ]);
    const table = showProfile(fams, 2);
    expect(table).toContain('| conv2d | 1 | 3.0 | 66.7 % |');
    expect(table).toContain('| relu | 1 | 1.0 | 22.2 % |');
    expect(table).toContain('| 1 other families | 1 | 0.5 | 11.1 % |');
    expect(table).toContain('| **total** | 3 | 4.5 | 100.0 % |');
  });
});

const built = buildModel(
  defineModel({
    name: 't',
    input: [2, 6, 6],
    layer: sequential({ conv: conv2d({ out: 4, kernel: 3 }), bn: batchNorm2d({}), act: relu(), flat: flatten(), fc: linear({ out: 3 }) }),
  }),
);
if (E.isLeft(built)) throw new Error('build');
const step = trainingGraph(built.right);
const B = 4;
const prog = lowerTraining(step, { mode: 'fixed', batch: B });
if (E.isLeft(prog)) throw new Error(prog.left.map((e) => e.message).join('; '));
const program = prog.right;
const base = randomCase(step.graph.outputs, B, 3, 3);
const inputs = { x: base.inputs['x']!, labels: base.inputs['labels']! };

const unwrap = <T>(r: E.Either<readonly { readonly message: string }[], T>): T => {
  if (E.isLeft(r)) throw new Error(r.left.map((e) => e.message).join('; '));
  return r.right;
};

await describeGpu('profiling a run on the device', (gpu) => {
  it('times every dispatch of a training step and returns the outputs run returns', async () => {
    expect(gpu.features.has('timestamp-query')).toBe(true); // lavapipe and real GPUs under Dawn have it
    // Two executables from the same parameters: one run, one profiled (a run updates BatchNorm's statistics).
    const a = unwrap(await Executable.instantiate(gpu, program, base.params));
    const b = unwrap(await Executable.instantiate(gpu, program, base.params));
    try {
      const plain = unwrap(await a.run({ inputs }));
      const prof = unwrap(await b.profile({ inputs }));
      expect(prof.outputs.length).toBe(plain.length);
      prof.outputs.forEach((o, i) => {
        expect(o.length).toBe(plain[i]!.length);
        o.forEach((v, j) => expect(Math.abs(v - plain[i]![j]!)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(plain[i]![j]!))));
      });
      expect(prof.dispatches.map((d) => d.index)).toEqual(program.dispatches.map((_, i) => i));
      expect(prof.dispatches.map((d) => d.label)).toEqual(program.dispatches.map((d) => d.label));
      for (const d of prof.dispatches) expect(d.ns).toBeGreaterThanOrEqual(0);
      expect(prof.dispatches.some((d) => d.ns > 0)).toBe(true);
      const fams = profileByFamily(prof.dispatches);
      expect(fams.map((f) => f.family)).toContain('conv2d');
      expect(fams.reduce((s, f) => s + f.dispatches, 0)).toBe(program.dispatches.length);
    } finally {
      a.destroy();
      b.destroy();
    }
  });

  it('reports bad input as run does, before timing anything', async () => {
    const exe = unwrap(await Executable.instantiate(gpu, program, base.params));
    try {
      const r = await exe.profile({ inputs: { x: new Float32Array(3), labels: inputs.labels } });
      expect(E.isLeft(r)).toBe(true);
      if (E.isLeft(r)) expect(r.left.map((e) => e.tag)).toContain('InputSize');
    } finally {
      exe.destroy();
    }
  });
});
