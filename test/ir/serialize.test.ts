/**
 * Graph JSON: round trips over hand-built graphs that use every op kind and over random graphs, and
 * corrupted files, each of which must give the right error value and never throw.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mixGraph } from '../../src/compile/mix.ts';
import { trainingGraph } from '../../src/compile/training-graph.ts';
import { apply } from '../../src/ir/apply.ts';
import { chooseInputs, inputChoice, layerChoice, scope } from '../../src/ir/choice.ts';
import { type Layer, makeCtx } from '../../src/ir/ctx.ts';
import { GraphError } from '../../src/ir/errors.ts';
import { type Graph, buildModel, defineModel, graphEq, nodes } from '../../src/ir/graph.ts';
import {
  adaptiveAvgPool2d, add, avgPool2d, batchNorm2d, block, concat, conv2d, dropout, flatten, gelu, globalAvgPool, identity, input,
  linear, logSoftmax, maxPool2d, mul, param, relu, relu6, reshape, scale, sequential, sigmoid, slice, softmax, tanh, zero,
} from '../../src/ir/layers.ts';
import { type Node, mkNode, nodeId } from '../../src/ir/node.ts';
import type { OpKind } from '../../src/ir/ops.ts';
import {
  type DecodeError, type GraphJson, decodeGraph, encodeGraph, graphFromJsonText, graphToJsonText,
} from '../../src/ir/serialize.ts';
import { arbSupernet, arbValidArchitecture } from './arbitraries.ts';

const ALL_KINDS: Record<OpKind, true> = {
  input: true, param: true, conv2d: true, linear: true, batchNorm2d: true, relu: true, relu6: true, sigmoid: true, tanh: true,
  gelu: true, identity: true, scale: true, zero: true, add: true, mul: true, concat: true, maxPool2d: true, avgPool2d: true,
  globalAvgPool: true, adaptiveAvgPool2d: true, flatten: true, reshape: true, dropout: true, softmax: true, logSoftmax: true,
  layerChoice: true, inputChoice: true, absent: true,
  fill: true, choiceWeights: true, weightedSum: true, weightedScale: true, weightedSumGrad: true, batchNorm2dTrain: true,
  batchNorm2dGradInput: true, batchNorm2dGradWeight: true, sumBatch: true, conv2dGradInput: true, conv2dGradWeight: true,
  linearGradInput: true, linearGradWeight: true, dropoutTrain: true, activationGrad: true, maxPool2dGrad: true, avgPool2dGrad: true,
  adaptiveAvgPool2dGrad: true, globalAvgPoolGrad: true, sliceChannels: true, slice: true, sliceGrad: true, softmaxGrad: true, logSoftmaxGrad: true,
  crossEntropy: true, crossEntropyGrad: true,
};

const right = <T>(r: E.Either<readonly { readonly message: string }[], T>): T => {
  if (E.isLeft(r)) throw new Error(r.left.map((e) => e.message).join('\n'));
  return r.right;
};

const errorsOf = (r: E.Either<readonly DecodeError[], Graph>): readonly DecodeError[] => {
  if (E.isRight(r)) throw new Error('expected decoding to fail, it succeeded');
  return r.left;
};

/** A deep copy through JSON text: what a file or a worker message would carry. */
const viaJson = (j: GraphJson): GraphJson => JSON.parse(JSON.stringify(j)) as GraphJson;

/** Every round-trip law at once: value, text, and idempotence of the encoding. */
const expectRoundTrip = (g: Graph): void => {
  const j = encodeGraph(g);
  const back = right(decodeGraph(viaJson(j)));
  expect(graphEq(back, g)).toBe(true);
  expect(back.inputs.map((n) => n.id)).toEqual(g.inputs.map((n) => n.id));
  expect(encodeGraph(back)).toEqual(j);
  const fromText = right(graphFromJsonText(graphToJsonText(g)));
  expect(graphEq(fromText, g)).toBe(true);
  expect(nodes(fromText).map((n) => [n.id, n.name, n.shape])).toEqual(nodes(g).map((n) => [n.id, n.name, n.shape]));
};

// ---------------------------------------------------------------------------------------------------------
// Hand-built graphs that, together, use every op kind

