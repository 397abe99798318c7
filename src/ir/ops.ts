/**
 * The op vocabulary of the IR and its registry: one discriminated union of attributes (`Op`), and one definition
 * per op kind (`OP_DEFS`, typed `{ [K in OpKind]: OpDef<K> }`, so a kind without a piece is a type error): its
 * attribute codec, its shape rule (with the error it gives), whether its value carries the batch, its
 * vector–Jacobian product (or an explicit "not differentiable"), its cost in multiply-accumulates and how it is
 * printed. The CPU reference of every op is registered the same way in `src/reference/ops.ts`, and its lowering in
 * `src/compile/lowerings.ts`, which keeps this folder free of imports from the interpreter and the compiler.
 * ARCHITECTURE.md and CONTRIBUTING.md ("Adding an op") describe the recipe.
 *
 * Inputs are positional; the arity of each op is fixed except for `add`, `concat` and the choices.
 * Parameter-consuming ops take their parameters as ordinary inputs (leaves of kind `param`), so that
 * apply/prune, autodiff and the compiler treat weights and activations alike.
 */
import * as t from 'io-ts';
import { InitC, Names, PairC, ReductionC, ShapeC, bare, closed } from './codec.ts';
import type { Reduction } from './codec.ts';
import { fail } from './errors.ts';
import { type Pair, type Shape, numel, shapeEq, showShape, windowOut } from './shape.ts';

export type { Init, Reduction } from './codec.ts';
import type { Init } from './codec.ts';

export type Op =
  | { readonly kind: 'input'; readonly name: string; readonly shape: Shape }
  /** A tensor that lives across steps. `trainable: false` for buffers such as BatchNorm running statistics. */
  | { readonly kind: 'param'; readonly path: string; readonly shape: Shape; readonly init: Init; readonly trainable: boolean }
  /** inputs: [x, weight[out, in/groups, kh, kw], bias[out]?] */
  | { readonly kind: 'conv2d'; readonly stride: Pair; readonly padding: Pair; readonly dilation: Pair; readonly groups: number; readonly bias: boolean }
  /** inputs: [x[in], weight[out, in], bias[out]?] */
  | { readonly kind: 'linear'; readonly bias: boolean }
  /** inputs: [x[C,H,W], runningMean[C], runningVar[C], weight[C]?, bias[C]?] (weight/bias iff affine) */
  | { readonly kind: 'batchNorm2d'; readonly eps: number; readonly momentum: number; readonly affine: boolean }
  | { readonly kind: 'relu' }
  | { readonly kind: 'relu6' }
  | { readonly kind: 'sigmoid' }
  | { readonly kind: 'tanh' }
  | { readonly kind: 'gelu' }
  | { readonly kind: 'identity' }
  /** Multiplies by a constant (used for the `mean` reduction of input choices). */
  | { readonly kind: 'scale'; readonly factor: number }
  /** DARTS' "none": zeros, spatially strided like the op it stands for. */
  | { readonly kind: 'zero'; readonly stride: number }
  /** Elementwise sum of two or more inputs of one shape. */
  | { readonly kind: 'add' }
  | { readonly kind: 'mul' }
  /** Concatenation along channels (the first per-sample axis). */
  | { readonly kind: 'concat' }
  /**
   * `x[start₀:stop₀:step₀, start₁:stop₁:step₁, …]` over the per-sample axes (Python's slice, every bound explicit
   * and in range, steps ≥ 1): channel and spatial crops and strided samplings, e.g. DARTS' `x[:, :, 1::2, 1::2]`.
   */
  | { readonly kind: 'slice'; readonly start: Shape; readonly stop: Shape; readonly step: Shape }
  | { readonly kind: 'maxPool2d'; readonly kernel: Pair; readonly stride: Pair; readonly padding: Pair }
  | { readonly kind: 'avgPool2d'; readonly kernel: Pair; readonly stride: Pair; readonly padding: Pair; readonly countIncludePad: boolean }
  /** Mean over H and W: [C, H, W] → [C]. */
  | { readonly kind: 'globalAvgPool' }
  | { readonly kind: 'adaptiveAvgPool2d'; readonly output: Pair }
  | { readonly kind: 'flatten' }
  | { readonly kind: 'reshape'; readonly shape: Shape }
  /** Inverted dropout; `channelwise` drops whole channels (PyTorch's Dropout2d). `site` keeps two dropouts apart. */
  | { readonly kind: 'dropout'; readonly p: number; readonly channelwise: boolean; readonly site: string }
  /** Over the first per-sample axis (PyTorch's dim=1). */
  | { readonly kind: 'softmax' }
  | { readonly kind: 'logSoftmax' }
  /** One decision among candidates; inputs are the candidates' outputs in order. */
  | {
      readonly kind: 'layerChoice';
      readonly key: string;
      readonly names: readonly string[];
      readonly scope: readonly string[];
      /** Set by `valueChoice`/`repeat`: the value each candidate stands for (ss_gen `choice`, architectures by value). */
      readonly values?: readonly (number | string | boolean)[];
    }
  /**
   * A choice of `nChosen` (null: any number) inputs, reduced. With reduction `none` the choice yields one node
   * per chosen position, told apart by `position`.
   */
  | {
      readonly kind: 'inputChoice';
      readonly key: string;
      readonly names: readonly string[];
      readonly nChosen: number | null;
      readonly reduction: Reduction;
      readonly scope: readonly string[];
      readonly position: number;
    }
  /** What an input choice with an empty selection becomes under `apply`; `add` drops it. */
  | { readonly kind: 'absent'; readonly key: string; readonly shape: Shape }
  // ---- Training and gradient ops: produced by `trainingGraph`, `mixGraph` and `grad`, not by user layers. ----
  /** A constant tensor (unbatched), e.g. the seed ∂L/∂L = 1. */
  | { readonly kind: 'fill'; readonly value: number; readonly shape: Shape }
  /** Run-time weights of one choice key (unbatched [n]): DARTS' softmax(α), Gumbel samples, a one-hot mask. */
  | { readonly kind: 'choiceWeights'; readonly key: string; readonly n: number }
  /** inputs: [w[n], c0 … c(n−1)] → Σ wᵢ·cᵢ (mixed mode of a layer choice or a summed input choice). */
  | { readonly kind: 'weightedSum' }
  /** inputs: [w[n], x] → w[index]·x. */
  | { readonly kind: 'weightedScale'; readonly index: number }
  /** inputs: [dy, c0 … c(n−1)] → unbatched [n]: ∂L/∂wᵢ = Σ over batch and elements of dy·cᵢ. */
  | { readonly kind: 'weightedSumGrad' }
  /** BatchNorm with batch statistics; the lowering also updates the running statistics (its inputs 1 and 2). */
  | { readonly kind: 'batchNorm2dTrain'; readonly eps: number; readonly momentum: number; readonly affine: boolean }
  /** inputs: [x, dy, weight?] → ∂L/∂x of batchNorm2dTrain. */
  | { readonly kind: 'batchNorm2dGradInput'; readonly eps: number; readonly affine: boolean }
  /** inputs: [x, dy] → unbatched [C]: Σ dy·x̂ (∂L/∂γ). */
  | { readonly kind: 'batchNorm2dGradWeight'; readonly eps: number }
  /** Sum over the batch (and, when `spatial`, over H and W: → [C]); the result is unbatched. */
  | { readonly kind: 'sumBatch'; readonly spatial: boolean }
  /** inputs: [dy, weight] → ∂L/∂x of conv2d (a transposed convolution). */
  | { readonly kind: 'conv2dGradInput'; readonly stride: Pair; readonly padding: Pair; readonly dilation: Pair; readonly groups: number; readonly inputShape: Shape }
  /** inputs: [x, dy] → unbatched ∂L/∂weight of conv2d. */
  | { readonly kind: 'conv2dGradWeight'; readonly stride: Pair; readonly padding: Pair; readonly dilation: Pair; readonly groups: number; readonly weightShape: Shape }
  /** inputs: [dy[out], weight[out, in]] → [in]. */
  | { readonly kind: 'linearGradInput' }
  /** inputs: [x[in], dy[out]] → unbatched [out, in]. */
  | { readonly kind: 'linearGradWeight' }
  /** Inverted dropout as trained: the mask is a pure function of (step seed, site, element index). */
  | { readonly kind: 'dropoutTrain'; readonly p: number; readonly channelwise: boolean; readonly site: string }
  /** inputs: [x, dy] → dy·f′(x). */
  | { readonly kind: 'activationGrad'; readonly fn: 'relu' | 'relu6' | 'sigmoid' | 'tanh' | 'gelu' }
  /** inputs: [x, dy] → dy routed to each window's maximum (the first one on ties, as PyTorch). */
  | { readonly kind: 'maxPool2dGrad'; readonly kernel: Pair; readonly stride: Pair; readonly padding: Pair }
  /** inputs: [dy] → ∂L/∂x of avgPool2d. */
  | { readonly kind: 'avgPool2dGrad'; readonly kernel: Pair; readonly stride: Pair; readonly padding: Pair; readonly countIncludePad: boolean; readonly inputShape: Shape }
  | { readonly kind: 'adaptiveAvgPool2dGrad'; readonly inputShape: Shape }
  | { readonly kind: 'globalAvgPoolGrad'; readonly inputShape: Shape }
  /** inputs: [dy] → ∂L/∂x of `slice`: dy placed at the sliced positions of a zero tensor of `inputShape`. */
  | { readonly kind: 'sliceGrad'; readonly start: Shape; readonly stop: Shape; readonly step: Shape; readonly inputShape: Shape }
  /** Channels [start, start + count) of a [C, …] value (the VJP of concat). */
  | { readonly kind: 'sliceChannels'; readonly start: number; readonly count: number }
  /** inputs: [y, dy] where y = softmax(x): y·(dy − Σ y·dy). */
  | { readonly kind: 'softmaxGrad' }
  /** inputs: [y, dy] where y = logSoftmax(x): dy − exp(y)·Σ dy. */
  | { readonly kind: 'logSoftmaxGrad' }
  /**
   * inputs: [logits[K], labels[1] (class indices as f32)] → unbatched [1]: the mean over the batch of the
   * cross-entropy of softmax(logits) with the (optionally smoothed) one-hot labels. On log-probabilities it is
   * the NLL loss, since logSoftmax is idempotent.
   */
  | { readonly kind: 'crossEntropy'; readonly labelSmoothing: number }
  /** inputs: [logits, labels, dLoss[1]] → dLoss·(softmax(logits) − target)/batch. */
  | { readonly kind: 'crossEntropyGrad'; readonly labelSmoothing: number };

