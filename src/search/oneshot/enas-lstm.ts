/**
 * The ENAS controller network (NNI's `EnasMutator`): a one-layer LSTM without biases that walks the decisions of a
 * space in order and emits one decision per step, in float64 on the CPU, with an exact backward pass (BPTT over
 * the decision sequence).
 *
 * The walk, as NNI's:
 * - the LSTM starts from h = c = 0 with the input g_emb;
 * - a layer choice takes one LSTM step; its logits are f(W_soft h) (+ the fixed branch bias on keys containing
 *   "reduce": +b for candidates whose name contains "conv", −b otherwise), and the next input is the chosen
 *   candidate's embedding row;
 * - an input choice takes no step of its own: each candidate's anchor is the hidden state where the scope of that
 *   name was last exited (NNI keeps the first exit; the two differ only when a scope's decisions are interleaved
 *   with others'); a candidate with no anchor yet gets one by an LSTM step on the current input (NNI's "fill"),
 *   recorded under its name (an unnamed candidate, "", gets a fresh step each time, where NNI would give every ""
 *   the same anchor). Logits l_i = f(v·tanh(W_anchor a_i + W_query h)); the next input is the mean of the chosen
 *   anchors (divided by 1 + count for nChosen null, as NNI; a zero vector when none is chosen with a fixed count);
 * - f(u) = tanhConstant·tanh(u / temperature), or u / temperature without a tanh constant;
 * - a scope is exited when the next decision's scope path leaves it (and anchors are marked innermost first).
 *
 * Parameters: enas-params.ts. Unlike NNI (which reads `g_emb.data`, detached), g_emb is trained.
 *
 * @example
 * const [params, rng1] = initLstmParams({ hidden: 64, candidates: 6 }, seedRng(1));
 * const r = rollout(space, params, config, { kind: 'sample', rng: rng1 }); // r.values, r.logProb, r.trace
 * const grads = backward(space, params, config, r.trace, { logProb: 1, entropy: 0, skipPenalty: 0 }); // ∇ log p
 */
import type { Architecture } from '../../ir/apply.ts';
import type { Rng } from '../../ir/rng.ts';
import type { Decision, SearchSpace } from '../../ir/space.ts';
import { type Head, type HeadCoefficients, headGrad, headGreedy, headSample, headValue } from './enas-heads.ts';
import { type ParamName, type Tensors, dimsOf, zeroTensors } from './enas-params.ts';

/** The settings of the controller's forward pass (NNI's EnasMutator arguments). */
export interface ControllerConfig {
  /** Logits are tanhConstant·tanh(u / temperature); null: no tanh (NNI's `tanh_constant=None`). */
  readonly tanhConstant: number | null;
  /** Divides the raw logits before the tanh; null: 1. */
  readonly temperature: number | null;
  /** Fixed bias on keys containing "reduce": +b for candidates named like "conv", −b for the others. */
  readonly branchBias: number;
  /** Target skip probability of the KL penalty on nChosen-null input choices. */
  readonly skipTarget: number;
}

/** How `rollout` picks each decision's value: a draw, the greedy choice, or the value in a given architecture. */
export type Chooser = { readonly kind: 'sample'; readonly rng: Rng } | { readonly kind: 'greedy' } | { readonly kind: 'fixed'; readonly arch: Architecture };

type InputSource =
  | { readonly kind: 'start' }
  | { readonly kind: 'embedding'; readonly row: number }
  | { readonly kind: 'anchors'; readonly steps: readonly number[]; readonly scale: number };

interface StepRecord {
  readonly src: InputSource;
  readonly x: Float64Array;
  /** Activated gates i, f, g, o (4H). */
  readonly gates: Float64Array;
  readonly c: Float64Array;
  readonly tanhC: Float64Array;
  readonly h: Float64Array;
}

