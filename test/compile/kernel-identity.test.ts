/**
 * Kernel identity: a kernel's WGSL depends on what it computes (op kind, attributes, shapes), never on where in
 * the model it runs. The DARTS supernet's whole training step (examples/darts.ts at the DARTS paper's search size,
 * 8 cells, 16 channels, Fashion-MNIST input, batch 64, mixed, SGD with momentum) is lowered (pure: no device), and
 * - no WGSL source contains a node path or a parameter path;
 * - dispatches of the same kind over nodes of equal attributes and shapes, binding buffers of equal sizes with
 *   equal workgroup counts, all use one source.
 * Before labels were kept out of the sources the step had 2,474 distinct pipelines (every BatchNorm and choice
 * edge its own); without them 384.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { dartsSpace } from '../../examples/darts.ts';
import { lowerTraining } from '../../src/compile/lower-train.ts';
import { mixGraph } from '../../src/compile/mix.ts';
import { withOptimizer } from '../../src/compile/optimizer.ts';
import { trainingGraph } from '../../src/compile/training-graph.ts';
import { canonicalJson } from '../../src/ir/hash.ts';
import { type Node, buildModel, nodes } from '../../src/ir/index.ts';

/** Fields of an op that name a place in the model (or a choice), not what the op computes. */
const NAMING = new Set(['key', 'names', 'scope', 'path', 'site', 'name']);

/** What a node computes: its op without naming fields, its input shapes and its shape. */
const signature = (n: Node): string =>
  canonicalJson({
    op: Object.fromEntries(Object.entries(n.op).filter(([k]) => !NAMING.has(k))),
    inputs: n.inputs.map((i) => i.shape),
    shape: n.shape,
  });

describe('kernel identity (DARTS supernet training step, 8 cells, 16 channels, batch 64)', () => {
  const g = buildModel(dartsSpace({ cells: 8, nodes: 4, channels: 16, input: [1, 28, 28], classes: 10 }));
  if (E.isLeft(g)) throw new Error(g.left.map((e) => e.message).join('; '));
  const mixed = mixGraph(g.right);
  if (E.isLeft(mixed)) throw new Error(mixed.left.map((e) => e.message).join('; '));
  const leaves = mixed.right.weights.map((w) => w.leaf);
  const step = trainingGraph(mixed.right.graph, { extraWrt: () => leaves });
  const lowered = lowerTraining(step, { mode: 'fixed', batch: 64, adapter: 'software' });
  if (E.isLeft(lowered)) throw new Error(lowered.left.map((e) => e.message).join('; '));
  const opt = withOptimizer(lowered.right, { optimizer: { kind: 'sgd', lr: 0.01, momentum: 0.9 } });
  if (E.isLeft(opt)) throw new Error(opt.left.map((e) => e.message).join('; '));
  const prog = opt.right.program;

  const byName = new Map<string, Set<string>>();
  for (const n of nodes(step.graph)) {
    const s = byName.get(n.name) ?? new Set<string>();
    s.add(signature(n));
    byName.set(n.name, s);
  }
  const paths = new Set([...byName.keys()].filter((k) => k.includes('/')));
  for (const p of step.grads) paths.add(p.path);

  it('writes no node path or parameter path into any WGSL source', () => {
    const offending: string[] = [];
    for (const k of prog.kernels) {
      for (const tok of k.wgsl.match(/[A-Za-z_][\w./]*/g) ?? []) if (paths.has(tok)) offending.push(`${k.label}: ${tok}`);
    }
    expect(paths.size).toBeGreaterThan(1000);
    expect(offending).toEqual([]);
  });

  it('gives dispatches of one kind over equal attributes and shapes one source', () => {
    const sources = new Map<string, Set<string>>();
    let checked = 0;
    for (const d of prog.dispatches) {
      const sigs: string[] = [];
      // The dispatch's kind: its label with every node name (the longest one after ' at ') or parameter path
      // (after ' of ') replaced by 'N'; names may hold spaces and parentheses ('grad:concat(a, b)').
      const kind = d.label.replace(/ (at|of) (.+?)(?=$| at )/g, (_m, word: string, rest: string) => {
        for (let end = rest.length; end > 0; end--) {
          const name = rest.slice(0, end);
          const s = byName.get(name);
          if (s === undefined && !paths.has(name)) continue;
          if (s !== undefined) sigs.push([...s].sort().join('|'));
          return ` ${word} N${rest.slice(end)}`;
        }
        return ` ${word} ${rest}`;
      });
      // A name several distinct nodes carry (gradient nodes named after their forward node) does not say which
      // one the dispatch computes: such dispatches are left out of the grouping.
      if (sigs.some((x) => x.includes('|'))) continue;
      checked++;
      const bytes = d.buffers.map((b) => prog.buffers[b]!.bytes);
      const key = canonicalJson({ kind, sigs, bytes, workgroups: d.workgroups });
      const set = sources.get(key) ?? new Set<string>();
      set.add(prog.kernels[d.kernel]!.wgsl);
      sources.set(key, set);
    }
    const split = [...sources].filter(([, s]) => s.size > 1).map(([k, s]) => `${k}: ${s.size} sources`);
    expect(split).toEqual([]);
    expect(checked).toBeGreaterThan(prog.dispatches.length / 2);
    const distinct = new Set(prog.kernels.map((k) => k.wgsl)).size;
    // The figure reported in BENCHMARKS.md (2,474 while kernels carried their node's label in a comment).
    console.log(`DARTS 8-cell training step: ${prog.dispatches.length} dispatches, ${distinct} distinct pipelines`);
    expect(distinct).toBe(prog.kernels.length);
    expect(distinct).toBeLessThan(500);
  });
});
