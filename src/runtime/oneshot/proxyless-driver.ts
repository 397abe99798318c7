/**
 * ProxylessNAS on the device (Cai et al. 2019; NNI's defaults). Each step: a weight step on a train batch that runs
 * ONE sampled path — the fixed subnet of the active candidates, compiled once per architecture (`sampledStep`), so
 * only that path's memory and time are spent — then an architecture step on a valid batch: binary gates (one or
 * two active paths) run through the mixed supernet, whose ∂L/∂g reaches the logits by
 * ∂L/∂α_i = Σ_j ∂L/∂g_j p_j (δ_ij − p_i) (src/search/oneshot/proxyless.ts).
 *
 * What NNI never had: an expected-cost term λ·Σ_i p_i·cost_i per key (`costWeight` λ > 0), the cost of candidate
 * i being the multiply-accumulates per image (in millions) it adds to the network: the MACs of the architecture
 * with that candidate minus those with the key's first candidate, all other keys at their first candidate — or,
 * with `cost: 'latency'`, the milliseconds it adds to a batch, measured on the device (`candidateLatencies`). And
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
import { subset } from '../data/batches.ts';
import { type Driver, type DriverContext, EpochMeter, nonFinite, pairedBatches, shuffledBatches } from './driver.ts';
import type { SupernetError } from './supernet.ts';

export interface ProxylessDriverOptions {
  /** Epochs of weight-only training (uniform paths) before the architecture steps start. Default 0. */
  readonly warmup?: number;
  /**
   * What `costWeight` weighs: 'macs' (default: millions of multiply-accumulates per image, exact and deterministic)
   * or 'latency' (milliseconds per batch measured on this device: see `candidateLatencies`; measured anew by every
   * process, so a resumed search may see slightly other costs).
   */
  readonly cost?: 'macs' | 'latency';
}

/**
 * The latency (ms per evaluation batch, on this device) every candidate of every layer key adds: the median of
 * `repeats` timed runs of the architecture with that candidate, all other keys at their first candidate, minus the
 * same for the key's first candidate; each architecture runs once untimed first (compilation, caches).
 */
export const candidateLatencies = async (ctx: Pick<DriverContext, 'space' | 'net' | 'valid' | 'batchSize'>, repeats = 3): Promise<E.Either<readonly SupernetError[], Record<string, number[]>>> => {
  const base: Record<string, number[]> = {};
  for (const d of ctx.space.decisions) base[d.key] = d.kind === 'layer' ? [0] : d.nChosen === null ? [] : Array.from({ length: d.nChosen }, (_, i) => i);
  const n = Math.min(ctx.batchSize, ctx.valid.n);
  const one = subset(ctx.valid, Array.from({ length: n }, (_, i) => i));
  const time = async (arch: Architecture): Promise<E.Either<readonly SupernetError[], number>> => {
    const warm = await ctx.net.evaluate(one, { arch });
    if (E.isLeft(warm)) return warm;
    const ts: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const t0 = performance.now();
      const x = await ctx.net.evaluate(one, { arch });
      if (E.isLeft(x)) return x;
      ts.push(performance.now() - t0);
    }
    ts.sort((a, b) => a - b);
    return E.right(ts[Math.floor(ts.length / 2)]!);
  };
  const t0 = await time(base as Architecture);
  if (E.isLeft(t0)) return t0;
  const costs: Record<string, number[]> = {};
  for (const d of ctx.space.decisions) {
    if (d.kind !== 'layer') continue;
    const row: number[] = [];
    for (let i = 0; i < d.names.length; i++) {
      const t = await time({ ...base, [d.key]: [i] } as Architecture);
      if (E.isLeft(t)) return t;
      row.push(t.right - t0.right);
    }
    costs[d.key] = row;
  }
  return E.right(costs);
};

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
  const costKind = d.cost ?? 'macs';
  let costs: Record<string, number[]> | undefined;
  return {
    name: 'proxyless',
    options: { ...o, warmup, cost: costKind } as unknown as Readonly<Record<string, unknown>>,
    supports: ['layer'],
    weights: { optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 4e-5 }, clipGradNorm: 5, schedule: { kind: 'cosine', tMax: 1, etaMin: 0, per: 'epoch' } },
    check: (space) => proxylessCheck(space, o),
    init: (space, rng) => proxylessInit(space, rng, o),
    async epoch(ctx, state0, epoch, rng0) {
      let state = state0;
      if (costs === undefined && o.costWeight !== 0) {
        if (costKind === 'latency') {
          const measured = await candidateLatencies(ctx);
          if (E.isLeft(measured)) return measured;
          costs = measured.right;
          ctx.progress.note(`proxyless: measured latency per candidate (ms per batch): ${JSON.stringify(costs, (_, v: unknown) => (typeof v === 'number' ? Number(v.toFixed(2)) : v))}`);
        } else costs = candidateCosts(ctx);
      }
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