type HeadRecord =
  | { readonly kind: 'layer'; readonly j: number; readonly step: number; readonly u: Float64Array; readonly l: Float64Array; readonly chosen: readonly number[] }
  | {
      readonly kind: 'input';
      readonly j: number;
      /** The step whose hidden state makes the query (−1: the zero initial state). */
      readonly query: number;
      readonly anchors: readonly number[];
      /** Per candidate, tanh(W_anchor a_i + W_query h) (H each). */
      readonly e: readonly Float64Array[];
      readonly u: Float64Array;
      readonly l: Float64Array;
      readonly chosen: readonly number[];
    };

/** What the backward pass needs from a forward pass; opaque outside this module. */
export interface Trace {
  readonly steps: readonly StepRecord[];
  readonly heads: readonly HeadRecord[];
  /** Forward order of steps (≥ 0: a step's index) and heads (< 0: −1 − the head's index). */
  readonly events: readonly number[];
}

/** The result of walking the space once. */
export interface Rollout {
  /** Per decision (space order), the chosen candidates, ascending. */
  readonly values: readonly (readonly number[])[];
  /** log p of the values (a subset head scores the set; see enas-heads.ts). */
  readonly logProb: number;
  /** Sum of the decisions' (proxy) entropies along this walk. */
  readonly entropy: number;
  /** Sum of the skip penalties of the nChosen-null input choices. */
  readonly skipPenalty: number;
  /** Per decision, the probabilities of its distribution at this walk (see `HeadValue.probs`). */
  readonly probs: readonly (readonly number[])[];
  /** The generator after the draws (the given one unless sampling). */
  readonly rng: Rng | null;
  readonly trace: Trace;
}

/** The head of a decision: categorical for a layer choice, subset of k, or Bernoulli skips for nChosen null. */
export const headOf = (d: Decision, skipTarget: number): Head =>
  d.kind === 'layer' ? { kind: 'categorical' } : d.nChosen === null ? { kind: 'bernoulli', target: skipTarget } : { kind: 'subset', k: d.nChosen };

/** The fixed branch bias of a layer choice (zeros unless its key contains "reduce"). */
export const branchBiasOf = (d: Decision, b: number): readonly number[] =>
  d.names.map((name) => (d.key.includes('reduce') ? (name.toLowerCase().includes('conv') ? b : -b) : 0));

const sigmoid = (z: number): number => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

/** y = W x for W (rows × cols, row-major). */
const matVec = (w: ArrayLike<number>, rows: number, cols: number, x: ArrayLike<number>, y: Float64Array): void => {
  for (let r = 0; r < rows; r++) {
    let s = 0;
    const o = r * cols;
    for (let c = 0; c < cols; c++) s += w[o + c]! * x[c]!;
    y[r] = s;
  }
};

/** dW += dy xᵀ and dx += Wᵀ dy in one pass over W (the backward of y = W x). */
const linearBackward = (
  w: ArrayLike<number>,
  dw: Float64Array,
  rows: number,
  cols: number,
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  dx: Float64Array,
): void => {
  for (let r = 0; r < rows; r++) {
    const d = dy[r]!;
    if (d === 0) continue;
    const o = r * cols;
    for (let c = 0; c < cols; c++) {
      dw[o + c] = dw[o + c]! + d * x[c]!;
      dx[c] = dx[c]! + w[o + c]! * d;
    }
  }
};

/** The logit transform f and its derivative (see the module comment). */
const squash = (cfg: ControllerConfig) => {
  const t = cfg.temperature ?? 1;
  const k = cfg.tanhConstant;
  return {
    f: (u: number): number => (k === null ? u / t : k * Math.tanh(u / t)),
    df: (u: number): number => {
      if (k === null) return 1 / t;
      const th = Math.tanh(u / t);
      return (k * (1 - th * th)) / t;
    },
  };
};

