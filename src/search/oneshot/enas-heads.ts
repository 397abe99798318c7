/**
 * The three output distributions ("heads") of the ENAS controller, each a function of one decision's logits l:
 *
 * - `categorical` (layer choice): one draw from softmax(l).
 * - `subset` (input choice of k): k draws without replacement (Plackett–Luce), as NNI's `multinomial` would give
 *   for k > 1. An architecture keeps only the SET of chosen inputs (ascending, as `apply` wants), so the
 *   probability scored is the set's: the sum over the k! draw orders, computed exactly by a dynamic programme over
 *   the subsets of the set (2^k·k work; `SUBSET_LIMIT` bounds k). Its "entropy" is that of the first draw, the
 *   exact entropy for k = 1 (the only case NNI supports) and an order-free proxy beyond.
 * - `bernoulli` (input choice of any number, nChosen null): per candidate an independent skip decision. As NNI
 *   and the ENAS paper, the logits of candidate i are [−l_i, l_i], so it is chosen with π_i = σ(2 l_i). The skip
 *   penalty is KL(Bernoulli(π_i) ‖ Bernoulli(target)) summed over candidates. NNI takes the KL of σ(l_i) instead of
 *   the probability it samples with, which pulls the real skip rate to σ(2·logit(0.4)) ≈ 0.31, not the stated
 *   target; ours is the KL of the sampled distribution, so a target of 0.4 means 0.4.
 *
 * Every quantity comes with its exact gradient with respect to l, for the controller's backward pass.
 *
 * @example
 * const head: Head = { kind: 'categorical' };
 * const v = headValue(head, [0.1, -0.3, 0.7], [2]); // { logProb, entropy, skipPenalty: 0, probs }
 * const dl = headGrad(head, [0.1, -0.3, 0.7], [2], { logProb: 1, entropy: 0, skipPenalty: 0 }); // ∂ log p / ∂l
 */
import { type Rng, nextFloat } from '../../ir/rng.ts';

/** How a decision turns its logits into a value (see the module comment). */
export type Head =
  | { readonly kind: 'categorical' }
  | { readonly kind: 'subset'; readonly k: number }
  | { readonly kind: 'bernoulli'; readonly target: number };

/** The largest k the subset head scores exactly (its dynamic programme has 2^k states); k = n is always fine. */
export const SUBSET_LIMIT = 16;

/** log p of the chosen value, the (proxy) entropy of the distribution, the skip penalty, and the probabilities. */
export interface HeadValue {
  readonly logProb: number;
  readonly entropy: number;
  readonly skipPenalty: number;
  /** categorical / subset: softmax(l) (the first draw's); bernoulli: each candidate's π_i. */
  readonly probs: readonly number[];
}

/** Weights of a linear combination of `HeadValue`'s three scalars, whose gradient `headGrad` returns. */
export interface HeadCoefficients {
  readonly logProb: number;
  readonly entropy: number;
  readonly skipPenalty: number;
}

const softmax = (l: ArrayLike<number>): Float64Array => {
  let m = -Infinity;
  for (let i = 0; i < l.length; i++) if (l[i]! > m) m = l[i]!;
  const p = new Float64Array(l.length);
  let s = 0;
  for (let i = 0; i < l.length; i++) {
    p[i] = Math.exp(l[i]! - m);
    s += p[i]!;
  }
  for (let i = 0; i < l.length; i++) p[i] = p[i]! / s;
  return p;
};

const logSumExp = (l: ArrayLike<number>): number => {
  let m = -Infinity;
  for (let i = 0; i < l.length; i++) if (l[i]! > m) m = l[i]!;
  let s = 0;
  for (let i = 0; i < l.length; i++) s += Math.exp(l[i]! - m);
  return m + Math.log(s);
};

const sigmoid = (z: number): number => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));
/** log(1 + e^z) without overflow. */
const softplus = (z: number): number => (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z)));

/** −Σ p log p of a probability vector. */
const entropyOf = (p: ArrayLike<number>): number => {
  let h = 0;
  for (let i = 0; i < p.length; i++) if (p[i]! > 0) h -= p[i]! * Math.log(p[i]!);
  return h;
};

/** One draw from `p` by inverse CDF, skipping `taken`; the last candidate with mass absorbs rounding. */
const drawFrom = (p: ArrayLike<number>, taken: readonly boolean[], rng: Rng): [number, Rng] => {
  let total = 0;
  for (let i = 0; i < p.length; i++) if (!taken[i]) total += p[i]!;
  const [u, r] = nextFloat(rng);
  const target = u * total;
  let acc = 0;
  let last = -1;
  for (let i = 0; i < p.length; i++) {
    if (taken[i] || p[i]! <= 0) continue;
    last = i;
    acc += p[i]!;
    if (target < acc) return [i, r];
  }
  return [last, r];
};

