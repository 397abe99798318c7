import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { DARTS_OPS, factorizedReduce, oddPick } from '../../examples/darts-ops.ts';
import darts, { dartsSpace, reductionCells } from '../../examples/darts.ts';
import {
  type Architecture,
  type Decision,
  type Graph,
  type Layer,
  type Node,
  add,
  apply,
  avgPool2d,
  batchNorm2d,
  concat,
  conv2d,
  relu,
  scale,
  seedRng,
  binomial,
  buildModel,
  resolveArchitecture,
  defineModel,
  graphEq,
  nodes,
  searchSpace,
} from '../../src/ir/index.ts';
import { initParams, paramShapes } from '../../src/runtime/params.ts';
import { evaluate } from '../../src/reference/evaluate.ts';
import { build, fixedParams } from './helpers.ts';

const OPS = ['max_pool_3x3', 'avg_pool_3x3', 'skip_connect', 'sep_conv_3x3', 'sep_conv_5x5', 'dil_conv_3x3', 'dil_conv_5x5', 'none'];

/** The keys of one cell type with `n` nodes, written out from NNI's naming (nodes n2 … n{n+1}). */
const cellKeys = (type: string, n: number): string[] => {
  const keys: string[] = [];
  for (let d = 2; d < n + 2; d++) {
    for (let j = 0; j < d; j++) keys.push(`${type}_n${d}_p${j}`);
    keys.push(`${type}_n${d}_switch`);
  }
  return keys;
};

/** 8^(edges) · Π_d C(d, 2) for one cell type: edges Σ_{d=2}^{n+1} d, each an 8-way op; each node picks 2 of d. */
const cellSize = (n: number): bigint => {
  let edges = 0n;
  let pairs = 1n;
  for (let d = 2; d < n + 2; d++) {
    edges += BigInt(d);
    pairs *= BigInt((d * (d - 1)) / 2);
  }
  return 8n ** edges * pairs;
};

describe('examples/darts (default: 5 cells, 4 nodes, 8 channels, [1, 28, 28])', () => {
  const g = build(darts);
  const space = searchSpace(g);
  const byKey = new Map(space.decisions.map((d) => [d.key, d] as const));

  it('has exactly the normal_* and reduce_* keys', () => {
    expect(new Set(space.decisions.map((d) => d.key))).toEqual(new Set([...cellKeys('normal', 4), ...cellKeys('reduce', 4)]));
    // 14 edges + 4 switches per cell type.
    expect(space.decisions).toHaveLength(2 * (14 + 4));
  });

  it('counts (8^14 · 1·3·6·10)^2 architectures', () => {
    expect(space.size).toBe(cellSize(4) ** 2n);
    expect(space.size).toBe((8n ** 14n * 180n) ** 2n);
  });

  it('offers the 8 DARTS ops on every edge and picks 2 edges per node by the edge keys', () => {
    expect([...DARTS_OPS]).toEqual(OPS);
    for (const d of space.decisions) {
      if (d.kind === 'layer') expect(d.names).toEqual(OPS);
      else {
        const node = d.key.replace(/_switch$/, '');
        const n = Number(/_n(\d+)$/.exec(node)![1]);
        expect(d).toMatchObject({ nChosen: 2, reduction: 'sum', names: Array.from({ length: n }, (_, j) => `${node}_p${j}`) });
      }
    }
  });

  it('shares every key across the cells of its type (reductions at cells 1 and 3)', () => {
    expect(reductionCells(5)).toEqual([1, 3]);
    const cellsOf = (d: Decision): string[] => d.sites.map((s) => s.split('/')[0]!).sort();
    expect(cellsOf(byKey.get('normal_n5_p4')!)).toEqual(['cell0', 'cell2', 'cell4']);
    expect(cellsOf(byKey.get('reduce_n2_switch')!)).toEqual(['cell1', 'cell3']);
  });

  it('keeps keys and graph identical across two builds', () => {
    const again = build(darts);
    expect(searchSpace(again)).toEqual(space);
    expect(graphEq(again, g)).toBe(true);
  });

  it('maps [1, 28, 28] to 10 logits', () => {
    expect(g.outputs[0]!.shape).toEqual([10]);
  });
});