export type OpKind = Op['kind'];
/** The attributes of ops of kind `K`. */
export type OpOf<K extends OpKind> = Extract<Op, { readonly kind: K }>;
export type ChoiceOp = Extract<Op, { kind: 'layerChoice' | 'inputChoice' }>;

export const isChoice = (op: Op): op is ChoiceOp => op.kind === 'layerChoice' || op.kind === 'inputChoice';

// ---------------------------------------------------------------------------------------------------------
// The definition of an op

/** What a VJP rule sees of a node: `Node` (node.ts) is one; the rules never import it, which keeps this a leaf. */
export interface NodeLike {
  readonly op: Op;
  readonly inputs: readonly NodeLike[];
  readonly shape: Shape;
  readonly batched: boolean;
  readonly name: string;
}

/** The arguments of a VJP rule: the node `node` (of op `op`) over `inputs`, and ∂L/∂node = `dy`. */
export interface VjpContext<O extends Op, N extends NodeLike> {
  readonly op: O;
  /** The node differentiated (softmax's gradient reads its value). */
  readonly node: N;
  readonly inputs: readonly N[];
  readonly dy: N;
  /** Builds a gradient node (named after `node`). */
  readonly mk: (op: Op, inputs: readonly N[]) => N;
  /** The gradient `g` of `input` summed over the batch when `input` is unbatched and `g` is not. */
  readonly unbroadcast: (input: N, g: N) => N;
}

/** ∂L/∂inputs: one entry per input, `null` where no gradient flows (labels, running statistics, "none"). */
export type VjpRule<O extends Op> = <N extends NodeLike>(c: VjpContext<O, N>) => readonly (N | null)[];

/** An op without a gradient, and why (the message `grad` gives when one is asked for). */
export interface NotDifferentiable {
  readonly notDifferentiable: string;
}

/** Marks an op as not differentiable; `why` completes "<node>: <op> …". */
export const notDifferentiable = (why: string): NotDifferentiable => ({ notDifferentiable: why });

/** Everything the IR knows about ops of kind `K`. Every field is required: a missing one is a type error. */
export interface OpDef<K extends OpKind> {
  /** The io-ts codec of the attributes: types only (mistyped, missing, unexpected fields); values are `shape`'s. */
  readonly codec: t.Decoder<unknown, OpOf<K>>;
  /**
   * The per-sample output shape over inputs of `shapes`; throws a GraphError (`ShapeMismatch` or
   * `InvalidAttribute`) naming `node`, the op and the shapes when they do not fit.
   */
  readonly shape: (node: string, op: OpOf<K>, shapes: readonly Shape[]) => Shape;
  /** Whether the value carries the batch: always, never, or when some input does ('inputs'). */
  readonly batched: boolean | 'inputs';
  /** The vector–Jacobian product, or why there is none. */
  readonly vjp: VjpRule<OpOf<K>> | NotDifferentiable;
  /** Multiply-accumulates per sample (0 for ops whose cost is memory traffic). */
  readonly macs: (op: OpOf<K>, out: Shape, inputs: readonly Shape[]) => number;
  /** A short description with the attributes that tell two ops of a kind apart (`conv2d 3x3 stride 2`). */
  readonly show: (op: OpOf<K>, inputs: readonly Shape[]) => string;
}

/** The registry's type: one definition per op kind. */
export type OpDefs = { readonly [K in OpKind]: OpDef<K> };

