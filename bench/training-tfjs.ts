/**
 * Bench helper: one training step of the PyTorch MNIST example CNN (bench/training-models.ts) in tfjs-core ops on
 * tfjs-backend-webgpu, on our Dawn device: `optimizer.minimize` with `tf.train.momentum(0.01, 0.9)` (PyTorch's SGD
 * momentum rule: v ← μv + g, θ ← θ − lr·v), softmax cross-entropy on the logits, dropout by `tf.dropout`. Each
 * step uploads its images and labels and reads the loss back (the fence), as ours does.
 *
 * Two ways of writing the convolutions, both tfjs's own kernels:
 * - `'conv2d'`: `tf.fused.conv2d` (bias + relu fused); its gradients are tfjs-webgpu's Conv2DBackpropInput and
 *   Conv2DBackpropFilter kernels;
 * - `'im2col'`: patches gathered by 9 `tf.slice`s concatenated on the channel axis, then `tf.fused.matMul`
 *   (bias + relu fused); the gradients are tfjs's matmul, slice and pad kernels.
 * tfjs works in NHWC, its native layout. Weights are random (the values differ from ours, the work does not).
 *
 * tfjs-core's Node bundle registers no gradients (the `@tensorflow/tfjs` union package, not a dependency here,
 * imports them): `registerTfjsGradients` loads tfjs-core's own `dist/register_all_gradients.js`, an ES module tree
 * with extensionless relative imports that Node cannot resolve alone; a resolve hook scoped to tfjs-core's dist
 * directory supplies the `.js`. Its ops share the engine and registries (tfjs keeps them on the global object).
 */
import { register } from 'node:module';
import type { Tfjs } from './tfjs.ts';

type Tf = Tfjs['tf'];
type Tensor = ReturnType<Tf['tensor']>;
type Variable = ReturnType<Tf['variable']>;

/** How the convolutions are written (see the module comment). */
export type TfjsConv = 'conv2d' | 'im2col';

/** A tfjs training step of the CNN at a fixed batch size, and its variables (weights, momentum) to dispose. */
export interface TfjsCnnTrainer {
  /** Uploads `x` (batch·28·28 values, NHWC = NCHW for one channel) and `labels` (class indices), runs one step, returns the loss. */
  readonly step: (x: Float32Array, labels: Int32Array) => Promise<number>;
  readonly dispose: () => void;
}

const seeded = (n: number, seed: number, scale: number): Float32Array => {
  // A small LCG: the values only need to be finite, varied and small enough for a stable step.
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 4294967296 - 0.5) * 2 * scale;
  }
  return a;
};

/** tfjs-core's own gradient functions, registered once per process (see the module comment). */
let gradients: Promise<void> | undefined;

/**
 * Registers every gradient of tfjs-core (what `@tensorflow/tfjs` does at import). Idempotent.
 *
 * @example
 * await registerTfjsGradients(); // then tf.variableGrads / optimizer.minimize work
 */
export const registerTfjsGradients = (): Promise<void> =>
  (gradients ??= (async () => {
    const hook = `
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
export async function resolve(specifier, context, next) {
  const parent = context.parentURL ?? '';
  if (parent.includes('/@tensorflow/tfjs-core/dist/') && specifier.startsWith('.') && !specifier.endsWith('.js')) {
    for (const candidate of [specifier + '.js', specifier + '/index.js']) {
      const url = new URL(candidate, parent);
      if (existsSync(fileURLToPath(url))) return { url: url.href, format: 'module', shortCircuit: true };
    }
  }
  return next(specifier, context);
}`;
    register(`data:text/javascript,${encodeURIComponent(hook)}`, import.meta.url);
    await import('@tensorflow/tfjs-core/dist/register_all_gradients.js' as string);
  })());

/**
 * Builds the CNN's variables on the tfjs backend (PyTorch-like uniform(±1/√fan_in) init) and returns its step.
 *
 * @example
 * await registerTfjsGradients();
 * const t = tfjsCnnTrainer(tfjs, 64, 'im2col');
 * const loss = await t.step(images, labels); // one forward + backward + momentum update, loss read back
 * t.dispose();
 */
export const tfjsCnnTrainer = (tfjs: Tfjs, batch: number, conv: TfjsConv): TfjsCnnTrainer => {
  const { tf } = tfjs;
  const v = (shape: number[], seed: number, fanIn: number): Variable =>
    tf.variable(tf.tensor(seeded(shape.reduce((p, d) => p * d, 1), seed, 1 / Math.sqrt(fanIn)), shape));
  // conv filters: [kh, kw, cin, cout] for tf.conv2d; the same values read as [kh·kw·cin, cout] by the im2col matmul,
  // whose patch columns are concatenated in (kh, kw, cin) order.
  const w = {
    conv1: v(conv === 'conv2d' ? [3, 3, 1, 32] : [9, 32], 1, 9),
    b1: v([32], 2, 9),
    conv2: v(conv === 'conv2d' ? [3, 3, 32, 64] : [288, 64], 3, 288),
    b2: v([64], 4, 288),
    fc1: v([9216, 128], 5, 9216),
    bf1: v([128], 6, 9216),
    fc2: v([128, 10], 7, 128),
    bf2: v([10], 8, 128),
  };
  const vars = Object.values(w);
  const optimizer = tf.train.momentum(0.01, 0.9);

  /** 3×3 valid convolution + bias + relu, NHWC. */
  const conv3x3 = (x: Tensor, filter: Variable, bias: Variable): Tensor => {
    if (conv === 'conv2d') return tf.fused.conv2d({ x: x as never, filter: filter as never, strides: 1, pad: 'valid', bias, activation: 'relu' });
    const [b, h, wd, c] = x.shape as [number, number, number, number];
    const [oh, ow] = [h - 2, wd - 2];
    const taps: Tensor[] = [];
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) taps.push(tf.slice(x, [0, i, j, 0], [b, oh, ow, c]));
    const cols = tf.reshape(tf.concat(taps, 3), [b * oh * ow, 9 * c]);
    const y = tf.fused.matMul({ a: cols as never, b: filter as never, bias, activation: 'relu' });
    return tf.reshape(y, [b, oh, ow, -1]);
  };

  const lossOf = (x: Tensor, onehot: Tensor): Tensor => {
    const c1 = conv3x3(x, w.conv1, w.b1);
    const c2 = conv3x3(c1, w.conv2, w.b2);
    const pooled = tf.maxPool(c2 as never, 2, 2, 'valid');
    const d1 = tf.dropout(pooled, 0.25);
    const flat = tf.reshape(d1, [batch, 9216]);
    const h = tf.fused.matMul({ a: flat as never, b: w.fc1 as never, bias: w.bf1, activation: 'relu' });
    const d2 = tf.dropout(h, 0.5);
    const logits = tf.fused.matMul({ a: d2 as never, b: w.fc2 as never, bias: w.bf2 });
    return tf.losses.softmaxCrossEntropy(onehot, logits);
  };

  return {
    step: async (xData, labels) => {
      const x = tf.tensor4d(xData, [batch, 28, 28, 1]);
      const onehot = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), 10));
      const cost = optimizer.minimize(() => lossOf(x, onehot) as never, true, vars);
      x.dispose();
      onehot.dispose();
      if (cost === null) throw new Error('tfjs: minimize returned no cost');
      const loss = (await cost.data())[0]!;
      cost.dispose();
      return loss;
    },
    dispose: () => {
      optimizer.dispose();
      vars.forEach((t) => t.dispose());
    },
  };
};
