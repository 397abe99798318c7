/**
 * The DARTS network of examples/darts.ts written out by hand, for the tfjs side of the bench (tfjs has no
 * supernet): one walk over stem, cells, nodes, edges and the eight candidate ops, generic over a backend
 * (`DartsBackend<T>`) that supplies the primitive ops. Two backends use it:
 * - `shapeBackend` (here, pure): per-sample shapes with PyTorch's formulas, and every parameter it meets by the
 *   same path and PyTorch shape as our IR gives it — a test compares that list with `params(buildModel(…))`, so
 *   the tfjs network provably holds the same weights as ours;
 * - the tfjs backend (bench/darts-tfjs.ts), which creates its variables from that list and runs the ops.
 *
 * The walk follows darts.ts and darts-ops.ts: stem conv 3×3 + BN (affine); cells taking the two previous
 * outputs, preprocessed by ReLU-conv1×1-BN (or FactorizedReduce after a reduction cell); node `n{d}` with one
 * edge per predecessor, each edge a choice over the 8 ops (key `{normal|reduce}_n{d}_p{j}`) and the node an
 * input choice summing 2 edges (key `…_n{d}_switch`); cell output = the nodes concatenated; GAP + linear.
 * `selection` says what is computed: `mixed` — every candidate of every edge, Σ wᵢ·opᵢ per edge and Σ wⱼ·edgeⱼ
 * per node with the backend's weights per key (what mixGraph / mixed lowering compute); `sampled` — only the
 * two chosen edges of each node, each running only its chosen op, summed (what a sampled run records).
 *
 * Written as a competent hand-writer would: the ReLU that starts every sep/dil conv and FactorizedReduce on an
 * edge is computed once per cell state and shared by the edges leaving it (the same values), and the "none"
 * candidate is left out of the mixed sum (it adds w·0) — both give tfjs a little less work than the literal graph.
 */
import type { Architecture } from '../src/ir/apply.ts';
import { reductionCells } from '../examples/darts.ts';
import { DARTS_OPS, type DartsOp } from '../examples/darts-ops.ts';

/** The options of examples/darts.ts's `dartsSpace`, all given. */
export interface DartsNetOptions {
  readonly cells: number;
  readonly nodes: number;
  readonly channels: number;
  readonly input: readonly [number, number, number];
  readonly classes: number;
  readonly stemMultiplier: number;
}

/** `dartsSpace`'s defaults for the options not given. */
export const dartsNetOptions = (o: Partial<DartsNetOptions>): DartsNetOptions => ({
  cells: o.cells ?? 8,
  nodes: o.nodes ?? 4,
  channels: o.channels ?? 16,
  input: o.input ?? [1, 28, 28],
  classes: o.classes ?? 10,
  stemMultiplier: o.stemMultiplier ?? 3,
});

/** What the walk computes: every candidate weighted (mixed) or one architecture's ops only (sampled). */
export type Selection = { readonly kind: 'mixed' } | { readonly kind: 'sampled'; readonly arch: Architecture };

/** A convolution without bias, PyTorch's conventions (symmetric zero padding). Depthwise: groups = channels. */
export interface ConvSpec {
  readonly out: number;
  readonly kernel: number;
  readonly stride: number;
  readonly padding: number;
  readonly dilation: number;
  readonly depthwise: boolean;
}

/** A weighted sum's terms: `xs[i]` is weighted by candidate `indices[i]` of `key`'s `n` weights. */
export interface WeightedTerms {
  readonly key: string;
  readonly n: number;
  readonly indices: readonly number[];
}

/** The primitive ops of the DARTS network. `T` is whatever the backend computes with (a shape, a tensor). */
export interface DartsBackend<T> {
  /** Convolution with the weight at `${path}/weight`, PyTorch shape [out, in/groups, k, k]. */
  readonly conv: (x: T, path: string, s: ConvSpec) => T;
  /** BatchNorm2d with running statistics at `${path}/running_mean|running_var`, and weight/bias when affine. */
  readonly batchNorm: (x: T, path: string, affine: boolean) => T;
  readonly relu: (x: T) => T;
  /** 3×3 pooling, padding 1 (average: padding not counted), `stride` 1 or 2. */
  readonly pool: (x: T, kind: 'max' | 'avg', stride: number) => T;
  /** `x[:, :, 1:, 1:]`: FactorizedReduce's second branch. */
  readonly shift: (x: T) => T;
  /** Concatenation on the channel axis. */
  readonly concat: (xs: readonly T[]) => T;
  /** Σ wᵢ·xsᵢ with the run's weights of `t.key`. */
  readonly weightedSum: (xs: readonly T[], t: WeightedTerms) => T;
  /** Σ xs (one term: itself). */
  readonly sum: (xs: readonly T[]) => T;
  /** The "none" op: zeros of `x`'s shape, the map subsampled by `stride`. */
  readonly zeros: (x: T, stride: number) => T;
  /** Global average pool, then linear with `${path}/weight` [classes, C] and `${path}/bias`. */
  readonly classifier: (x: T, path: string, classes: number) => T;
  /** The channel count of `x` (depthwise convs and FactorizedReduce need it). */
  readonly channels: (x: T) => number;
}