// ---------------------------------------------------------------------------------------------------------
// Shape-rule helpers: the errors every rule gives

const arity = (node: string, op: Op, shapes: readonly Shape[], lo: number, hi = lo): void => {
  if (shapes.length < lo || shapes.length > hi) {
    fail({
      tag: 'InvalidAttribute',
      node,
      op: op.kind,
      message: `${node}: ${op.kind} takes ${lo === hi ? lo : `${lo}..${hi}`} inputs, got ${shapes.length}`,
    });
  }
};

const mismatch = (node: string, op: Op, shapes: readonly Shape[], why: string): never =>
  fail({
    tag: 'ShapeMismatch',
    node,
    op: op.kind,
    shapes,
    message: `${node}: ${op.kind} ${why} (input shapes ${shapes.map(showShape).join(', ')})`,
  });

const bad = (node: string, op: Op, why: string): never =>
  fail({ tag: 'InvalidAttribute', node, op: op.kind, message: `${node}: ${op.kind} ${why}` });

const positiveInts = (xs: readonly number[]): boolean => xs.every((x) => Number.isInteger(x) && x > 0);
const nonNegInts = (xs: readonly number[]): boolean => xs.every((x) => Number.isInteger(x) && x >= 0);

const chw = (node: string, op: Op, shapes: readonly Shape[]): readonly [number, number, number] => {
  const s = shapes[0]!;
  if (s.length !== 3) mismatch(node, op, shapes, `expects a [C, H, W] input`);
  return [s[0]!, s[1]!, s[2]!];
};

const pool = (node: string, op: Op, shapes: readonly Shape[], kernel: Pair, stride: Pair, padding: Pair): Shape => {
  arity(node, op, shapes, 1);
  const [c, h, w] = chw(node, op, shapes);
  if (!positiveInts([...kernel, ...stride]) || !nonNegInts(padding)) bad(node, op, `needs positive kernel/stride and non-negative padding`);
  if (padding[0] * 2 > kernel[0] || padding[1] * 2 > kernel[1]) bad(node, op, `padding ${padding.join('x')} exceeds half the kernel ${kernel.join('x')}`);
  const oh = windowOut(h, kernel[0], stride[0], padding[0]);
  const ow = windowOut(w, kernel[1], stride[1], padding[1]);
  if (oh < 1 || ow < 1) mismatch(node, op, shapes, `window ${kernel.join('x')} does not fit the input`);
  return [c, oh, ow];
};

const sameShapes = (node: string, op: Op, shapes: readonly Shape[]): Shape => {
  const first = shapes[0]!;
  if (!shapes.every((s) => shapeEq(s, first))) mismatch(node, op, shapes, 'needs inputs of one shape');
  return first;
};

type ConvAttrs = { readonly stride: Pair; readonly padding: Pair; readonly dilation: Pair; readonly groups: number };

/** The shape rule of conv2d over x and weight (the gradient ops check their operands with it). */
const convShape = (node: string, op: Op & ConvAttrs, shapes: readonly Shape[]): Shape => {
  const [c, h, w] = chw(node, op, shapes);
  const wt = shapes[1]!;
  if (!positiveInts([...op.stride, ...op.dilation, op.groups]) || !nonNegInts(op.padding)) {
    bad(node, op, 'needs positive stride, dilation and groups and non-negative padding');
  }
  if (wt.length !== 4) mismatch(node, op, shapes, 'weight must be [out, in/groups, kh, kw]');
  const [o, ig, kh, kw] = wt as readonly [number, number, number, number];
  if (c % op.groups !== 0 || o % op.groups !== 0) {
    mismatch(node, op, shapes, `groups=${op.groups} must divide input channels ${c} and output channels ${o}`);
  }
  if (ig * op.groups !== c) mismatch(node, op, shapes, `expects ${ig * op.groups} input channels, got ${c}`);
  const oh = windowOut(h, kh, op.stride[0], op.padding[0], op.dilation[0]);
  const ow = windowOut(w, kw, op.stride[1], op.padding[1], op.dilation[1]);
  if (oh < 1 || ow < 1) mismatch(node, op, shapes, `kernel ${kh}x${kw} does not fit the input`);
  return [o, oh, ow];
};

const batchNormShape = (node: string, op: Op & { readonly eps: number; readonly momentum: number; readonly affine: boolean }, shapes: readonly Shape[]): Shape => {
  arity(node, op, shapes, op.affine ? 5 : 3);
  const [c] = chw(node, op, shapes);
  if (!(op.eps > 0) || !(op.momentum >= 0 && op.momentum <= 1)) bad(node, op, 'needs eps > 0 and momentum in [0, 1]');
  if (!shapes.slice(1).every((s) => shapeEq(s, [c]))) mismatch(node, op, shapes, `statistics and affine parameters must be [${c}]`);
  return shapes[0]!;
};

const dropoutShape = (node: string, op: Op & { readonly p: number; readonly channelwise: boolean }, shapes: readonly Shape[]): Shape => {
  arity(node, op, shapes, 1);
  if (!(op.p >= 0 && op.p < 1)) bad(node, op, `p must be in [0, 1), got ${op.p}`);
  if (op.channelwise && shapes[0]!.length !== 3) mismatch(node, op, shapes, 'channelwise dropout expects [C, H, W]');
  return shapes[0]!;
};

const leafShape = (node: string, op: Op & { readonly shape: Shape }, shapes: readonly Shape[]): Shape => {
  arity(node, op, shapes, 0);
  if (!positiveInts(op.shape)) bad(node, op, `shape ${showShape(op.shape)} must have positive integer dimensions`);
  return op.shape;
};

const unary = (node: string, op: Op, shapes: readonly Shape[]): Shape => {
  arity(node, op, shapes, 1);
  return shapes[0]!;
};

/** Two inputs of one shape (the elementwise gradients: [x, dy] or [y, dy]). */
const binarySame = (node: string, op: Op, shapes: readonly Shape[]): Shape => {
  arity(node, op, shapes, 2);
  return sameShapes(node, op, shapes);
};

const inputChoiceShape = (node: string, op: OpOf<'inputChoice'>, shapes: readonly Shape[]): Shape => {
  const n = shapes.length;
  if (n < 1 || op.names.length !== n) bad(node, op, `has ${op.names.length} candidate names for ${n} inputs`);
  if (op.nChosen !== null && !(Number.isInteger(op.nChosen) && op.nChosen >= 1 && op.nChosen <= n)) {
    bad(node, op, `nChosen must be null or an integer in 1..${n}, got ${op.nChosen}`);
  }
  const s = sameShapes(node, op, shapes);
  const reduction: Reduction = op.reduction;
  switch (reduction) {
    case 'sum':
    case 'mean':
      return s;
    case 'concat':
      if (op.nChosen === null) bad(node, op, `reduction 'concat' needs a fixed nChosen (its shape would vary)`);
      if (s.length < 1) mismatch(node, op, shapes, 'concat needs a channel axis');
      return [s[0]! * op.nChosen!, ...s.slice(1)];
    case 'none':
      if (op.nChosen === null) bad(node, op, `reduction 'none' needs a fixed nChosen`);
      if (!(Number.isInteger(op.position) && op.position >= 0 && op.position < op.nChosen!)) bad(node, op, `position out of range`);
      return s;
  }
};