describe('dartsSpace options', () => {
  it('builds the DARTS search network (8 cells, 16 channels): reductions at cells 2 and 5', () => {
    const g = build(dartsSpace());
    const space = searchSpace(g);
    expect(space.size).toBe(cellSize(4) ** 2n);
    const normal = space.decisions.find((d) => d.key === 'normal_n2_p0')!;
    const reduce = space.decisions.find((d) => d.key === 'reduce_n2_p0')!;
    expect(normal.sites.map((s) => s.split('/')[0]).sort()).toEqual(['cell0', 'cell1', 'cell3', 'cell4', 'cell6', 'cell7']);
    expect(reduce.sites.map((s) => s.split('/')[0]).sort()).toEqual(['cell2', 'cell5']);
  });

  it('scales the count with the nodes per cell', () => {
    const space = searchSpace(build(dartsSpace({ cells: 3, nodes: 3, channels: 4, input: [1, 8, 8] })));
    // 3 nodes: edges 2+3+4 = 9, pairs C(2,2)·C(3,2)·C(4,2) = 1·3·6; cells 3 → reductions at 1 and 2, normal at 0.
    expect(space.size).toBe((8n ** 9n * binomial(2, 2) * binomial(3, 2) * binomial(4, 2)) ** 2n);
  });

  it('has only reduce keys when every cell is a reduction cell', () => {
    const space = searchSpace(build(dartsSpace({ cells: 2, nodes: 2, channels: 4, input: [1, 8, 8] })));
    expect(new Set(space.decisions.map((d) => d.key))).toEqual(new Set(cellKeys('reduce', 2)));
    expect(space.size).toBe(cellSize(2));
  });

  it('refuses an odd channel count with a build error', () => {
    const r = buildModel(dartsSpace({ channels: 5 }));
    expect(E.isLeft(r) && r.left[0]!.message).toContain('channels must be a positive even integer');
  });
});

/**
 * The fixed graph's trainable parameters (BatchNorm running statistics left out) summed per group: 'stem',
 * 'cellK/preproc', 'cellK/ops' (everything else of cell K) and 'classifier' (the rest): measured on the graph, to
 * hold each hand-counted term against.
 */
const trainableByGroup = (g: Graph, a: Architecture): Map<string, number> => {
  const f = apply(g, a);
  if (E.isLeft(f)) throw new Error(f.left.map((e) => e.message).join('; '));
  const out = new Map<string, number>();
  for (const [path, shape] of paramShapes(f.right)) {
    if (/running_(mean|var)$/.test(path)) continue;
    const [head, second] = path.split('/');
    const group = head === 'stem' ? 'stem' : /^cell\d+$/.test(head!) ? `${head}/${second!.startsWith('preproc') ? 'preproc' : 'ops'}` : 'classifier';
    out.set(group, (out.get(group) ?? 0) + shape.reduce((x, y) => x * y, 1));
  }
  return out;
};

