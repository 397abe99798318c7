/**
 * The op vocabulary of the IR: one discriminated union of attributes, and the shape rule of every op.
 *
 * Inputs are positional; the arity of each op is fixed except for `add`, `concat` and the choices.
 * Parameter-consuming ops take their parameters as ordinary inputs (leaves of kind `param`), so that
 * apply/prune, autodiff and the compiler treat weights and activations alike.
 */
import { fail } from './errors.ts';
import { type Pair, type Shape, numel, shapeEq, showShape, windowOut } from './shape.ts';

/** Initialisation scheme of a parameter: PyTorch's defaults are expressible with these. */
export type Init =
  | { readonly kind: 'uniform'; readonly bound: number } // U(-bound, bound); kaiming_uniform(a=√5) → bound = 1/√fan_in
  | { readonly kind: 'normal'; readonly std: number }
  | { readonly kind: 'ones' }
  | { readonly kind: 'zeros' };

export type Reduction = 'sum' | 'mean' | 'concat' | 'none';

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
export type ChoiceOp = Extract<Op, { kind: 'layerChoice' | 'inputChoice' }>;

export const isChoice = (op: Op): op is ChoiceOp => op.kind === 'layerChoice' || op.kind === 'inputChoice';

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

/**
 * The per-sample output shape of `op` applied to inputs of `shapes`. Throws a GraphError naming `node`
 * (the module path where the op was built), the op and the shapes when they do not fit.
 */
