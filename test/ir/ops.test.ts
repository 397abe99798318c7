/**
 * `inferShape` for every op, against shapes computed here from PyTorch's documented formulas (written out
 * again rather than imported, so that a wrong shared helper cannot make both sides agree), and every error
 * path: the thrown GraphError names the node, the op and (for shape errors) the input shapes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GraphError, type IRError } from '../../src/ir/errors.ts';
import { type Op, type OpKind, inferShape } from '../../src/ir/ops.ts';
import type { Shape } from '../../src/ir/shape.ts';

/** torch.nn.Conv2d / MaxPool2d docs: H_out = floor((H_in + 2·padding − dilation·(kernel − 1) − 1) / stride + 1). */
const torchOut = (size: number, kernel: number, stride: number, padding: number, dilation = 1): number =>
  Math.floor((size + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1);

/** DARTS' Zero(stride) is x[:, :, ::stride, ::stride]·0: the count of indices 0, s, 2s, … below `size`. */
const sliceCount = (size: number, stride: number): number => {
  let n = 0;
  for (let i = 0; i < size; i += stride) n++;
  return n;
};

const NODE = 'net/block/op';

/** The GraphError thrown by `f`, or a test failure. */
const thrown = (f: () => unknown): IRError => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(GraphError);
    return (e as GraphError).detail;
  }
  throw new Error('expected a GraphError, nothing was thrown');
};

const conv = (o: Partial<Extract<Op, { kind: 'conv2d' }>> = {}): Op => ({
  kind: 'conv2d',
  stride: [1, 1],
  padding: [0, 0],
  dilation: [1, 1],
  groups: 1,
  bias: true,
  ...o,
});