const crossEntropyShape = (node: string, op: OpOf<'crossEntropy' | 'crossEntropyGrad'>, shapes: readonly Shape[]): Shape => {
  arity(node, op, shapes, op.kind === 'crossEntropy' ? 2 : 3);
  if (shapes[0]!.length !== 1 || !shapeEq(shapes[1]!, [1])) mismatch(node, op, shapes, 'needs logits [K] and labels [1]');
  if (!(op.labelSmoothing >= 0 && op.labelSmoothing < 1)) bad(node, op, `labelSmoothing must be in [0, 1), got ${op.labelSmoothing}`);
  if (op.kind === 'crossEntropyGrad' && !shapeEq(shapes[2]!, [1])) mismatch(node, op, shapes, 'dLoss must be [1]');
  return op.kind === 'crossEntropy' ? [1] : shapes[0]!;
};

/** The shape of `x[start:stop:step]` per axis of `x` (shape `s`), checking every bound. */
const sliceShape = (node: string, op: Op & { readonly start: Shape; readonly stop: Shape; readonly step: Shape }, s: Shape, shapes: readonly Shape[]): Shape => {
  if (op.start.length !== s.length || op.stop.length !== s.length || op.step.length !== s.length) {
    mismatch(node, op, shapes, `needs start, stop and step for each of the ${s.length} axes of ${showShape(s)}, got ${op.start.length}, ${op.stop.length} and ${op.step.length}`);
  }
  if (!nonNegInts(op.start) || !nonNegInts(op.stop) || !positiveInts(op.step)) bad(node, op, 'needs integer bounds (start, stop ≥ 0) and steps ≥ 1');
  return s.map((d, a) => {
    const [b, e, st] = [op.start[a]!, op.stop[a]!, op.step[a]!];
    if (!(b < e && e <= d)) mismatch(node, op, shapes, `axis ${a}: ${b}:${e} is not a non-empty range of 0..${d}`);
    return Math.ceil((e - b) / st);
  });
};

/** `[1:3, :, ::2]`-style text of a slice (axes of `shape`). */
const showSlice = (op: { readonly start: Shape; readonly stop: Shape; readonly step: Shape }, shape: Shape | undefined): string =>
  `[${op.start
    .map((b, a) => {
      const e = op.stop[a]!;
      const st = op.step[a]!;
      const range = `${b === 0 ? '' : b}:${shape !== undefined && e === shape[a] ? '' : e}`;
      return st === 1 ? range : `${range}:${st}`;
    })
    .join(', ')}]`;

const poolGradInputShape = (node: string, op: Op & { readonly inputShape: Shape }, shapes: readonly Shape[]): Shape => {
  arity(node, op, shapes, 1);
  if (op.inputShape.length !== 3 || shapes[0]![0] !== op.inputShape[0]) mismatch(node, op, shapes, `dy does not match input ${showShape(op.inputShape)}`);
  return op.inputShape;
};

// ---------------------------------------------------------------------------------------------------------
// VJP, cost and printing helpers

const noGrad: VjpRule<Op> = () => [];
const gradOp = notDifferentiable('is a gradient op: second derivatives are not supported (DARTS second order uses finite differences)');
const noMacs = (): number => 0;
const plain = (op: Op): string => op.kind;
const pairStr = (p: Pair): string => (p[0] === p[1] ? String(p[0]) : `${p[0]}x${p[1]}`);
const showPool = (op: Op & { readonly kernel: Pair; readonly stride: Pair; readonly padding: Pair }): string =>
  `${op.kind} ${op.kernel[0]}x${op.kernel[1]} stride ${pairStr(op.stride)}${op.padding[0] + op.padding[1] > 0 ? ` pad ${pairStr(op.padding)}` : ''}`;
/** conv2d's cost: per output value, one MAC per weight of its group (`weight` is [out, cin/groups, kh, kw]). */
const convMacs = (out: Shape, weight: Shape): number => numel(out) * numel(weight.slice(1));

const activationVjp: VjpRule<OpOf<'relu' | 'relu6' | 'sigmoid' | 'tanh' | 'gelu'>> = ({ op, inputs: [x], dy, mk }) => [mk({ kind: 'activationGrad', fn: op.kind }, [x!, dy])];

const activation = { shape: unary, batched: 'inputs', vjp: activationVjp, macs: noMacs, show: plain } as const;

// ---------------------------------------------------------------------------------------------------------
// The registry

/**
 * Every op kind's definition. Adding an op: its attributes to `Op`, its definition here, its reference in
 * src/reference/ops.ts and its lowering in src/compile/lowerings.ts (CONTRIBUTING.md, "Adding an op").
 */
