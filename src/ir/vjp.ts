/**
 * Vector–Jacobian products: for each op, the IR nodes that compute ∂L/∂input from ∂L/∂output (`dy`).
 * They sit beside the forward and shape rules of ops.ts and are ordinary IR, so the backward pass lowers through
 * the same compiler and runs on the same reference interpreter.
 *
 * A rule returns one entry per input: a node, or `null` where no gradient flows (labels, running statistics,
 * indices, the "none" op).
 */
import { fail } from './errors.ts';
import { type Node, mkNode } from './node.ts';
import type { Op } from './ops.ts';

const at = (n: Node): string => `grad:${n.name}`;
const mk = (op: Op, inputs: readonly Node[], n: Node): Node => mkNode(op, inputs, at(n));

/**
 * The gradient of an input that was repeated over the batch (an unbatched value, such as a parameter, meeting
 * batched ones in add or mul): the batched gradient summed over the batch.
 */
const unbroadcast = (input: Node, g: Node, n: Node): Node => (!input.batched && g.batched ? mk({ kind: 'sumBatch', spatial: false }, [g], n) : g);

const notDifferentiable = (n: Node, why: string): never =>
  fail({ tag: 'InvalidAttribute', node: n.name, op: n.op.kind, message: `${n.name}: ${n.op.kind} ${why}` });

/** ∂L/∂inputs of `n` given ∂L/∂n = `dy`. */
export const vjp = (n: Node, dy: Node): readonly (Node | null)[] => {
  const op = n.op;
  const [x, a1, a2, a3, a4] = n.inputs;
  switch (op.kind) {
    case 'input':
    case 'param':
    case 'fill':
    case 'choiceWeights':
    case 'absent':
      return [];
    case 'conv2d': {
      const { stride, padding, dilation, groups } = op;
      return [
        mk({ kind: 'conv2dGradInput', stride, padding, dilation, groups, inputShape: x!.shape }, [dy, a1!], n),
        mk({ kind: 'conv2dGradWeight', stride, padding, dilation, groups, weightShape: a1!.shape }, [x!, dy], n),
        ...(op.bias ? [mk({ kind: 'sumBatch', spatial: true }, [dy], n)] : []),
      ];
    }
    case 'linear':
      return [
        mk({ kind: 'linearGradInput' }, [dy, a1!], n),
        mk({ kind: 'linearGradWeight' }, [x!, dy], n),
        ...(op.bias ? [mk({ kind: 'sumBatch', spatial: false }, [dy], n)] : []),
      ];
    case 'batchNorm2d':
      return notDifferentiable(n, 'in evaluation form has no gradient here: train through trainingGraph, which uses batch statistics');
    case 'batchNorm2dTrain': {
      const dx = mk({ kind: 'batchNorm2dGradInput', eps: op.eps, affine: op.affine }, op.affine ? [x!, dy, a3!] : [x!, dy], n);
      if (!op.affine) return [dx, null, null];
      return [dx, null, null, mk({ kind: 'batchNorm2dGradWeight', eps: op.eps }, [x!, dy], n), mk({ kind: 'sumBatch', spatial: true }, [dy], n)];
    }
    case 'relu':
    case 'relu6':
    case 'sigmoid':
    case 'tanh':
    case 'gelu':
      return [mk({ kind: 'activationGrad', fn: op.kind }, [x!, dy], n)];
    case 'identity':
      return [dy];
    case 'scale':
      return [mk({ kind: 'scale', factor: op.factor }, [dy], n)];
    case 'zero':
      return [null];
    case 'add':
      return n.inputs.map((i) => unbroadcast(i, dy, n));
    case 'mul':
      return [unbroadcast(x!, mk({ kind: 'mul' }, [dy, a1!], n), n), unbroadcast(a1!, mk({ kind: 'mul' }, [dy, x!], n), n)];
    case 'concat': {
      let start = 0;
      return n.inputs.map((i) => {
        const s = mk({ kind: 'sliceChannels', start, count: i.shape[0]! }, [dy], n);
        start += i.shape[0]!;
        return unbroadcast(i, s, n);
      });
    }
    case 'maxPool2d':
      return [mk({ kind: 'maxPool2dGrad', kernel: op.kernel, stride: op.stride, padding: op.padding }, [x!, dy], n)];
    case 'avgPool2d':
      return [mk({ kind: 'avgPool2dGrad', kernel: op.kernel, stride: op.stride, padding: op.padding, countIncludePad: op.countIncludePad, inputShape: x!.shape }, [dy], n)];
    case 'globalAvgPool':
      return [mk({ kind: 'globalAvgPoolGrad', inputShape: x!.shape }, [dy], n)];
    case 'adaptiveAvgPool2d':
      return [mk({ kind: 'adaptiveAvgPool2dGrad', inputShape: x!.shape }, [dy], n)];
    case 'flatten':
    case 'reshape':
      return [mk({ kind: 'reshape', shape: x!.shape }, [dy], n)];
    case 'dropout':
      // Evaluation-form dropout is the identity.
      return [dy];
    case 'dropoutTrain':
      // The same site and attributes give the same mask, so the backward pass drops the same elements.
      return [mk(op, [dy], n)];
    case 'softmax':
      return [mk({ kind: 'softmaxGrad' }, [n, dy], n)];
    case 'logSoftmax':
      return [mk({ kind: 'logSoftmaxGrad' }, [n, dy], n)];
    case 'weightedSum': {
      const cands = n.inputs.slice(1);
      return [mk({ kind: 'weightedSumGrad' }, [dy, ...cands], n), ...cands.map((c, index) => unbroadcast(c, mk({ kind: 'weightedScale', index }, [x!, dy], n), n))];
    }
    case 'weightedScale':
      return [null, unbroadcast(a1!, mk({ kind: 'weightedScale', index: op.index }, [x!, dy], n), n)];
    case 'crossEntropy':
      return [mk({ kind: 'crossEntropyGrad', labelSmoothing: op.labelSmoothing }, [x!, a1!, dy], n), null];
    case 'layerChoice':
    case 'inputChoice':
      return notDifferentiable(n, `is a choice: differentiate a fixed graph (apply) or a mixed one (mixGraph)`);
    case 'weightedSumGrad':
    case 'batchNorm2dGradInput':
    case 'batchNorm2dGradWeight':
    case 'sumBatch':
    case 'conv2dGradInput':
    case 'conv2dGradWeight':
    case 'linearGradInput':
    case 'linearGradWeight':
    case 'activationGrad':
    case 'maxPool2dGrad':
    case 'avgPool2dGrad':
    case 'adaptiveAvgPool2dGrad':
    case 'globalAvgPoolGrad':
    case 'sliceChannels':
    case 'softmaxGrad':
    case 'logSoftmaxGrad':
    case 'crossEntropyGrad':
      void a2;
      void a4;
      return notDifferentiable(n, 'is a gradient op: second derivatives are not supported (DARTS second order uses finite differences)');
  }
};
