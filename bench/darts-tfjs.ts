/**
 * Bench helper: the DARTS supernet of examples/darts.ts in tfjs-core ops on tfjs-backend-webgpu, on our Dawn
 * device — tfjs has no supernet, so bench/darts-net.ts's walk is run with a tfjs backend (NHWC, tfjs's native
 * layout). Its variables are created from that walk's parameter list, which a test matches path for path with
 * our IR's, so both sides hold the same weights (values differ: seeded uniform ±1/√fan_in; the work does not).
 *
 * - Inference (`tfjsDartsInference`): mixed (every candidate, Σ wᵢ·opᵢ per edge and Σ wⱼ·edgeⱼ per node with
 *   uniform weights, as our mixed Program with `uniformWeights`) or sampled (one architecture's ops only);
 *   BatchNorm in inference form (running statistics). Each run uploads its images and reads the logits back.
 * - Training (`tfjsDartsTrainer`): the mixed supernet, BatchNorm on batch statistics (`normalizeTrain`) with the
 *   running statistics updated as PyTorch does (momentum 0.1, unbiased variance), softmax cross-entropy,
 *   `tf.variableGrads` over the weights AND the per-key choice weights (∂L/∂w, as our step yields), then
 *   `tf.train.momentum(0.01, 0.9)` applied to the weights only. Each step uploads images and labels and reads
 *   the loss back.
 *
 * Where tfjs cannot run an op as written, an exact rewrite with the same multiply-adds:
 * - a depthwise conv with stride 2 and dilation 2 (dil_conv on a reduction edge; tfjs wants one of them to be 1):
 *   it reads only the even rows/columns, so it is an undilated stride-1 conv (padding halved) of the map's
 *   even-indexed pixels, picked by reshape + slice;
 * - a dilated depthwise conv while training (tfjs has no gradient for dilation > 1): spaceToBatchND → undilated
 *   conv → batchToSpaceND, TensorFlow's own atrous-convolution rewrite (forward-only inference uses tfjs's
 *   dilated kernel directly);
 * - FactorizedReduce's shifted branch is a slice (`x[:, 1:, 1:]`) and a stride-2 1×1 conv, as in PyTorch.
 */
import { type DartsBackend, type DartsNetOptions, type NetParam, type Selection, dartsForward, dartsNetSpec } from './darts-net.ts';
type Tf = typeof import('@tensorflow/tfjs-core');
type Tensor = ReturnType<Tf['tensor']>;
type Variable = ReturnType<Tf['variable']>;

/** BatchNorm's ε (PyTorch's default). */
const BN_EPS = 1e-5;
/** PyTorch's BatchNorm momentum: running = 0.9·running + 0.1·batch. */
const BN_MOMENTUM = 0.1;

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

/** tfjs's layout of a parameter given in PyTorch's: filters [k, k, in, out] (depthwise [k, k, C, 1]), matrices [in, out]. */
export const tfjsShape = (p: NetParam): readonly number[] => {
  const [a = 0, b = 0, c = 0, d = 0] = p.shape;
  switch (p.role) {
    case 'conv':
      return [c, d, b, a];
    case 'depthwise':
      return [c, d, a, 1];
    case 'linear':
      return [b, a];
    case 'bias':
    case 'bnWeight':
    case 'bnBias':
    case 'runningMean':
    case 'runningVar':
      return p.shape;
    default: {
      const never: never = p.role;
      throw new Error(`unknown parameter role ${String(never)}`);
    }
  }
};

/** The permutation from PyTorch's layout to tfjs's (see `tfjsShape`), or undefined when they agree. */
const toTfjs = (p: NetParam): number[] | undefined =>
  p.role === 'conv' ? [2, 3, 1, 0] : p.role === 'depthwise' ? [2, 3, 0, 1] : p.role === 'linear' ? [1, 0] : undefined;

/**
 * Initial values: `given` (PyTorch layout, e.g. our ParamStore) transposed to tfjs's layout when it has the path;
 * else uniform ±1/√fan_in for filters and matrices (PyTorch-like), BN weight/var ones, biases/mean zeros.
 */
