/**
 * ProxylessNAS on the device (Cai et al. 2019; NNI's defaults). Each step: a weight step on a train batch that runs
 * ONE sampled path — the fixed subnet of the active candidates, compiled once per architecture (`sampledStep`), so
 * only that path's memory and time are spent — then an architecture step on a valid batch: binary gates (one or
 * two active paths) run through the mixed supernet, whose ∂L/∂g reaches the logits by
 * ∂L/∂α_i = Σ_j ∂L/∂g_j p_j (δ_ij − p_i) (src/search/oneshot/proxyless.ts).
 *
 * What NNI never had: an expected-cost term λ·Σ_i p_i·cost_i per key (`costWeight` λ > 0), the cost of candidate
 * i being the multiply-accumulates per image (in millions) it adds to the network: the MACs of the architecture
 * with that candidate minus those with the key's first candidate, all other keys at their first candidate. And
 * `warmup` epochs that train the weights only (uniformly sampled paths) before the logits start to move.
 *
 * @example
 * const d = proxylessDriver({ paths: 2, costWeight: 0.1 }, { warmup: 1 });
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Architecture } from '../../ir/apply.ts';
import {
  type ProxylessOptions,
  type ProxylessState,
  decodeProxylessState,
  encodeProxylessState,
  proxylessArchStep,
  proxylessCheck,
  proxylessDistribution,
  proxylessExport,
  proxylessInit,
  proxylessSample,
  resolveProxylessOptions,
} from '../../search/oneshot/proxyless.ts';
import { type Driver, type DriverContext, EpochMeter, nonFinite, pairedBatches, shuffledBatches } from './driver.ts';

export interface ProxylessDriverOptions {
  /** Epochs of weight-only training (uniform paths) before the architecture steps start. Default 0. */
  readonly warmup?: number;
}

/** The marginal MACs (millions) of every candidate of every layer key (see the module comment). */
export const candidateCosts = (ctx: Pick<DriverContext, 'space' | 'macs'>): Record<string, number[]> => {
  const base: Record<string, number[]> = {};
  for (const d of ctx.space.decisions) base[d.key] = d.kind === 'layer' ? [0] : d.nChosen === null ? [] : Array.from({ length: d.nChosen }, (_, i) => i);
  const m0 = ctx.macs(base as Architecture);
  const costs: Record<string, number[]> = {};
  for (const d of ctx.space.decisions) {
    if (d.kind !== 'layer') continue;
    costs[d.key] = d.names.map((_, i) => (ctx.macs({ ...base, [d.key]: [i] } as Architecture) - m0) / 1e6);
  }
  return costs;
};

const archOf = (active: Readonly<Record<string, number>>): Architecture => Object.fromEntries(Object.entries(active).map(([k, i]) => [k, [i]] as const));

/** The ProxylessNAS driver (weights: SGD 0.05, momentum 0.9, Nesterov, wd 4e-5, cosine; NNI's example). */
export const proxylessDriver = (options: ProxylessOptions = {}, d: ProxylessDriverOptions = {}): Driver<ProxylessState> => {
  const o = resolveProxylessOptions(options);
  const warmup = d.warmup ?? 0;
  let costs: Record<string, number[]> | undefined;
  return {
    name: 'proxyless',
    options: { ...o, warmup } as unknown as Readonly<Record<string, unknown>>,
    supports: ['layer'],
    weights: { optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 4e-5 }, schedule: { kind: 'cosine', tMax: 1, etaMin: 0, per: 'epoch' } },
    check: (space) => proxylessCheck(space, o),
    init: (space, rng) => proxylessInit(space, rng, o),
    async epoch(ctx, state0, epoch, rng0) {
      let state = state0;
      if (costs === undefined && o.costWeight !== 0) costs = candidateCosts(ctx);
      const t = shuffledBatches(ctx.train, ctx.batchSize, rng0);
      const v = shuffledBatches(ctx.valid, ctx.batchSize, t.rng);
      let rng = v.rng;
      const count = Math.min(t.count, v.count);
      const lr = ctx.lr(epoch);
      const searching = epoch >= warmup;
      ctx.progress.epochStart(epoch + 1, ctx.epochs, count);
      const meter = new EpochMeter(ctx.net.classes, count, ctx.progress);
      let archLoss = 0;
      let steps = 0;
      for (const [train, valid] of pairedBatches(t.batches, v.batches)) {
        if (ctx.signal?.aborted === true) break;
        // During the warm-up the logits stay at their initial (near-uniform) values: paths are sampled uniformly.
        const w = proxylessSample(ctx.space, state.alphas, rng, { paths: 1 });
        const step = await ctx.net.sampledStep(train, archOf(w.active), { lr });
        if (E.isLeft(step)) return step;
        if (!Number.isFinite(step.right.loss)) return E.left([nonFinite('weight', step.right.loss)]);
        meter.add(step.right.loss, step.right.logits, train.labels, ctx.batchSize);
        rng = w.rng;
        if (searching) {
          const a = proxylessSample(ctx.space, state.alphas, rng, { paths: o.paths });
          rng = a.rng;
          const g = await ctx.net.mixedStep(valid, a.weights, { lr, update: false });
          if (E.isLeft(g)) return g;
          archLoss += g.right.loss;
          state = proxylessArchStep(ctx.space, state, a, g.right.choiceGrads, costs ?? {});
        }
        steps++;
      }
      return E.right({ state, rng, metrics: { trainLoss: meter.loss, trainAccuracy: meter.accuracy, ...(searching ? { archLoss: steps === 0 ? NaN : archLoss / steps } : {}), lr } });
    },
    distribution: (space, s) => proxylessDistribution(space, s),
    export: (space, s) => proxylessExport(space, s),
    encode: (s) => encodeProxylessState(s),
    decode: (space, json) => decodeProxylessState(space, json),
  };
};