/** A supernet: nested layer choice, input choices with every reduction, chooseInputs positions. */
const supernetLayer: Layer = block((ctx, x) => {
  const stem = ctx.call('stem', sequential({ conv: conv2d({ out: 4, kernel: 3, padding: 1 }), bn: batchNorm2d(), act: relu() }), x);
  const op = ctx.call(
    'op',
    layerChoice({
      conv3: conv2d({ out: 4, kernel: 3, padding: 1, bias: false }),
      dw: sequential({ dw: conv2d({ out: 4, kernel: 3, padding: 1, groups: 4 }), bn: batchNorm2d({ affine: false }) }),
      max: maxPool2d({ kernel: 3, stride: 1, padding: 1 }),
      avg: avgPool2d({ kernel: 3, stride: 1, padding: 1, countIncludePad: false }),
      none: zero(),
      nested: layerChoice([relu6(), sigmoid(), tanh(), gelu(), identity(), scale(0.5)]),
    }),
    stem,
  );
  const sum = ctx.call('sum', inputChoice({ nChosen: 1 }), [stem, op]);
  const mean = ctx.call('mean', inputChoice({ nChosen: null, reduction: 'mean' }), { stem, op, sum });
  const cat = ctx.call('cat', inputChoice({ nChosen: 2, reduction: 'concat' }), [stem, op, mean]);
  const [p0, p1] = chooseInputs({ ...ctx, path: [...ctx.path, 'pick'] }, [stem, op, sum], { nChosen: 2 });
  const emb = param(ctx, 'emb', [4, 8, 8], { kind: 'normal', std: 0.02 });
  const mixed = mul(add(p0!, p1!, mean), emb);
  const down = ctx.call('down', zero(2), concat([mixed, cat]));
  const pooled = ctx.call('pool', adaptiveAvgPool2d(2), down);
  const gap = ctx.call('gap', globalAvgPool(), down);
  const flat = ctx.call('flat', sequential([dropout(0.2, true), flatten(), dropout(0.1), reshape([2, 24]), flatten()]), pooled);
  const both = concat([flat, gap]);
  return ctx.call('head', sequential({ fc: linear({ out: 5 }), out: softmax() }), both);
});

const supernet = (): Graph => right(buildModel(defineModel({ name: 'supernet', input: [3, 8, 8], layer: scope('cell', supernetLayer) })));

/** Two inputs, two outputs (one a logSoftmax), a bias-free linear and an absent value kept as a node. */
const multiIo = (): Graph => {
  const x = input([6], 'x');
  const y = input([6], 'y');
  const ctx = makeCtx(['m']);
  const h = linear({ out: 6, bias: false })(ctx, add(x, y));
  const gone = mkNode({ kind: 'absent', key: 'skip', shape: [6] }, [], 'm/skip');
  const withAbsent = mkNode({ kind: 'add' }, [h, gone], 'm/add');
  return { inputs: [x, y], outputs: [logSoftmax()(ctx, withAbsent), h] };
};

/**
 * One training step of a small mixed supernet (mixGraph + trainingGraph with ∂L/∂weights): together its forward
 * and backward passes use every training and gradient op kind.
 */
const trainingStep = (): Graph => {
  const layer: Layer = block((ctx, x) => {
    const bn = ctx.call('bn', batchNorm2d(), ctx.call('conv', conv2d({ out: 2, kernel: 3, padding: 1 }), x));
    const op = ctx.call(
      'op',
      layerChoice({
        relu: relu(),
        conv: conv2d({ out: 2, kernel: 1 }),
        max: maxPool2d({ kernel: 3, stride: 1, padding: 1 }),
        avg: avgPool2d({ kernel: 3, stride: 1, padding: 1 }),
      }),
      bn,
    );
    const sum = ctx.call('sum', inputChoice({ nChosen: null }), [bn, op]);
    const drop = ctx.call('drop', dropout(0.2), concat([sum, ctx.call('crop', slice([{ step: 2 }]), concat([bn, x]))]));
    const flat = concat([ctx.call('flat', flatten(), ctx.call('pool', adaptiveAvgPool2d(2), drop)), ctx.call('gap', globalAvgPool(), drop)]);
    const logits = ctx.call('fc', linear({ out: 3 }), flat);
    return add(ctx.call('p', softmax(), logits), ctx.call('lp', logSoftmax(), logits));
  });
  const mixed = right(mixGraph(right(buildModel(defineModel({ name: 'step', input: [2, 4, 4], layer })))));
  return trainingGraph(mixed.graph, { labelSmoothing: 0.1, extraWrt: () => mixed.weights.map((w) => w.leaf) }).graph;
};