export const OP_DEFS: OpDefs = {
  input: {
    codec: closed('input', { kind: t.literal('input'), name: t.string, shape: ShapeC }),
    shape: leafShape,
    batched: true,
    vjp: noGrad,
    macs: noMacs,
    show: plain,
  },
  param: {
    codec: closed('param', { kind: t.literal('param'), path: t.string, shape: ShapeC, init: InitC, trainable: t.boolean }),
    shape: leafShape,
    batched: false,
    vjp: noGrad,
    macs: noMacs,
    show: plain,
  },
  conv2d: {
    codec: closed('conv2d', { kind: t.literal('conv2d'), stride: PairC, padding: PairC, dilation: PairC, groups: t.Int, bias: t.boolean }),
    shape: (node, op, shapes) => {
      arity(node, op, shapes, op.bias ? 3 : 2);
      const out = convShape(node, op, shapes);
      if (op.bias && !shapeEq(shapes[2]!, [out[0]!])) mismatch(node, op, shapes, `bias must be [${out[0]}]`);
      return out;
    },
    batched: 'inputs',
    vjp: ({ op, inputs: [x, w], dy, mk }) => {
      const { stride, padding, dilation, groups } = op;
      return [
        mk({ kind: 'conv2dGradInput', stride, padding, dilation, groups, inputShape: x!.shape }, [dy, w!]),
        mk({ kind: 'conv2dGradWeight', stride, padding, dilation, groups, weightShape: w!.shape }, [x!, dy]),
        ...(op.bias ? [mk({ kind: 'sumBatch', spatial: true }, [dy])] : []),
      ];
    },
    macs: (_, out, [, w]) => convMacs(out, w!),
    show: (op, [, w]) => {
      const attrs = [`${w?.[2]}x${w?.[3]}`];
      if (op.stride[0] !== 1 || op.stride[1] !== 1) attrs.push(`stride ${pairStr(op.stride)}`);
      if (op.padding[0] !== 0 || op.padding[1] !== 0) attrs.push(`pad ${pairStr(op.padding)}`);
      if (op.dilation[0] !== 1 || op.dilation[1] !== 1) attrs.push(`dil ${pairStr(op.dilation)}`);
      if (op.groups !== 1) attrs.push(`groups ${op.groups}`);
      return `conv2d ${attrs.join(' ')}`;
    },
  },
  linear: {
    codec: closed('linear', { kind: t.literal('linear'), bias: t.boolean }),
    shape: (node, op, shapes) => {
      arity(node, op, shapes, op.bias ? 3 : 2);
      const x = shapes[0]!;
      const wt = shapes[1]!;
      if (x.length !== 1) mismatch(node, op, shapes, 'expects a flat [features] input (flatten first)');
      if (wt.length !== 2) mismatch(node, op, shapes, 'weight must be [out, in]');
      if (wt.length !== 2 || wt[1] !== x[0]) mismatch(node, op, shapes, `expects ${wt[1]} input features, got ${x[0]}`);
      if (op.bias && !shapeEq(shapes[2]!, [wt[0]!])) mismatch(node, op, shapes, `bias must be [${wt[0]}]`);
      return [wt[0]!];
    },
    batched: 'inputs',
    vjp: ({ op, inputs: [x, w], dy, mk }) => [
      mk({ kind: 'linearGradInput' }, [dy, w!]),
      mk({ kind: 'linearGradWeight' }, [x!, dy]),
      ...(op.bias ? [mk({ kind: 'sumBatch', spatial: false }, [dy])] : []),
    ],
    macs: (_, __, [, w]) => numel(w!),
    show: plain,
  },
  batchNorm2d: {
    codec: closed('batchNorm2d', { kind: t.literal('batchNorm2d'), eps: t.number, momentum: t.number, affine: t.boolean }),
    shape: batchNormShape,
    batched: 'inputs',
    vjp: notDifferentiable('in evaluation form has no gradient here: train through trainingGraph, which uses batch statistics'),
    macs: noMacs,
    show: (op) => (op.affine ? 'batchNorm2d' : 'batchNorm2d (no affine)'),
  },
  relu: { codec: bare('relu'), ...activation },
  relu6: { codec: bare('relu6'), ...activation },
  sigmoid: { codec: bare('sigmoid'), ...activation },
  tanh: { codec: bare('tanh'), ...activation },
  gelu: { codec: bare('gelu'), ...activation },
  identity: { codec: bare('identity'), shape: unary, batched: 'inputs', vjp: ({ dy }) => [dy], macs: noMacs, show: plain },
  scale: {
    codec: closed('scale', { kind: t.literal('scale'), factor: t.number }),
    shape: (node, op, shapes) => {
      arity(node, op, shapes, 1);
      if (!Number.isFinite(op.factor)) bad(node, op, `factor must be finite, got ${op.factor}`);
      return shapes[0]!;
    },
    batched: 'inputs',
    vjp: ({ op, dy, mk }) => [mk({ kind: 'scale', factor: op.factor }, [dy])],
    macs: noMacs,
    show: (op) => `scale ${op.factor}`,
  },
  zero: {
    codec: closed('zero', { kind: t.literal('zero'), stride: t.Int }),
    shape: (node, op, shapes) => {
      arity(node, op, shapes, 1);
      if (!positiveInts([op.stride])) bad(node, op, `stride must be a positive integer`);
      if (op.stride === 1) return shapes[0]!;
      const [c, h, w] = chw(node, op, shapes);
      return [c, Math.ceil(h / op.stride), Math.ceil(w / op.stride)];
    },
    batched: 'inputs',
    vjp: () => [null],
    macs: noMacs,
    show: (op) => (op.stride === 1 ? 'zero' : `zero stride ${op.stride}`),
  },
  add: {
    codec: bare('add'),
    shape: (node, op, shapes) => {
      if (shapes.length < 2) arity(node, op, shapes, 2, Infinity);
      return sameShapes(node, op, shapes);
    },
    batched: 'inputs',
    vjp: ({ inputs, dy, unbroadcast }) => inputs.map((i) => unbroadcast(i, dy)),
    macs: noMacs,
    show: plain,
  },
  mul: {
    codec: bare('mul'),
    shape: binarySame,
    batched: 'inputs',
    vjp: ({ inputs: [x, y], dy, mk, unbroadcast }) => [unbroadcast(x!, mk({ kind: 'mul' }, [dy, y!])), unbroadcast(y!, mk({ kind: 'mul' }, [dy, x!]))],
    macs: noMacs,
    show: plain,
  },
  concat: {
    codec: bare('concat'),
    shape: (node, op, shapes) => {
      if (shapes.length < 1) arity(node, op, shapes, 1, Infinity);
      const rest = shapes[0]!.slice(1);
      if (shapes[0]!.length < 1 || !shapes.every((s) => s.length === shapes[0]!.length && shapeEq(s.slice(1), rest))) {
        mismatch(node, op, shapes, 'needs inputs that differ only in channels');
      }
      return [shapes.reduce((c, s) => c + s[0]!, 0), ...rest];
    },
    batched: 'inputs',
    vjp: ({ inputs, dy, mk, unbroadcast }) => {
      let start = 0;
      return inputs.map((i) => {
        const s = mk({ kind: 'sliceChannels', start, count: i.shape[0]! }, [dy]);
        start += i.shape[0]!;
        return unbroadcast(i, s);
      });
    },
    macs: noMacs,
    show: plain,
  },
  slice: {
    codec: closed('slice', { kind: t.literal('slice'), start: ShapeC, stop: ShapeC, step: ShapeC }),
    shape: (node, op, shapes) => {
      arity(node, op, shapes, 1);
      return sliceShape(node, op, shapes[0]!, shapes);
    },
    batched: 'inputs',
    vjp: ({ op, inputs: [x], dy, mk }) => [mk({ kind: 'sliceGrad', start: op.start, stop: op.stop, step: op.step, inputShape: x!.shape }, [dy])],
    macs: noMacs,
    show: (op, [x]) => `slice ${showSlice(op, x)}`,
  },
  maxPool2d: {
    codec: closed('maxPool2d', { kind: t.literal('maxPool2d'), kernel: PairC, stride: PairC, padding: PairC }),
    shape: (node, op, shapes) => pool(node, op, shapes, op.kernel, op.stride, op.padding),
    batched: 'inputs',
    vjp: ({ op, inputs: [x], dy, mk }) => [mk({ kind: 'maxPool2dGrad', kernel: op.kernel, stride: op.stride, padding: op.padding }, [x!, dy])],
    macs: noMacs,
    show: showPool,
  },
  avgPool2d: {
    codec: closed('avgPool2d', { kind: t.literal('avgPool2d'), kernel: PairC, stride: PairC, padding: PairC, countIncludePad: t.boolean }),
    shape: (node, op, shapes) => pool(node, op, shapes, op.kernel, op.stride, op.padding),
    batched: 'inputs',
    vjp: ({ op, inputs: [x], dy, mk }) => [
      mk({ kind: 'avgPool2dGrad', kernel: op.kernel, stride: op.stride, padding: op.padding, countIncludePad: op.countIncludePad, inputShape: x!.shape }, [dy]),
    ],
    macs: noMacs,
    show: showPool,
  },
  globalAvgPool: {
    codec: bare('globalAvgPool'),
    shape: (node, op, shapes) => {
      arity(node, op, shapes, 1);
      const [c] = chw(node, op, shapes);
      return [c];
    },
    batched: 'inputs',
    vjp: ({ inputs: [x], dy, mk }) => [mk({ kind: 'globalAvgPoolGrad', inputShape: x!.shape }, [dy])],
    macs: noMacs,
    show: plain,
  },
  adaptiveAvgPool2d: {
    codec: closed('adaptiveAvgPool2d', { kind: t.literal('adaptiveAvgPool2d'), output: PairC }),
    shape: (node, op, shapes) => {
      arity(node, op, shapes, 1);
      const [c] = chw(node, op, shapes);
      if (!positiveInts(op.output)) bad(node, op, 'output size must be positive');
      return [c, op.output[0], op.output[1]];
    },
    batched: 'inputs',
    vjp: ({ inputs: [x], dy, mk }) => [mk({ kind: 'adaptiveAvgPool2dGrad', inputShape: x!.shape }, [dy])],
    macs: noMacs,
    show: (op) => `adaptiveAvgPool2d ${op.output[0]}x${op.output[1]}`,
  },
  flatten: {
    codec: bare('flatten'),
    shape: (node, op, shapes) => {
      arity(node, op, shapes, 1);
      return [numel(shapes[0]!)];
    },
    batched: 'inputs',
    vjp: ({ inputs: [x], dy, mk }) => [mk({ kind: 'reshape', shape: x!.shape }, [dy])],
    macs: noMacs,
    show: plain,
  },
  reshape: {
    codec: closed('reshape', { kind: t.literal('reshape'), shape: ShapeC }),
    shape: (node, op, shapes) => {
      arity(node, op, shapes, 1);
      if (!positiveInts(op.shape)) bad(node, op, `target ${showShape(op.shape)} must have positive dimensions`);
      if (numel(op.shape) !== numel(shapes[0]!)) {
        mismatch(node, op, shapes, `cannot reshape ${numel(shapes[0]!)} elements to ${showShape(op.shape)}`);
      }
      return op.shape;
    },
    batched: 'inputs',
    vjp: ({ inputs: [x], dy, mk }) => [mk({ kind: 'reshape', shape: x!.shape }, [dy])],
    macs: noMacs,
    show: plain,
  },
  dropout: {
    codec: closed('dropout', { kind: t.literal('dropout'), p: t.number, channelwise: t.boolean, site: t.string }),
    shape: dropoutShape,
    batched: 'inputs',
    // Evaluation-form dropout is the identity.
    vjp: ({ dy }) => [dy],
    macs: noMacs,
    show: (op) => `dropout${op.channelwise ? '2d' : ''} ${op.p}`,
  },
  softmax: { codec: bare('softmax'), shape: unary, batched: 'inputs', vjp: ({ node, dy, mk }) => [mk({ kind: 'softmaxGrad' }, [node, dy])], macs: noMacs, show: plain },
  logSoftmax: {
    codec: bare('logSoftmax'),
    shape: unary,
    batched: 'inputs',
    vjp: ({ node, dy, mk }) => [mk({ kind: 'logSoftmaxGrad' }, [node, dy])],
    macs: noMacs,
    show: plain,
  },
  layerChoice: {
    codec: t.union([
      closed('layerChoice', { kind: t.literal('layerChoice'), key: t.string, names: Names, scope: Names }),
      closed('layerChoice', { kind: t.literal('layerChoice'), key: t.string, names: Names, scope: Names, values: t.readonlyArray(t.union([t.number, t.string, t.boolean])) }),
    ]),
    shape: (node, op, shapes) => {
      if (shapes.length !== op.names.length || shapes.length < 1) {
        bad(node, op, `has ${op.names.length} candidate names for ${shapes.length} candidates`);
      }
      return shapes[0]!; // agreement is checked by the layerChoice combinator, which names the candidates
    },
    batched: 'inputs',
    vjp: notDifferentiable(`is a choice: differentiate a fixed graph (apply) or a mixed one (mixGraph)`),
    macs: noMacs,
    show: (op) => `layerChoice '${op.key}'`,
  },
  inputChoice: {
    codec: closed('inputChoice', {
      kind: t.literal('inputChoice'),
      key: t.string,
      names: Names,
      nChosen: t.union([t.Int, t.null], 'Int | null'),
      reduction: ReductionC,
      scope: Names,
      position: t.Int,
    }),
    shape: inputChoiceShape,
    batched: 'inputs',
    vjp: notDifferentiable(`is a choice: differentiate a fixed graph (apply) or a mixed one (mixGraph)`),
    macs: noMacs,
    show: (op) => `inputChoice '${op.key}' (${op.reduction})`,
  },
  absent: {
    codec: closed('absent', { kind: t.literal('absent'), key: t.string, shape: ShapeC }),
    shape: (node, op, shapes) => {
      arity(node, op, shapes, 0);
      return op.shape;
    },
    batched: true,
    vjp: noGrad,
    macs: noMacs,
    show: plain,
  },
  // ---- Training and gradient ops (made by trainingGraph, mixGraph and grad) ----
  fill: {
    codec: closed('fill', { kind: t.literal('fill'), value: t.number, shape: ShapeC }),
    shape: leafShape,
    batched: false,
    vjp: noGrad,
    macs: noMacs,
    show: (op) => `fill ${op.value}`,
  },
  choiceWeights: {
    codec: closed('choiceWeights', { kind: t.literal('choiceWeights'), key: t.string, n: t.Int }),
    shape: (node, op, shapes) => {
      arity(node, op, shapes, 0);
      if (!positiveInts([op.n])) bad(node, op, `needs n >= 1`);
      return [op.n];
    },
    batched: false,
    vjp: noGrad,
    macs: noMacs,
    show: (op) => `choiceWeights '${op.key}'`,
  },
  weightedSum: {
    codec: bare('weightedSum'),
    shape: (node, op, shapes) => {
      if (shapes.length < 2) arity(node, op, shapes, 2, Infinity);
      if (!shapeEq(shapes[0]!, [shapes.length - 1])) mismatch(node, op, shapes, `needs one weight per candidate (${shapes.length - 1})`);
      return sameShapes(node, op, shapes.slice(1));
    },
    batched: 'inputs',
    vjp: ({ inputs: [w, ...cands], dy, mk, unbroadcast }) => [
      mk({ kind: 'weightedSumGrad' }, [dy, ...cands]),
      ...cands.map((c, index) => unbroadcast(c, mk({ kind: 'weightedScale', index }, [w!, dy]))),
    ],
    macs: noMacs,
    show: plain,
  },
  weightedScale: {
    codec: closed('weightedScale', { kind: t.literal('weightedScale'), index: t.Int }),
    shape: (node, op, shapes) => {
      arity(node, op, shapes, 2);
      if (shapes[0]!.length !== 1 || !(Number.isInteger(op.index) && op.index >= 0 && op.index < shapes[0]![0]!)) {
        mismatch(node, op, shapes, `index ${op.index} is not a position of the weights`);
      }
      return shapes[1]!;
    },
    batched: 'inputs',
    vjp: ({ op, inputs: [w, x], dy, mk, unbroadcast }) => [null, unbroadcast(x!, mk({ kind: 'weightedScale', index: op.index }, [w!, dy]))],
    macs: noMacs,
    show: (op) => `weightedScale ${op.index}`,
  },
  weightedSumGrad: {
    codec: bare('weightedSumGrad'),
    shape: (node, op, shapes) => {
      if (shapes.length < 2) arity(node, op, shapes, 2, Infinity);
      sameShapes(node, op, shapes);
      return [shapes.length - 1];
    },
    batched: false,
    vjp: gradOp,
    macs: noMacs,
    show: plain,
  },
  batchNorm2dTrain: {
    codec: closed('batchNorm2dTrain', { kind: t.literal('batchNorm2dTrain'), eps: t.number, momentum: t.number, affine: t.boolean }),
    // Checked, and reported, as the forward op it trains.
    shape: (node, op, shapes) => batchNormShape(node, { kind: 'batchNorm2d', eps: op.eps, momentum: op.momentum, affine: op.affine }, shapes),
    batched: 'inputs',
    vjp: ({ op, inputs: [x, , , w], dy, mk }) => {
      const dx = mk({ kind: 'batchNorm2dGradInput', eps: op.eps, affine: op.affine }, op.affine ? [x!, dy, w!] : [x!, dy]);
      if (!op.affine) return [dx, null, null];
      return [dx, null, null, mk({ kind: 'batchNorm2dGradWeight', eps: op.eps }, [x!, dy]), mk({ kind: 'sumBatch', spatial: true }, [dy])];
    },
    macs: noMacs,
    show: (op) => (op.affine ? 'batchNorm2dTrain' : 'batchNorm2dTrain (no affine)'),
  },
  batchNorm2dGradInput: {
    codec: closed('batchNorm2dGradInput', { kind: t.literal('batchNorm2dGradInput'), eps: t.number, affine: t.boolean }),
    shape: (node, op, shapes) => {
      arity(node, op, shapes, op.affine ? 3 : 2);
      const [c] = chw(node, op, shapes);
      if (!shapeEq(shapes[0]!, shapes[1]!) || (op.affine && !shapeEq(shapes[2]!, [c]))) mismatch(node, op, shapes, 'needs x and dy of one shape (and a [C] weight)');
      return shapes[0]!;
    },
    batched: 'inputs',
    vjp: gradOp,
    macs: noMacs,
    show: plain,
  },
  batchNorm2dGradWeight: {
    codec: closed('batchNorm2dGradWeight', { kind: t.literal('batchNorm2dGradWeight'), eps: t.number }),
    shape: (node, op, shapes) => {
      arity(node, op, shapes, 2);
      const [c] = chw(node, op, shapes);
      if (!shapeEq(shapes[0]!, shapes[1]!)) mismatch(node, op, shapes, 'needs x and dy of one shape');
      return [c];
    },
    batched: false,
    vjp: gradOp,
    macs: noMacs,
    show: plain,
  },
  sumBatch: {
    codec: closed('sumBatch', { kind: t.literal('sumBatch'), spatial: t.boolean }),
    shape: (node, op, shapes) => {
      arity(node, op, shapes, 1);
      if (op.spatial) {
        if (shapes[0]!.length < 1) mismatch(node, op, shapes, 'spatial sum needs a channel axis');
        return [shapes[0]![0]!];
      }
      return shapes[0]!;
    },
    batched: false,
    vjp: gradOp,
    macs: noMacs,
    show: (op) => (op.spatial ? 'sumBatch (and space)' : 'sumBatch'),
  },
  conv2dGradInput: {
    codec: closed('conv2dGradInput', { kind: t.literal('conv2dGradInput'), stride: PairC, padding: PairC, dilation: PairC, groups: t.Int, inputShape: ShapeC }),
    shape: (node, op, shapes) => {
      arity(node, op, shapes, 2);
      const forward = OP_DEFS.conv2d.shape(node, { kind: 'conv2d', stride: op.stride, padding: op.padding, dilation: op.dilation, groups: op.groups, bias: false }, [op.inputShape, shapes[1]!]);
      if (!shapeEq(forward, shapes[0]!)) mismatch(node, op, shapes, `dy must be ${showShape(forward)}`);
      return op.inputShape;
    },
    batched: 'inputs',
    vjp: gradOp,
    // A transposed convolution: one MAC per (dy value, weight of its group), as the forward convolution.
    macs: (_, __, [dy, w]) => convMacs(dy!, w!),
    show: plain,
  },
  conv2dGradWeight: {
    codec: closed('conv2dGradWeight', { kind: t.literal('conv2dGradWeight'), stride: PairC, padding: PairC, dilation: PairC, groups: t.Int, weightShape: ShapeC }),
    shape: (node, op, shapes) => {
      arity(node, op, shapes, 2);
      const forward = OP_DEFS.conv2d.shape(node, { kind: 'conv2d', stride: op.stride, padding: op.padding, dilation: op.dilation, groups: op.groups, bias: false }, [shapes[0]!, op.weightShape]);
      if (!shapeEq(forward, shapes[1]!)) mismatch(node, op, shapes, `dy must be ${showShape(forward)}`);
      return op.weightShape;
    },
    batched: false,
    vjp: gradOp,
    macs: (op, _, [, dy]) => convMacs(dy!, op.weightShape),
    show: plain,
  },
  linearGradInput: {
    codec: bare('linearGradInput'),
    shape: (node, op, shapes) => {
      arity(node, op, shapes, 2);
      const [dy, w] = [shapes[0]!, shapes[1]!];
      if (dy.length !== 1 || w.length !== 2 || w[0] !== dy[0]) mismatch(node, op, shapes, 'needs dy [out] and weight [out, in]');
      return [w[1]!];
    },
    batched: 'inputs',
    vjp: gradOp,
    macs: (_, __, [, w]) => numel(w!),
    show: plain,
  },
  linearGradWeight: {
    codec: bare('linearGradWeight'),
    shape: (node, op, shapes) => {
      arity(node, op, shapes, 2);
      const [x, dy] = [shapes[0]!, shapes[1]!];
      if (x.length !== 1 || dy.length !== 1) mismatch(node, op, shapes, 'needs x [in] and dy [out]');
      return [dy[0]!, x[0]!];
    },
    batched: false,
    vjp: gradOp,
    macs: (_, out) => numel(out),
    show: plain,
  },
  dropoutTrain: {
    codec: closed('dropoutTrain', { kind: t.literal('dropoutTrain'), p: t.number, channelwise: t.boolean, site: t.string }),
    shape: (node, op, shapes) => dropoutShape(node, { kind: 'dropout', p: op.p, channelwise: op.channelwise, site: op.site }, shapes),
    batched: 'inputs',
    // The same site and attributes give the same mask, so the backward pass drops the same elements.
    vjp: ({ op, dy, mk }) => [mk(op, [dy])],
    macs: noMacs,
    show: (op) => `dropoutTrain${op.channelwise ? '2d' : ''} ${op.p}`,
  },
  activationGrad: {
    codec: closed('activationGrad', { kind: t.literal('activationGrad'), fn: t.keyof({ relu: null, relu6: null, sigmoid: null, tanh: null, gelu: null }) }),
    shape: binarySame,
    batched: 'inputs',
    vjp: gradOp,
    macs: noMacs,
    show: (op) => `activationGrad ${op.fn}`,
  },
  maxPool2dGrad: {
    codec: closed('maxPool2dGrad', { kind: t.literal('maxPool2dGrad'), kernel: PairC, stride: PairC, padding: PairC }),
    shape: (node, op, shapes) => {
      arity(node, op, shapes, 2);
      const y = pool(node, op, [shapes[0]!], op.kernel, op.stride, op.padding);
      if (!shapeEq(y, shapes[1]!)) mismatch(node, op, shapes, `dy must be ${showShape(y)}`);
      return shapes[0]!;
    },
    batched: 'inputs',
    vjp: gradOp,
    macs: noMacs,
    show: showPool,
  },
  avgPool2dGrad: {
    codec: closed('avgPool2dGrad', { kind: t.literal('avgPool2dGrad'), kernel: PairC, stride: PairC, padding: PairC, countIncludePad: t.boolean, inputShape: ShapeC }),
    shape: (node, op, shapes) => {
      arity(node, op, shapes, 1);
      const y = pool(node, op, [op.inputShape], op.kernel, op.stride, op.padding);
      if (!shapeEq(y, shapes[0]!)) mismatch(node, op, shapes, `dy must be ${showShape(y)}`);
      return op.inputShape;
    },
    batched: 'inputs',
    vjp: gradOp,
    macs: noMacs,
    show: showPool,
  },
  adaptiveAvgPool2dGrad: {
    codec: closed('adaptiveAvgPool2dGrad', { kind: t.literal('adaptiveAvgPool2dGrad'), inputShape: ShapeC }),
    shape: poolGradInputShape,
    batched: 'inputs',
    vjp: gradOp,
    macs: noMacs,
    show: plain,
  },
  globalAvgPoolGrad: {
    codec: closed('globalAvgPoolGrad', { kind: t.literal('globalAvgPoolGrad'), inputShape: ShapeC }),
    shape: poolGradInputShape,
    batched: 'inputs',
    vjp: gradOp,
    macs: noMacs,
    show: plain,
  },
  sliceGrad: {
    codec: closed('sliceGrad', { kind: t.literal('sliceGrad'), start: ShapeC, stop: ShapeC, step: ShapeC, inputShape: ShapeC }),
    shape: (node, op, shapes) => {
      arity(node, op, shapes, 1);
      if (!positiveInts(op.inputShape)) bad(node, op, `inputShape ${showShape(op.inputShape)} must have positive integer dimensions`);
      const y = sliceShape(node, op, op.inputShape, shapes);
      if (!shapeEq(y, shapes[0]!)) mismatch(node, op, shapes, `dy must be ${showShape(y)}`);
      return op.inputShape;
    },
    batched: 'inputs',
    vjp: gradOp,
    macs: noMacs,
    show: (op) => `sliceGrad ${showSlice(op, op.inputShape)}`,
  },
  sliceChannels: {
    codec: closed('sliceChannels', { kind: t.literal('sliceChannels'), start: t.Int, count: t.Int }),
    shape: (node, op, shapes) => {
      arity(node, op, shapes, 1);
      const s = shapes[0]!;
      if (s.length < 1 || !(Number.isInteger(op.start) && op.start >= 0 && Number.isInteger(op.count) && op.count >= 1 && op.start + op.count <= s[0]!)) {
        mismatch(node, op, shapes, `channels [${op.start}, ${op.start + op.count}) are out of range`);
      }
      return [op.count, ...s.slice(1)];
    },
    batched: 'inputs',
    vjp: gradOp,
    macs: noMacs,
    show: (op) => `sliceChannels [${op.start}, ${op.start + op.count})`,
  },
  softmaxGrad: { codec: bare('softmaxGrad'), shape: binarySame, batched: 'inputs', vjp: gradOp, macs: noMacs, show: plain },
  logSoftmaxGrad: { codec: bare('logSoftmaxGrad'), shape: binarySame, batched: 'inputs', vjp: gradOp, macs: noMacs, show: plain },
  crossEntropy: {
    codec: closed('crossEntropy', { kind: t.literal('crossEntropy'), labelSmoothing: t.number }),
    shape: crossEntropyShape,
    batched: false,
    vjp: ({ op, inputs: [logits, labels], dy, mk }) => [mk({ kind: 'crossEntropyGrad', labelSmoothing: op.labelSmoothing }, [logits!, labels!, dy]), null],
    macs: noMacs,
    show: (op) => (op.labelSmoothing === 0 ? 'crossEntropy' : `crossEntropy (smoothing ${op.labelSmoothing})`),
  },
  crossEntropyGrad: {
    codec: closed('crossEntropyGrad', { kind: t.literal('crossEntropyGrad'), labelSmoothing: t.number }),
    shape: crossEntropyShape,
    batched: 'inputs',
    vjp: gradOp,
    macs: noMacs,
    show: plain,
  },
};