describe('inferShape: shape rules', () => {
  it('conv2d follows PyTorch over sizes, kernels, strides, paddings, dilations and groups', () => {
    fc.assert(
      fc.property(
        fc.record({
          groups: fc.integer({ min: 1, max: 4 }),
          inPer: fc.integer({ min: 1, max: 3 }),
          outPer: fc.integer({ min: 1, max: 3 }),
          h: fc.integer({ min: 1, max: 20 }),
          w: fc.integer({ min: 1, max: 20 }),
          kh: fc.integer({ min: 1, max: 5 }),
          kw: fc.integer({ min: 1, max: 5 }),
          sh: fc.integer({ min: 1, max: 3 }),
          sw: fc.integer({ min: 1, max: 3 }),
          ph: fc.integer({ min: 0, max: 3 }),
          pw: fc.integer({ min: 0, max: 3 }),
          dh: fc.integer({ min: 1, max: 3 }),
          dw: fc.integer({ min: 1, max: 3 }),
          bias: fc.boolean(),
        }),
        (r) => {
          const cin = r.groups * r.inPer;
          const cout = r.groups * r.outPer;
          const op = conv({ stride: [r.sh, r.sw], padding: [r.ph, r.pw], dilation: [r.dh, r.dw], groups: r.groups, bias: r.bias });
          const shapes: Shape[] = [[cin, r.h, r.w], [cout, r.inPer, r.kh, r.kw], ...(r.bias ? [[cout]] : [])];
          const oh = torchOut(r.h, r.kh, r.sh, r.ph, r.dh);
          const ow = torchOut(r.w, r.kw, r.sw, r.pw, r.dw);
          if (oh >= 1 && ow >= 1) expect(inferShape(NODE, op, shapes)).toEqual([cout, oh, ow]);
          else expect(thrown(() => inferShape(NODE, op, shapes))).toMatchObject({ tag: 'ShapeMismatch', node: NODE, op: 'conv2d' });
        },
      ),
    );
  });

  it('depthwise conv2d (groups = channels) keeps the channel count', () => {
    expect(inferShape(NODE, conv({ groups: 8, padding: [1, 1] }), [[8, 5, 5], [8, 1, 3, 3], [8]])).toEqual([8, 5, 5]);
  });

  it('linear maps [in] to [out], with or without bias', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 500 }), fc.boolean(), (i, o, bias) => {
        expect(inferShape(NODE, { kind: 'linear', bias }, [[i], [o, i], ...(bias ? [[o]] : [])])).toEqual([o]);
      }),
    );
  });

  it('pools follow PyTorch (floor mode); adaptive and global pools give their fixed sizes', () => {
    fc.assert(
      fc.property(
        fc.record({
          c: fc.integer({ min: 1, max: 5 }),
          h: fc.integer({ min: 1, max: 20 }),
          w: fc.integer({ min: 1, max: 20 }),
          kh: fc.integer({ min: 1, max: 5 }),
          kw: fc.integer({ min: 1, max: 5 }),
          sh: fc.integer({ min: 1, max: 3 }),
          sw: fc.integer({ min: 1, max: 3 }),
          padFrac: fc.double({ min: 0, max: 1, noNaN: true }),
          incl: fc.boolean(),
        }),
        (r) => {
          const ph = Math.floor((r.padFrac * r.kh) / 2); // PyTorch: padding at most half the kernel
          const pw = Math.floor((r.padFrac * r.kw) / 2);
          const oh = torchOut(r.h, r.kh, r.sh, ph);
          const ow = torchOut(r.w, r.kw, r.sw, pw);
          const win = { kernel: [r.kh, r.kw], stride: [r.sh, r.sw], padding: [ph, pw] } as const;
          for (const op of [{ kind: 'maxPool2d', ...win }, { kind: 'avgPool2d', ...win, countIncludePad: r.incl }] as const) {
            if (oh >= 1 && ow >= 1) expect(inferShape(NODE, op, [[r.c, r.h, r.w]])).toEqual([r.c, oh, ow]);
            else expect(thrown(() => inferShape(NODE, op, [[r.c, r.h, r.w]]))).toMatchObject({ tag: 'ShapeMismatch', op: op.kind });
          }
          expect(inferShape(NODE, { kind: 'globalAvgPool' }, [[r.c, r.h, r.w]])).toEqual([r.c]);
          expect(inferShape(NODE, { kind: 'adaptiveAvgPool2d', output: [r.kh, r.kw] }, [[r.c, r.h, r.w]])).toEqual([r.c, r.kh, r.kw]);
        },
      ),
    );
  });

  it('elementwise ops, softmaxes, dropout, scale and batch norm keep the shape', () => {
    const unary: readonly Op[] = [
      { kind: 'relu' },
      { kind: 'relu6' },
      { kind: 'sigmoid' },
      { kind: 'tanh' },
      { kind: 'gelu' },
      { kind: 'identity' },
      { kind: 'softmax' },
      { kind: 'logSoftmax' },
      { kind: 'scale', factor: 0.5 },
      { kind: 'dropout', p: 0.3, channelwise: false, site: 'd' },
      { kind: 'zero', stride: 1 },
    ];
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 }), (s) => {
        for (const op of unary) expect(inferShape(NODE, op, [s])).toEqual(s);
        expect(inferShape(NODE, { kind: 'flatten' }, [s])).toEqual([s.reduce((a, b) => a * b, 1)]);
      }),
    );
    expect(inferShape(NODE, { kind: 'dropout', p: 0.5, channelwise: true, site: 'd' }, [[3, 4, 5]])).toEqual([3, 4, 5]);
    const bn = (affine: boolean): Op => ({ kind: 'batchNorm2d', eps: 1e-5, momentum: 0.1, affine });
    expect(inferShape(NODE, bn(true), [[3, 4, 5], [3], [3], [3], [3]])).toEqual([3, 4, 5]);
    expect(inferShape(NODE, bn(false), [[3, 4, 5], [3], [3]])).toEqual([3, 4, 5]);
  });

  it('zero with a stride keeps every stride-th pixel, as x[:, :, ::s, ::s]', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 17 }), fc.integer({ min: 1, max: 17 }), fc.integer({ min: 2, max: 4 }), (c, h, w, s) => {
        expect(inferShape(NODE, { kind: 'zero', stride: s }, [[c, h, w]])).toEqual([c, sliceCount(h, s), sliceCount(w, s)]);
      }),
    );
  });

  it('add and mul keep the common shape; concat sums channels', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 5 }),
        (channels, h, w) => {
          const shapes = channels.map((c): Shape => [c, h, w]);
          const total = channels.reduce((a, b) => a + b, 0);
          expect(inferShape(NODE, { kind: 'concat' }, shapes)).toEqual([total, h, w]);
          const same = channels.map((): Shape => [channels[0]!, h, w]);
          if (same.length >= 2) expect(inferShape(NODE, { kind: 'add' }, same)).toEqual([channels[0], h, w]);
          expect(inferShape(NODE, { kind: 'mul' }, [[h, w], [h, w]])).toEqual([h, w]);
        },
      ),
    );
  });

  it('reshape to any shape with the same element count', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }), (dims) => {
        const target = [...dims].reverse();
        expect(inferShape(NODE, { kind: 'reshape', shape: target }, [dims])).toEqual(target);
      }),
    );
  });

  it('training and gradient ops: gradients have their value’s shape; reductions over the batch keep the per-sample rest', () => {
    const conv = { stride: [2, 2], padding: [1, 1], dilation: [1, 1], groups: 2 } as const;
    expect(inferShape(NODE, { kind: 'conv2dGradInput', ...conv, inputShape: [4, 7, 7] }, [[6, 4, 4], [6, 2, 3, 3]])).toEqual([4, 7, 7]);
    expect(inferShape(NODE, { kind: 'conv2dGradWeight', ...conv, weightShape: [6, 2, 3, 3] }, [[4, 7, 7], [6, 4, 4]])).toEqual([6, 2, 3, 3]);
    expect(inferShape(NODE, { kind: 'linearGradInput' }, [[5], [5, 3]])).toEqual([3]);
    expect(inferShape(NODE, { kind: 'linearGradWeight' }, [[3], [5]])).toEqual([5, 3]);
    expect(inferShape(NODE, { kind: 'sumBatch', spatial: true }, [[5, 2, 2]])).toEqual([5]);
    expect(inferShape(NODE, { kind: 'sumBatch', spatial: false }, [[5, 2, 2]])).toEqual([5, 2, 2]);
    expect(inferShape(NODE, { kind: 'weightedSum' }, [[2], [3, 2], [3, 2]])).toEqual([3, 2]);
    expect(inferShape(NODE, { kind: 'weightedSumGrad' }, [[3, 2], [3, 2], [3, 2]])).toEqual([2]);
    expect(inferShape(NODE, { kind: 'maxPool2dGrad', kernel: [2, 2], stride: [2, 2], padding: [0, 0] }, [[3, 5, 5], [3, 2, 2]])).toEqual([3, 5, 5]);
    expect(inferShape(NODE, { kind: 'globalAvgPoolGrad', inputShape: [3, 4, 4] }, [[3]])).toEqual([3, 4, 4]);
    expect(inferShape(NODE, { kind: 'sliceChannels', start: 1, count: 2 }, [[4, 3]])).toEqual([2, 3]);
    expect(inferShape(NODE, { kind: 'crossEntropy', labelSmoothing: 0.1 }, [[10], [1]])).toEqual([1]);
    expect(inferShape(NODE, { kind: 'crossEntropyGrad', labelSmoothing: 0.1 }, [[10], [1], [1]])).toEqual([10]);
  });

  it('input, param and absent are leaves of their declared shape', () => {
    expect(inferShape(NODE, { kind: 'input', name: 'x', shape: [1, 28, 28] }, [])).toEqual([1, 28, 28]);
    expect(inferShape(NODE, { kind: 'param', path: 'p', shape: [4, 3], init: { kind: 'zeros' }, trainable: true }, [])).toEqual([4, 3]);
    expect(inferShape(NODE, { kind: 'absent', key: 'k', shape: [2, 3] }, [])).toEqual([2, 3]);
  });

  it('choices: the candidates’ shape; concat multiplies channels by nChosen', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 6 }), (n, k0, c) => {
        const k = Math.min(k0, n);
        const shapes = Array.from({ length: n }, (): Shape => [c, 3, 3]);
        const names = shapes.map((_, i) => `in${i}`);
        expect(inferShape(NODE, { kind: 'layerChoice', key: 'k', names, scope: [] }, shapes)).toEqual([c, 3, 3]);
        const ic = (reduction: 'sum' | 'mean' | 'concat' | 'none', nChosen: number | null, position = 0): Op => ({
          kind: 'inputChoice', key: 'k', names, nChosen, reduction, scope: [], position,
        });
        for (const nChosen of [k, null]) {
          expect(inferShape(NODE, ic('sum', nChosen), shapes)).toEqual([c, 3, 3]);
          expect(inferShape(NODE, ic('mean', nChosen), shapes)).toEqual([c, 3, 3]);
        }
        expect(inferShape(NODE, ic('concat', k), shapes)).toEqual([c * k, 3, 3]);
        for (let p = 0; p < k; p++) expect(inferShape(NODE, ic('none', k, p), shapes)).toEqual([c, 3, 3]);
      }),
    );
  });
});