/** What the walk needs beyond the backend: the options and the selection. */
interface Walk<T> {
  readonly b: DartsBackend<T>;
  readonly o: DartsNetOptions;
  readonly sel: Selection;
}

const bnPlain = <T>(b: DartsBackend<T>, x: T, path: string): T => b.batchNorm(x, path, false);

/** FactorizedReduce (darts-ops.ts): two stride-2 1×1 convs, on x and on x shifted by a pixel, concatenated, BN. `h` is x after the optional ReLU. */
const factorizedReduce = <T>(b: DartsBackend<T>, h: T, path: string, out: number): T => {
  const conv = { out: out / 2, kernel: 1, stride: 2, padding: 0, dilation: 1, depthwise: false };
  const y1 = b.conv(h, `${path}/conv1`, conv);
  const y2 = b.conv(b.shift(h), `${path}/conv2`, conv);
  return bnPlain(b, b.concat([y1, y2]), `${path}/bn`);
};

/** ReLU → conv → BN (StdConv), the preprocessing of a cell input. */
const stdConv = <T>(b: DartsBackend<T>, x: T, path: string, out: number): T =>
  bnPlain(b, b.conv(b.relu(x), `${path}/conv`, { out, kernel: 1, stride: 1, padding: 0, dilation: 1, depthwise: false }), `${path}/bn`);

/** DilConv without its leading ReLU (`h` is already rectified): depthwise (dilated) conv → pointwise → BN. */
const dilConv = <T>(b: DartsBackend<T>, h: T, path: string, kernel: number, stride: number, padding: number, dilation: number): T => {
  const c = b.channels(h);
  const dw = b.conv(h, `${path}/dw`, { out: c, kernel, stride, padding, dilation, depthwise: true });
  const pw = b.conv(dw, `${path}/pw`, { out: c, kernel: 1, stride: 1, padding: 0, dilation: 1, depthwise: false });
  return bnPlain(b, pw, `${path}/bn`);
};

/**
 * One candidate op on an edge. `x` is the edge's input, `h` its ReLU (shared, see the module comment). Returns
 * undefined for "none" (the caller decides whether zeros are needed).
 */
const candidate = <T>(b: DartsBackend<T>, op: DartsOp, x: T, h: () => T, path: string, stride: number): T | undefined => {
  const p = `${path}/${op}`;
  switch (op) {
    case 'max_pool_3x3':
      return bnPlain(b, b.pool(x, 'max', stride), `${p}/bn`);
    case 'avg_pool_3x3':
      return bnPlain(b, b.pool(x, 'avg', stride), `${p}/bn`);
    case 'skip_connect':
      return stride === 1 ? x : factorizedReduce(b, h(), p, b.channels(x));
    case 'sep_conv_3x3':
      return dilConv(b, b.relu(dilConv(b, h(), `${p}/a`, 3, stride, 1, 1)), `${p}/b`, 3, 1, 1, 1);
    case 'sep_conv_5x5':
      return dilConv(b, b.relu(dilConv(b, h(), `${p}/a`, 5, stride, 2, 1)), `${p}/b`, 5, 1, 2, 1);
    case 'dil_conv_3x3':
      return dilConv(b, h(), p, 3, stride, 2, 2);
    case 'dil_conv_5x5':
      return dilConv(b, h(), p, 5, stride, 4, 2);
    case 'none':
      return undefined;
    default: {
      const never: never = op;
      throw new Error(`unknown DARTS op ${String(never)}`);
    }
  }
};

/** The chosen indices of `key` in a sampled selection (an error naming the key when the architecture lacks it). */
const chosen = (sel: Selection & { kind: 'sampled' }, key: string): readonly number[] => {
  const v = sel.arch[key];
  if (v === undefined) throw new Error(`darts-net: the architecture has no value for '${key}'`);
  return v;
};