const initial = (tf: Tf, p: NetParam, seed: number, given: ReadonlyMap<string, Float32Array> | undefined): Tensor => {
  const shape = [...tfjsShape(p)];
  const n = shape.reduce((x, y) => x * y, 1);
  const value = given?.get(p.path);
  if (value !== undefined) {
    if (value.length !== n) throw new Error(`darts-tfjs: ${p.path} has ${value.length} values, its shape [${p.shape}] needs ${n}`);
    const perm = toTfjs(p);
    return tf.tidy(() => (perm === undefined ? tf.tensor(value, shape) : tf.transpose(tf.tensor(value, [...p.shape]), perm)));
  }
  switch (p.role) {
    case 'conv':
    case 'depthwise':
    case 'linear': {
      const fanIn = p.shape.slice(1).reduce((x, y) => x * y, 1);
      return tf.tensor(seeded(n, seed, 1 / Math.sqrt(fanIn)), shape);
    }
    case 'bnWeight':
    case 'runningVar':
      return tf.ones(shape);
    case 'bias':
    case 'bnBias':
    case 'runningMean':
      return tf.zeros(shape);
    default: {
      const never: never = p.role;
      throw new Error(`unknown parameter role ${String(never)}`);
    }
  }
};

/** Batch statistics met by a training forward pass, for the running-statistics update. */
interface BatchStat {
  readonly path: string;
  readonly mean: Tensor;
  readonly variance: Tensor;
  /** Values per channel (B·H·W), for the unbiased variance. */
  readonly count: number;
}

interface BackendContext {
  readonly tf: Tf;
  readonly param: (path: string) => Tensor;
  /** The scalar weight of candidate `i` of `key`. */
  readonly weight: (key: string, i: number) => Tensor;
  /** Set when training: BatchNorm uses batch statistics and reports them here (kept alive past the tape). */
  readonly onBatchStats?: (s: BatchStat) => void;
  /** Training: BatchNorm's ε as a tensor created once (a number would be uploaded anew at every use). */
  readonly eps?: Tensor;
}

/**
 * Training-mode BatchNorm's normalisation, x̂ = (x − mean)/√(var + ε) over N, H, W (biased variance, as PyTorch
 * normalises), with a hand-written gradient: dx = rstd·(dy − mean(dy) − x̂·mean(dy·x̂)). tfjs's automatic one (through
 * tf.moments and tf.batchNorm) takes about 25 dispatches per BatchNorm, this one 9; on lavapipe the 8-cell step
 * needs the difference (see `tfjsDartsTrainer`). Returns x̂ and the batch statistics, kept for the caller to
 * dispose (the running-statistics update reads them after the step).
 *
 * @example
 * const { y, mean, variance } = normalizeTrain(tf, x, tf.scalar(1e-5)); // x: [B, H, W, C]
 */
export const normalizeTrain = (tf: Tf, x: Tensor, eps: Tensor): { readonly y: Tensor; readonly mean: Tensor; readonly variance: Tensor } => {
  let stats: { readonly mean: Tensor; readonly variance: Tensor } | undefined;
  const axes = [0, 1, 2];
  const op = tf.customGrad(((input: Tensor, save: (ts: Tensor[]) => void) => {
    const mean = tf.mean(input, axes);
    const centred = tf.sub(input, mean);
    const variance = tf.mean(tf.square(centred), axes);
    const rstd = tf.rsqrt(tf.add(variance, eps));
    const xhat = tf.mul(centred, rstd);
    save([xhat, rstd]);
    stats = { mean: tf.keep(mean), variance: tf.keep(variance) };
    return {
      value: xhat,
      gradFunc: (dy: Tensor, [xh, r]: Tensor[]) => tf.mul(tf.sub(tf.sub(dy, tf.mean(dy, axes)), tf.mul(xh!, tf.mean(tf.mul(dy, xh!), axes))), r!),
    };
  }) as never);
  const y = op(x) as Tensor;
  return { y, mean: stats!.mean, variance: stats!.variance };
};

/** `x[:, ::2, ::2, :]` by reshape + slice (rank ≤ 4 throughout; an odd size is padded by one zero first). */
const evenPixels = (tf: Tf, x: Tensor): Tensor => {
  const [b = 0, h = 0, w = 0, c = 0] = x.shape;
  const [he, we] = [Math.ceil(h / 2), Math.ceil(w / 2)];
  const xp = h % 2 === 1 || w % 2 === 1 ? tf.pad(x, [[0, 0], [0, h % 2], [0, w % 2], [0, 0]]) : x;
  const rows = tf.slice(tf.reshape(xp, [b, he, 2, we * 2 * c]), [0, 0, 0, 0], [b, he, 1, we * 2 * c]);
  const cols = tf.slice(tf.reshape(rows, [b * he, we, 2, c]), [0, 0, 0, 0], [b * he, we, 1, c]);
  return tf.reshape(cols, [b, he, we, c]);
};