/** Whether a subset head is deterministic (nothing or everything chosen): no logits matter. */
const trivialSubset = (k: number, n: number): boolean => k <= 0 || k >= n;

/** A value drawn from the head's distribution, ascending. */
export const headSample = (head: Head, l: ArrayLike<number>, rng: Rng): [number[], Rng] => {
  switch (head.kind) {
    case 'categorical': {
      const [c, r] = drawFrom(softmax(l), [], rng);
      return [[c], r];
    }
    case 'subset': {
      if (trivialSubset(head.k, l.length)) return [head.k <= 0 ? [] : Array.from({ length: l.length }, (_, i) => i), rng];
      const p = softmax(l);
      const taken = Array.from({ length: l.length }, () => false);
      const out: number[] = [];
      let r = rng;
      for (let t = 0; t < head.k; t++) {
        const [c, next] = drawFrom(p, taken, r);
        r = next;
        taken[c] = true;
        out.push(c);
      }
      return [out.sort((a, b) => a - b), r];
    }
    case 'bernoulli': {
      const out: number[] = [];
      let r = rng;
      for (let i = 0; i < l.length; i++) {
        const [u, next] = nextFloat(r);
        r = next;
        if (u < sigmoid(2 * l[i]!)) out.push(i);
      }
      return [out, r];
    }
    default: {
      const never: never = head;
      throw new Error(`unknown head ${JSON.stringify(never)}`);
    }
  }
};

/** The most likely value at this step (argmax; the top k; every candidate more likely kept than skipped), ascending. */
export const headGreedy = (head: Head, l: ArrayLike<number>): number[] => {
  const order = Array.from({ length: l.length }, (_, i) => i).sort((a, b) => l[b]! - l[a]! || a - b);
  switch (head.kind) {
    case 'categorical':
      return order.slice(0, 1);
    case 'subset':
      return order.slice(0, Math.max(0, head.k)).sort((a, b) => a - b);
    case 'bernoulli':
      return order.filter((i) => l[i]! > 0).sort((a, b) => a - b);
    default: {
      const never: never = head;
      throw new Error(`unknown head ${JSON.stringify(never)}`);
    }
  }
};

/**
 * The subset head's dynamic programme over the subsets U of the chosen set S (bit b of a mask = the b-th chosen
 * candidate): f(U) = P(the first |U| draws are U, in any order), g(U) = P(the next draws complete U to S).
 * The denominator of a draw after U is the mass not yet drawn, summed directly (no Z − E(U) cancellation).
 */
const subsetTables = (l: ArrayLike<number>, chosen: readonly number[]) => {
  const n = l.length;
  const k = chosen.length;
  let m = -Infinity;
  for (let i = 0; i < n; i++) if (l[i]! > m) m = l[i]!;
  const e = Float64Array.from({ length: n }, (_, i) => Math.exp(l[i]! - m));
  const inS = new Uint8Array(n);
  for (const c of chosen) inS[c] = 1;
  let rest = 0; // mass outside S: never drawn
  for (let i = 0; i < n; i++) if (inS[i] === 0) rest += e[i]!;
  const full = (1 << k) - 1;
  const mass = new Float64Array(full + 1); // mass of the chosen candidates in a mask
  for (let mask = 1; mask <= full; mask++) {
    const low = mask & -mask;
    mass[mask] = mass[mask ^ low]! + e[chosen[31 - Math.clz32(low)]!]!;
  }
  const denom = (mask: number): number => mass[full ^ mask]! + rest;
  const f = new Float64Array(full + 1);
  f[0] = 1;
  for (let mask = 1; mask <= full; mask++) {
    let s = 0;
    for (let b = 0; b < k; b++) {
      if ((mask & (1 << b)) === 0) continue;
      const prev = mask ^ (1 << b);
      s += (f[prev]! * e[chosen[b]!]!) / denom(prev);
    }
    f[mask] = s;
  }
  const g = new Float64Array(full + 1);
  g[full] = 1;
  for (let mask = full - 1; mask >= 0; mask--) {
    let s = 0;
    const d = denom(mask);
    for (let b = 0; b < k; b++) if ((mask & (1 << b)) === 0) s += (e[chosen[b]!]! / d) * g[mask | (1 << b)]!;
    g[mask] = s;
  }
  return { e, inS, full, denom, f, g };
};

