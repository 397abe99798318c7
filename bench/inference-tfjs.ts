/**
 * Bench helper: the MNIST CNN of examples/mnist.ts (its first architecture: conv1 3×3, skipcon on) written with
 * tfjs-core ops, to run on tfjs-webgpu beside our compiled Program. tfjs works in NHWC, its native layout; the
 * weights are random (the values differ from ours, the work does not). Fused ops (conv/matmul + bias + relu)
 * are used where tfjs has them, as our compiler fuses those epilogues too.
 */
import type { Tfjs } from './tfjs.ts';

type Tf = Tfjs['tf'];
type Tensor = ReturnType<Tf['tensor']>;

/** A forward pass of the tfjs MNIST CNN on `batch` images, and its weights to dispose. */
export interface TfjsMnist {
  /** Uploads `x` (batch·28·28 values), runs the network and reads the [batch, 10] log-probabilities back. */
  readonly run: (x: Float32Array) => Promise<Float32Array>;
  readonly dispose: () => void;
}

const seeded = (n: number, seed: number): Float32Array => {
  // A small LCG: the values only need to be finite and varied.
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 4294967296 - 0.5) * 0.1;
  }
  return a;
};

/** Builds the network's weights on the tfjs backend. */
export const tfjsMnist = (tfjs: Tfjs, batch: number): TfjsMnist => {
  const { tf } = tfjs;
  const w = (shape: number[], seed: number): Tensor => tf.tensor(seeded(shape.reduce((p, d) => p * d, 1), seed), shape);
  const weights = {
    conv1: w([3, 3, 1, 32], 1),
    b1: w([32], 2),
    conv2: w([3, 3, 32, 64], 3),
    b2: w([64], 4),
    conv3: w([1, 1, 64, 64], 5),
    b3: w([64], 6),
    fc1: w([9216, 128], 7),
    bf1: w([128], 8),
    fc2: w([128, 10], 9),
    bf2: w([10], 10),
  };
  const forward = (x: Tensor): Tensor => {
    const c1 = tf.fused.conv2d({ x: x as never, filter: weights.conv1 as never, strides: 1, pad: 'valid', bias: weights.b1, activation: 'relu' });
    const c2 = tf.fused.conv2d({ x: c1, filter: weights.conv2 as never, strides: 1, pad: 'valid', bias: weights.b2 });
    // conv3 (1×1) + bias, plus the skip connection from conv2 (skipcon chose it).
    const c3 = tf.fused.conv2d({ x: c2, filter: weights.conv3 as never, strides: 1, pad: 'valid', bias: weights.b3 });
    const pooled = tf.maxPool(tf.add(c3, c2) as never, 2, 2, 'valid');
    const flat = tf.reshape(pooled, [batch, 9216]);
    const h = tf.fused.matMul({ a: flat as never, b: weights.fc1 as never, bias: weights.bf1, activation: 'relu' });
    const logits = tf.fused.matMul({ a: h, b: weights.fc2 as never, bias: weights.bf2 });
    return tf.logSoftmax(logits);
  };
  return {
    run: async (x) => {
      const y = tf.tidy(() => forward(tf.tensor4d(x, [batch, 28, 28, 1])));
      const out = (await y.data()) as Float32Array;
      y.dispose();
      return out;
    },
    dispose: () => Object.values(weights).forEach((t) => t.dispose()),
  };
};