/** The tfjs backend of the DARTS walk. */
const tfjsBackend = (ctx: BackendContext): DartsBackend<Tensor> => {
  const { tf, param } = ctx;
  const training = ctx.onBatchStats !== undefined;
  const depthwise = (x: Tensor, f: Tensor, stride: number, pad: number, dilation: number): Tensor =>
    tf.depthwiseConv2d(x as never, f as never, stride, pad, 'NHWC', dilation) as Tensor;
  /** Stride-1 dilated depthwise conv as spaceToBatchND → conv → batchToSpaceND (exact; see the module comment). */
  const atrous = (x: Tensor, f: Tensor, kernel: number, pad: number, d: number): Tensor => {
    const [, h = 0, w = 0] = x.shape;
    const out = (n: number): number => n + 2 * pad - d * (kernel - 1);
    const extra = (n: number): number => (d - ((n + 2 * pad) % d)) % d;
    const [eh, ew] = [extra(h), extra(w)];
    const blocks = tf.spaceToBatchND(x, [d, d], [[pad, pad + eh], [pad, pad + ew]]);
    const y = depthwise(blocks, f, 1, 0, 1);
    const crop = (n: number, e: number): number => d * ((n + 2 * pad + e) / d - kernel + 1) - out(n);
    return tf.batchToSpaceND(y, [d, d], [[0, crop(h, eh)], [0, crop(w, ew)]]);
  };
  return {
    conv: (x, path, s) => {
      const f = param(`${path}/weight`);
      if (!s.depthwise) {
        if (s.dilation !== 1) throw new Error(`darts-tfjs: ${path}: dilated dense conv not needed by DARTS`);
        return tf.conv2d(x as never, f as never, s.stride, s.padding) as Tensor;
      }
      if (s.dilation === 1) return depthwise(x, f, s.stride, s.padding, 1);
      if (s.stride === s.dilation && s.padding % s.dilation === 0 && s.stride === 2) return depthwise(evenPixels(tf, x), f, 1, s.padding / s.dilation, 1);
      if (s.stride !== 1) throw new Error(`darts-tfjs: ${path}: stride ${s.stride} with dilation ${s.dilation}`);
      return training ? atrous(x, f, s.kernel, s.padding, s.dilation) : depthwise(x, f, 1, s.padding, s.dilation);
    },
    batchNorm: (x, path, affine) => {
      const scale = affine ? param(`${path}/weight`) : undefined;
      const offset = affine ? param(`${path}/bias`) : undefined;
      if (ctx.onBatchStats === undefined) {
        return tf.batchNorm(x, param(`${path}/running_mean`), param(`${path}/running_var`), offset, scale, BN_EPS);
      }
      const { y, mean, variance } = normalizeTrain(tf, x, ctx.eps ?? tf.scalar(BN_EPS));
      const [b = 0, h = 0, w = 0] = x.shape;
      ctx.onBatchStats({ path, mean, variance, count: b * h * w });
      return scale === undefined || offset === undefined ? y : tf.add(tf.mul(y, scale), offset);
    },
    relu: (x) => tf.relu(x),
    pool: (x, kind, stride) => (kind === 'max' ? tf.maxPool(x as never, 3, stride, 1) : tf.avgPool(x as never, 3, stride, 1)) as Tensor,
    shift: (x) => tf.slice(x, [0, 1, 1, 0], [-1, -1, -1, -1]),
    concat: (xs) => tf.concat(xs as Tensor[], 3),
    weightedSum: (xs, t) => {
      const terms = xs.map((x, i) => tf.mul(x, ctx.weight(t.key, t.indices[i]!)));
      return terms.length === 1 ? terms[0]! : tf.addN(terms);
    },
    sum: (xs) => (xs.length === 1 ? xs[0]! : tf.addN(xs as Tensor[])),
    zeros: (x, stride) => {
      const [b = 0, h = 0, w = 0, c = 0] = x.shape;
      return tf.zeros([b, Math.ceil(h / stride), Math.ceil(w / stride), c]);
    },
    classifier: (x, path) => tf.fused.matMul({ a: tf.mean(x, [1, 2]) as never, b: param(`${path}/weight`) as never, bias: param(`${path}/bias`) }),
    channels: (x) => x.shape[3] ?? 0,
  };
};

/** Images in our NCHW layout to a tfjs NHWC tensor. */
const imagesTensor = (tf: Tf, x: Float32Array, batch: number, o: DartsNetOptions): Tensor => {
  const [c, h, w] = o.input;
  return c === 1 ? tf.tensor4d(x, [batch, h, w, 1]) : tf.transpose(tf.tensor4d(x, [batch, c, h, w]), [0, 2, 3, 1]);
};

/** Trainable scalars of a parameter list (what `paramCount` counts on our side). */
const trainableCount = (ps: readonly NetParam[]): number => ps.filter((p) => p.trainable).reduce((s, p) => s + p.shape.reduce((a, d) => a * d, 1), 0);