describe('DARTS fixed architectures: parameter counts by hand', () => {
  // cells 3, nodes 2, channels 4, [1, 8, 8]: cell0 normal (C = 4), cell1 reduce (C = 8), cell2 reduce (C = 16,
  // after a reduction cell, so its preproc0 is a FactorizedReduce). Every BN in a cell has no affine weights;
  // no conv has a bias.
  const g = build(dartsSpace({ cells: 3, nodes: 2, channels: 4, input: [1, 8, 8], classes: 10 }));

  const arch = (normal: readonly [string, string, string, string, string], normalN3: readonly number[], reduce: readonly [string, string, string, string, string], reduceN3: readonly number[]): Architecture => {
    const ix = (op: string): number[] => [OPS.indexOf(op)];
    const cell = (type: string, ops: readonly string[], n3: readonly number[]): Record<string, number[]> => ({
      [`${type}_n2_p0`]: ix(ops[0]!),
      [`${type}_n2_p1`]: ix(ops[1]!),
      [`${type}_n2_switch`]: [0, 1],
      [`${type}_n3_p0`]: ix(ops[2]!),
      [`${type}_n3_p1`]: ix(ops[3]!),
      [`${type}_n3_p2`]: ix(ops[4]!),
      [`${type}_n3_switch`]: [...n3],
    });
    return { ...cell('normal', normal, normalN3), ...cell('reduce', reduce, reduceN3) };
  };

  // Fixed part (independent of the ops), per layer:
  const stem = 12 * 1 * 3 * 3 + 2 * 12; // conv 1→12 (3·4) 3x3 + BN weight/bias = 132
  const cell0Pre = 12 * 4 + 12 * 4; // two 1x1 convs 12→4 = 96
  const cell1Pre = 12 * 8 + 8 * 8; // s0 = stem (12 ch) → 8, s1 = cell0 (2·4 = 8 ch) → 8 = 160
  const cell2Pre = 2 * (8 * 8) + 16 * 16; // FactorizedReduce 8→16 (two 1x1 convs 8→8), s1 = cell1 (16 ch) → 16 = 384
  const classifier = 32 * 10 + 10; // cell2 outputs 2·16 = 32 channels = 330
  const fixed = stem + cell0Pre + cell1Pre + cell2Pre + classifier; // 1102

  // Ops, for C channels: sep_conv k = 2 · (depthwise C·k·k + pointwise C·C); dil_conv k = C·k·k + C·C;
  // FactorizedReduce C→C = 2 · (C/2)·C; pools, identity and none have none.
  const sep = (c: number, k: number): number => 2 * (c * k * k + c * c);
  const dil = (c: number, k: number): number => c * k * k + c * c;
  const fr = (c: number): number => 2 * (c / 2) * c;

  it('all max pools: only the stem, the preprocessing and the classifier', () => {
    const pools = ['max_pool_3x3', 'max_pool_3x3', 'max_pool_3x3', 'max_pool_3x3', 'max_pool_3x3'] as const;
    const a = arch(pools, [0, 1], pools, [0, 1]);
    // Each hand-counted term against the fixed graph's own trainable tensors, group by group.
    const groups = trainableByGroup(g, a);
    expect(groups).toEqual(new Map([['stem', stem], ['cell0/preproc', cell0Pre], ['cell1/preproc', cell1Pre], ['cell2/preproc', cell2Pre], ['classifier', classifier]]));
    expect(fixedParams(g, a)).toBe(fixed);
  });

  it('all sep_conv_3x3, nodes on edges p0 and p1: four sep convs per cell', () => {
    const s = ['sep_conv_3x3', 'sep_conv_3x3', 'sep_conv_3x3', 'sep_conv_3x3', 'sep_conv_3x3'] as const;
    // cell0: 4 · 2·(4·9 + 16) = 416; cell1: 4 · 2·(8·9 + 64) = 1088; cell2: 4 · 2·(16·9 + 256) = 3200.
    const a = arch(s, [0, 1], s, [0, 1]);
    const groups = trainableByGroup(g, a);
    expect([groups.get('cell0/ops'), groups.get('cell1/ops'), groups.get('cell2/ops')]).toEqual([4 * sep(4, 3), 4 * sep(8, 3), 4 * sep(16, 3)]);
    expect(fixedParams(g, a)).toBe(fixed + 4 * sep(4, 3) + 4 * sep(8, 3) + 4 * sep(16, 3));
  });

  it('mixed ops, strided skip_connect (FactorizedReduce) and none, n3 reading node n2', () => {
    // normal: n2 = skip_connect(s0) + dil_conv_3x3(s1); n3 = sep_conv_5x5(s1) + none(n2) (its p0 unused).
    // reduce: n2 = skip_connect(s0) (stride 2: FactorizedReduce) + avg_pool(s1); n3 = dil_conv_5x5(s0) + sep_conv_3x3(n2).
    const normal = ['skip_connect', 'dil_conv_3x3', 'max_pool_3x3', 'sep_conv_5x5', 'none'] as const;
    const reduce = ['skip_connect', 'avg_pool_3x3', 'dil_conv_5x5', 'max_pool_3x3', 'sep_conv_3x3'] as const;
    const cell0 = dil(4, 3) + sep(4, 5); // 52 + 232 = 284
    const cell1 = fr(8) + dil(8, 5) + sep(8, 3); // 64 + 264 + 272 = 600
    const cell2 = fr(16) + dil(16, 5) + sep(16, 3); // 256 + 656 + 800 = 1712
    expect([cell0, cell1, cell2]).toEqual([284, 600, 1712]);
    expect(fixedParams(g, arch(normal, [1, 2], reduce, [0, 2]))).toBe(fixed + 284 + 600 + 1712);
  });
});

