/**
 * The ENAS controller network: its heads against direct formulas, its forward pass against a hand-written LSTM,
 * its distribution (sums to one over every architecture; sampling frequencies match it), and its backward pass
 * against central finite differences for every parameter tensor.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { architectureKey, enumerateArchitectures } from '../../../src/ir/architecture.ts';
import { seedRng } from '../../../src/ir/rng.ts';
import { type Head, headGrad, headGreedy, headValue } from '../../../src/search/oneshot/enas-heads.ts';
import { type ControllerConfig, archOf, backward, rollout } from '../../../src/search/oneshot/enas-lstm.ts';
import type { LstmParams } from '../../../src/search/oneshot/enas-params.ts';
import {
  arbConfig,
  arbSpace,
  finiteDifferences,
  inputDecision,
  layerDecision,
  paramsFor,
  spaceOf,
  worstError,
} from './enas-arbitraries.ts';

const NNI_CONFIG: ControllerConfig = { tanhConstant: 1.5, temperature: null, branchBias: 0.25, skipTarget: 0.4 };

/** Every ordering of `xs`. */
const permutations = (xs: readonly number[]): number[][] =>
  xs.length <= 1 ? [[...xs]] : xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));

/** P(set) of k draws without replacement from softmax(l), by summing over the k! orders (the direct definition). */
const bruteSubsetProb = (l: readonly number[], set: readonly number[]): number =>
  permutations(set).reduce((total, order) => {
    let p = 1;
    const left = new Set(l.map((_, i) => i));
    for (const c of order) {
      let z = 0;
      for (const i of left) z += Math.exp(l[i]!);
      p *= Math.exp(l[c]!) / z;
      left.delete(c);
    }
    return total + p;
  }, 0);

const arbLogits = (min: number, max: number) => fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: min, maxLength: max });

describe('ENAS heads', () => {
  it('scores a subset of k draws without replacement as the sum over its k! draw orders', () => {
    fc.assert(
      fc.property(arbLogits(2, 7), fc.nat(), fc.nat(), (l, kSeed, setSeed) => {
        const k = 1 + (kSeed % (l.length - 1)); // 0 < k < n
        const set = [...Array.from({ length: l.length }, (_, i) => i)]
          .sort((a, b) => ((a * 7919 + setSeed) % 101) - ((b * 7919 + setSeed) % 101) || a - b)
          .slice(0, k)
          .sort((a, b) => a - b);
        const v = headValue({ kind: 'subset', k }, l, set);
        // Tolerance: two float64 sums of at most 5040 positive terms agree to ~1e-12 relative.
        expect(Math.exp(v.logProb)).toBeCloseTo(bruteSubsetProb(l, set), 12);
      }),
    );
  });

  it('gives the gradient of log p, entropy and skip penalty with respect to the logits (central differences)', () => {
    const arbHead: fc.Arbitrary<Head> = fc.oneof(
      fc.constant<Head>({ kind: 'categorical' }),
      fc.integer({ min: 1, max: 4 }).map((k): Head => ({ kind: 'subset', k })),
      fc.double({ min: 0.1, max: 0.9, noNaN: true }).map((target): Head => ({ kind: 'bernoulli', target })),
    );
    fc.assert(
      fc.property(arbHead, arbLogits(1, 6), fc.nat(), fc.double({ min: -2, max: 2, noNaN: true }), fc.double({ min: -2, max: 2, noNaN: true }), (head, l, seed, we, ws) => {
        const chosen = headGreedy(head, l.map((x, i) => Math.sin(x * 13 + i + seed))); // a valid value, unrelated to l
        const w = { logProb: 1, entropy: we, skipPenalty: ws };
        const J = (z: readonly number[]): number => {
          const v = headValue(head, z, chosen);
          return w.logProb * v.logProb + w.entropy * v.entropy + w.skipPenalty * v.skipPenalty;
        };
        const g = headGrad(head, l, chosen, w);
        const eps = 1e-6;
        l.forEach((_, i) => {
          const up = l.map((x, j) => (j === i ? x + eps : x));
          const down = l.map((x, j) => (j === i ? x - eps : x));
          const fd = (J(up) - J(down)) / (2 * eps);
          // Tolerance: central differences at eps 1e-6 carry ~1e-9 error on these O(1) smooth functions.
          expect(Math.abs(g[i]! - fd)).toBeLessThan(1e-7 * (1 + Math.abs(fd)));
        });
      }),
    );
  });

  it('uses the NNI/ENAS skip logits [−l, l] (keep with σ(2l)) and the KL of that Bernoulli to the target', () => {
    const l = [0.3, -1.1];
    const v = headValue({ kind: 'bernoulli', target: 0.4 }, l, [0]);
    const pi = l.map((x) => 1 / (1 + Math.exp(-2 * x)));
    const kl = pi.reduce((a, p) => a + p * Math.log(p / 0.4) + (1 - p) * Math.log((1 - p) / 0.6), 0);
    // Tolerance: the same closed forms in another arrangement, float64 round-off only.
    expect(v.logProb).toBeCloseTo(Math.log(pi[0]!) + Math.log(1 - pi[1]!), 12);
    expect(v.skipPenalty).toBeCloseTo(kl, 12);
    expect(v.probs).toEqual(pi.map((p) => expect.closeTo(p, 12)));
  });
});

