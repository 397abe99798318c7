/**
 * The op registry's tables are complete by construction: the type checker (`tsc --noEmit`, part of `npm test`)
 * rejects an op kind without a definition, a definition without a shape rule, VJP (or an explicit "not
 * differentiable"), codec, cost or printer, and a kind without a CPU reference or a lowering. Each
 * `@ts-expect-error` below marks an incomplete definition; if the checker ever accepted it, the directive itself
 * would be the error. The run-time checks make the same tables answer for every kind the union has.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import type { Lowering, Lowerings } from '../../src/compile/emitter.ts';
import { LOWERINGS } from '../../src/compile/lowerings.ts';
import { OP_DEFS, type OpDef, type OpDefs, type OpKind, type OpOf, notDifferentiable } from '../../src/ir/ops.ts';
import { OpCodec } from '../../src/ir/serialize.ts';
import { REFERENCE, type RefRules } from '../../src/reference/ops.ts';

// ---- Compile-time: incomplete definitions are rejected ----

const { relu: _reluDef, ...defsWithoutRelu } = OP_DEFS;
// @ts-expect-error: the registry needs a definition for every op kind ('relu' is missing).
export const missingKind: OpDefs = defsWithoutRelu;

// @ts-expect-error: a definition without a VJP (or notDifferentiable) is incomplete.
export const missingVjp: OpDef<'relu'> = { codec: OP_DEFS.relu.codec, shape: OP_DEFS.relu.shape, batched: 'inputs', macs: () => 0, show: () => 'relu' };

// @ts-expect-error: a definition without a shape rule is incomplete.
export const missingShape: OpDef<'relu'> = { codec: OP_DEFS.relu.codec, batched: 'inputs', vjp: notDifferentiable('test'), macs: () => 0, show: () => 'relu' };

// @ts-expect-error: a definition without a codec is incomplete.
export const missingCodec: OpDef<'relu'> = { shape: OP_DEFS.relu.shape, batched: 'inputs', vjp: notDifferentiable('test'), macs: () => 0, show: () => 'relu' };

// @ts-expect-error: a definition without a cost is incomplete.
export const missingCost: OpDef<'relu'> = { codec: OP_DEFS.relu.codec, shape: OP_DEFS.relu.shape, batched: 'inputs', vjp: notDifferentiable('test'), show: () => 'relu' };

// @ts-expect-error: a definition without a printer is incomplete.
export const missingShow: OpDef<'relu'> = { codec: OP_DEFS.relu.codec, shape: OP_DEFS.relu.shape, batched: 'inputs', vjp: notDifferentiable('test'), macs: () => 0 };

// A complete one is accepted (so the errors above are about the missing piece, not the rest).
export const complete: OpDef<'relu'> = { codec: OP_DEFS.relu.codec, shape: OP_DEFS.relu.shape, batched: 'inputs', vjp: notDifferentiable('test'), macs: () => 0, show: () => 'relu' };

const { conv2d: _convRef, ...referenceWithoutConv } = REFERENCE;
// @ts-expect-error: every op kind needs a CPU reference ('conv2d' is missing).
export const missingReference: RefRules = referenceWithoutConv;

const { sumBatch: _sumLowering, ...loweringsWithoutSum } = LOWERINGS;
// @ts-expect-error: every op kind needs a lowering ('sumBatch' is missing).
export const missingLowering: Lowerings = loweringsWithoutSum;

// @ts-expect-error: a kernel lowering without its emitter is incomplete.
export const missingEmit: Lowering<OpOf<'relu'>> = { phase: 'any', kind: 'kernel', epilogue: 'elementwise' };

// ---- Run time: the tables cover the same kinds ----

const kinds = Object.keys(OP_DEFS).sort() as OpKind[];

describe('op registry', () => {
  it('has a definition, a reference and a lowering for the same op kinds', () => {
    expect(kinds.length).toBeGreaterThan(50);
    expect(Object.keys(REFERENCE).sort()).toEqual(kinds);
    expect(Object.keys(LOWERINGS).sort()).toEqual(kinds);
  });

  it('decodes each kind with its own codec and rejects an unknown kind naming the known ones', () => {
    const bad = OpCodec.decode({ kind: 'noSuchOp' });
    expect(E.isLeft(bad)).toBe(true);
    if (E.isLeft(bad)) expect(bad.left.map((e) => e.message).join(' ')).toContain('conv2d');
    expect(E.isRight(OpCodec.decode({ kind: 'relu' }))).toBe(true);
    expect(E.isLeft(OpCodec.decode({ kind: 'relu', extra: 1 }))).toBe(true);
  });

  it('gives every op without a gradient a reason, and every training-only lowering a gradient-side op kind', () => {
    for (const k of kinds) {
      const vjp = OP_DEFS[k].vjp;
      if (typeof vjp !== 'function') expect(vjp.notDifferentiable.length, k).toBeGreaterThan(10);
    }
    // The forward vocabulary (everything a user layer builds) lowers in inference programs.
    for (const k of ['conv2d', 'linear', 'batchNorm2d', 'relu', 'add', 'concat', 'maxPool2d', 'adaptiveAvgPool2d', 'softmax'] as const) expect(LOWERINGS[k].phase, k).toBe('any');
    for (const k of ['conv2dGradInput', 'crossEntropy', 'batchNorm2dTrain', 'weightedSum'] as const) expect(LOWERINGS[k].phase, k).toBe('training');
  });
});