describe('oddPick (the shifted branch of FactorizedReduce)', () => {
  // A float64 evaluator for the ops oddPick uses (a slice; before, four average pools), so the identity is checked
  // without the runtime.
  const evaluate = (root: Node, x: Float64Array): Float64Array => {
    const memo = new Map<string, Float64Array>();
    const ev = (n: Node): Float64Array => {
      const done = memo.get(n.id);
      if (done) return done;
      const op = n.op;
      let out: Float64Array;
      if (op.kind === 'input') out = x;
      else if (op.kind === 'scale') out = ev(n.inputs[0]!).map((v) => v * op.factor);
      else if (op.kind === 'add') {
        const xs = n.inputs.map(ev);
        out = xs[0]!.map((_, i) => xs.reduce((s, a) => s + a[i]!, 0));
      } else if (op.kind === 'avgPool2d') {
        expect(op.padding).toEqual([0, 0]);
        const [c, h, w] = n.inputs[0]!.shape as [number, number, number];
        const [, oh, ow] = n.shape as [number, number, number];
        const src = ev(n.inputs[0]!);
        out = new Float64Array(c * oh * ow);
        for (let ch = 0; ch < c; ch++)
          for (let i = 0; i < oh; i++)
            for (let j = 0; j < ow; j++) {
              let s = 0;
              for (let a = 0; a < op.kernel[0]; a++)
                for (let b = 0; b < op.kernel[1]; b++) s += src[(ch * h + i * op.stride[0] + a) * w + j * op.stride[1] + b]!;
              out[(ch * oh + i) * ow + j] = s / (op.kernel[0] * op.kernel[1]);
            }
      } else if (op.kind === 'slice') {
        const [c, h, w] = n.inputs[0]!.shape as [number, number, number];
        const [oc, oh, ow] = n.shape as [number, number, number];
        const src = ev(n.inputs[0]!);
        out = new Float64Array(oc * oh * ow);
        for (let ch = 0; ch < oc; ch++)
          for (let i = 0; i < oh; i++)
            for (let j = 0; j < ow; j++) {
              out[(ch * oh + i) * ow + j] = src[((op.start[0]! + ch * op.step[0]!) * h + op.start[1]! + i * op.step[1]!) * w + op.start[2]! + j * op.step[2]!]!;
            }
        void c;
      } else throw new Error(`unexpected op ${op.kind}`);
      memo.set(n.id, out);
      return out;
    };
    return ev(root);
  };

  it('equals x[:, 1::2, 1::2] on an even-sized map', () => {
    const [c, h, w] = [2, 6, 8];
    const g = build(defineModel({ name: 'pick', input: [c, h, w], layer: oddPick }));
    expect(g.outputs[0]!.shape).toEqual([c, h / 2, w / 2]);
    expect(nodes(g).some((n) => n.op.kind === 'param')).toBe(false);
    const x = Float64Array.from({ length: c * h * w }, (_, i) => Math.sin(i * 1.7) * 3 + (i % 5));
    const y = evaluate(g.outputs[0]!, x);
    for (let ch = 0; ch < c; ch++)
      for (let i = 0; i < h / 2; i++)
        for (let j = 0; j < w / 2; j++) {
          // Tolerance 1e-12: float64 rounding of a four-term sum of values below 10.
          expect(Math.abs(y[(ch * (h / 2) + i) * (w / 2) + j]! - x[(ch * h + 2 * i + 1) * w + 2 * j + 1]!)).toBeLessThan(1e-12);
        }
  });
});