/** The head's log p of `chosen` (ascending, valid for the head), entropy, skip penalty and probabilities. */
export const headValue = (head: Head, l: ArrayLike<number>, chosen: readonly number[]): HeadValue => {
  switch (head.kind) {
    case 'categorical': {
      const p = softmax(l);
      return { logProb: l[chosen[0]!]! - logSumExp(l), entropy: entropyOf(p), skipPenalty: 0, probs: [...p] };
    }
    case 'subset': {
      const p = softmax(l);
      if (trivialSubset(head.k, l.length)) return { logProb: 0, entropy: 0, skipPenalty: 0, probs: [...p] };
      const { f, full } = subsetTables(l, chosen);
      return { logProb: Math.log(f[full]!), entropy: entropyOf(p), skipPenalty: 0, probs: [...p] };
    }
    case 'bernoulli': {
      const inS = new Set(chosen);
      const tau = head.target;
      let logProb = 0;
      let entropy = 0;
      let kl = 0;
      const probs: number[] = [];
      for (let i = 0; i < l.length; i++) {
        const z = 2 * l[i]!;
        const pi = sigmoid(z);
        const logPi = -softplus(-z);
        const log1mPi = -softplus(z);
        logProb += inS.has(i) ? logPi : log1mPi;
        entropy -= pi * logPi + (1 - pi) * log1mPi;
        kl += pi * (logPi - Math.log(tau)) + (1 - pi) * (log1mPi - Math.log(1 - tau));
        probs.push(pi);
      }
      return { logProb, entropy, skipPenalty: kl, probs };
    }
    default: {
      const never: never = head;
      throw new Error(`unknown head ${JSON.stringify(never)}`);
    }
  }
};

/** ∂(a·log p + b·H + c·skip penalty)/∂l for the head's value `chosen`, with (a, b, c) = `w`. */
export const headGrad = (head: Head, l: ArrayLike<number>, chosen: readonly number[], w: HeadCoefficients): Float64Array => {
  const n = l.length;
  const dl = new Float64Array(n);
  // The first-draw softmax entropy's gradient, shared by the categorical and subset heads: −p_i (log p_i + H).
  const addSoftmaxEntropy = (p: Float64Array): void => {
    if (w.entropy === 0) return;
    const h = entropyOf(p);
    for (let i = 0; i < n; i++) if (p[i]! > 0) dl[i] = dl[i]! - w.entropy * p[i]! * (Math.log(p[i]!) + h);
  };
  switch (head.kind) {
    case 'categorical': {
      const p = softmax(l);
      for (let i = 0; i < n; i++) dl[i] = w.logProb * ((i === chosen[0] ? 1 : 0) - p[i]!);
      addSoftmaxEntropy(p);
      return dl;
    }
    case 'subset': {
      if (trivialSubset(head.k, n)) return dl;
      // ∇ log P(S) = 1_S − Σ_{U ⊊ S} P(U is drawn first | S) · softmax over the candidates not in U.
      const { e, inS, full, denom, f, g } = subsetTables(l, chosen);
      const k = chosen.length;
      let outside = 0; // Σ_U weight/denom, which multiplies every candidate outside S
      for (let mask = 0; mask < full; mask++) {
        const coef = (f[mask]! * g[mask]!) / f[full]! / denom(mask);
        outside += coef;
        for (let b = 0; b < k; b++) if ((mask & (1 << b)) === 0) dl[chosen[b]!] = dl[chosen[b]!]! - w.logProb * coef * e[chosen[b]!]!;
      }
      for (let i = 0; i < n; i++) dl[i] = dl[i]! + w.logProb * (inS[i] === 1 ? 1 : -outside * e[i]!);
      addSoftmaxEntropy(softmax(l));
      return dl;
    }
    case 'bernoulli': {
      const inS = new Set(chosen);
      const logitTarget = Math.log(head.target / (1 - head.target));
      for (let i = 0; i < n; i++) {
        const z = 2 * l[i]!;
        const pi = sigmoid(z);
        const v = pi * (1 - pi);
        // With z = 2l: ∂ log p/∂z = s − π, ∂H/∂z = −z π(1−π), ∂KL/∂z = π(1−π)(z − logit(target)).
        dl[i] = 2 * (w.logProb * ((inS.has(i) ? 1 : 0) - pi) - w.entropy * z * v + w.skipPenalty * v * (z - logitTarget));
      }
      return dl;
    }
    default: {
      const never: never = head;
      throw new Error(`unknown head ${JSON.stringify(never)}`);
    }
  }
};
