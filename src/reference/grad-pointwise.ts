/**
 * Reference kernels for the elementwise and structural training ops: activation derivatives, channel slices,
 * the weighted sums of mixed choices (forward and gradient to the weights), softmax / logSoftmax gradients,
 * and the cross-entropy loss with its gradient.
 *
 * Derivatives at kinks follow PyTorch: relu′(0) = 0, relu6′(0) = relu6′(6) = 0 (threshold_backward and
 * hardtanh_backward pass the gradient only strictly inside the linear piece; a NaN input passes it too).
 */
import type { Shape } from '../ir/shape.ts';
import { numel } from '../ir/shape.ts';
import { erfc, sigmoid } from './pointwise.ts';

export type ActivationKind = 'relu' | 'relu6' | 'sigmoid' | 'tanh' | 'gelu';

const INV_SQRT_2PI = 0.3989422804014327; // 1/√(2π)

/** The derivative of an activation at x. */
export const activationDerivative = (fn: ActivationKind): ((x: number) => number) => {
  switch (fn) {
    case 'relu':
      return (x) => (x <= 0 ? 0 : 1);
    case 'relu6':
      return (x) => (x <= 0 || x >= 6 ? 0 : 1);
    case 'sigmoid':
      return (x) => {
        const s = sigmoid(x);
        return s * (1 - s);
      };
    case 'tanh':
      return (x) => {
        const t = Math.tanh(x);
        return 1 - t * t;
      };
    case 'gelu':
      // d/dx x·Φ(x) = Φ(x) + x·φ(x).
      return (x) => 0.5 * erfc(-x * Math.SQRT1_2) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
    default: {
      const never: never = fn;
      throw new Error(`unknown activation ${String(never)}`);
    }
  }
};

/** dy·f′(x), elementwise. */
export const activationGradRef = (x: ArrayLike<number>, dy: ArrayLike<number>, fn: ActivationKind): Float64Array => {
  const d = activationDerivative(fn);
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = dy[i]! * d(x[i]!);
  return out;
};

/** Channels [start, start + count) of each row of a [C, …] value. */
export const sliceChannelsRef = (x: ArrayLike<number>, rows: number, shape: Shape, start: number, count: number): Float64Array => {
  const inner = numel(shape.slice(1));
  const size = numel(shape);
  const out = new Float64Array(rows * count * inner);
  for (let n = 0; n < rows; n++) {
    for (let i = 0; i < count * inner; i++) out[n * count * inner + i] = x[n * size + start * inner + i]!;
  }
  return out;
};

/**
 * Σ wᵢ·cᵢ over the candidates, starting from zeros. A candidate of weight exactly 0 contributes nothing, not
 * even NaN (it need not be computed: `undefined` stands for it), as the mixed semantics of reference-choice.ts.
 */
export const weightedSumRef = (w: ArrayLike<number>, cs: readonly (ArrayLike<number> | undefined)[], size: number): Float64Array => {
  const out = new Float64Array(size);
  cs.forEach((c, i) => {
    const wi = w[i]!;
    if (wi === 0 || c === undefined) return;
    for (let k = 0; k < size; k++) out[k]! += wi * c[k]!;
  });
  return out;
};

/** ∂L/∂wᵢ of a weighted sum: Σ over the batch and every element of dy·cᵢ (unbatched [n]). */
export const weightedSumGradRef = (dy: ArrayLike<number>, cs: readonly ArrayLike<number>[]): Float64Array => {
  const out = new Float64Array(cs.length);
  cs.forEach((c, i) => {
    let acc = 0;
    for (let k = 0; k < dy.length; k++) acc += dy[k]! * c[k]!;
    out[i] = acc;
  });
  return out;
};

/** Calls `f(at)` for each (row, inner position) of a [C, …] value, `at(c)` the flat index of channel c there. */
const eachRow = (rows: number, shape: Shape, f: (at: (c: number) => number, C: number) => void): void => {
  const C = shape[0]!;
  const inner = numel(shape.slice(1));
  for (let n = 0; n < rows; n++) for (let j = 0; j < inner; j++) f((c) => (n * C + c) * inner + j, C);
};

