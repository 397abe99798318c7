/**
 * The hand-written DARTS network of the tfjs bench (bench/darts-net.ts) against our IR's: for several sizes, the
 * mixed walk meets exactly the parameters of `buildModel(dartsSpace(o))` (path, PyTorch shape, trainable), the
 * same choice keys with the same candidate counts, the same output shape and the same conv+linear FLOPs; for
 * random architectures, the sampled walk meets exactly the parameters and FLOPs of `apply(supernet, arch)`.
 * Exact comparisons (integers and strings): no tolerance.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dartsSpace } from '../../examples/darts.ts';
import { type NetParam, dartsNetOptions, dartsNetSpec } from '../../bench/darts-net.ts';
import { forwardFlops } from '../../bench/training-models.ts';
import { type Graph, apply, buildModel, paramCount, params, randomArchitecture, searchSpace, seedRng } from '../../src/ir/index.ts';

const build = (o: Parameters<typeof dartsSpace>[0]): Graph => {
  const g = buildModel(dartsSpace(o));
  if (E.isLeft(g)) throw new Error(g.left.map((e) => e.message).join('; '));
  return g.right;
};

const ours = (g: Graph): readonly { path: string; shape: readonly number[]; trainable: boolean }[] =>
  params(g)
    .flatMap((n) => (n.op.kind === 'param' ? [{ path: n.op.path, shape: n.op.shape, trainable: n.op.trainable }] : []))
    .sort((a, b) => a.path.localeCompare(b.path));

/** Path, shape and trainable of each parameter (the role is the walk's own annotation), sorted by path. */
const sorted = (xs: readonly NetParam[]): { path: string; shape: readonly number[]; trainable: boolean }[] =>
  xs.map(({ path, shape, trainable }) => ({ path, shape, trainable })).sort((a, b) => a.path.localeCompare(b.path));

/** The bench's two sizes and a few others (odd cell counts, one node, a wider stem). */
const SIZES = [
  { cells: 5, nodes: 4, channels: 8, input: [1, 28, 28] as const },
  { cells: 8, nodes: 4, channels: 16, input: [1, 28, 28] as const },
  { cells: 3, nodes: 2, channels: 4, input: [3, 16, 16] as const, classes: 7 },
  { cells: 1, nodes: 1, channels: 2, input: [1, 8, 8] as const, stemMultiplier: 2 },
  { cells: 4, nodes: 3, channels: 6, input: [2, 12, 12] as const },
];

describe('the hand-written DARTS network (mixed)', () => {
  for (const size of SIZES) {
    it(`has our parameters, keys, output and FLOPs: ${JSON.stringify(size)}`, () => {
      const g = build(size);
      const spec = dartsNetSpec(dartsNetOptions(size));
      expect(sorted(spec.params)).toEqual(ours(g));
      const trainable = spec.params.filter((p) => p.trainable).reduce((s, p) => s + p.shape.reduce((a, d) => a * d, 1), 0);
      expect(trainable).toBe(paramCount(g));
      const space = searchSpace(g);
      expect(new Map(space.decisions.map((d) => [d.key, d.names.length]))).toEqual(spec.keys);
      // The switch's candidates are its edges, in order: index j is edge p{j}, as the walk assumes.
      for (const d of space.decisions.filter((x) => x.kind === 'input')) expect(d.names).toEqual(d.names.map((_, j) => d.key.replace(/_switch$/, `_p${j}`)));
      expect([spec.output.c, spec.output.h, spec.output.w]).toEqual([size.classes ?? 10, 1, 1]);
      expect(g.outputs[0]!.shape).toEqual([size.classes ?? 10]);
      expect(spec.flops).toBe(forwardFlops(g));
    });
  }
});

describe('the hand-written DARTS network (sampled)', () => {
  const graphs = SIZES.slice(0, 3).map((s) => [s, build(s)] as const);
  it('computes exactly the parameters and FLOPs of the applied architecture', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: graphs.length - 1 }), fc.nat(), (gi, seed) => {
        const [size, g] = graphs[gi]!;
        const [arch] = randomArchitecture(searchSpace(g), seedRng(seed));
        const fixed = apply(g, arch);
        if (E.isLeft(fixed)) throw new Error(fixed.left.map((e) => e.message).join('; '));
        const spec = dartsNetSpec(dartsNetOptions(size), { kind: 'sampled', arch });
        expect(sorted(spec.params)).toEqual(ours(fixed.right));
        expect(spec.flops).toBe(forwardFlops(fixed.right));
        expect(spec.keys.size).toBe(0);
      }),
      { numRuns: 25 },
    );
  });

  it('refuses an architecture without a key or with an op index out of range, naming the key', () => {
    const g = build(SIZES[0]!);
    const [arch] = randomArchitecture(searchSpace(g), seedRng(1));
    const { normal_n2_p0: _, ...missing } = arch;
    expect(() => dartsNetSpec(dartsNetOptions(SIZES[0]!), { kind: 'sampled', arch: missing })).toThrow(/no value for 'normal_n2_p0'/);
    expect(() => dartsNetSpec(dartsNetOptions(SIZES[0]!), { kind: 'sampled', arch: { ...arch, normal_n2_p0: [9], normal_n2_switch: [0, 1] } })).toThrow(/'normal_n2_p0' chooses 9/);
  });
});
