import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { randomArchitecture } from '../../src/ir/architecture.ts';
import {
  type Architecture,
  type Graph,
  type Node,
  add,
  apply,
  block,
  buildModel,
  chooseInputs,
  conv2d,
  defineModel,
  graphEq,
  inputChoice,
  nodes,
  params,
  relu,
  seedRng,
} from '../../src/ir/index.ts';
import { type Supernet, arbSupernet, arbValidArchitecture } from './arbitraries.ts';

const arbCase: fc.Arbitrary<[Supernet, Architecture]> = arbSupernet.chain((sn) => arbValidArchitecture(sn.space).map((a) => [sn, a] as [Supernet, Architecture]));

const applied = (g: Graph, a: Architecture): Graph => {
  const r = apply(g, a);
  if (E.isLeft(r)) throw new Error(`apply failed: ${r.left.map((e) => e.message).join('; ')}`);
  return r.right;
};

/**
 * The parameters an architecture keeps, found independently of `apply`: walk back from the outputs, following
 * only the chosen inputs of each choice node.
 */
const liveParams = (g: Graph, a: Architecture): Map<string, readonly number[]> => {
  const seen = new Set<string>();
  const out = new Map<string, readonly number[]>();
  const stack: Node[] = [...g.outputs];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (seen.has(n.id)) continue;
    seen.add(n.id);
    if (n.op.kind === 'param') out.set(n.op.path, n.shape);
    const op = n.op;
    stack.push(...(op.kind === 'layerChoice' || op.kind === 'inputChoice' ? a[op.key]!.map((i) => n.inputs[i]!) : n.inputs));
  }
  return out;
};

const paramPaths = (g: Graph): string[] => params(g).map((p) => (p.op.kind === 'param' ? p.op.path : ''));

describe('apply on random supernets', () => {
  it('yields a graph without choice or absent nodes, with the supernet output shapes', () => {
    fc.assert(
      fc.property(arbCase, ([sn, a]) => {
        const fixed = applied(sn.graph, a);
        const kinds = new Set(nodes(fixed).map((n) => n.op.kind));
        expect(kinds.has('layerChoice')).toBe(false);
        expect(kinds.has('inputChoice')).toBe(false);
        expect(kinds.has('absent')).toBe(false);
        expect(fixed.outputs.map((o) => o.shape)).toEqual(sn.graph.outputs.map((o) => o.shape));
        expect(fixed.inputs.map((i) => i.id)).toEqual(sn.graph.inputs.map((i) => i.id));
      }),
    );
  });

  it('is idempotent: applying the empty architecture to a fixed graph changes nothing', () => {
    fc.assert(
      fc.property(arbCase, ([sn, a]) => {
        const fixed = applied(sn.graph, a);
        const again = applied(fixed, {});
        expect(graphEq(again, fixed)).toBe(true);
        expect(nodes(again).map((n) => n.id)).toEqual(nodes(fixed).map((n) => n.id));
      }),
    );
  });

  it('keeps exactly the parameters on the chosen path, with the supernet paths, shapes and inits', () => {
    fc.assert(
      fc.property(arbCase, ([sn, a]) => {
        const fixed = applied(sn.graph, a);
        const superIds = new Set(params(sn.graph).map((p) => p.id));
        // Same id = same op record = same path, shape, init and trainability.
        for (const p of params(fixed)) expect(superIds.has(p.id)).toBe(true);
        const got = new Map(params(fixed).map((p) => [p.op.kind === 'param' ? p.op.path : '', p.shape] as const));
        expect(got).toEqual(liveParams(sn.graph, a));
      }),
    );
  });

  it('gives a shared key the same candidate at every site', () => {
    const withShared = arbCase.filter(([sn]) => sn.spec.shared.length > 0);
    fc.assert(
      fc.property(withShared, ([sn, a]) => {
        const paths = paramPaths(applied(sn.graph, a));
        for (const sh of sn.spec.shared) {
          const d = sn.space.decisions.find((x) => x.key === sh.key)!;
          expect(d.sites.length).toBeGreaterThanOrEqual(2);
          const chosen = d.names[a[sh.key]![0]!]!;
          for (const site of d.sites) {
            // Every candidate of a shared choice starts with a BatchNorm named 'tag' (see arbitraries.ts).
            expect(paths).toContain(`${site}/${chosen}/tag/running_mean`);
            for (const other of d.names.filter((nm) => nm !== chosen)) {
              expect(paths.filter((p) => p.startsWith(`${site}/${other}/`))).toEqual([]);
            }
          }
        }
      }),
    );
  });

  it('accepts every random architecture', () => {
    fc.assert(
      fc.property(arbSupernet, fc.integer(), (sn, seed) => {
        const [a] = randomArchitecture(sn.space, seedRng(seed));
        expect(E.isRight(apply(sn.graph, a))).toBe(true);
      }),
    );
  });
});

describe('apply on hand-written models', () => {
  const def = defineModel({
    name: 'skip',
    input: [2, 3, 3],
    layer: block((ctx, x) => {
      const y = ctx.call('conv', conv2d({ out: 2, kernel: 3, padding: 1 }), x);
      const r = ctx.call('relu', relu(), y);
      return add(y, ctx.call('skip', inputChoice({ nChosen: null, key: 'skip' }), [x, r]));
    }),
  });
  const g = E.getOrElseW(() => {
    throw new Error('build failed');
  })(buildModel(def));

  it('drops an empty selection from add', () => {
    const fixed = applied(g, { skip: [] });
    expect(fixed.outputs[0]!.op.kind).toBe('conv2d');
  });

  it('sums two chosen inputs and adds them', () => {
    const out = applied(g, { skip: [0, 1] }).outputs[0]!;
    expect(out.op.kind).toBe('add');
    const inner = out.inputs.find((n) => n.op.kind === 'add')!;
    expect(inner.inputs.map((n) => n.op.kind)).toEqual(['input', 'relu']);
  });

  it('gives chooseInputs one node per chosen position', () => {
    const g2 = E.getOrElseW(() => {
      throw new Error('build failed');
    })(
      buildModel(
        defineModel({
          name: 'none',
          input: [1, 2, 2],
          layer: block((ctx, x) => {
            const r = ctx.call('relu', relu(), x);
            const [p, q] = chooseInputs(ctx, { x, r }, { nChosen: 2, key: 'pick' });
            return add(p!, q!, x);
          }),
        }),
      ),
    );
    const out = applied(g2, { pick: [0, 1] }).outputs[0]!;
    expect(out.inputs.map((n) => n.op.kind)).toEqual(['input', 'relu', 'input']);
  });
});