/** A forward-only DARTS supernet on tfjs, and its weights to dispose. */
export interface TfjsDartsInference {
  /** Trainable scalars of the tfjs network (to print beside our `paramCount`). */
  readonly paramCount: number;
  /** Uploads `x` (batch images, NCHW), runs the network under `sel` and reads the [batch, classes] logits back. */
  readonly run: (x: Float32Array, sel: Selection) => Promise<Float32Array>;
  readonly dispose: () => void;
}

/** Options of the tfjs networks. */
export interface TfjsDartsOptions {
  /** Starting values by parameter path in PyTorch's layout (e.g. our ParamStore); the others are drawn. */
  readonly init?: ReadonlyMap<string, Float32Array>;
}

/**
 * The DARTS supernet `o` for inference on tfjs at `batch` (on tfjs's current backend); mixed runs use uniform
 * weights per key.
 *
 * @example
 * const net = tfjsDartsInference(tfjs.tf, dartsNetOptions({ cells: 5, channels: 8 }), 64);
 * const logits = await net.run(images, { kind: 'sampled', arch }); // only the chosen ops run
 * net.dispose();
 */
export const tfjsDartsInference = (tf: Tf, o: DartsNetOptions, batch: number, opts: TfjsDartsOptions = {}): TfjsDartsInference => {
  const spec = dartsNetSpec(o);
  const params = new Map(spec.params.map((p, i) => [p.path, initial(tf, p, i + 1, opts.init)]));
  const uniform = new Map([...spec.keys].map(([key, n]) => [key, Array.from({ length: n }, () => tf.scalar(1 / n))]));
  const backend = tfjsBackend({
    tf,
    param: (path) => params.get(path) ?? missing(path),
    weight: (key, i) => uniform.get(key)?.[i] ?? missing(`${key}[${i}]`),
  });
  return {
    paramCount: trainableCount(spec.params),
    run: async (x, sel) => {
      const y = tf.tidy(() => dartsForward(backend, o, sel, imagesTensor(tf, x, batch, o)));
      const out = (await y.data()) as Float32Array;
      y.dispose();
      return out;
    },
    dispose: () => {
      params.forEach((t) => t.dispose());
      uniform.forEach((ts) => ts.forEach((t) => t.dispose()));
    },
  };
};

const missing = (what: string): never => {
  throw new Error(`darts-tfjs: no tensor for ${what}`);
};

/** A tfjs training step of the mixed DARTS supernet at a fixed batch size. */
export interface TfjsDartsTrainer {
  readonly paramCount: number;
  /** Uploads `x` (NCHW) and `labels` (class indices), runs one step, returns the loss. */
  readonly step: (x: Float32Array, labels: Int32Array) => Promise<number>;
  /** The BatchNorm running statistics by path (`…/running_mean`, `…/running_var`), read back. */
  readonly runningStats: () => Promise<ReadonlyMap<string, Float32Array>>;
  readonly dispose: () => void;
}

/**
 * The mixed DARTS supernet `o` trained on tfjs at `batch` (see the module comment). Needs tfjs-core's gradients
 * registered (`registerTfjsGradients` of bench/training-tfjs.ts).
 *
 * Dispatch count matters on lavapipe beyond time: every tfjs dispatch creates a bind group, i.e. a descriptor set
 * that lavapipe backs with a memory mapping of its own, freed only after the step (when the JS objects are
 * collected), and a process may hold 65,530 mappings (vm.max_map_count); past that Dawn crashes in createBuffer.
 * Hence BatchNorm's hand-written gradient (`normalizeTrain`), and the running statistics of all BatchNorms in two
 * flat variables updated by a handful of ops after the step (batch statistics concatenated) rather than by six
 * small ops per BatchNorm: 34,000 → 23,000 bind groups per 5-cell step (measured at batch 8). Not enough for the
 * bench's 8-cell step at batch 64: a standalone run passed 48,000 mappings before its first step ended, and the
 * bench run, whose process also held ours' objects, crashed in it; bench/training.ts skips it where the limit is
 * the default.
 *
 * @example
 * await registerTfjsGradients();
 * const t = tfjsDartsTrainer(tfjs.tf, dartsNetOptions({ cells: 8, channels: 16 }), 64);
 * const loss = await t.step(images, labels);
 * t.dispose();
 */
