/**
 * Layer combinators: PyTorch-like layers as values, with PyTorch's default initialisation and parameter names
 * (`weight`, `bias`, `running_mean`, `running_var`), so state dicts map one to one.
 *
 * @example
 * const net = sequential({
 *   conv1: conv2d({ out: 32, kernel: 3 }), relu1: relu(),
 *   pool: maxPool2d({ kernel: 2 }), flat: flatten(), fc: linear({ out: 10 }),
 * });
 */
import { type Ctx, type Layer, child, pathOf } from './ctx.ts';
import { fail } from './errors.ts';
import { type Node, mkNode } from './node.ts';
import type { Init, Op } from './ops.ts';
import { type Pair, type Shape, pair } from './shape.ts';

/** A parameter leaf at `ctx`'s path plus `leaf`. */
export const param = (ctx: Ctx, leaf: string, shape: Shape, init: Init, trainable = true): Node => {
  const path = pathOf(ctx, leaf);
  return mkNode({ kind: 'param', path, shape, init, trainable }, [], path);
};

/** A model input of per-sample `shape`. */
export const input = (shape: Shape, name = 'x'): Node => mkNode({ kind: 'input', name, shape }, [], name);

const op1 = (ctx: Ctx, op: Op, x: Node, ...params: Node[]): Node => mkNode(op, [x, ...params], pathOf(ctx));

export interface Conv2dOptions {
  readonly out: number;
  readonly kernel: number | Pair;
  readonly stride?: number | Pair;
  readonly padding?: number | Pair;
  readonly dilation?: number | Pair;
  /** 1 (default): dense; = input channels: depthwise. */
  readonly groups?: number;
  readonly bias?: boolean;
}

/** `nn.Conv2d`; the input channel count comes from the input. Kaiming-uniform(a=√5) init, as PyTorch. */
export const conv2d =
  (o: Conv2dOptions): Layer =>
  (ctx, x) => {
    const [kh, kw] = pair(o.kernel);
    const groups = o.groups ?? 1;
    const bias = o.bias ?? true;
    const cin = x.shape[0] ?? 0;
    if (x.shape.length !== 3) {
      fail({ tag: 'ShapeMismatch', node: pathOf(ctx), op: 'conv2d', shapes: [x.shape], message: `${pathOf(ctx)}: conv2d expects a [C, H, W] input, got [${x.shape.join(', ')}]` });
    }
    if (!Number.isInteger(groups) || groups < 1 || cin % groups !== 0) {
      fail({ tag: 'InvalidAttribute', node: pathOf(ctx), op: 'conv2d', message: `${pathOf(ctx)}: groups=${groups} must divide the ${cin} input channels` });
    }
    const fanIn = (cin / groups) * kh * kw;
    const bound = 1 / Math.sqrt(fanIn);
    const w = param(ctx, 'weight', [o.out, cin / groups, kh, kw], { kind: 'uniform', bound });
    const params = bias ? [w, param(ctx, 'bias', [o.out], { kind: 'uniform', bound })] : [w];
    return op1(
      ctx,
      { kind: 'conv2d', stride: pair(o.stride ?? 1), padding: pair(o.padding ?? 0), dilation: pair(o.dilation ?? 1), groups, bias },
      x,
      ...params,
    );
  };

export interface LinearOptions {
  readonly out: number;
  readonly bias?: boolean;
}

/** `nn.Linear` over a flat `[features]` input. */
export const linear =
  (o: LinearOptions): Layer =>
  (ctx, x) => {
    const bias = o.bias ?? true;
    const fanIn = x.shape.length === 1 ? x.shape[0]! : 1;
    const bound = 1 / Math.sqrt(fanIn);
    const w = param(ctx, 'weight', [o.out, fanIn], { kind: 'uniform', bound });
    const params = bias ? [w, param(ctx, 'bias', [o.out], { kind: 'uniform', bound })] : [w];
    return op1(ctx, { kind: 'linear', bias }, x, ...params);
  };

export interface BatchNormOptions {
  readonly eps?: number;
  /** PyTorch's convention: running = (1 − momentum)·running + momentum·batch. */
  readonly momentum?: number;
  readonly affine?: boolean;
}

/** `nn.BatchNorm2d`: running statistics are non-trainable parameters; weight ones, bias zeros. */
export const batchNorm2d =
  (o: BatchNormOptions = {}): Layer =>
  (ctx, x) => {
    const c = x.shape[0] ?? 1;
    const affine = o.affine ?? true;
    const stats = [
      param(ctx, 'running_mean', [c], { kind: 'zeros' }, false),
      param(ctx, 'running_var', [c], { kind: 'ones' }, false),
    ];
    const aff = affine ? [param(ctx, 'weight', [c], { kind: 'ones' }), param(ctx, 'bias', [c], { kind: 'zeros' })] : [];
    return op1(ctx, { kind: 'batchNorm2d', eps: o.eps ?? 1e-5, momentum: o.momentum ?? 0.1, affine }, x, ...stats, ...aff);
  };

const simple =
  (op: Op): (() => Layer) =>
  () =>
  (ctx, x) =>
    op1(ctx, op, x);