describe('round trip', () => {
  it('the hand-built graphs use every op kind', () => {
    const used = new Set([...nodes(supernet()), ...nodes(multiIo()), ...nodes(trainingStep())].map((n) => n.op.kind));
    expect([...used].sort()).toEqual(Object.keys(ALL_KINDS).sort());
    const ops = nodes(supernet()).map((n) => n.op);
    // The variants the brief names: every reduction, chooseInputs positions, both BN forms, both param kinds.
    const reductions = new Set(ops.flatMap((op) => (op.kind === 'inputChoice' ? [`${op.reduction}:${op.position}`] : [])));
    expect([...reductions].sort()).toEqual(['concat:0', 'mean:0', 'none:0', 'none:1', 'sum:0']);
    expect(new Set(ops.flatMap((op) => (op.kind === 'batchNorm2d' ? [op.affine] : [])))).toEqual(new Set([true, false]));
    expect(new Set(ops.flatMap((op) => (op.kind === 'param' ? [op.trainable] : [])))).toEqual(new Set([true, false]));
    expect(new Set(ops.flatMap((op) => (op.kind === 'param' ? [op.init.kind] : [])))).toEqual(new Set(['uniform', 'normal', 'ones', 'zeros']));
    expect(new Set(ops.flatMap((op) => (op.kind === 'dropout' ? [op.channelwise] : [])))).toEqual(new Set([true, false]));
  });

  it('a supernet round-trips', () => expectRoundTrip(supernet()));

  it('a graph with two inputs, two outputs and an absent value round-trips', () => expectRoundTrip(multiIo()));

  it('a training step (mixed supernet, loss, every gradient) round-trips', () => expectRoundTrip(trainingStep()));

  it('fixed graphs from apply round-trip, including an empty selection', () => {
    const g = supernet();
    const archs = [
      { 'cell/op': [0], 'cell/sum': [0], 'cell/mean': [], 'cell/cat': [0, 1], 'cell/pick': [0, 2], 'cell/op/nested': [0] },
      { 'cell/op': [5], 'cell/sum': [1], 'cell/mean': [0, 2], 'cell/cat': [1, 2], 'cell/pick': [1, 2], 'cell/op/nested': [5] },
      { 'cell/op': [4], 'cell/sum': [1], 'cell/mean': [0, 1, 2], 'cell/cat': [0, 2], 'cell/pick': [0, 1], 'cell/op/nested': [2] },
    ];
    for (const arch of archs) {
      const fixed = right(apply(g, arch));
      expect(nodes(fixed).some((n) => n.op.kind === 'layerChoice' || n.op.kind === 'inputChoice')).toBe(false);
      expectRoundTrip(fixed);
    }
  });

  it('keeps a graph input that no output uses', () => {
    const x = input([3], 'x');
    const unused = input([5], 'mask');
    const g: Graph = { inputs: [x, unused], outputs: [relu()(makeCtx(['r']), x)] };
    expectRoundTrip(g);
    expect(right(decodeGraph(encodeGraph(g))).inputs[1]!.shape).toEqual([5]);
  });

  it('lists nodes inputs first, inputs before users, each once', () => {
    const j = encodeGraph(multiIo());
    expect(j.nodes.slice(0, 1).map((n) => n.op.kind)).toEqual(['input']);
    const seen = new Set<string>();
    for (const n of j.nodes) {
      for (const i of n.inputs) expect(seen.has(i)).toBe(true);
      expect(seen.has(n.id)).toBe(false);
      seen.add(n.id);
    }
    expect(j).toMatchObject({ format: 'nasgraph.graph', version: 1 });
  });

  it('the JSON value is plain data, not shared with the graph', () => {
    const g = multiIo();
    const j = encodeGraph(g);
    expect(JSON.parse(JSON.stringify(j))).toEqual(j);
    const back = right(decodeGraph(j));
    // Editing either JSON afterwards must not reach into a graph.
    (j.nodes[0]!.op as unknown as { shape: number[] }).shape[0] = 99;
    expect(g.inputs[0]!.shape).toEqual([6]);
    expect(back.inputs[0]!.op).toEqual({ kind: 'input', name: 'x', shape: [6] });
  });

  it('the text form has one node per line', () => {
    const g = multiIo();
    const lines = graphToJsonText(g).split('\n');
    expect(lines.filter((l) => l.trimStart().startsWith('{"id"'))).toHaveLength(encodeGraph(g).nodes.length);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Random graphs

type Step =
  | { readonly t: 'unary'; readonly which: number; readonly src: number }
  | { readonly t: 'conv'; readonly src: number; readonly out: number; readonly k: number; readonly s: number; readonly p: number; readonly d: number; readonly dw: boolean; readonly bias: boolean }
  | { readonly t: 'pool'; readonly src: number; readonly max: boolean; readonly k: number; readonly s: number; readonly incl: boolean }
  | { readonly t: 'bn'; readonly src: number; readonly affine: boolean }
  | { readonly t: 'merge'; readonly srcs: readonly number[]; readonly how: 'add' | 'concat' | 'mul' }
  | { readonly t: 'lc'; readonly src: number; readonly n: number }
  | { readonly t: 'ic'; readonly srcs: readonly number[]; readonly nChosen: number | null; readonly reduction: 'sum' | 'mean' | 'concat' }
  | { readonly t: 'head'; readonly src: number; readonly out: number };

const src = fc.nat({ max: 50 });
const arbStep: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ t: fc.constant('unary' as const), which: fc.nat({ max: 11 }), src }),
  fc.record({
    t: fc.constant('conv' as const), src, out: fc.integer({ min: 1, max: 4 }), k: fc.integer({ min: 1, max: 3 }), s: fc.integer({ min: 1, max: 2 }),
    p: fc.integer({ min: 0, max: 1 }), d: fc.integer({ min: 1, max: 2 }), dw: fc.boolean(), bias: fc.boolean(),
  }),
  fc.record({ t: fc.constant('pool' as const), src, max: fc.boolean(), k: fc.integer({ min: 1, max: 3 }), s: fc.integer({ min: 1, max: 2 }), incl: fc.boolean() }),
  fc.record({ t: fc.constant('bn' as const), src, affine: fc.boolean() }),
  fc.record({ t: fc.constant('merge' as const), srcs: fc.array(src, { minLength: 2, maxLength: 3 }), how: fc.constantFrom('add' as const, 'concat' as const, 'mul' as const) }),
  fc.record({ t: fc.constant('lc' as const), src, n: fc.integer({ min: 1, max: 3 }) }),
  fc.record({
    t: fc.constant('ic' as const), srcs: fc.array(src, { minLength: 1, maxLength: 3 }),
    nChosen: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }), reduction: fc.constantFrom('sum' as const, 'mean' as const, 'concat' as const),
  }),
  fc.record({ t: fc.constant('head' as const), src, out: fc.integer({ min: 1, max: 4 }) }),
);