/** A one-layer LSTM cell without biases, written out (gate order i, f, g, o as PyTorch). */
const lstmCell = (p: LstmParams, x: readonly number[], h: readonly number[], c: readonly number[]): [number[], number[]] => {
  const H = h.length;
  const sig = (z: number): number => 1 / (1 + Math.exp(-z));
  const gate = (k: number, r: number): number => {
    let s = 0;
    for (let q = 0; q < H; q++) s += p.wIh[(k * H + r) * H + q]! * x[q]! + p.wHh[(k * H + r) * H + q]! * h[q]!;
    return s;
  };
  const c2 = c.map((cr, r) => sig(gate(1, r)) * cr + sig(gate(0, r)) * Math.tanh(gate(2, r)));
  const h2 = c2.map((cr, r) => sig(gate(3, r)) * Math.tanh(cr));
  return [h2, c2];
};
const row = (m: readonly number[], r: number, H: number): number[] => m.slice(r * H, (r + 1) * H);
const matVec = (m: readonly number[], x: readonly number[]): number[] => Array.from({ length: m.length / x.length }, (_, r) => row(m, r, x.length).reduce((a, w, q) => a + w * x[q]!, 0));
const logSoftmax = (l: readonly number[], i: number): number => l[i]! - Math.log(l.reduce((a, z) => a + Math.exp(z), 0));

