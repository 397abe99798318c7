/**
 * The reference interpreter's op table: for every op kind, how its value is computed on the CPU in float64 from
 * its inputs (`REFERENCE`, typed `{ [K in OpKind]: RefRule<K> }`, so an op without a reference is a type error).
 * `evaluate` (evaluate.ts) owns the graph walk, the choice semantics and error collection; a rule sees one node
 * through a `RefEnv`.
 *
 * Values are batched NCHW arrays (batch first); unbatched values (`node.batched === false`: parameters, their
 * gradients, losses, choice weights, constants) hold numel(shape) values and are repeated per sample where they
 * meet batched ones elementwise (`operand`). Op semantics are PyTorch's. None of the training ops depends on an
 * evaluation mode: BatchNorm with batch statistics and active dropout are ops of their own (batchNorm2dTrain,
 * dropoutTrain), which is how training graphs say "train"; plain batchNorm2d and dropout follow `mode`.
 */
import type { Node } from '../ir/node.ts';
import type { Op, OpKind, OpOf } from '../ir/ops.ts';
import { numel } from '../ir/shape.ts';
import { conv2dRef, linearRef } from './dense.ts';
import { NodeFailure } from './errors.ts';
import {
  batchNorm2dGradInputRef, batchNorm2dGradWeightRef, conv2dGradInputRef, conv2dGradWeightRef, linearGradInputRef, linearGradWeightRef, sumBatchRef,
} from './grad-dense.ts';
import {
  activationGradRef, badLabel, crossEntropyGradRef, crossEntropyRef, logSoftmaxGradRef, sliceChannelsRef, softmaxGradRef, weightedSumGradRef,
  weightedSumRef,
} from './grad-pointwise.ts';
import { adaptiveAvgPool2dGradRef, avgPool2dGradRef, globalAvgPoolGradRef, maxPool2dGradRef } from './grad-pool.ts';
import { batchNorm2dEvalRef, batchNorm2dTrainRef, dropoutRef, softmaxRef } from './norm.ts';
import { addRef, concatRef, mapRef, mulRef, unaryFn, zeroRef } from './pointwise.ts';
import { adaptiveAvgPool2dRef, avgPool2dRef, globalAvgPoolRef, maxPool2dRef } from './pool.ts';

/** The value of a node whose input choice chose nothing (by its key). */
export interface Absent {
  readonly absent: string;
}
export type RefValue = Float64Array | Absent;
export const isAbsent = (v: RefValue): v is Absent => !(v instanceof Float64Array);

/** What a rule may ask of the interpreter while it evaluates one node `n`. */
export interface RefEnv {
  readonly batch: number;
  /** 'train': plain batchNorm2d uses (and updates) batch statistics, plain dropout drops. */
  readonly mode: 'eval' | 'train';
  /** The dropout seed of this step. */
  readonly seed: number;
  /** The caller's array for graph input `name` (validated before evaluation). */
  readonly graphInput: (name: string) => ArrayLike<number>;
  /** The value of input `i` (an activation, a parameter, any computed value); an absent one is an error. */
  readonly input: (i: number) => Float64Array;
  /** Input `i` as an elementwise op consumes it: repeated per sample when `n` is batched and the input is not. */
  readonly operand: (i: number) => Float64Array;
  /** Input `i`'s stored value (absent included), or undefined when it was not computed (a parameter, a pruned candidate). */
  readonly stored: (i: number) => RefValue | undefined;
  /** Rows of input `i`: the batch when it is batched, else 1. */
  readonly rows: (i: number) => number;
  /** The parameter at input `i` (a NodeFailure if it is not a parameter). */
  readonly weight: (i: number) => ArrayLike<number>;
  /** This node's value as a choice, under the evaluation's choice semantics (choice.ts). */
  readonly choice: () => RefValue;
  /** The run-time weights of a choice key (validated before evaluation starts). */
  readonly choiceWeights: (key: string) => readonly number[];
  /** Records the updated running statistic of a trained BatchNorm, by parameter path. */
  readonly setStat: (path: string, values: Float64Array) => void;
}

/** How one op kind's value is computed. */
export type RefRule<O extends Op> = (op: O, n: Node, env: RefEnv) => RefValue;