const unaries: readonly (() => Layer)[] = [
  relu, relu6, sigmoid, tanh, gelu, identity, softmax, logSoftmax, flatten, globalAvgPool,
  () => scale(0.25), () => dropout(0.3),
];

/** Builds the steps it can over a pool of values; a step whose shapes do not fit is skipped. */
const buildRandom = (c: number, h: number, w: number, steps: readonly Step[], nOut: number): Graph => {
  const x = input([c, h, w]);
  const pool: Node[] = [x];
  const at = (i: number): Node => pool[i % pool.length]!;
  steps.forEach((s, i) => {
    const ctx = makeCtx([`s${i}`]);
    try {
      const node = ((): Node => {
        switch (s.t) {
          case 'unary':
            return unaries[s.which % unaries.length]!()(ctx, at(s.src));
          case 'conv': {
            const v = at(s.src);
            const cin = v.shape[0] ?? 1;
            return conv2d({ out: s.dw ? cin : s.out, kernel: s.k, stride: s.s, padding: s.p, dilation: s.d, groups: s.dw ? cin : 1, bias: s.bias })(ctx, v);
          }
          case 'pool':
            return (s.max ? maxPool2d({ kernel: s.k, stride: s.s }) : avgPool2d({ kernel: s.k, stride: s.s, countIncludePad: s.incl }))(ctx, at(s.src));
          case 'bn':
            return batchNorm2d({ affine: s.affine })(ctx, at(s.src));
          case 'merge': {
            const vs = s.srcs.map(at);
            return s.how === 'add' ? add(...vs) : s.how === 'mul' ? mul(vs[0]!, vs[1]!) : concat(vs);
          }
          case 'lc':
            return layerChoice(Array.from({ length: s.n }, (_, k) => (k === 0 ? identity() : k === 1 ? relu() : scale(2))))(ctx, at(s.src));
          case 'ic': {
            const vs = s.srcs.map(at);
            const nChosen = s.nChosen === null ? null : Math.min(s.nChosen, vs.length);
            return inputChoice({ nChosen, reduction: s.reduction })(ctx, vs);
          }
          case 'head':
            return linear({ out: s.out })(ctx, at(s.src));
        }
      })();
      pool.push(node);
    } catch (e) {
      if (!(e instanceof GraphError)) throw e;
    }
  });
  return { inputs: [x], outputs: pool.slice(-Math.min(nOut, pool.length)) };
};