/** The chosen candidates of decision `d` in `arch`, checked: a programming error (not a user's) throws. */
const fixedValue = (d: Decision, arch: Architecture): readonly number[] => {
  const v = arch[d.key];
  const n = d.names.length;
  if (v === undefined) throw new RangeError(`ENAS: the architecture has no value for key '${d.key}'`);
  const ok =
    v.every((i, k) => Number.isInteger(i) && i >= 0 && i < n && (k === 0 || i > v[k - 1]!)) &&
    (d.kind === 'layer' ? v.length === 1 : d.nChosen === null || v.length === d.nChosen);
  if (!ok) {
    const want = d.kind === 'layer' ? 'one index' : d.nChosen === null ? 'ascending distinct indices' : `${d.nChosen} ascending distinct indices`;
    throw new RangeError(`ENAS: the value [${v.join(', ')}] of key '${d.key}' is not ${want} below ${n}`);
  }
  return v;
};

/**
 * Walks the space once: every decision's distribution, its value by `chooser`, and the trace for `backward`.
 * A `fixed` architecture must be a value of the space in canonical form (else a RangeError naming the key).
 */
export const rollout = (space: SearchSpace, params: Tensors<ArrayLike<number>>, cfg: ControllerConfig, chooser: Chooser): Rollout => {
  const { hidden: H, candidates: nLayer } = dimsOf(params);
  const { f } = squash(cfg);
  const steps: StepRecord[] = [];
  const heads: HeadRecord[] = [];
  const events: number[] = [];
  const zero = new Float64Array(H);
  const hOf = (s: number): Float64Array => (s < 0 ? zero : steps[s]!.h);
  let rng: Rng | null = chooser.kind === 'sample' ? chooser.rng : null;
  let src: InputSource = { kind: 'start' };
  let x: Float64Array = Float64Array.from(params.gEmb);

  const step = (): number => {
    const s = steps.length;
    const hPrev = hOf(s - 1);
    const cPrev = s === 0 ? zero : steps[s - 1]!.c;
    const pre = new Float64Array(4 * H); // W_ih x + W_hh h_prev
    const wIh = params.wIh;
    const wHh = params.wHh;
    for (let r = 0; r < 4 * H; r++) {
      let acc = 0;
      const o = r * H;
      for (let q = 0; q < H; q++) acc += wIh[o + q]! * x[q]! + wHh[o + q]! * hPrev[q]!;
      pre[r] = acc;
    }
    const gates = new Float64Array(4 * H);
    const c = new Float64Array(H);
    const tanhC = new Float64Array(H);
    const h = new Float64Array(H);
    for (let i = 0; i < H; i++) {
      const gi = sigmoid(pre[i]!);
      const gf = sigmoid(pre[H + i]!);
      const gg = Math.tanh(pre[2 * H + i]!);
      const go = sigmoid(pre[3 * H + i]!);
      gates[i] = gi;
      gates[H + i] = gf;
      gates[2 * H + i] = gg;
      gates[3 * H + i] = go;
      c[i] = gf * cPrev[i]! + gi * gg;
      tanhC[i] = Math.tanh(c[i]!);
      h[i] = go * tanhC[i]!;
    }
    steps.push({ src, x, gates, c, tanhC, h });
    events.push(s);
    return s;
  };

  const choose = (d: Decision, head: Head, l: Float64Array): readonly number[] => {
    switch (chooser.kind) {
      case 'sample': {
        const [v, next] = headSample(head, l, rng!);
        rng = next;
        return v;
      }
      case 'greedy':
        return headGreedy(head, l);
      case 'fixed':
        return fixedValue(d, chooser.arch);
      default: {
        const never: never = chooser;
        throw new Error(`unknown chooser ${JSON.stringify(never)}`);
      }
    }
  };

  const anchorsByName = new Map<string, number>();
  let scopePath: readonly string[] = [];
  const values: (readonly number[])[] = [];
  const probs: (readonly number[])[] = [];
  let logProb = 0;
  let entropy = 0;
  let skipPenalty = 0;

  space.decisions.forEach((d, j) => {
    // Scope exits since the previous decision mark anchors at the current hidden state, innermost first.
    let common = 0;
    while (common < scopePath.length && common < d.scope.length && scopePath[common] === d.scope[common]) common++;
    for (let i = scopePath.length - 1; i >= common; i--) anchorsByName.set(scopePath[i]!, steps.length - 1);
    scopePath = d.scope;

    const head = headOf(d, cfg.skipTarget);
    let rec: HeadRecord;
    if (d.kind === 'layer') {
      if (d.names.length !== nLayer) {
        throw new RangeError(`ENAS: layer choice '${d.key}' has ${d.names.length} candidates, but the controller was made for ${nLayer}`);
      }
      const s = step();
      const u = new Float64Array(nLayer);
      matVec(params.wSoft, nLayer, H, steps[s]!.h, u);
      const bias = branchBiasOf(d, cfg.branchBias);
      const l = u.map((ui, i) => f(ui) + bias[i]!);
      const chosen = choose(d, head, l);
      rec = { kind: 'layer', j, step: s, u, l, chosen };
      src = { kind: 'embedding', row: chosen[0]! };
      x = new Float64Array(H);
      for (let r = 0; r < H; r++) x[r] = params.embedding[chosen[0]! * H + r]!;
    } else {
      const anchors = d.names.map((name) => {
        const found = name === '' ? undefined : anchorsByName.get(name);
        if (found !== undefined) return found;
        const s = step(); // NNI's fill: a step on the current input, for a source with no anchor yet
        if (name !== '') anchorsByName.set(name, s);
        return s;
      });
      const query = steps.length - 1;
      const wq = new Float64Array(H);
      matVec(params.wQuery, H, H, hOf(query), wq);
      const e: Float64Array[] = [];
      const u = new Float64Array(anchors.length);
      anchors.forEach((a, i) => {
        const ei = new Float64Array(H);
        matVec(params.wAnchor, H, H, hOf(a), ei);
        let q = 0;
        for (let r = 0; r < H; r++) {
          ei[r] = Math.tanh(ei[r]! + wq[r]!);
          q += params.vAttn[r]! * ei[r]!;
        }
        e.push(ei);
        u[i] = q;
      });
      const l = u.map(f);
      const chosen = choose(d, head, l);
      rec = { kind: 'input', j, query, anchors, e, u, l, chosen };
      const picked = chosen.map((i) => anchors[i]!);
      const scale = d.nChosen === null ? 1 / (1 + picked.length) : picked.length === 0 ? 1 : 1 / picked.length;
      src = { kind: 'anchors', steps: picked, scale };
      x = new Float64Array(H);
      for (const a of picked) {
        const ha = hOf(a);
        for (let r = 0; r < H; r++) x[r] = x[r]! + scale * ha[r]!;
      }
    }
    const v = headValue(head, rec.l, rec.chosen);
    logProb += v.logProb;
    entropy += v.entropy;
    skipPenalty += v.skipPenalty;
    probs.push(v.probs);
    values.push(rec.chosen);
    events.push(-1 - heads.length);
    heads.push(rec);
  });
  return { values, logProb, entropy, skipPenalty, probs, rng, trace: { steps, heads, events } };
};