describe('ENAS controller forward', () => {
  it("matches a hand-written walk: layer step, scope exit anchor, NNI's fill step, attention, mean input", () => {
    // reduce_a (layer, in scope s0) → in_b over ['s0', 'stem'] (any number) → op_c (layer): s0's anchor is the
    // state after reduce_a; 'stem' has none, so a fill step runs on the embedding of reduce_a's choice.
    const space = spaceOf([
      layerDecision('reduce_a', ['conv3x3', 'maxpool'], ['s0']),
      inputDecision('in_b', ['s0', 'stem'], null),
      layerDecision('op_c', ['conv3x3', 'maxpool']),
    ]);
    const H = 3;
    const p = paramsFor(space, H, 11);
    const arch = { reduce_a: [1], in_b: [0, 1], op_c: [0] };
    const r = rollout(space, p, NNI_CONFIG, { kind: 'fixed', arch });

    const zero = [0, 0, 0];
    const f = (u: number): number => 1.5 * Math.tanh(u);
    const [h1, c1] = lstmCell(p, p.gEmb, zero, zero);
    const la = matVec(p.wSoft, h1).map((u, i) => f(u) + (i === 0 ? 0.25 : -0.25)); // "reduce": +b for conv, −b else
    const x2 = row(p.embedding, 1, H);
    const [h2, c2] = lstmCell(p, x2, h1, c1); // the fill for 'stem'
    const anchors = [h1, h2];
    const wq = matVec(p.wQuery, h2);
    const lb = anchors.map((a) => f(matVec(p.wAnchor, a).reduce((s, z, q) => s + p.vAttn[q]! * Math.tanh(z + wq[q]!), 0)));
    const logKeep = (l: number): number => -Math.log(1 + Math.exp(-2 * l));
    const x3 = zero.map((_, q) => (h1[q]! + h2[q]!) / 3); // Σ chosen / (1 + count)
    const [h3] = lstmCell(p, x3, h2, c2);
    const lc = matVec(p.wSoft, h3).map(f);
    const want = logSoftmax(la, 1) + logKeep(lb[0]!) + logKeep(lb[1]!) + logSoftmax(lc, 0);
    // Tolerance: the same float64 arithmetic in another order, round-off only.
    expect(r.logProb).toBeCloseTo(want, 12);
    expect(r.values).toEqual([[1], [0, 1], [0]]);
  });

  it('defines a distribution: exp(log p) sums to 1 over every architecture of random small spaces', () => {
    fc.assert(
      fc.property(arbSpace(4, 3), fc.integer({ min: 1, max: 4 }), fc.nat(), arbConfig, (space, hidden, seed, cfg) => {
        const p = paramsFor(space, hidden, seed);
        let total = 0;
        for (const arch of enumerateArchitectures(space)) total += Math.exp(rollout(space, p, cfg, { kind: 'fixed', arch }).logProb);
        // Tolerance: a float64 sum of at most 8^4 terms; 1e-9 leaves room for round-off, none for a wrong term.
        expect(Math.abs(total - 1)).toBeLessThan(1e-9);
      }),
      { numRuns: 60 },
    );
  });

  it('samples each architecture with the probability it scores (20,000 draws, fixed seed)', () => {
    const space = spaceOf([
      layerDecision('op', ['conv3x3', 'maxpool', 'sepconv5x5'], ['cell']),
      inputDecision('pick2', ['cell', '', 'x'], 2),
      inputDecision('skip', ['cell', 'x'], null),
    ]);
    const p = paramsFor(space, 4, 5, 1.5);
    const probs = new Map<string, number>();
    for (const arch of enumerateArchitectures(space)) probs.set(architectureKey(arch), Math.exp(rollout(space, p, NNI_CONFIG, { kind: 'fixed', arch }).logProb));
    const counts = new Map<string, number>();
    let rng = seedRng(123);
    const N = 20_000;
    for (let i = 0; i < N; i++) {
      const r = rollout(space, p, NNI_CONFIG, { kind: 'sample', rng });
      rng = r.rng!;
      const key = architectureKey(archOf(space, r.values));
      counts.set(key, (counts.get(key) ?? 0) + 1);
      // The log p a draw reports is the one the architecture scores.
      if (i < 50) expect(Math.exp(r.logProb)).toBeCloseTo(probs.get(key)!, 12);
    }
    expect(probs.size).toBe(36);
    for (const [key, pk] of probs) {
      // Tolerance: 5 binomial standard deviations (plus 1e-3): a correct sampler fails this with odds < 1e-5 per arch.
      expect(Math.abs((counts.get(key) ?? 0) / N - pk)).toBeLessThan(5 * Math.sqrt((pk * (1 - pk)) / N) + 1e-3);
    }
  });

  it('greedy: each step takes the argmax (layer), the top k, or every input more likely kept than skipped', () => {
    fc.assert(
      fc.property(arbSpace(5, 4), fc.integer({ min: 1, max: 4 }), fc.nat(), arbConfig, (space, hidden, seed, cfg) => {
        const r = rollout(space, paramsFor(space, hidden, seed), cfg, { kind: 'greedy' });
        space.decisions.forEach((d, j) => {
          const probs = r.probs[j]!;
          const v = r.values[j]!;
          if (d.kind === 'layer') expect(Math.max(...probs)).toBe(probs[v[0]!]);
          else if (d.nChosen === null) expect(v).toEqual(probs.flatMap((q, i) => (q > 0.5 ? [i] : [])));
          else {
            expect(v.length).toBe(d.nChosen);
            const minIn = Math.min(...v.map((i) => probs[i]!));
            probs.forEach((q, i) => {
              if (!v.includes(i)) expect(q).toBeLessThanOrEqual(minIn);
            });
          }
        });
      }),
    );
  });
});