const arbGraph: fc.Arbitrary<Graph> = fc
  .record({
    c: fc.integer({ min: 1, max: 4 }),
    h: fc.integer({ min: 1, max: 7 }),
    w: fc.integer({ min: 1, max: 7 }),
    steps: fc.array(arbStep, { maxLength: 14 }),
    nOut: fc.integer({ min: 1, max: 3 }),
  })
  .map(({ c, h, w, steps, nOut }) => buildRandom(c, h, w, steps, nOut));

describe('round trip of random graphs', () => {
  it('decode(encode(g)) equals g, and encoding is idempotent', () => {
    fc.assert(fc.property(arbGraph, (g) => expectRoundTrip(g)), { numRuns: 200 });
  });

  it('supernets from arbitraries.ts, and their fixed graphs, round-trip', () => {
    fc.assert(
      fc.property(
        arbSupernet.chain((sn) => arbValidArchitecture(sn.space).map((arch) => ({ sn, arch }))),
        ({ sn, arch }) => {
          expectRoundTrip(sn.graph);
          expectRoundTrip(right(apply(sn.graph, arch)));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('the generator reaches choices and parameterised ops (so the property is not vacuous)', () => {
    const kinds = new Set(fc.sample(arbGraph, { numRuns: 300, seed: 7 }).flatMap((g) => nodes(g).map((n) => n.op.kind)));
    for (const k of ['conv2d', 'batchNorm2d', 'linear', 'layerChoice', 'inputChoice', 'concat', 'maxPool2d', 'avgPool2d', 'param'] as const) {
      expect(kinds).toContain(k);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// Corruption

/** A decoded-from-text graph file, open to edits. */
interface MutableNode {
  id: string;
  op: Record<string, unknown>;
  inputs: string[];
  name: string;
  shape: number[];
}
interface MutableGraph {
  format: string;
  version: number;
  nodes: MutableNode[];
  inputs: string[];
  outputs: string[];
}

/** A tiny conv net, encoded and copied so that a test may edit it. */
const small = (): { readonly g: Graph; readonly j: MutableGraph } => {
  const g = right(
    buildModel(defineModel({ name: 's', input: [2, 6, 6], layer: sequential({ conv: conv2d({ out: 3, kernel: 3 }), act: relu(), flat: flatten(), fc: linear({ out: 2 }) }) })),
  );
  return { g, j: JSON.parse(JSON.stringify(encodeGraph(g))) as MutableGraph };
};

const indexOf = (j: MutableGraph, kind: string): number => j.nodes.findIndex((n) => n.op['kind'] === kind);

describe('corrupted files give error values', () => {
  it('an edited attribute whose id was not updated: IdMismatch naming the node', () => {
    const { j } = small();
    const i = indexOf(j, 'relu');
    j.nodes[i]!.op = { kind: 'tanh' }; // same shape, so only the id gives it away
    const errs = errorsOf(decodeGraph(j));
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatchObject({ tag: 'IdMismatch', node: j.nodes[i]!.id, computed: nodeId({ kind: 'tanh' }, j.nodes[i]!.inputs) });
    expect(errs[0]!.message).toContain(`nodes[${i}] (act)`);
  });

  it('a tampered id: IdMismatch at the node, UnknownNode where it was used', () => {
    const { j } = small();
    const i = indexOf(j, 'relu');
    const old = j.nodes[i]!.id;
    j.nodes[i]!.id = 'f'.repeat(32);
    const errs = errorsOf(decodeGraph(j));
    expect(errs.map((e) => e.tag).sort()).toEqual(['IdMismatch', 'UnknownNode']);
    expect(errs.find((e) => e.tag === 'UnknownNode')).toMatchObject({ ref: old });
  });

  it('a wrong stored shape: StoredShapeMismatch with both shapes', () => {
    const { j } = small();
    const i = indexOf(j, 'flatten');
    j.nodes[i]!.shape = [47];
    const errs = errorsOf(decodeGraph(j));
    expect(errs).toEqual([expect.objectContaining({ tag: 'StoredShapeMismatch', stored: [47], inferred: [48] })]);
    expect(errs[0]!.message).toContain('[47]');
    expect(errs[0]!.message).toContain('[48]');
  });

  it('a dangling input and a dangling output: UnknownNode for each', () => {
    const { j } = small();
    j.nodes[indexOf(j, 'relu')]!.inputs = ['0123'];
    j.outputs = [...j.outputs, 'nowhere'];
    const errs = errorsOf(decodeGraph(j));
    expect(errs).toEqual([
      expect.objectContaining({ tag: 'UnknownNode', ref: '0123' }),
      expect.objectContaining({ tag: 'UnknownNode', node: 'outputs[1]', ref: 'nowhere' }),
    ]);
  });

  it('nodes out of order: ForwardReference', () => {
    const { j } = small();
    const i = indexOf(j, 'relu');
    const [r] = j.nodes.splice(i, 1);
    j.nodes.push(r!);
    const errs = errorsOf(decodeGraph(j));
    expect(errs.some((e) => e.tag === 'ForwardReference' && e.ref === r!.id)).toBe(true);
    expect(errs.every((e) => e.tag === 'ForwardReference')).toBe(true);
  });

  it('a node listed twice: DuplicateNode', () => {
    const { j } = small();
    j.nodes.push(structuredClone(j.nodes[0]!));
    expect(errorsOf(decodeGraph(j))).toEqual([expect.objectContaining({ tag: 'DuplicateNode', node: j.nodes[0]!.id })]);
  });

  it('shapes that no longer fit (ids kept consistent): the IR error with its detail, and no cascade', () => {
    const { j } = small();
    // Make the conv weight [3, 1, 3, 3] and recompute every id downstream, as a careless tool would.
    const w = j.nodes.find((n) => n.op['kind'] === 'param' && n.op['path'] === 'conv/weight')!;
    (w.op['shape'] as number[])[1] = 1;
    w.shape = [3, 1, 3, 3];
    const renamed = new Map<string, string>();
    for (const n of j.nodes) {
      n.inputs = n.inputs.map((i) => renamed.get(i) ?? i);
      const id = nodeId(n.op as never, n.inputs);
      renamed.set(n.id, id);
      n.id = id;
    }
    j.inputs = j.inputs.map((i) => renamed.get(i) ?? i);
    j.outputs = j.outputs.map((i) => renamed.get(i) ?? i);
    const errs = errorsOf(decodeGraph(j));
    expect(errs).toEqual([expect.objectContaining({ tag: 'ShapeMismatch', node: 'conv', op: 'conv2d', shapes: [[2, 6, 6], [3, 1, 3, 3], [3]] })]);
  });

  it('bad op attributes: each reported with its path and expected type', () => {
    const { j } = small();
    const c = indexOf(j, 'conv2d');
    const r = indexOf(j, 'relu');
    const f = indexOf(j, 'linear');
    j.nodes[c]!.op['stride'] = [1];
    j.nodes[c]!.op['groups'] = 1.5;
    j.nodes[r]!.op['slope'] = 0.1;
    delete j.nodes[f]!.op['bias'];
    j.nodes[indexOf(j, 'flatten')]!.op = { kind: 'flattn' };
    const errs = errorsOf(decodeGraph(j));
    const byPath = Object.fromEntries(errs.map((e) => [e.tag === 'InvalidJson' ? e.path : e.tag, e.message]));
    expect(byPath[`nodes[${c}].op.stride[1]`]).toContain('missing (expected Int)');
    expect(byPath[`nodes[${c}].op.groups`]).toContain('expected Int, got 1.5');
    expect(byPath[`nodes[${r}].op`]).toContain('unexpected field "slope"');
    expect(byPath[`nodes[${f}].op.bias`]).toContain('missing (expected boolean)');
    expect(errs.some((e) => e.message.includes('"kind" one of input, param,'))).toBe(true);
    // The nodes that use a broken node are skipped, not reported again.
    expect(errs.every((e) => e.tag === 'InvalidJson')).toBe(true);
    expect(errs).toHaveLength(5);
  });

  it('bad init, reduction and nChosen of choices and params', () => {
    const g = supernet();
    const j = JSON.parse(JSON.stringify(encodeGraph(g))) as MutableGraph;
    const p = j.nodes.findIndex((n) => n.op['kind'] === 'param');
    const ic = j.nodes.findIndex((n) => n.op['kind'] === 'inputChoice');
    (j.nodes[p]!.op['init'] as Record<string, unknown>)['kind'] = 'xavier';
    j.nodes[ic]!.op['reduction'] = 'max';
    j.nodes[ic]!.op['nChosen'] = 'all';
    const msgs = errorsOf(decodeGraph(j)).map((e) => e.message);
    expect(msgs).toContain(`nodes[${p}].op.init: expected Init with "kind" one of uniform, normal, ones, zeros`);
    expect(msgs).toContain(`nodes[${ic}].op.reduction: expected Reduction, got "max"`);
    expect(msgs).toContain(`nodes[${ic}].op.nChosen: expected Int | null, got "all"`);
  });

  it('text that is not JSON, JSON that is not a graph, another format or version', () => {
    expect(errorsOf(graphFromJsonText('{"format": "nasgraph.graph",'))).toEqual([expect.objectContaining({ tag: 'InvalidJsonText' })]);
    expect(errorsOf(decodeGraph(42))[0]!.message).toBe('(root): expected GraphJson, got 42');
    expect(errorsOf(decodeGraph({ ...small().j, format: 'onnx' }))[0]!.message).toBe('format: expected "nasgraph.graph", got "onnx"');
    expect(errorsOf(decodeGraph({ ...small().j, version: 2 }))[0]!.message).toBe('version: expected 1, got 2');
    expect(errorsOf(decodeGraph({ ...small().j, extra: true }))[0]!.message).toContain('unexpected field "extra"');
  });

  it('collects independent errors in one pass', () => {
    const { j } = small();
    j.nodes[indexOf(j, 'flatten')]!.shape = [1];
    j.nodes[indexOf(j, 'relu')]!.op['x'] = 1;
    j.outputs = ['nowhere'];
    expect(errorsOf(decodeGraph(j)).map((e) => e.tag).sort()).toEqual(['InvalidJson', 'UnknownNode']);
    // flatten is skipped (it uses the broken relu), so its stored shape is not checked: no cascade.
  });

  it('never throws on arbitrary values', () => {
    fc.assert(
      fc.property(fc.anything(), (u) => {
        expect(E.isLeft(decodeGraph(u))).toBe(true);
      }),
    );
    fc.assert(
      fc.property(fc.string(), (s) => {
        expect(E.isLeft(graphFromJsonText(s))).toBe(true);
      }),
    );
  });

  it('never throws on a valid file with one field replaced by any JSON value', () => {
    const { g, j } = small();
    fc.assert(
      fc.property(fc.nat(), fc.constantFrom('id', 'op', 'inputs', 'name', 'shape', 'op.kind', 'op.x'), fc.jsonValue(), (i, field, v) => {
        const k = structuredClone(j);
        const n = k.nodes[i % k.nodes.length]!;
        if (field.startsWith('op.')) n.op[field.slice(3)] = v;
        else (n as unknown as Record<string, unknown>)[field] = v;
        const r = decodeGraph(k);
        // Either an error, or a harmless edit (such as the same value, or a new name) that decodes to g.
        if (E.isRight(r)) expect(graphEq(r.right, g)).toBe(true);
      }),
    );
  });
});