/** One edge: the mixed sum of its candidates, or its chosen op (zeros for "none"). */
const edge = <T>(w: Walk<T>, x: T, h: () => T, path: string, key: string, stride: number): T => {
  const { b, sel } = w;
  if (sel.kind === 'sampled') {
    const i = chosen(sel, key)[0];
    const op = i === undefined ? undefined : DARTS_OPS[i];
    if (op === undefined) throw new Error(`darts-net: '${key}' chooses ${i}, not one of the ${DARTS_OPS.length} ops`);
    return candidate(b, op, x, h, path, stride) ?? b.zeros(x, stride);
  }
  const terms: T[] = [];
  const indices: number[] = [];
  DARTS_OPS.forEach((op, i) => {
    const y = candidate(b, op, x, h, path, stride);
    if (y !== undefined) {
      terms.push(y);
      indices.push(i);
    }
  });
  return b.weightedSum(terms, { key, n: DARTS_OPS.length, indices });
};

/** One cell (darts.ts's `cell`) over the two previous outputs. */
const cell = <T>(w: Walk<T>, i: number, s0: T, s1: T, channels: number, reduction: boolean, reductionPrev: boolean): T => {
  const { b, o, sel } = w;
  const type = reduction ? 'reduce' : 'normal';
  const path = `cell${i}`;
  const pre0 = reductionPrev ? factorizedReduce(b, b.relu(s0), `${path}/preproc0`, channels) : stdConv(b, s0, `${path}/preproc0`, channels);
  const states: T[] = [pre0, stdConv(b, s1, `${path}/preproc1`, channels)];
  const relus = new Map<number, T>();
  const reluOf = (j: number): T => {
    let r = relus.get(j);
    if (r === undefined) {
      r = b.relu(states[j]!);
      relus.set(j, r);
    }
    return r;
  };
  for (let d = 2; d < o.nodes + 2; d++) {
    const id = `${type}_n${d}`;
    const edgeOf = (j: number): T => {
      const stride = reduction && j < 2 ? 2 : 1;
      return edge(w, states[j]!, () => reluOf(j), `${path}/n${d}/p${j}`, `${id}_p${j}`, stride);
    };
    if (sel.kind === 'sampled') {
      states.push(b.sum(chosen(sel, `${id}_switch`).map(edgeOf)));
    } else {
      const js = Array.from({ length: d }, (_, j) => j);
      states.push(b.weightedSum(js.map(edgeOf), { key: `${id}_switch`, n: d, indices: js }));
    }
  }
  return b.concat(states.slice(2));
};

/**
 * The DARTS network's forward pass on `backend`: stem, cells, classifier, as `dartsSpace(o)` builds it.
 *
 * @example
 * const shapes = shapeBackend();
 * dartsForward(shapes, dartsNetOptions({ cells: 5, channels: 8 }), { kind: 'mixed' }, shapes.input(o)); // { c: 10, h: 1, w: 1 }
 */
export const dartsForward = <T>(backend: DartsBackend<T>, o: DartsNetOptions, sel: Selection, x: T): T => {
  const w: Walk<T> = { b: backend, o, sel };
  const b = backend;
  const stemC = o.stemMultiplier * o.channels;
  const stem = b.batchNorm(b.conv(x, 'stem/conv', { out: stemC, kernel: 3, stride: 1, padding: 1, dilation: 1, depthwise: false }), 'stem/bn', true);
  const reductions = reductionCells(o.cells);
  let [s0, s1] = [stem, stem];
  let c = o.channels;
  let reductionPrev = false;
  for (let i = 0; i < o.cells; i++) {
    const reduction = reductions.includes(i);
    if (reduction) c *= 2;
    const out = cell(w, i, s0, s1, c, reduction, reductionPrev);
    [s0, s1] = [s1, out];
    reductionPrev = reduction;
  }
  return b.classifier(s1, 'classifier/linear', o.classes);
};

/** A per-sample shape, channels first. */
export interface ChwShape {
  readonly c: number;
  readonly h: number;
  readonly w: number;
}

/** A parameter met by the walk: its path, PyTorch shape, whether it is trained (running statistics are not), and its role. */
export interface NetParam {
  readonly path: string;
  readonly shape: readonly number[];
  readonly trainable: boolean;
  /** What it is, for a backend that lays it out its own way (tfjs: [k, k, in, out] filters, [in, out] matrices). */
  readonly role: 'conv' | 'depthwise' | 'linear' | 'bias' | 'bnWeight' | 'bnBias' | 'runningMean' | 'runningVar';
}

/** The shape backend, with what it recorded. */
export interface ShapeBackend extends DartsBackend<ChwShape> {
  /** Every parameter, in the order first met; a path met twice with another shape throws. */
  readonly params: () => readonly NetParam[];
  /** Every weighted key and its candidate count. */
  readonly keys: () => ReadonlyMap<string, number>;
  /** FLOPs of one sample through the convs and the linear (2 per multiply-add), as bench/training-models.ts counts. */
  readonly flops: () => number;
  readonly input: (o: DartsNetOptions) => ChwShape;
}

