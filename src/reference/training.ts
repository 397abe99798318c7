/**
 * The reference interpreter's rules for the training and gradient ops (those after `absent` in ir/ops.ts,
 * produced by `trainingGraph`, `mixGraph` and `grad`). reference.ts owns the graph walk; this file maps one such
 * node and its input values to its value.
 *
 * Unbatched values (parameters, parameter gradients, losses, choice weights: `node.batched === false`) are
 * stored without the batch: numel(shape) values. Batched ones hold batch·numel(shape), sample-major.
 *
 * None of these ops depends on an evaluation mode: BatchNorm with batch statistics and active dropout are ops of
 * their own (batchNorm2dTrain, dropoutTrain), which is how training graphs say "train".
 */
import type { Node } from '../ir/node.ts';
import type { Op } from '../ir/ops.ts';
import { numel } from '../ir/shape.ts';
import { NodeFailure } from './errors.ts';
import {
  batchNorm2dGradInputRef, batchNorm2dGradWeightRef, conv2dGradInputRef, conv2dGradWeightRef, linearGradInputRef, linearGradWeightRef, sumBatchRef,
} from './grad-dense.ts';
import {
  activationGradRef, badLabel, crossEntropyGradRef, crossEntropyRef, logSoftmaxGradRef, sliceChannelsRef, softmaxGradRef, weightedSumGradRef,
  weightedSumRef,
} from './grad-pointwise.ts';
import { adaptiveAvgPool2dGradRef, avgPool2dGradRef, globalAvgPoolGradRef, maxPool2dGradRef } from './grad-pool.ts';
import { batchNorm2dTrainRef, dropoutRef } from './norm.ts';

export type TrainingOpKind =
  | 'fill' | 'choiceWeights' | 'weightedSum' | 'weightedScale' | 'weightedSumGrad' | 'batchNorm2dTrain' | 'batchNorm2dGradInput'
  | 'batchNorm2dGradWeight' | 'sumBatch' | 'conv2dGradInput' | 'conv2dGradWeight' | 'linearGradInput' | 'linearGradWeight' | 'dropoutTrain'
  | 'activationGrad' | 'maxPool2dGrad' | 'avgPool2dGrad' | 'adaptiveAvgPool2dGrad' | 'globalAvgPoolGrad' | 'sliceChannels' | 'softmaxGrad'
  | 'logSoftmaxGrad' | 'crossEntropy' | 'crossEntropyGrad';

export type TrainingOp = Extract<Op, { kind: TrainingOpKind }>;

/** What a training op may ask of the interpreter while it is evaluated. */
export interface TrainingEnv {
  readonly batch: number;
  /** The dropout seed of this step. */
  readonly seed: number;
  /** The value of input `i` (an activation, a parameter, any computed value). */
  readonly input: (i: number) => Float64Array;
  /** The value of input `i` if it was computed (weighted sums skip candidates of weight 0), else undefined. */
  readonly computed: (i: number) => Float64Array | undefined;
  /** The parameter at input `i` (an error if it is not a parameter). */
  readonly weight: (i: number) => ArrayLike<number>;
  /** The run-time weights of a choice key (validated before evaluation starts). */
  readonly choiceWeights: (key: string) => readonly number[];
  /** Records the updated running statistic of a BatchNorm, by parameter path. */
  readonly setStat: (path: string, values: Float64Array) => void;
}