interface ErrorCase {
  readonly what: string;
  readonly op: Op;
  readonly shapes: readonly Shape[];
  readonly tag: 'ShapeMismatch' | 'InvalidAttribute';
  /** Words the message must contain, besides the node and the op. */
  readonly says?: readonly string[];
  /**
   * The op kind the error names when it differs from the case's: the training forms batchNorm2dTrain and
   * dropoutTrain check their shapes through their evaluation forms' rules, which name those.
   */
  readonly via?: OpKind;
}

const bn = (o: Partial<Extract<Op, { kind: 'batchNorm2d' }>> = {}): Op => ({ kind: 'batchNorm2d', eps: 1e-5, momentum: 0.1, affine: false, ...o });
const maxPool = (kernel: number, stride: number, padding: number): Op => ({ kind: 'maxPool2d', kernel: [kernel, kernel], stride: [stride, stride], padding: [padding, padding] });
const choice = (o: Partial<Extract<Op, { kind: 'inputChoice' }>>): Op => ({
  kind: 'inputChoice', key: 'k', names: ['a', 'b'], nChosen: 1, reduction: 'sum', scope: [], position: 0, ...o,
});

const errorCases: readonly ErrorCase[] = [
  { what: 'input with a zero dimension', op: { kind: 'input', name: 'x', shape: [1, 0] }, shapes: [], tag: 'InvalidAttribute', says: ['[1, 0]'] },
  { what: 'param with a fractional dimension', op: { kind: 'param', path: 'w', shape: [1.5], init: { kind: 'ones' }, trainable: true }, shapes: [], tag: 'InvalidAttribute' },
  { what: 'param given an input', op: { kind: 'param', path: 'w', shape: [2], init: { kind: 'ones' }, trainable: true }, shapes: [[2]], tag: 'InvalidAttribute', says: ['takes 0 inputs, got 1'] },
  { what: 'conv2d without its weight', op: conv({ bias: false }), shapes: [[3, 8, 8]], tag: 'InvalidAttribute', says: ['takes 2 inputs, got 1'] },
  { what: 'conv2d on a flat input', op: conv({ bias: false }), shapes: [[48], [4, 3, 3, 3]], tag: 'ShapeMismatch', says: ['[C, H, W]'] },
  { what: 'conv2d with a 3-D weight', op: conv({ bias: false }), shapes: [[3, 8, 8], [4, 3, 3]], tag: 'ShapeMismatch', says: ['weight'] },
  { what: 'conv2d with wrong input channels', op: conv({ bias: false }), shapes: [[3, 8, 8], [4, 2, 3, 3]], tag: 'ShapeMismatch', says: ['expects 2 input channels, got 3'] },
  { what: 'conv2d whose groups do not divide channels', op: conv({ bias: false, groups: 2 }), shapes: [[3, 8, 8], [4, 1, 3, 3]], tag: 'ShapeMismatch', says: ['groups=2'] },
  { what: 'conv2d with a wrong bias', op: conv(), shapes: [[3, 8, 8], [4, 3, 3, 3], [5]], tag: 'ShapeMismatch', says: ['bias must be [4]'] },
  { what: 'conv2d kernel larger than the input', op: conv({ bias: false }), shapes: [[3, 2, 2], [4, 3, 3, 3]], tag: 'ShapeMismatch', says: ['does not fit'] },
  { what: 'conv2d with stride 0', op: conv({ bias: false, stride: [0, 1] }), shapes: [[3, 8, 8], [4, 3, 3, 3]], tag: 'InvalidAttribute' },
  { what: 'conv2d with negative padding', op: conv({ bias: false, padding: [-1, 0] }), shapes: [[3, 8, 8], [4, 3, 3, 3]], tag: 'InvalidAttribute' },
  { what: 'linear on an image', op: { kind: 'linear', bias: false }, shapes: [[3, 4, 4], [10, 48]], tag: 'ShapeMismatch', says: ['flatten'] },
  { what: 'linear with wrong in-features', op: { kind: 'linear', bias: false }, shapes: [[47], [10, 48]], tag: 'ShapeMismatch', says: ['48', '47'] },
  { what: 'linear with a wrong bias', op: { kind: 'linear', bias: true }, shapes: [[48], [10, 48], [9]], tag: 'ShapeMismatch', says: ['bias must be [10]'] },
  { what: 'batch norm with wrong statistics', op: bn(), shapes: [[3, 4, 4], [3], [4]], tag: 'ShapeMismatch', says: ['[3]'] },
  { what: 'affine batch norm without weight and bias', op: bn({ affine: true }), shapes: [[3, 4, 4], [3], [3]], tag: 'InvalidAttribute', says: ['takes 5 inputs, got 3'] },
  { what: 'batch norm with eps 0', op: bn({ eps: 0 }), shapes: [[3, 4, 4], [3], [3]], tag: 'InvalidAttribute', says: ['eps'] },
  { what: 'batch norm with momentum 2', op: bn({ momentum: 2 }), shapes: [[3, 4, 4], [3], [3]], tag: 'InvalidAttribute', says: ['momentum'] },
  { what: 'batch norm on a flat input', op: bn(), shapes: [[3], [3], [3]], tag: 'ShapeMismatch' },
  { what: 'relu with two inputs', op: { kind: 'relu' }, shapes: [[3], [3]], tag: 'InvalidAttribute', says: ['takes 1 inputs, got 2'] },
  { what: 'scale by infinity', op: { kind: 'scale', factor: Infinity }, shapes: [[3]], tag: 'InvalidAttribute', says: ['finite'] },
  { what: 'zero with stride 0', op: { kind: 'zero', stride: 0 }, shapes: [[3, 4, 4]], tag: 'InvalidAttribute' },
  { what: 'strided zero on a flat input', op: { kind: 'zero', stride: 2 }, shapes: [[3]], tag: 'ShapeMismatch' },
  { what: 'add of one input', op: { kind: 'add' }, shapes: [[3]], tag: 'InvalidAttribute' },
  { what: 'add of different shapes', op: { kind: 'add' }, shapes: [[3, 4, 4], [3, 4, 5]], tag: 'ShapeMismatch', says: ['one shape'] },
  { what: 'mul of three inputs', op: { kind: 'mul' }, shapes: [[3], [3], [3]], tag: 'InvalidAttribute' },
  { what: 'mul of different shapes', op: { kind: 'mul' }, shapes: [[3], [4]], tag: 'ShapeMismatch' },
  { what: 'concat of nothing', op: { kind: 'concat' }, shapes: [], tag: 'InvalidAttribute' },
  { what: 'concat of different sizes', op: { kind: 'concat' }, shapes: [[3, 4, 4], [2, 4, 5]], tag: 'ShapeMismatch', says: ['only in channels'] },
  { what: 'concat of different ranks', op: { kind: 'concat' }, shapes: [[3, 4, 4], [2, 4]], tag: 'ShapeMismatch' },
  { what: 'max pool window larger than the input', op: maxPool(5, 1, 0), shapes: [[3, 4, 4]], tag: 'ShapeMismatch', says: ['does not fit'] },
  { what: 'max pool padding over half the kernel', op: maxPool(3, 1, 2), shapes: [[3, 8, 8]], tag: 'InvalidAttribute', says: ['half the kernel'] },
  { what: 'max pool with kernel 0', op: maxPool(0, 1, 0), shapes: [[3, 8, 8]], tag: 'InvalidAttribute' },
  { what: 'avg pool on a flat input', op: { kind: 'avgPool2d', kernel: [2, 2], stride: [2, 2], padding: [0, 0], countIncludePad: true }, shapes: [[12]], tag: 'ShapeMismatch' },
  { what: 'global pool on a flat input', op: { kind: 'globalAvgPool' }, shapes: [[12]], tag: 'ShapeMismatch' },
  { what: 'adaptive pool to size 0', op: { kind: 'adaptiveAvgPool2d', output: [0, 1] }, shapes: [[3, 4, 4]], tag: 'InvalidAttribute' },
  { what: 'flatten of two inputs', op: { kind: 'flatten' }, shapes: [[3], [3]], tag: 'InvalidAttribute' },
  { what: 'reshape to a different size', op: { kind: 'reshape', shape: [5, 5] }, shapes: [[24]], tag: 'ShapeMismatch', says: ['24', '[5, 5]'] },
  { what: 'reshape to a zero dimension', op: { kind: 'reshape', shape: [0] }, shapes: [[24]], tag: 'InvalidAttribute' },
  { what: 'dropout with p = 1', op: { kind: 'dropout', p: 1, channelwise: false, site: 'd' }, shapes: [[3]], tag: 'InvalidAttribute', says: ['[0, 1)'] },
  { what: 'channelwise dropout on a flat input', op: { kind: 'dropout', p: 0.5, channelwise: true, site: 'd' }, shapes: [[3]], tag: 'ShapeMismatch' },
  { what: 'softmax of two inputs', op: { kind: 'softmax' }, shapes: [[3], [3]], tag: 'InvalidAttribute' },
  { what: 'logSoftmax of nothing', op: { kind: 'logSoftmax' }, shapes: [], tag: 'InvalidAttribute' },
  { what: 'layer choice with too few names', op: { kind: 'layerChoice', key: 'k', names: ['a'], scope: [] }, shapes: [[3], [3]], tag: 'InvalidAttribute', says: ['1 candidate names for 2'] },
  { what: 'layer choice of nothing', op: { kind: 'layerChoice', key: 'k', names: [], scope: [] }, shapes: [], tag: 'InvalidAttribute' },
  { what: 'input choice with too many names', op: choice({ names: ['a', 'b', 'c'] }), shapes: [[3], [3]], tag: 'InvalidAttribute' },
  { what: 'input choice of 3 from 2', op: choice({ nChosen: 3 }), shapes: [[3], [3]], tag: 'InvalidAttribute', says: ['nChosen'] },
  { what: 'input choice of 0', op: choice({ nChosen: 0 }), shapes: [[3], [3]], tag: 'InvalidAttribute', says: ['nChosen'] },
  { what: 'input choice of different shapes', op: choice({}), shapes: [[3], [4]], tag: 'ShapeMismatch', says: ['one shape'] },
  { what: 'concat input choice of any number', op: choice({ reduction: 'concat', nChosen: null }), shapes: [[3], [3]], tag: 'InvalidAttribute', says: ['concat'] },
  { what: "'none' input choice of any number", op: choice({ reduction: 'none', nChosen: null }), shapes: [[3], [3]], tag: 'InvalidAttribute' },
  { what: "'none' input choice position out of range", op: choice({ reduction: 'none', nChosen: 1, position: 1 }), shapes: [[3], [3]], tag: 'InvalidAttribute', says: ['position'] },
  { what: 'absent with an input', op: { kind: 'absent', key: 'k', shape: [3] }, shapes: [[3]], tag: 'InvalidAttribute' },
  // Training and gradient ops.
  { what: 'fill with a zero dimension', op: { kind: 'fill', value: 1, shape: [2, 0] }, shapes: [], tag: 'InvalidAttribute', says: ['[2, 0]'] },
  { what: 'fill given an input', op: { kind: 'fill', value: 1, shape: [2] }, shapes: [[2]], tag: 'InvalidAttribute', says: ['takes 0 inputs, got 1'] },
  { what: 'choice weights of no candidates', op: { kind: 'choiceWeights', key: 'k', n: 0 }, shapes: [], tag: 'InvalidAttribute', says: ['n >= 1'] },
  { what: 'weighted sum with a weight too many', op: { kind: 'weightedSum' }, shapes: [[3], [2, 2], [2, 2]], tag: 'ShapeMismatch', says: ['one weight per candidate (2)'] },
  { what: 'weighted sum of weights alone', op: { kind: 'weightedSum' }, shapes: [[1]], tag: 'InvalidAttribute' },
  { what: 'weighted scale past the weights', op: { kind: 'weightedScale', index: 2 }, shapes: [[2], [4]], tag: 'ShapeMismatch', says: ['index 2'] },
  { what: 'weights gradient of different shapes', op: { kind: 'weightedSumGrad' }, shapes: [[4], [4], [5]], tag: 'ShapeMismatch', says: ['one shape'] },
  { what: 'training batch norm with wrong statistics', op: { kind: 'batchNorm2dTrain', eps: 1e-5, momentum: 0.1, affine: false }, shapes: [[3, 4, 4], [3], [4]], tag: 'ShapeMismatch', says: ['[3]'], via: 'batchNorm2d' },
  { what: 'batch norm input gradient of different shapes', op: { kind: 'batchNorm2dGradInput', eps: 1e-5, affine: false }, shapes: [[3, 4, 4], [3, 4, 5]], tag: 'ShapeMismatch', says: ['one shape'] },
  { what: 'affine batch norm input gradient without the weight', op: { kind: 'batchNorm2dGradInput', eps: 1e-5, affine: true }, shapes: [[3, 4, 4], [3, 4, 4]], tag: 'InvalidAttribute', says: ['takes 3 inputs, got 2'] },
  { what: 'batch norm weight gradient of different shapes', op: { kind: 'batchNorm2dGradWeight', eps: 1e-5 }, shapes: [[3, 4, 4], [2, 4, 4]], tag: 'ShapeMismatch' },
  { what: 'batch sum of two inputs', op: { kind: 'sumBatch', spatial: true }, shapes: [[3], [3]], tag: 'InvalidAttribute', says: ['takes 1 inputs, got 2'] },
  {
    what: 'conv input gradient with a dy of the wrong size',
    op: { kind: 'conv2dGradInput', stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1, inputShape: [3, 8, 8] },
    shapes: [[4, 5, 5], [4, 3, 3, 3]],
    tag: 'ShapeMismatch',
    says: ['dy must be [4, 6, 6]'],
  },
  {
    what: 'conv weight gradient with a dy of the wrong size',
    op: { kind: 'conv2dGradWeight', stride: [2, 2], padding: [1, 1], dilation: [1, 1], groups: 1, weightShape: [4, 3, 3, 3] },
    shapes: [[3, 8, 8], [4, 8, 8]],
    tag: 'ShapeMismatch',
    says: ['dy must be [4, 4, 4]'],
  },
  { what: 'linear input gradient with a dy of the wrong width', op: { kind: 'linearGradInput' }, shapes: [[5], [4, 3]], tag: 'ShapeMismatch', says: ['[out, in]'] },
  { what: 'linear weight gradient of an image', op: { kind: 'linearGradWeight' }, shapes: [[3, 2], [4]], tag: 'ShapeMismatch', says: ['x [in]'] },
  { what: 'training dropout with p = 1', op: { kind: 'dropoutTrain', p: 1, channelwise: false, site: 'd' }, shapes: [[3]], tag: 'InvalidAttribute', says: ['[0, 1)'], via: 'dropout' },
  { what: 'activation gradient of different shapes', op: { kind: 'activationGrad', fn: 'gelu' }, shapes: [[3], [4]], tag: 'ShapeMismatch', says: ['one shape'] },
  {
    what: 'max pool gradient with a dy of the wrong size',
    op: { kind: 'maxPool2dGrad', kernel: [2, 2], stride: [2, 2], padding: [0, 0] },
    shapes: [[3, 8, 8], [3, 8, 8]],
    tag: 'ShapeMismatch',
    says: ['dy must be [3, 4, 4]'],
  },
  {
    what: 'avg pool gradient with a dy of the wrong size',
    op: { kind: 'avgPool2dGrad', kernel: [3, 3], stride: [1, 1], padding: [1, 1], countIncludePad: true, inputShape: [2, 5, 5] },
    shapes: [[2, 3, 3]],
    tag: 'ShapeMismatch',
    says: ['dy must be [2, 5, 5]'],
  },
  { what: 'adaptive pool gradient with other channels', op: { kind: 'adaptiveAvgPool2dGrad', inputShape: [3, 4, 4] }, shapes: [[2, 2, 2]], tag: 'ShapeMismatch', says: ['[3, 4, 4]'] },
  { what: 'global pool gradient with other channels', op: { kind: 'globalAvgPoolGrad', inputShape: [3, 4, 4] }, shapes: [[4]], tag: 'ShapeMismatch', says: ['[3, 4, 4]'] },
  { what: 'slice past the end of an axis', op: { kind: 'slice', start: [0, 1], stop: [2, 5], step: [1, 1] }, shapes: [[3, 4]], tag: 'ShapeMismatch', says: ['axis 1', '1:5'] },
  { what: 'slice with a bound per axis missing', op: { kind: 'slice', start: [0], stop: [2], step: [1] }, shapes: [[3, 4]], tag: 'ShapeMismatch', says: ['each of the 2 axes'] },
  { what: 'slice with step 0', op: { kind: 'slice', start: [0], stop: [2], step: [0] }, shapes: [[3]], tag: 'InvalidAttribute', says: ['steps ≥ 1'] },
  {
    what: 'slice gradient with a dy of the wrong size',
    op: { kind: 'sliceGrad', start: [0, 1, 1], stop: [2, 6, 6], step: [1, 2, 2], inputShape: [2, 6, 6] },
    shapes: [[2, 2, 2]],
    tag: 'ShapeMismatch',
    says: ['dy must be [2, 3, 3]'],
  },
  { what: 'channel slice past the end', op: { kind: 'sliceChannels', start: 2, count: 2 }, shapes: [[3, 4]], tag: 'ShapeMismatch', says: ['[2, 4)', 'out of range'] },
  { what: 'softmax gradient without dy', op: { kind: 'softmaxGrad' }, shapes: [[3]], tag: 'InvalidAttribute', says: ['takes 2 inputs, got 1'] },
  { what: 'logSoftmax gradient of different shapes', op: { kind: 'logSoftmaxGrad' }, shapes: [[3], [3, 1]], tag: 'ShapeMismatch' },
  { what: 'cross-entropy of image logits', op: { kind: 'crossEntropy', labelSmoothing: 0 }, shapes: [[3, 2], [1]], tag: 'ShapeMismatch', says: ['logits [K]'] },
  { what: 'cross-entropy with label smoothing 1', op: { kind: 'crossEntropy', labelSmoothing: 1 }, shapes: [[3], [1]], tag: 'InvalidAttribute', says: ['labelSmoothing'] },
  { what: 'cross-entropy gradient with a dLoss of two values', op: { kind: 'crossEntropyGrad', labelSmoothing: 0 }, shapes: [[3], [1], [2]], tag: 'ShapeMismatch', says: ['dLoss must be [1]'] },
];