/** The table's type: one rule per op kind. */
export type RefRules = { readonly [K in OpKind]: RefRule<OpOf<K>> };

/** An unbatched value repeated for every sample (when it meets batched values elementwise). */
export const tile = (v: Float64Array, batch: number): Float64Array => {
  const out = new Float64Array(v.length * batch);
  for (let n = 0; n < batch; n++) out.set(v, n * v.length);
  return out;
};

const rowsOf = (n: Node, env: RefEnv): number => (n.batched ? env.batch : 1);
const unaryRule: RefRule<OpOf<'relu' | 'relu6' | 'sigmoid' | 'tanh' | 'gelu'>> = (op, _, env) => mapRef(env.input(0), unaryFn(op.kind));
/** Same data, new shape: values are immutable, so sharing the array is safe. */
const view: RefRule<Op> = (_, __, env) => env.input(0);

const singleValue = (n: Node, rows: number): NodeFailure =>
  new NodeFailure({
    tag: 'BatchNormSingleValue',
    node: n.name,
    message: `${n.name}: ${n.op.kind === 'batchNorm2d' ? 'batchNorm2d in training' : n.op.kind} needs more than one value per channel (batch ${rows} × ${n.inputs[0]!.shape.slice(1).join('×')})`,
  });

/** BatchNorm with batch statistics: the output, and the updated running statistics recorded by path. */
const batchNormTrain = (op: { readonly eps: number; readonly momentum: number; readonly affine: boolean }, n: Node, env: RefEnv, affine: (i: number) => ArrayLike<number>): Float64Array => {
  const s = n.inputs[0]!.shape;
  const rows = env.rows(0);
  if (rows * numel(s.slice(1)) < 2) throw singleValue(n, rows);
  const r = batchNorm2dTrainRef(env.input(0), rows, s, {
    runningMean: env.weight(1),
    runningVar: env.weight(2),
    eps: op.eps,
    momentum: op.momentum,
    ...(op.affine ? { weight: affine(3), bias: affine(4) } : {}),
  });
  const [rm, rv] = [n.inputs[1]!.op, n.inputs[2]!.op];
  if (rm.kind === 'param') env.setStat(rm.path, r.runningMean);
  if (rv.kind === 'param') env.setStat(rv.path, r.runningVar);
  return r.out;
};

/**
 * `x[start:stop:step]` per axis of every sample (`shape` per sample, `rows` samples), or with `scatter` the
 * converse: `x` (of the slice's shape) placed at the sliced positions of a zero tensor of `shape`.
 */
const sliceRef = (x: Float64Array, rows: number, shape: readonly number[], op: { readonly start: readonly number[]; readonly step: readonly number[] }, out: readonly number[], scatter: boolean): Float64Array => {
  const [inN, outN] = [numel(shape), numel(out)];
  const strides = shape.map((_, a) => numel(shape.slice(a + 1)));
  const y = new Float64Array(rows * (scatter ? inN : outN));
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < outN; j++) {
      let at = 0;
      let rem = j;
      for (let a = out.length - 1; a >= 0; a--) {
        at += (op.start[a]! + (rem % out[a]!) * op.step[a]!) * strides[a]!;
        rem = Math.floor(rem / out[a]!);
      }
      if (scatter) y[r * inN + at] = x[r * outN + j]!;
      else y[r * outN + j] = x[r * inN + at]!;
    }
  }
  return y;
};

const crossEntropyRule: RefRule<OpOf<'crossEntropy' | 'crossEntropyGrad'>> = (op, n, env) => {
  const logits = env.input(0);
  const labels = env.input(1);
  const K = n.inputs[0]!.shape[0]!;
  const bad = badLabel(labels, K);
  if (bad !== undefined) {
    throw new NodeFailure({
      tag: 'BadLabel',
      node: n.name,
      sample: bad.sample,
      label: bad.label,
      message: `${n.name}: ${op.kind} needs class indices in 0..${K - 1}, but sample ${bad.sample} has label ${bad.label}`,
    });
  }
  if (op.kind === 'crossEntropy') return Float64Array.of(crossEntropyRef(logits, labels, env.rows(0), K, op.labelSmoothing));
  return crossEntropyGradRef(logits, labels, env.input(2)[0]!, env.rows(0), K, op.labelSmoothing);
};