/** The value of `n`, whose op is a training or gradient op. Throws a NodeFailure for a value error. */
export const evalTrainingOp = (n: Node, op: TrainingOp, env: TrainingEnv): Float64Array => {
  const shapeOf = (i: number): readonly number[] => n.inputs[i]!.shape;
  /** Rows of input i: the batch when it is batched, else 1. */
  const rows = (i: number): number => (n.inputs[i]!.batched ? env.batch : 1);
  switch (op.kind) {
    case 'fill':
      return new Float64Array(numel(op.shape)).fill(op.value);
    case 'choiceWeights':
      return Float64Array.from(env.choiceWeights(op.key));
    case 'weightedSum': {
      const w = env.input(0);
      const size = (n.batched ? env.batch : 1) * numel(n.shape);
      const cs = n.inputs.slice(1).map((c, i) => {
        if (w[i] === 0) return undefined;
        const v = env.computed(i + 1) ?? env.input(i + 1);
        return c.batched || !n.batched ? v : tile(v, env.batch);
      });
      return weightedSumRef(w, cs, size);
    }
    case 'weightedScale': {
      const w = env.input(0)[op.index]!;
      return env.input(1).map((v) => w * v);
    }
    case 'weightedSumGrad': {
      const dy = env.input(0);
      return weightedSumGradRef(dy, n.inputs.slice(1).map((c, i) => (c.batched || !n.inputs[0]!.batched ? env.input(i + 1) : tile(env.input(i + 1), env.batch))));
    }
    case 'batchNorm2dTrain': {
      const x = env.input(0);
      const s = shapeOf(0);
      if (rows(0) * numel(s.slice(1)) < 2) {
        throw new NodeFailure({
          tag: 'BatchNormSingleValue',
          node: n.name,
          message: `${n.name}: batchNorm2dTrain needs more than one value per channel (batch ${rows(0)} × ${s.slice(1).join('×')})`,
        });
      }
      const r = batchNorm2dTrainRef(x, rows(0), s, {
        runningMean: env.weight(1),
        runningVar: env.weight(2),
        eps: op.eps,
        momentum: op.momentum,
        ...(op.affine ? { weight: env.input(3), bias: env.input(4) } : {}),
      });
      const [rm, rv] = [n.inputs[1]!.op, n.inputs[2]!.op];
      if (rm.kind === 'param') env.setStat(rm.path, r.runningMean);
      if (rv.kind === 'param') env.setStat(rv.path, r.runningVar);
      return r.out;
    }
    case 'batchNorm2dGradInput':
      return batchNorm2dGradInputRef(env.input(0), env.input(1), rows(0), shapeOf(0), op.eps, op.affine ? env.input(2) : undefined);
    case 'batchNorm2dGradWeight':
      return batchNorm2dGradWeightRef(env.input(0), env.input(1), rows(0), shapeOf(0), op.eps);
    case 'sumBatch':
      return sumBatchRef(env.input(0), rows(0), shapeOf(0), op.spatial);
    case 'conv2dGradInput':
      return conv2dGradInputRef(env.input(0), rows(0), op.inputShape, env.input(1), shapeOf(1), op);
    case 'conv2dGradWeight':
      return conv2dGradWeightRef(env.input(0), env.input(1), rows(0), shapeOf(0), op.weightShape, op);
    case 'linearGradInput':
      return linearGradInputRef(env.input(0), rows(0), env.input(1), shapeOf(1)[0]!, shapeOf(1)[1]!);
    case 'linearGradWeight':
      return linearGradWeightRef(env.input(0), env.input(1), rows(0), shapeOf(0)[0]!, shapeOf(1)[0]!);
    case 'dropoutTrain':
      return dropoutRef(env.input(0), rows(0), shapeOf(0), { p: op.p, channelwise: op.channelwise, site: op.site, seed: env.seed });
    case 'activationGrad':
      return activationGradRef(env.input(0), env.input(1), op.fn);
    case 'maxPool2dGrad':
      return maxPool2dGradRef(env.input(0), env.input(1), rows(0), shapeOf(0), op);
    case 'avgPool2dGrad':
      return avgPool2dGradRef(env.input(0), rows(0), op.inputShape, op);
    case 'adaptiveAvgPool2dGrad': {
      const s = shapeOf(0);
      return adaptiveAvgPool2dGradRef(env.input(0), rows(0), op.inputShape, [s[1]!, s[2]!]);
    }
    case 'globalAvgPoolGrad':
      return globalAvgPoolGradRef(env.input(0), rows(0), op.inputShape);
    case 'sliceChannels':
      return sliceChannelsRef(env.input(0), rows(0), shapeOf(0), op.start, op.count);
    case 'softmaxGrad':
      return softmaxGradRef(env.input(0), env.input(1), rows(0), shapeOf(0));
    case 'logSoftmaxGrad':
      return logSoftmaxGradRef(env.input(0), env.input(1), rows(0), shapeOf(0));
    case 'crossEntropy':
    case 'crossEntropyGrad': {
      const logits = env.input(0);
      const labels = env.input(1);
      const K = shapeOf(0)[0]!;
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
      if (op.kind === 'crossEntropy') return Float64Array.of(crossEntropyRef(logits, labels, rows(0), K, op.labelSmoothing));
      return crossEntropyGradRef(logits, labels, env.input(2)[0]!, rows(0), K, op.labelSmoothing);
    }
    default: {
      const never: never = op;
      throw new Error(`not a training op: ${JSON.stringify(never)}`);
    }
  }
};

/** An unbatched value repeated for every sample (when it meets batched values elementwise). */
export const tile = (v: Float64Array, batch: number): Float64Array => {
  const out = new Float64Array(v.length * batch);
  for (let n = 0; n < batch; n++) out.set(v, n * v.length);
  return out;
};