export const tfjsDartsTrainer = (tf: Tf, o: DartsNetOptions, batch: number, opts: TfjsDartsOptions = {}): TfjsDartsTrainer => {
  const spec = dartsNetSpec(o);
  const variable = (t: Tensor, trainable: boolean): Variable => {
    const v = tf.variable(t, trainable);
    t.dispose(); // the variable holds its own reference to the data
    return v;
  };
  const params = new Map(spec.params.flatMap((p, i) => (p.trainable ? [[p.path, variable(initial(tf, p, i + 1, opts.init), true)] as const] : [])));
  const weights = new Map([...spec.keys].map(([key, n]) => [key, variable(tf.fill([n], 1 / n), true)]));
  const trainable = [...params.values()];
  const optimizer = tf.train.momentum(0.01, 0.9);

  // Running statistics: every BatchNorm's channels at an offset of two flat variables, in walk order.
  const bns = spec.params.filter((p) => p.role === 'runningMean').map((p) => ({ path: p.path.slice(0, -'/running_mean'.length), c: p.shape[0] ?? 0 }));
  const flat = (suffix: string, fill: number): Variable =>
    variable(tf.tensor(Float32Array.from(bns.flatMap((b) => Array.from(opts.init?.get(`${b.path}/${suffix}`) ?? new Float32Array(b.c).fill(fill))))), false);
  const runMean = flat('running_mean', 0);
  const runVar = flat('running_var', 1);
  const keep = new Map<string, Tensor>();
  /** A constant created once and kept until dispose. */
  const constant = (name: string, make: () => Tensor): Tensor => {
    let t = keep.get(name);
    if (t === undefined) {
      t = tf.keep(make());
      keep.set(name, t);
    }
    return t;
  };

  return {
    paramCount: trainableCount(spec.params),
    step: async (xData, labels) => {
      const x = imagesTensor(tf, xData, batch, o);
      const onehot = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), o.classes));
      const stats = new Map<string, BatchStat>();
      const { value, grads } = tf.variableGrads(() => {
        // Each key's weights split once per forward pass and shared by every site of the key.
        const split = new Map<string, Tensor[]>();
        const backend = tfjsBackend({
          tf,
          param: (path) => params.get(path) ?? missing(path),
          weight: (key, i) => {
            let s = split.get(key);
            if (s === undefined) {
              s = tf.unstack(weights.get(key) ?? missing(key));
              split.set(key, s);
            }
            return s[i] ?? missing(`${key}[${i}]`);
          },
          onBatchStats: (s) => stats.set(s.path, s),
          eps: constant('eps', () => tf.scalar(BN_EPS)),
        });
        return tf.losses.softmaxCrossEntropy(onehot, dartsForward(backend, o, { kind: 'mixed' }, x)) as never;
      }, [...trainable, ...weights.values()] as Variable[]);
      optimizer.applyGradients(trainable.map((v) => ({ name: v.name, tensor: grads[v.name]! })));
      const met = bns.map((b) => stats.get(b.path) ?? missing(`the batch statistics of ${b.path}`));
      // PyTorch's update with the unbiased variance: each channel's factor count/(count − 1), fixed per batch size.
      const unbias = constant('unbias', () => tf.tensor(Float32Array.from(bns.flatMap((b, i) => new Array<number>(b.c).fill(met[i]!.count / Math.max(1, met[i]!.count - 1))))));
      const [keepOld, takeNew] = [constant('1-momentum', () => tf.scalar(1 - BN_MOMENTUM)), constant('momentum', () => tf.scalar(BN_MOMENTUM))];
      tf.tidy(() => {
        const mean = tf.concat(met.map((s) => s.mean), 0);
        const variance = tf.mul(tf.concat(met.map((s) => s.variance), 0), unbias);
        runMean.assign(tf.add(tf.mul(runMean, keepOld), tf.mul(mean, takeNew)));
        runVar.assign(tf.add(tf.mul(runVar, keepOld), tf.mul(variance, takeNew)));
      });
      for (const s of met) tf.dispose([s.mean, s.variance]);
      tf.dispose(Object.values(grads));
      x.dispose();
      onehot.dispose();
      const loss = (await value.data())[0]!;
      value.dispose();
      return loss;
    },
    runningStats: async () => {
      const [m, v] = [(await runMean.data()) as Float32Array, (await runVar.data()) as Float32Array];
      const out = new Map<string, Float32Array>();
      let at = 0;
      for (const b of bns) {
        out.set(`${b.path}/running_mean`, m.slice(at, at + b.c));
        out.set(`${b.path}/running_var`, v.slice(at, at + b.c));
        at += b.c;
      }
      return out;
    },
    dispose: () => {
      optimizer.dispose();
      params.forEach((v) => v.dispose());
      weights.forEach((v) => v.dispose());
      [runMean, runVar].forEach((v) => v.dispose());
      keep.forEach((t) => t.dispose());
    },
  };
};