/**
 * Every op kind's reference rule. Adding an op: its rule here, next to its definition in ir/ops.ts and its
 * lowering in compile/lowerings.ts (CONTRIBUTING.md, "Adding an op").
 */
export const REFERENCE: RefRules = {
  input: (op, _, env) => Float64Array.from(env.graphInput(op.name)), // a copy: the caller may reuse its array
  param: () => {
    throw new Error('parameters are read by their users, never evaluated');
  },
  conv2d: (op, n, env) => conv2dRef(env.input(0), env.batch, n.inputs[0]!.shape, env.weight(1), n.inputs[1]!.shape, n.inputs[2] === undefined ? undefined : env.weight(2), op).out,
  linear: (_, n, env) => linearRef(env.input(0), env.batch, n.inputs[0]!.shape[0]!, env.weight(1), n.shape[0]!, n.inputs[2] === undefined ? undefined : env.weight(2)),
  batchNorm2d: (op, n, env) => {
    if (env.mode === 'train') return batchNormTrain(op, n, env, env.weight);
    const p = { runningMean: env.weight(1), runningVar: env.weight(2), eps: op.eps, ...(op.affine ? { weight: env.weight(3), bias: env.weight(4) } : {}) };
    return batchNorm2dEvalRef(env.input(0), env.batch, n.inputs[0]!.shape, p);
  },
  relu: unaryRule,
  relu6: unaryRule,
  sigmoid: unaryRule,
  tanh: unaryRule,
  gelu: unaryRule,
  identity: view,
  flatten: view,
  reshape: view,
  scale: (op, _, env) => mapRef(env.input(0), (v) => v * op.factor),
  zero: (_, n, env) => zeroRef(rowsOf(n, env), n.shape),
  add: (_, n, env) => {
    // Absent inputs are left out; when all are absent, so is the sum.
    const vs = n.inputs.map((__, i) => {
      const v = env.stored(i);
      return v !== undefined && isAbsent(v) ? v : env.operand(i);
    });
    const present = vs.filter((v): v is Float64Array => !isAbsent(v));
    return present.length === 0 ? vs[0]! : addRef(present);
  },
  mul: (_, __, env) => mulRef(env.operand(0), env.operand(1)),
  concat: (_, n, env) => concatRef(n.inputs.map((x, i) => ({ data: env.operand(i), shape: x.shape })), rowsOf(n, env)),
  slice: (op, n, env) => sliceRef(env.input(0), env.rows(0), n.inputs[0]!.shape, op, n.shape, false),
  maxPool2d: (op, n, env) => maxPool2dRef(env.input(0), env.batch, n.inputs[0]!.shape, op).out,
  avgPool2d: (op, n, env) => avgPool2dRef(env.input(0), env.batch, n.inputs[0]!.shape, op).out,
  globalAvgPool: (_, n, env) => globalAvgPoolRef(env.input(0), env.batch, n.inputs[0]!.shape),
  adaptiveAvgPool2d: (op, n, env) => adaptiveAvgPool2dRef(env.input(0), env.batch, n.inputs[0]!.shape, op.output).out,
  dropout: (op, n, env) =>
    env.mode !== 'train' || op.p === 0
      ? env.input(0)
      : dropoutRef(env.input(0), env.batch, n.inputs[0]!.shape, { p: op.p, channelwise: op.channelwise, site: op.site, seed: env.seed }),
  softmax: (_, n, env) => softmaxRef(env.input(0), rowsOf(n, env), n.inputs[0]!.shape, false),
  logSoftmax: (_, n, env) => softmaxRef(env.input(0), rowsOf(n, env), n.inputs[0]!.shape, true),
  layerChoice: (_, __, env) => env.choice(),
  inputChoice: (_, __, env) => env.choice(),
  absent: (op) => ({ absent: op.key }),
  // ---- Training and gradient ops ----
  fill: (op) => new Float64Array(numel(op.shape)).fill(op.value),
  choiceWeights: (op, _, env) => Float64Array.from(env.choiceWeights(op.key)),
  weightedSum: (_, n, env) => {
    const w = env.input(0);
    const cs = n.inputs.slice(1).map((c, i) => {
      if (w[i] === 0) return undefined; // a candidate of weight 0 is never evaluated
      const stored = env.stored(i + 1);
      const v = stored instanceof Float64Array ? stored : env.input(i + 1);
      return c.batched || !n.batched ? v : tile(v, env.batch);
    });
    return weightedSumRef(w, cs, rowsOf(n, env) * numel(n.shape));
  },
  weightedScale: (op, _, env) => {
    const w = env.input(0)[op.index]!;
    return env.input(1).map((v) => w * v);
  },
  weightedSumGrad: (_, n, env) =>
    weightedSumGradRef(
      env.input(0),
      n.inputs.slice(1).map((c, i) => (c.batched || !n.inputs[0]!.batched ? env.input(i + 1) : tile(env.input(i + 1), env.batch))),
    ),
  batchNorm2dTrain: (op, n, env) => batchNormTrain(op, n, env, env.input),
  batchNorm2dGradInput: (op, n, env) => batchNorm2dGradInputRef(env.input(0), env.input(1), env.rows(0), n.inputs[0]!.shape, op.eps, op.affine ? env.input(2) : undefined),
  batchNorm2dGradWeight: (op, n, env) => batchNorm2dGradWeightRef(env.input(0), env.input(1), env.rows(0), n.inputs[0]!.shape, op.eps),
  sumBatch: (op, n, env) => sumBatchRef(env.input(0), env.rows(0), n.inputs[0]!.shape, op.spatial),
  conv2dGradInput: (op, n, env) => conv2dGradInputRef(env.input(0), env.rows(0), op.inputShape, env.input(1), n.inputs[1]!.shape, op),
  conv2dGradWeight: (op, n, env) => conv2dGradWeightRef(env.input(0), env.input(1), env.rows(0), n.inputs[0]!.shape, op.weightShape, op),
  linearGradInput: (_, n, env) => linearGradInputRef(env.input(0), env.rows(0), env.input(1), n.inputs[1]!.shape[0]!, n.inputs[1]!.shape[1]!),
  linearGradWeight: (_, n, env) => linearGradWeightRef(env.input(0), env.input(1), env.rows(0), n.inputs[0]!.shape[0]!, n.inputs[1]!.shape[0]!),
  dropoutTrain: (op, n, env) => dropoutRef(env.input(0), env.rows(0), n.inputs[0]!.shape, { p: op.p, channelwise: op.channelwise, site: op.site, seed: env.seed }),
  activationGrad: (op, _, env) => activationGradRef(env.input(0), env.input(1), op.fn),
  maxPool2dGrad: (op, n, env) => maxPool2dGradRef(env.input(0), env.input(1), env.rows(0), n.inputs[0]!.shape, op),
  avgPool2dGrad: (op, _, env) => avgPool2dGradRef(env.input(0), env.rows(0), op.inputShape, op),
  adaptiveAvgPool2dGrad: (op, n, env) => {
    const s = n.inputs[0]!.shape;
    return adaptiveAvgPool2dGradRef(env.input(0), env.rows(0), op.inputShape, [s[1]!, s[2]!]);
  },
  globalAvgPoolGrad: (op, _, env) => globalAvgPoolGradRef(env.input(0), env.rows(0), op.inputShape),
  sliceGrad: (op, n, env) => sliceRef(env.input(0), env.rows(0), op.inputShape, op, n.inputs[0]!.shape, true),
  sliceChannels: (op, n, env) => sliceChannelsRef(env.input(0), env.rows(0), n.inputs[0]!.shape, op.start, op.count),
  softmaxGrad: (_, n, env) => softmaxGradRef(env.input(0), env.input(1), env.rows(0), n.inputs[0]!.shape),
  logSoftmaxGrad: (_, n, env) => logSoftmaxGradRef(env.input(0), env.input(1), env.rows(0), n.inputs[0]!.shape),
  crossEntropy: crossEntropyRule,
  crossEntropyGrad: crossEntropyRule,
};

/** The rule of `op`'s kind, typed for `op` (the one cast a correlated union needs). */
export const refRule = (op: Op): RefRule<Op> => REFERENCE[op.kind] as unknown as RefRule<Op>;
