/**
 * The memory plan on random supernets (test/ir/arbitraries.ts), in every mode: the planned footprint never
 * exceeds the unplanned one, and simulating the dispatch list (all of it, and the subset an architecture
 * selects in sampled mode) never reads a value whose buffer another value has overwritten.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Mode, guardHolds } from '../../src/compile/program.ts';
import { schedule } from '../../src/compile/lower.ts';
import { type Schedule, assignBuffers, planMemory } from '../../src/compile/memory.ts';
import { type Architecture, apply } from '../../src/ir/index.ts';
import { type Supernet, arbSupernet, arbValidArchitecture } from '../ir/arbitraries.ts';

const scheduleOf = (g: Parameters<typeof schedule>[0], mode: Mode): Schedule => {
  const s = schedule(g, { mode, batch: 2 });
  if (E.isLeft(s)) throw new Error(s.left.map((e) => e.message).join('; '));
  return s.right;
};

/**
 * Runs the dispatches `run` selects, tracking which logical value each physical buffer holds. A read of value v
 * must find v in its buffer unless v was never written in this run (an unselected input of an input choice,
 * which the choice kernel skips by its zero weight). Returns the first violation.
 */
const simulate = (s: Schedule, run: (i: number) => boolean): string | undefined => {
  const { assign } = assignBuffers(s);
  const holder = new Map<number, number>();
  const written = new Set<number>();
  for (const v of s.values) if (v.role === 'input' || v.role === 'param' || v.role === 'choiceWeights') {
    holder.set(assign.get(v.id)!, v.id);
    written.add(v.id);
  }
  for (let i = 0; i < s.dispatches.length; i++) {
    if (!run(i)) continue;
    const d = s.dispatches[i]!;
    d.values.forEach((v, b) => {
      const access = d.kernel.bindings[b]!.access;
      const buf = assign.get(v)!;
      if (access === 'read_write') {
        holder.set(buf, v);
        written.add(v);
      } else if (holder.get(buf) !== v && written.has(v)) {
        return;
      }
    });
    for (const [b, v] of d.values.entries()) {
      if (d.kernel.bindings[b]!.access === 'read' && written.has(v) && holder.get(assign.get(v)!) !== v) {
        return `dispatch ${i} (${d.label}) reads value ${v} (${s.values[v]!.label}) after value ${holder.get(assign.get(v)!)} overwrote its buffer`;
      }
    }
  }
  for (const o of s.outputs) if (holder.get(assign.get(o.value)!) !== o.value) return `output ${o.label} was overwritten`;
  return undefined;
};

describe('memory plan', () => {
  it('peak ≤ unplanned bytes, and no live value is overwritten (all modes, all dispatches)', () => {
    fc.assert(
      fc.property(arbSupernet, fc.constantFrom<Mode>('mixed', 'sampled'), (net, mode) => {
        const s = scheduleOf(net.graph, mode);
        const p = planMemory(s);
        expect(p.peakBytes).toBeLessThanOrEqual(p.unplannedBytes);
        expect(simulate(s, () => true)).toBeUndefined();
      }),
      { numRuns: 150 },
    );
  });

  it('sampled mode: the dispatches an architecture selects never read a clobbered value; fixed graphs too', () => {
    fc.assert(
      fc.property(
        arbSupernet.chain((net) => fc.tuple(fc.constant(net), arbValidArchitecture(net.space))),
        ([net, arch]: readonly [Supernet, Architecture]) => {
          const s = scheduleOf(net.graph, 'sampled');
          expect(simulate(s, (i) => guardHolds(s.dispatches[i]!.group, arch))).toBeUndefined();
          const fixed = apply(net.graph, arch);
          if (E.isRight(fixed)) {
            const f = scheduleOf(fixed.right, 'fixed');
            expect(simulate(f, () => true)).toBeUndefined();
            const p = planMemory(f);
            expect(p.peakBytes).toBeLessThanOrEqual(p.unplannedBytes);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('reuses buffers: a long chain needs two intermediate buffers, not one per op', async () => {
    const { buildModel, defineModel, sequential, relu, tanh, conv2d } = await import('../../src/ir/index.ts');
    const layers = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`c${i}`, sequential({ c: conv2d({ out: 2, kernel: 1 }), t: tanh(), r: relu() })]));
    const g = buildModel(defineModel({ name: 'chain', input: [2, 4, 4], layer: sequential(layers) }));
    if (E.isLeft(g)) throw new Error('build');
    const p = planMemory(scheduleOf(g.right, 'fixed'));
    const temps = p.buffers.filter((b) => b.role === 'activation');
    expect(temps.length).toBe(2);
    expect(p.peakBytes).toBe(2 * 2 * 2 * 16 * 4);
  });
});