export const relu = simple({ kind: 'relu' });
export const relu6 = simple({ kind: 'relu6' });
export const sigmoid = simple({ kind: 'sigmoid' });
export const tanh = simple({ kind: 'tanh' });
export const gelu = simple({ kind: 'gelu' });
export const identity = simple({ kind: 'identity' });
export const flatten = simple({ kind: 'flatten' });
export const globalAvgPool = simple({ kind: 'globalAvgPool' });
export const softmax = simple({ kind: 'softmax' });
export const logSoftmax = simple({ kind: 'logSoftmax' });

/** DARTS' "none" op: zeros, strided like the op it replaces. */
export const zero =
  (stride = 1): Layer =>
  (ctx, x) =>
    op1(ctx, { kind: 'zero', stride }, x);

export const scale =
  (factor: number): Layer =>
  (ctx, x) =>
    op1(ctx, { kind: 'scale', factor }, x);

export interface PoolOptions {
  readonly kernel: number | Pair;
  /** Defaults to the kernel size, as in PyTorch. */
  readonly stride?: number | Pair;
  readonly padding?: number | Pair;
}

export const maxPool2d =
  (o: PoolOptions): Layer =>
  (ctx, x) =>
    op1(ctx, { kind: 'maxPool2d', kernel: pair(o.kernel), stride: pair(o.stride ?? o.kernel), padding: pair(o.padding ?? 0) }, x);

/** `nn.AvgPool2d`; `countIncludePad` defaults to true, as in PyTorch. */
export const avgPool2d =
  (o: PoolOptions & { readonly countIncludePad?: boolean }): Layer =>
  (ctx, x) =>
    op1(
      ctx,
      { kind: 'avgPool2d', kernel: pair(o.kernel), stride: pair(o.stride ?? o.kernel), padding: pair(o.padding ?? 0), countIncludePad: o.countIncludePad ?? true },
      x,
    );

export const adaptiveAvgPool2d =
  (output: number | Pair): Layer =>
  (ctx, x) =>
    op1(ctx, { kind: 'adaptiveAvgPool2d', output: pair(output) }, x);

/** One axis of `slice`: `[start, stop)` taking every `step`-th element; omitted fields: the whole axis, step 1. */
export interface SliceAxis {
  readonly start?: number;
  readonly stop?: number;
  readonly step?: number;
}

/**
 * `x[…]` over the per-sample axes, one `SliceAxis` per axis (missing trailing axes are taken whole): channel and
 * spatial crops and strided samplings. Its gradient places ∂L/∂y back at the sliced positions.
 *
 * @example
 * slice([{}, { start: 1, step: 2 }, { start: 1, step: 2 }]) // x[:, :, 1::2, 1::2] of a batch: [C, H, W] → [C, H/2, W/2]
 */
export const slice =
  (axes: readonly SliceAxis[]): Layer =>
  (ctx, x) => {
    if (axes.length > x.shape.length) {
      fail({ tag: 'InvalidAttribute', node: pathOf(ctx), op: 'slice', message: `${pathOf(ctx)}: slice has ${axes.length} axes for an input of ${x.shape.length} ([${x.shape.join(', ')}])` });
    }
    const all = x.shape.map((d, a) => ({ start: axes[a]?.start ?? 0, stop: axes[a]?.stop ?? d, step: axes[a]?.step ?? 1 }));
    return op1(ctx, { kind: 'slice', start: all.map((s) => s.start), stop: all.map((s) => s.stop), step: all.map((s) => s.step) }, x);
  };

export const reshape =
  (shape: Shape): Layer =>
  (ctx, x) =>
    op1(ctx, { kind: 'reshape', shape }, x);

/** Inverted dropout (identity at evaluation); `channelwise` is PyTorch's Dropout2d. */
export const dropout =
  (p: number, channelwise = false): Layer =>
  (ctx, x) =>
    op1(ctx, { kind: 'dropout', p, channelwise, site: pathOf(ctx) }, x);

/** Elementwise sum of two or more values of one shape. */
export const add = (...xs: readonly Node[]): Node => mkNode({ kind: 'add' }, xs, `add(${xs.map((x) => x.name).join(', ')})`);

export const mul = (a: Node, b: Node): Node => mkNode({ kind: 'mul' }, [a, b], `mul(${a.name}, ${b.name})`);

/** Concatenation along channels. */
export const concat = (xs: readonly Node[]): Node => mkNode({ kind: 'concat' }, xs, `concat(${xs.map((x) => x.name).join(', ')})`);

type Named<T> = readonly T[] | Readonly<Record<string, T>>;

/** `[name, value]` pairs of a list (names "0", "1", …, as PyTorch) or a record (its own order). */
export const entries = <T>(xs: Named<T>): readonly (readonly [string, T])[] =>
  Array.isArray(xs) ? (xs as readonly T[]).map((x, i) => [String(i), x] as const) : Object.entries(xs as Readonly<Record<string, T>>);

/** `nn.Sequential`: layers applied in order, each a sub-module named by its index or record key. */
export const sequential =
  (layers: Named<Layer>): Layer =>
  (ctx, x) =>
    entries(layers).reduce((h, [name, layer]) => layer(child(ctx, name), h), x);

/** `x + layer(x)`. */
export const residual =
  (layer: Layer): Layer =>
  (ctx, x) =>
    add(x, layer(ctx, x));

/** A free-form layer (a DAG written as a function); the identity on `f`, for readability. */
export const block = <I = Node>(f: (ctx: Ctx, input: I) => Node): Layer<I> => f;