export const inferShape = (node: string, op: Op, shapes: readonly Shape[]): Shape => {
  switch (op.kind) {
    case 'input':
    case 'param':
      arity(node, op, shapes, 0);
      if (!positiveInts(op.shape)) bad(node, op, `shape ${showShape(op.shape)} must have positive integer dimensions`);
      return op.shape;
    case 'conv2d': {
      arity(node, op, shapes, op.bias ? 3 : 2);
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
      if (op.bias && !shapeEq(shapes[2]!, [o])) mismatch(node, op, shapes, `bias must be [${o}]`);
      const oh = windowOut(h, kh, op.stride[0], op.padding[0], op.dilation[0]);
      const ow = windowOut(w, kw, op.stride[1], op.padding[1], op.dilation[1]);
      if (oh < 1 || ow < 1) mismatch(node, op, shapes, `kernel ${kh}x${kw} does not fit the input`);
      return [o, oh, ow];
    }
    case 'linear': {
      arity(node, op, shapes, op.bias ? 3 : 2);
      const x = shapes[0]!;
      const wt = shapes[1]!;
      if (x.length !== 1) mismatch(node, op, shapes, 'expects a flat [features] input (flatten first)');
      if (wt.length !== 2) mismatch(node, op, shapes, 'weight must be [out, in]');
      if (wt.length !== 2 || wt[1] !== x[0]) mismatch(node, op, shapes, `expects ${wt[1]} input features, got ${x[0]}`);
      if (op.bias && !shapeEq(shapes[2]!, [wt[0]!])) mismatch(node, op, shapes, `bias must be [${wt[0]}]`);
      return [wt[0]!];
    }
    case 'batchNorm2d': {
      arity(node, op, shapes, op.affine ? 5 : 3);
      const [c] = chw(node, op, shapes);
      if (!(op.eps > 0) || !(op.momentum >= 0 && op.momentum <= 1)) bad(node, op, 'needs eps > 0 and momentum in [0, 1]');
      if (!shapes.slice(1).every((s) => shapeEq(s, [c]))) mismatch(node, op, shapes, `statistics and affine parameters must be [${c}]`);
      return shapes[0]!;
    }
    case 'relu':
    case 'relu6':
    case 'sigmoid':
    case 'tanh':
    case 'gelu':
    case 'identity':
      arity(node, op, shapes, 1);
      return shapes[0]!;
    case 'scale':
      arity(node, op, shapes, 1);
      if (!Number.isFinite(op.factor)) bad(node, op, `factor must be finite, got ${op.factor}`);
      return shapes[0]!;
    case 'zero': {
      arity(node, op, shapes, 1);
      if (!positiveInts([op.stride])) bad(node, op, `stride must be a positive integer`);
      if (op.stride === 1) return shapes[0]!;
      const [c, h, w] = chw(node, op, shapes);
      return [c, Math.ceil(h / op.stride), Math.ceil(w / op.stride)];
    }
    case 'add':
      if (shapes.length < 2) arity(node, op, shapes, 2, Infinity);
      return sameShapes(node, op, shapes);
    case 'mul':
      arity(node, op, shapes, 2);
      return sameShapes(node, op, shapes);
    case 'concat': {
      if (shapes.length < 1) arity(node, op, shapes, 1, Infinity);
      const rest = shapes[0]!.slice(1);
      if (shapes[0]!.length < 1 || !shapes.every((s) => s.length === shapes[0]!.length && shapeEq(s.slice(1), rest))) {
        mismatch(node, op, shapes, 'needs inputs that differ only in channels');
      }
      return [shapes.reduce((c, s) => c + s[0]!, 0), ...rest];
    }
    case 'maxPool2d':
      return pool(node, op, shapes, op.kernel, op.stride, op.padding);
    case 'avgPool2d':
      return pool(node, op, shapes, op.kernel, op.stride, op.padding);
    case 'globalAvgPool': {
      arity(node, op, shapes, 1);
      const [c] = chw(node, op, shapes);
      return [c];
    }
    case 'adaptiveAvgPool2d': {
      arity(node, op, shapes, 1);
      const [c] = chw(node, op, shapes);
      if (!positiveInts(op.output)) bad(node, op, 'output size must be positive');
      return [c, op.output[0], op.output[1]];
    }
    case 'flatten':
      arity(node, op, shapes, 1);
      return [numel(shapes[0]!)];
    case 'reshape':
      arity(node, op, shapes, 1);
      if (!positiveInts(op.shape)) bad(node, op, `target ${showShape(op.shape)} must have positive dimensions`);
      if (numel(op.shape) !== numel(shapes[0]!)) {
        mismatch(node, op, shapes, `cannot reshape ${numel(shapes[0]!)} elements to ${showShape(op.shape)}`);
      }
      return op.shape;
    case 'dropout':
      arity(node, op, shapes, 1);
      if (!(op.p >= 0 && op.p < 1)) bad(node, op, `p must be in [0, 1), got ${op.p}`);
      if (op.channelwise && shapes[0]!.length !== 3) mismatch(node, op, shapes, 'channelwise dropout expects [C, H, W]');
      return shapes[0]!;
    case 'softmax':
    case 'logSoftmax':
      arity(node, op, shapes, 1);
      return shapes[0]!;
    case 'layerChoice': {
      if (shapes.length !== op.names.length || shapes.length < 1) {
        bad(node, op, `has ${op.names.length} candidate names for ${shapes.length} candidates`);
      }
      return shapes[0]!; // agreement is checked by the layerChoice combinator, which names the candidates
    }
    case 'inputChoice': {
      const n = shapes.length;
      if (n < 1 || op.names.length !== n) bad(node, op, `has ${op.names.length} candidate names for ${n} inputs`);
      if (op.nChosen !== null && !(Number.isInteger(op.nChosen) && op.nChosen >= 1 && op.nChosen <= n)) {
        bad(node, op, `nChosen must be null or an integer in 1..${n}, got ${op.nChosen}`);
      }
      const s = sameShapes(node, op, shapes);
      switch (op.reduction) {
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
    }
    // falls through: the inner switch is exhaustive
    case 'absent':
      arity(node, op, shapes, 0);
      return op.shape;
    case 'fill':
      arity(node, op, shapes, 0);
      if (!positiveInts(op.shape)) bad(node, op, `shape ${showShape(op.shape)} must have positive integer dimensions`);
      return op.shape;
    case 'choiceWeights':
      arity(node, op, shapes, 0);
      if (!positiveInts([op.n])) bad(node, op, `needs n >= 1`);
      return [op.n];
    case 'weightedSum': {
      if (shapes.length < 2) arity(node, op, shapes, 2, Infinity);
      if (!shapeEq(shapes[0]!, [shapes.length - 1])) mismatch(node, op, shapes, `needs one weight per candidate (${shapes.length - 1})`);
      return sameShapes(node, op, shapes.slice(1));
    }
    case 'weightedScale':
      arity(node, op, shapes, 2);
      if (shapes[0]!.length !== 1 || !(Number.isInteger(op.index) && op.index >= 0 && op.index < shapes[0]![0]!)) {
        mismatch(node, op, shapes, `index ${op.index} is not a position of the weights`);
      }
      return shapes[1]!;
    case 'weightedSumGrad':
      if (shapes.length < 2) arity(node, op, shapes, 2, Infinity);
      sameShapes(node, op, shapes);
      return [shapes.length - 1];
    case 'batchNorm2dTrain':
      return inferShape(node, { kind: 'batchNorm2d', eps: op.eps, momentum: op.momentum, affine: op.affine }, shapes);
    case 'batchNorm2dGradInput': {
      arity(node, op, shapes, op.affine ? 3 : 2);
      const [c] = chw(node, op, shapes);
      if (!shapeEq(shapes[0]!, shapes[1]!) || (op.affine && !shapeEq(shapes[2]!, [c]))) mismatch(node, op, shapes, 'needs x and dy of one shape (and a [C] weight)');
      return shapes[0]!;
    }
    case 'batchNorm2dGradWeight': {
      arity(node, op, shapes, 2);
      const [c] = chw(node, op, shapes);
      if (!shapeEq(shapes[0]!, shapes[1]!)) mismatch(node, op, shapes, 'needs x and dy of one shape');
      return [c];
    }
    case 'sumBatch':
      arity(node, op, shapes, 1);
      if (op.spatial) {
        if (shapes[0]!.length < 1) mismatch(node, op, shapes, 'spatial sum needs a channel axis');
        return [shapes[0]![0]!];
      }
      return shapes[0]!;
    case 'conv2dGradInput': {
      arity(node, op, shapes, 2);
      const forward = inferShape(node, { kind: 'conv2d', stride: op.stride, padding: op.padding, dilation: op.dilation, groups: op.groups, bias: false }, [op.inputShape, shapes[1]!]);
      if (!shapeEq(forward, shapes[0]!)) mismatch(node, op, shapes, `dy must be ${showShape(forward)}`);
      return op.inputShape;
    }
    case 'conv2dGradWeight': {
      arity(node, op, shapes, 2);
      const forward = inferShape(node, { kind: 'conv2d', stride: op.stride, padding: op.padding, dilation: op.dilation, groups: op.groups, bias: false }, [shapes[0]!, op.weightShape]);
      if (!shapeEq(forward, shapes[1]!)) mismatch(node, op, shapes, `dy must be ${showShape(forward)}`);
      return op.weightShape;
    }
    case 'linearGradInput': {
      arity(node, op, shapes, 2);
      const [dy, w] = [shapes[0]!, shapes[1]!];
      if (dy.length !== 1 || w.length !== 2 || w[0] !== dy[0]) mismatch(node, op, shapes, 'needs dy [out] and weight [out, in]');
      return [w[1]!];
    }
    case 'linearGradWeight': {
      arity(node, op, shapes, 2);
      const [x, dy] = [shapes[0]!, shapes[1]!];
      if (x.length !== 1 || dy.length !== 1) mismatch(node, op, shapes, 'needs x [in] and dy [out]');
      return [dy[0]!, x[0]!];
    }
    case 'dropoutTrain':
      return inferShape(node, { kind: 'dropout', p: op.p, channelwise: op.channelwise, site: op.site }, shapes);
    case 'activationGrad':
    case 'softmaxGrad':
    case 'logSoftmaxGrad':
      arity(node, op, shapes, 2);
      return sameShapes(node, op, shapes);
    case 'maxPool2dGrad': {
      arity(node, op, shapes, 2);
      const y = pool(node, op, [shapes[0]!], op.kernel, op.stride, op.padding);
      if (!shapeEq(y, shapes[1]!)) mismatch(node, op, shapes, `dy must be ${showShape(y)}`);
      return shapes[0]!;
    }
    case 'avgPool2dGrad': {
      arity(node, op, shapes, 1);
      const y = pool(node, op, [op.inputShape], op.kernel, op.stride, op.padding);
      if (!shapeEq(y, shapes[0]!)) mismatch(node, op, shapes, `dy must be ${showShape(y)}`);
      return op.inputShape;
    }
    case 'adaptiveAvgPool2dGrad':
    case 'globalAvgPoolGrad': {
      arity(node, op, shapes, 1);
      if (op.inputShape.length !== 3 || shapes[0]![0] !== op.inputShape[0]) mismatch(node, op, shapes, `dy does not match input ${showShape(op.inputShape)}`);
      return op.inputShape;
    }
    case 'sliceChannels': {
      arity(node, op, shapes, 1);
      const s = shapes[0]!;
      if (s.length < 1 || !(Number.isInteger(op.start) && op.start >= 0 && Number.isInteger(op.count) && op.count >= 1 && op.start + op.count <= s[0]!)) {
        mismatch(node, op, shapes, `channels [${op.start}, ${op.start + op.count}) are out of range`);
      }
      return [op.count, ...s.slice(1)];
    }
    case 'crossEntropy':
    case 'crossEntropyGrad': {
      arity(node, op, shapes, op.kind === 'crossEntropy' ? 2 : 3);
      if (shapes[0]!.length !== 1 || !shapeEq(shapes[1]!, [1])) mismatch(node, op, shapes, 'needs logits [K] and labels [1]');
      if (!(op.labelSmoothing >= 0 && op.labelSmoothing < 1)) bad(node, op, `labelSmoothing must be in [0, 1), got ${op.labelSmoothing}`);
      if (op.kind === 'crossEntropyGrad' && !shapeEq(shapes[2]!, [1])) mismatch(node, op, shapes, 'dLoss must be [1]');
      return op.kind === 'crossEntropy' ? [1] : shapes[0]!;
    }
  }
};

/**
 * Whether an op's value carries the batch (activations) or not (parameters, their gradients, losses, choice
 * weights). Leaves decide for themselves; ops that reduce over the batch are unbatched; the rest follow their
 * inputs.
 */
export const outputBatched = (op: Op, inputsBatched: readonly boolean[]): boolean => {
  switch (op.kind) {
    case 'input':
      return true;
    case 'param':
    case 'fill':
    case 'choiceWeights':
    case 'conv2dGradWeight':
    case 'linearGradWeight':
    case 'batchNorm2dGradWeight':
    case 'sumBatch':
    case 'weightedSumGrad':
    case 'crossEntropy':
      return false;
    case 'absent':
      return true;
    default:
      return inputsBatched.some((b) => b);
  }
};