const outSize = (n: number, k: number, stride: number, pad: number, dil: number): number => Math.floor((n + 2 * pad - dil * (k - 1) - 1) / stride) + 1;

/**
 * A backend that computes per-sample shapes (PyTorch's formulas) and records the parameters, keys and FLOPs.
 * Shape mismatches (a sum or concat of unequal maps) throw, naming the shapes.
 *
 * @example
 * const s = shapeBackend();
 * dartsForward(s, o, { kind: 'mixed' }, s.input(o));
 * s.params().filter((p) => p.trainable).reduce((n, p) => n + p.shape.reduce((a, d) => a * d, 1), 0); // = paramCount
 */
export const shapeBackend = (): ShapeBackend => {
  const params = new Map<string, NetParam>();
  const keys = new Map<string, number>();
  let flops = 0;
  const param = (path: string, shape: readonly number[], role: NetParam['role']): void => {
    const seen = params.get(path);
    if (seen !== undefined && seen.shape.join() !== shape.join()) throw new Error(`darts-net: ${path} met as [${seen.shape}] and [${shape}]`);
    params.set(path, { path, shape, trainable: role !== 'runningMean' && role !== 'runningVar', role });
  };
  const same = (xs: readonly ChwShape[], what: string): ChwShape => {
    const first = xs[0];
    if (first === undefined) throw new Error(`darts-net: empty ${what}`);
    if (xs.some((x) => x.c !== first.c || x.h !== first.h || x.w !== first.w)) throw new Error(`darts-net: ${what} of unequal shapes ${JSON.stringify(xs)}`);
    return first;
  };
  return {
    conv: (x, path, s) => {
      const cin = s.depthwise ? 1 : x.c;
      if (s.depthwise && s.out !== x.c) throw new Error(`darts-net: depthwise ${path} maps ${x.c} channels to ${s.out}`);
      param(`${path}/weight`, [s.out, cin, s.kernel, s.kernel], s.depthwise ? 'depthwise' : 'conv');
      const y = { c: s.out, h: outSize(x.h, s.kernel, s.stride, s.padding, s.dilation), w: outSize(x.w, s.kernel, s.stride, s.padding, s.dilation) };
      flops += 2 * y.c * y.h * y.w * cin * s.kernel * s.kernel;
      return y;
    },
    batchNorm: (x, path, affine) => {
      param(`${path}/running_mean`, [x.c], 'runningMean');
      param(`${path}/running_var`, [x.c], 'runningVar');
      if (affine) {
        param(`${path}/weight`, [x.c], 'bnWeight');
        param(`${path}/bias`, [x.c], 'bnBias');
      }
      return x;
    },
    relu: (x) => x,
    pool: (x, _kind, stride) => ({ c: x.c, h: outSize(x.h, 3, stride, 1, 1), w: outSize(x.w, 3, stride, 1, 1) }),
    shift: (x) => ({ c: x.c, h: x.h - 1, w: x.w - 1 }),
    concat: (xs) => {
      const first = xs[0];
      if (first === undefined || xs.some((x) => x.h !== first.h || x.w !== first.w)) throw new Error(`darts-net: concat of unequal maps ${JSON.stringify(xs)}`);
      return { c: xs.reduce((s, x) => s + x.c, 0), h: first.h, w: first.w };
    },
    weightedSum: (xs, t) => {
      const seen = keys.get(t.key);
      if (seen !== undefined && seen !== t.n) throw new Error(`darts-net: key ${t.key} has ${seen} and ${t.n} candidates`);
      keys.set(t.key, t.n);
      return same(xs, `weighted sum of ${t.key}`);
    },
    sum: (xs) => same(xs, 'sum'),
    zeros: (x, stride) => ({ c: x.c, h: Math.ceil(x.h / stride), w: Math.ceil(x.w / stride) }),
    classifier: (x, path, classes) => {
      param(`${path}/weight`, [classes, x.c], 'linear');
      param(`${path}/bias`, [classes], 'bias');
      flops += 2 * classes * x.c;
      return { c: classes, h: 1, w: 1 };
    },
    channels: (x) => x.c,
    params: () => [...params.values()],
    keys: () => keys,
    flops: () => flops,
    input: (o) => ({ c: o.input[0], h: o.input[1], w: o.input[2] }),
  };
};

/** The parameters, keys and FLOPs of the network under `sel` (a pure dry run of `dartsForward`). */
export const dartsNetSpec = (o: DartsNetOptions, sel: Selection = { kind: 'mixed' }): { readonly params: readonly NetParam[]; readonly keys: ReadonlyMap<string, number>; readonly flops: number; readonly output: ChwShape } => {
  const s = shapeBackend();
  const output = dartsForward(s, o, sel, s.input(o));
  return { params: s.params(), keys: s.keys(), flops: s.flops(), output };
};