/**
 * The definition of `op`'s kind, typed for `op`. (The table's type pairs kind K with `OpDef<K>`; TypeScript
 * cannot follow that correlation through a union, hence the one cast.)
 */
export const opDef = (op: Op): OpDef<OpKind> => OP_DEFS[op.kind] as unknown as OpDef<OpKind>;

/**
 * The per-sample output shape of `op` applied to inputs of `shapes`. Throws a GraphError naming `node`
 * (the module path where the op was built), the op and the shapes when they do not fit.
 *
 * @example
 * inferShape('net/conv', { kind: 'flatten' }, [[4, 2, 2]]); // [16]
 */
export const inferShape = (node: string, op: Op, shapes: readonly Shape[]): Shape => opDef(op).shape(node, op, shapes);

/**
 * Whether an op's value carries the batch (activations) or not (parameters, their gradients, losses, choice
 * weights). Leaves decide for themselves; ops that reduce over the batch are unbatched; the rest follow their
 * inputs.
 *
 * @example
 * outputBatched({ kind: 'sumBatch', spatial: false }, [true]); // false
 */
export const outputBatched = (op: Op, inputsBatched: readonly boolean[]): boolean => {
  const b = opDef(op).batched;
  return b === 'inputs' ? inputsBatched.some((x) => x) : b;
};

/**
 * A short description of an op with the attributes that tell two ops of a kind apart; `inputs` are its input
 * shapes (a convolution's kernel size is its weight's).
 *
 * @example
 * showOp({ kind: 'maxPool2d', kernel: [3, 3], stride: [2, 2], padding: [1, 1] }, [[8, 16, 16]]); // 'maxPool2d 3x3 stride 2 pad 1'
 */
export const showOp = (op: Op, inputs: readonly Shape[]): string => opDef(op).show(op, inputs);