describe('inferShape: errors', () => {
  it.each(errorCases)('$what', ({ op, shapes, tag, says, via }) => {
    const d = thrown(() => inferShape(NODE, op, shapes));
    expect(d.tag).toBe(tag);
    if (d.tag !== 'ShapeMismatch' && d.tag !== 'InvalidAttribute') return;
    expect(d.node).toBe(NODE);
    expect(d.op).toBe(via ?? op.kind);
    expect(d.message).toContain(NODE);
    expect(d.message).toContain(via ?? op.kind);
    if (d.tag === 'ShapeMismatch') {
      expect(d.shapes).toEqual(shapes);
      for (const s of shapes) expect(d.message).toContain(`[${s.join(', ')}]`);
    }
    for (const w of says ?? []) expect(d.message).toContain(w);
  });

  it('every op kind has at least one error case', () => {
    const kinds: Record<OpKind, true> = {
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
    const covered = new Set(errorCases.map((c) => c.op.kind));
    // Unary ops share one arity rule, tested through relu, softmax, flatten; the rest must each have a case.
    const shared = new Set<OpKind>(['relu6', 'sigmoid', 'tanh', 'gelu', 'identity']);
    for (const k of Object.keys(kinds) as OpKind[]) if (!shared.has(k)) expect(covered, k).toContain(k);
  });

  it('arity errors of every unary op name the op', () => {
    for (const kind of ['relu', 'relu6', 'sigmoid', 'tanh', 'gelu', 'identity', 'flatten', 'globalAvgPool', 'softmax', 'logSoftmax'] as const) {
      const d = thrown(() => inferShape(NODE, { kind }, []));
      expect(d).toMatchObject({ tag: 'InvalidAttribute', node: NODE, op: kind });
    }
  });
});