/** ∂L/∂x of softmax over channels, from its output y: y·(dy − Σ_c y·dy). */
export const softmaxGradRef = (y: ArrayLike<number>, dy: ArrayLike<number>, rows: number, shape: Shape): Float64Array => {
  const out = new Float64Array(y.length);
  eachRow(rows, shape, (at, C) => {
    let s = 0;
    for (let c = 0; c < C; c++) s += y[at(c)]! * dy[at(c)]!;
    for (let c = 0; c < C; c++) out[at(c)] = y[at(c)]! * (dy[at(c)]! - s);
  });
  return out;
};

/** ∂L/∂x of logSoftmax over channels, from its output y: dy − exp(y)·Σ_c dy. */
export const logSoftmaxGradRef = (y: ArrayLike<number>, dy: ArrayLike<number>, rows: number, shape: Shape): Float64Array => {
  const out = new Float64Array(y.length);
  eachRow(rows, shape, (at, C) => {
    let s = 0;
    for (let c = 0; c < C; c++) s += dy[at(c)]!;
    for (let c = 0; c < C; c++) out[at(c)] = dy[at(c)]! - Math.exp(y[at(c)]!) * s;
  });
  return out;
};

/** A label that is not a class index: its sample and value. */
export interface BadLabel {
  readonly sample: number;
  readonly label: number;
}

/** The first label that is not an integer in [0, K), or undefined. */
export const badLabel = (labels: ArrayLike<number>, K: number): BadLabel | undefined => {
  for (let n = 0; n < labels.length; n++) {
    const l = labels[n]!;
    if (!(Number.isInteger(l) && l >= 0 && l < K)) return { sample: n, label: l };
  }
  return undefined;
};

/** log-softmax of each row of logits [rows, K] (stable: the row maximum is subtracted first). */
const logProbs = (logits: ArrayLike<number>, rows: number, K: number): Float64Array => {
  const out = new Float64Array(rows * K);
  for (let n = 0; n < rows; n++) {
    let m = -Infinity;
    for (let k = 0; k < K; k++) m = Math.max(m, logits[n * K + k]!);
    let s = 0;
    for (let k = 0; k < K; k++) s += Math.exp(logits[n * K + k]! - m);
    const lse = m + Math.log(s);
    for (let k = 0; k < K; k++) out[n * K + k] = logits[n * K + k]! - lse;
  }
  return out;
};

/** The smoothed target of class k for label l: (1 − ε)·[k = l] + ε/K (PyTorch's label_smoothing). */
const target = (k: number, label: number, K: number, eps: number): number => (k === label ? 1 - eps : 0) + eps / K;

/**
 * PyTorch's `cross_entropy(logits, labels, label_smoothing=ε)` with mean reduction: (1/N)·Σₙ −Σ_k tₙₖ·log softmax(zₙ)ₖ.
 * Labels must be valid class indices (check with `badLabel` first).
 *
 * @example
 * crossEntropyRef(Float64Array.of(0, 0), Float64Array.of(1), 1, 2, 0); // log 2
 */
export const crossEntropyRef = (logits: ArrayLike<number>, labels: ArrayLike<number>, rows: number, K: number, eps: number): number => {
  const lp = logProbs(logits, rows, K);
  let total = 0;
  for (let n = 0; n < rows; n++) {
    const l = labels[n]!;
    for (let k = 0; k < K; k++) {
      const t = target(k, l, K, eps);
      if (t !== 0) total -= t * lp[n * K + k]!;
    }
  }
  return total / rows;
};

/** ∂L/∂logits of `crossEntropyRef`, times the incoming dLoss: dLoss·(softmax(z) − t)/N. */
export const crossEntropyGradRef = (logits: ArrayLike<number>, labels: ArrayLike<number>, dLoss: number, rows: number, K: number, eps: number): Float64Array => {
  const lp = logProbs(logits, rows, K);
  const out = new Float64Array(rows * K);
  for (let n = 0; n < rows; n++) {
    for (let k = 0; k < K; k++) out[n * K + k] = (dLoss * (Math.exp(lp[n * K + k]!) - target(k, labels[n]!, K, eps))) / rows;
  }
  return out;
};