/** The architecture of a rollout's values (canonical: ascending indices per key). */
export const archOf = (space: SearchSpace, values: readonly (readonly number[])[]): Architecture =>
  Object.fromEntries(space.decisions.map((d, j) => [d.key, values[j] ?? []] as const));

/**
 * The exact gradient of w.logProb·log p + w.entropy·H + w.skipPenalty·(skip penalty) of the rollout that made
 * `trace` (with these `params` and `cfg`), with respect to every parameter, by reverse-mode through the walk.
 * Adds into `into` when given (to average over samples without allocating), and returns it.
 */
export const backward = (
  space: SearchSpace,
  params: Tensors<ArrayLike<number>>,
  cfg: ControllerConfig,
  trace: Trace,
  w: HeadCoefficients,
  into?: Record<ParamName, Float64Array>,
): Record<ParamName, Float64Array> => {
  const d = dimsOf(params);
  const H = d.hidden;
  const nLayer = d.candidates;
  const g = into ?? zeroTensors(d);
  const { df } = squash(cfg);
  const { steps, heads, events } = trace;
  const zero = new Float64Array(H);
  const hOf = (s: number): Float64Array => (s < 0 ? zero : steps[s]!.h);
  // ∂J/∂h of every step, filled by the heads, later steps and later inputs before that step's turn comes.
  const dh = steps.map(() => new Float64Array(H));
  const addDh = (s: number, v: ArrayLike<number>, scale = 1): void => {
    if (s < 0) return; // the zero initial state has no parameters behind it
    const t = dh[s]!;
    for (let r = 0; r < H; r++) t[r] = t[r]! + scale * v[r]!;
  };
  let dcNext = new Float64Array(H); // ∂J/∂c of the step after the one being processed

  for (let ev = events.length - 1; ev >= 0; ev--) {
    const id = events[ev]!;
    if (id < 0) {
      const rec = heads[-1 - id]!;
      const decision = space.decisions[rec.j]!;
      const dl = headGrad(headOf(decision, cfg.skipTarget), rec.l, rec.chosen, w);
      const du = dl.map((v, i) => v * df(rec.u[i]!));
      if (rec.kind === 'layer') {
        linearBackward(params.wSoft, g.wSoft, nLayer, H, du, hOf(rec.step), dh[rec.step]!);
      } else {
        const dPreSum = new Float64Array(H);
        rec.anchors.forEach((a, i) => {
          const ei = rec.e[i]!;
          const dq = du[i]!;
          if (dq === 0) return;
          const dPre = new Float64Array(H);
          for (let r = 0; r < H; r++) {
            g.vAttn[r] = g.vAttn[r]! + dq * ei[r]!;
            dPre[r] = dq * params.vAttn[r]! * (1 - ei[r]! * ei[r]!);
            dPreSum[r] = dPreSum[r]! + dPre[r]!;
          }
          if (a < 0) return; // the zero initial state: W_anchor·0 has no gradient
          linearBackward(params.wAnchor, g.wAnchor, H, H, dPre, hOf(a), dh[a]!);
        });
        if (rec.query >= 0) linearBackward(params.wQuery, g.wQuery, H, H, dPreSum, hOf(rec.query), dh[rec.query]!);
      }
      continue;
    }
    // LSTM step `id`: h = o·tanh(c), c = f·c_prev + i·g.
    const s = id;
    const st = steps[s]!;
    const dhs = dh[s]!;
    const cPrev = s === 0 ? zero : steps[s - 1]!.c;
    const dPre = new Float64Array(4 * H);
    const dcPrev = new Float64Array(H);
    for (let r = 0; r < H; r++) {
      const gi = st.gates[r]!;
      const gf = st.gates[H + r]!;
      const gg = st.gates[2 * H + r]!;
      const go = st.gates[3 * H + r]!;
      const tc = st.tanhC[r]!;
      const dc = dcNext[r]! + dhs[r]! * go * (1 - tc * tc);
      dPre[r] = dc * gg * gi * (1 - gi);
      dPre[H + r] = dc * cPrev[r]! * gf * (1 - gf);
      dPre[2 * H + r] = dc * gi * (1 - gg * gg);
      dPre[3 * H + r] = dhs[r]! * tc * go * (1 - go);
      dcPrev[r] = dc * gf;
    }
    const dx = new Float64Array(H);
    linearBackward(params.wIh, g.wIh, 4 * H, H, dPre, st.x, dx);
    // The first step's h_prev is the constant zero state: no gradient to W_hh, none to pass on.
    if (s > 0) linearBackward(params.wHh, g.wHh, 4 * H, H, dPre, hOf(s - 1), dh[s - 1]!);
    dcNext = dcPrev;
    const src = st.src;
    switch (src.kind) {
      case 'start':
        for (let r = 0; r < H; r++) g.gEmb[r] = g.gEmb[r]! + dx[r]!;
        break;
      case 'embedding':
        for (let r = 0; r < H; r++) g.embedding[src.row * H + r] = g.embedding[src.row * H + r]! + dx[r]!;
        break;
      case 'anchors':
        for (const a of src.steps) addDh(a, dx, src.scale);
        break;
      default: {
        const never: never = src;
        throw new Error(`unknown input source ${JSON.stringify(never)}`);
      }
    }
  }
  return g;
};