describe('NNI DARTS export files', () => {
  // NNI's DARTS export writes `[]` for an edge its node's input switch dropped; such files must load.
  const space = (() => {
    const g = buildModel(dartsSpace({ cells: 3, nodes: 2, channels: 4 }));
    if (E.isLeft(g)) throw new Error(g.left.map((e) => e.message).join('; '));
    return { graph: g.right, space: searchSpace(g.right) };
  })();
  const nniExport = (): Record<string, unknown> => {
    const json: Record<string, unknown> = {};
    for (const d of space.space.decisions) {
      // Every node keeps its first two edges; the op of every other edge is dropped as `[]`.
      if (d.kind === 'input') json[d.key] = d.names.slice(0, 2);
      else json[d.key] = /_p[01]$/.test(d.key) ? 'sep_conv_3x3' : [];
    }
    return json;
  };

  it('resolve and apply, with [] for the dropped edges', () => {
    const arch = resolveArchitecture(space.space, nniExport());
    expect(E.isRight(arch)).toBe(true);
    if (E.isRight(arch)) expect(E.isRight(apply(space.graph, arch.right))).toBe(true);
  });

  it('an edge that is used but exported as [] is an error naming its key', () => {
    const json = nniExport();
    // A node with three or more incoming edges (e.g. normal_n3_switch over normal_n3_p0 … p2): keep its last edge.
    const d = space.space.decisions.find((x) => x.kind === 'input' && x.names.length >= 3)!;
    json[d.key] = [d.names[0]!, d.names[d.names.length - 1]!]; // now an edge whose op is [] is used
    const arch = resolveArchitecture(space.space, json);
    expect(E.isRight(arch)).toBe(true);
    if (E.isLeft(arch)) return;
    const fixed = apply(space.graph, arch.right);
    expect(E.isLeft(fixed)).toBe(true);
    if (E.isLeft(fixed)) expect(fixed.left.map((e) => e.message).join('\n')).toMatch(new RegExp(`layer choice '${d.names[d.names.length - 1]}' chose no candidate`));
  });
});

describe('FactorizedReduce with slice: outputs unchanged', () => {
  // The four-pool formula the slice replaced (d = 4P − 2R − 2C + A on every 2x2 block), kept here as the oracle.
  const fourPools: Layer = (ctx, x) => {
    const p = ctx.call('avg2x2', avgPool2d({ kernel: 2, stride: 2 }), x);
    const r = ctx.call('avg1x2', avgPool2d({ kernel: [1, 2], stride: 2 }), x);
    const c = ctx.call('avg2x1', avgPool2d({ kernel: [2, 1], stride: 2 }), x);
    const a = ctx.call('pick', avgPool2d({ kernel: 1, stride: 2 }), x);
    return add(ctx.call('p4', scale(4), p), ctx.call('r2', scale(-2), r), ctx.call('c2', scale(-2), c), a);
  };
  const withShift = (shift: Layer): Layer => (ctx, x) => {
    const h = ctx.call('relu', relu(), x);
    const y1 = ctx.call('conv1', conv2d({ out: 4, kernel: 1, stride: 2, bias: false }), h);
    const y2 = ctx.call('conv2', conv2d({ out: 4, kernel: 1, bias: false }), ctx.call('shift', shift, h));
    return ctx.call('bn', batchNorm2d({ affine: false }), concat([y1, y2]));
  };

  it('gives the same outputs as the four-pool form, and factorizedReduce the same parameters (float64 reference, 1e-12)', () => {
    const [c, h, w, batch] = [6, 8, 10, 2];
    const now = build(defineModel({ name: 'fr', input: [c, h, w], layer: (ctx, x) => factorizedReduce({ out: 8, relu: true })(ctx, x) }));
    const slicing = build(defineModel({ name: 'fr', input: [c, h, w], layer: withShift(oddPick) }));
    const before = build(defineModel({ name: 'fr', input: [c, h, w], layer: withShift(fourPools) }));
    const paths = (g: Graph): string[] => nodes(g).flatMap((n) => (n.op.kind === 'param' ? [`${n.op.path} ${n.shape.join('x')}`] : [])).sort();
    expect(paths(now)).toEqual(paths(before));
    expect(graphEq(now, slicing)).toBe(true);
    const [params] = initParams(before, seedRng(7));
    const x = Float64Array.from({ length: batch * c * h * w }, (_, i) => Math.sin(i * 0.37) * 2);
    const run = (g: Graph): Float64Array => {
      const r = evaluate(g, { batch, inputs: { x }, params });
      if (E.isLeft(r)) throw new Error(r.left.map((e) => e.message).join('; '));
      return r.right.outputs[0]!;
    };
    const [a, b] = [run(now), run(before)];
    expect(a.length).toBe(batch * 8 * (h / 2) * (w / 2));
    let worst = 0;
    a.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b[i]!))));
    expect(worst).toBeLessThan(1e-12);
  });
});