describe('ENAS controller backward', () => {
  it('equals central finite differences of log p, entropy and skip penalty for every parameter tensor', () => {
    fc.assert(
      fc.property(
        arbSpace(5, 3),
        fc.integer({ min: 1, max: 4 }),
        fc.nat(),
        arbConfig,
        fc.constantFrom({ logProb: 1, entropy: 0, skipPenalty: 0 }, { logProb: 0, entropy: 1, skipPenalty: 0 }, { logProb: 0, entropy: 0, skipPenalty: 1 }, { logProb: -0.7, entropy: 0.3, skipPenalty: 0.8 }),
        (space, hidden, seed, cfg, w) => {
          const p = paramsFor(space, hidden, seed);
          const arch = archOf(space, rollout(space, p, cfg, { kind: 'sample', rng: seedRng(seed + 1) }).values);
          const J = (q: LstmParams): number => {
            const r = rollout(space, q, cfg, { kind: 'fixed', arch });
            return w.logProb * r.logProb + w.entropy * r.entropy + w.skipPenalty * r.skipPenalty;
          };
          const g = backward(space, p, cfg, rollout(space, p, cfg, { kind: 'fixed', arch }).trace, w);
          const { error, at } = worstError(g, finiteDifferences(p, J));
          // Tolerance: central differences at eps 1e-6 of smooth O(1) functions err by ~1e-9 (truncation ~eps²,
          // round-off ~1e-16/eps); 1e-7 relative (to 1 + |grad|) fails any real mistake, which shows as O(0.01+).
          expect(error, at).toBeLessThan(1e-7);
        },
      ),
      { numRuns: 80 },
    );
  });

  it('is exact at NNI size (64 units, 6 candidates) on a macro-like walk, sampled entries', () => {
    const names = ['conv3x3', 'sepconv3x3', 'conv5x5', 'sepconv5x5', 'avgpool3x3', 'maxpool3x3'];
    const decisions = [];
    for (let k = 0; k < 4; k++) {
      decisions.push(layerDecision(`layer_${k}/op`, names, [`layer_${k}`]));
      if (k >= 1) decisions.push(inputDecision(`layer_${k}/skip`, ['stem', ...Array.from({ length: k - 1 }, (_, i) => `layer_${i}`)], null, [`layer_${k}`]));
    }
    const space = spaceOf(decisions);
    const p = paramsFor(space, 64, 3, 0.1);
    const arch = archOf(space, rollout(space, p, NNI_CONFIG, { kind: 'sample', rng: seedRng(9) }).values);
    const w = { logProb: 1, entropy: 0.5, skipPenalty: 0.8 };
    const J = (q: LstmParams): number => {
      const r = rollout(space, q, NNI_CONFIG, { kind: 'fixed', arch });
      return w.logProb * r.logProb + w.entropy * r.entropy + w.skipPenalty * r.skipPenalty;
    };
    const g = backward(space, p, NNI_CONFIG, rollout(space, p, NNI_CONFIG, { kind: 'fixed', arch }).trace, w);
    let checked = 0;
    for (const name of ['gEmb', 'wIh', 'wHh', 'embedding', 'wSoft', 'wAnchor', 'wQuery', 'vAttn'] as const) {
      const t = p[name];
      for (let s = 0; s < 12; s++) {
        const i = (s * 104729 + 7) % t.length;
        const eps = 1e-6;
        const up = { ...p, [name]: t.map((v, q) => (q === i ? v + eps : v)) };
        const down = { ...p, [name]: t.map((v, q) => (q === i ? v - eps : v)) };
        const fd = (J(up) - J(down)) / (2 * eps);
        // Tolerance: as above, central differences at eps 1e-6.
        expect(Math.abs(g[name][i]! - fd), `${name}[${i}]`).toBeLessThan(1e-7 * (1 + Math.abs(fd)));
        checked++;
      }
    }
    expect(checked).toBe(96);
  });
});
