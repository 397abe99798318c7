/**
 * FBNet on the device (Wu et al. 2019; src/search/oneshot/fbnet.ts). Each step, as DARTS: an architecture step on
 * a valid batch, then a weight step on a train batch, each running the mixed supernet with its own Gumbel-softmax
 * SOFT mask m = softmax((θ + g)/τ) (FBNet's forward; GDAS would run the hard one-hot). The architecture step's loss
 * is CE·α·log(LAT)^β with LAT from the latency lookup table: the `latencyTable` file given (`nasgraph latency -o`),
 * a table passed in (tests), or else measured on this device before the first epoch (cached per adapter:
 * src/runtime/oneshot/latency-table.ts). τ starts at 5 and is multiplied by 0.956 after each epoch; `warmup` epochs
 * train the weights only. Weights: SGD 0.1, momentum 0.9, wd 1e-4, cosine (the paper), gradients clipped at 5.
 *
 * @example
 * const d = fbnetDriver({ beta: 0.6 }, { latencyTable: 'latency.json' });
 */
import * as E from 'fp-ts/lib/Either.js';
import { gdasSample } from '../../search/oneshot/gdas.ts';
import {
  type FbnetOptions,
  type FbnetState,
  type LatencyLookup,
  decodeFbnetState,
  encodeFbnetState,
  fbnetArchStep,
  fbnetCheck,
  fbnetDistribution,
  fbnetExport,
  fbnetInit,
  fbnetLatency,
  fbnetTemperature,
  latencyLookupErrors,
  resolveFbnetOptions,
} from '../../search/oneshot/fbnet.ts';
import { type Driver, type DriverContext, EpochMeter, nonFinite, pairedBatches, shuffledBatches } from './driver.ts';
import { lookupOf, measureLatencyTable, readLatencyTable } from './latency-table.ts';
import type { SupernetError } from './supernet.ts';

/** Options of the FBNet driver (beyond the algorithm's). */
export interface FbnetDriverOptions {
  /** Epochs of weight-only training before θ starts to move (the paper: 10 of 90). Default 0. */
  readonly warmup?: number;
  /** A table file written by `nasgraph latency -o FILE`; default: measure on the device (cached). */
  readonly latencyTable?: string;
  /** The latency cache directory (default $NASGRAPH_CACHE_DIR, $XDG_CACHE_HOME/nasgraph or ~/.cache/nasgraph). */
  readonly latencyCache?: string;
  /** A table given directly (tests, benchmarks): per layer key, µs per candidate. */
  readonly lookup?: LatencyLookup;
}

/** The table for this search: `o.lookup`, the file, or measured on the device. */
const tableFor = async (ctx: DriverContext, o: FbnetDriverOptions): Promise<E.Either<readonly SupernetError[], LatencyLookup>> => {
  const model = (m: string): SupernetError => ({ tag: 'Model', message: `fbnet: ${m}` });
  if (o.lookup !== undefined) {
    const errors = latencyLookupErrors(ctx.space, o.lookup);
    return errors.length > 0 ? E.left(errors.map(model)) : E.right(o.lookup);
  }
  if (o.latencyTable !== undefined) {
    const t = readLatencyTable(o.latencyTable, ctx.space);
    return E.isLeft(t) ? E.left(t.left.map(model)) : E.right(lookupOf(t.right));
  }
  if (ctx.gpu === undefined) return E.left([model('no latency table given and no device to measure one on')]);
  ctx.progress.note(`fbnet: latency lookup table on ${ctx.gpu.adapterInfo.name} (cached per adapter)`);
  const t = await measureLatencyTable(ctx.gpu, ctx.graph, { model: 'search', batch: ctx.batchSize, ...(o.latencyCache === undefined ? {} : { cacheDir: o.latencyCache }) });
  if (E.isLeft(t)) return E.left(t.left.map(model));
  return E.right(lookupOf(t.right));
};

/** The FBNet driver. */
export const fbnetDriver = (options: FbnetOptions = {}, d: FbnetDriverOptions = {}): Driver<FbnetState> => {
  const o = resolveFbnetOptions(options);
  const warmup = d.warmup ?? 0;
  let table: LatencyLookup | undefined;
  return {
    name: 'fbnet',
    options: { ...o, warmup, latencyTable: d.latencyTable ?? null } as unknown as Readonly<Record<string, unknown>>,
    supports: ['layer'],
    weights: { optimizer: { kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 1e-4 }, clipGradNorm: 5, schedule: { kind: 'cosine', tMax: 1, etaMin: 0, per: 'epoch' } },
    check: (space) => fbnetCheck(space, o),
    init: (space, rng) => fbnetInit(space, rng, o),
    async epoch(ctx, state0, epoch, rng0) {
      if (table === undefined) {
        const got = await tableFor(ctx, d);
        if (E.isLeft(got)) return got;
        table = got.right;
      }
      let state = state0;
      const t = shuffledBatches(ctx.train, ctx.batchSize, rng0);
      const v = shuffledBatches(ctx.valid, ctx.batchSize, t.rng);
      let rng = v.rng;
      const count = Math.min(t.count, v.count);
      const tau = fbnetTemperature(epoch, o);
      const lr = ctx.lr(epoch);
      const searching = epoch >= warmup;
      ctx.progress.epochStart(epoch + 1, ctx.epochs, count);
      const meter = new EpochMeter(ctx.net.classes, count, ctx.progress);
      let archLoss = 0;
      let sampledLatency = 0;
      let steps = 0;
      for (const [train, valid] of pairedBatches(t.batches, v.batches)) {
        if (ctx.signal?.aborted === true) break;
        if (searching) {
          const a = gdasSample(ctx.space, state.alphas, tau, rng);
          rng = a.rng;
          const g = await ctx.net.mixedStep(valid, a.soft, { lr, update: false });
          if (E.isLeft(g)) return g;
          const step = fbnetArchStep(state, a.soft, tau, g.right.loss, g.right.choiceGrads, table);
          if (!Number.isFinite(step.loss)) return E.left([nonFinite('architecture', step.loss)]);
          state = step.state;
          archLoss += step.loss;
          sampledLatency += step.latency;
        }
        const w = gdasSample(ctx.space, state.alphas, tau, rng);
        rng = w.rng;
        const step = await ctx.net.mixedStep(train, w.soft, { lr });
        if (E.isLeft(step)) return step;
        if (!Number.isFinite(step.right.loss)) return E.left([nonFinite('weight', step.right.loss)]);
        meter.add(step.right.loss, step.right.logits, train.labels, ctx.batchSize);
        steps++;
      }
      const arch = fbnetExport(ctx.space, state);
      const oneHot = Object.fromEntries(ctx.space.decisions.flatMap((dec) => (dec.kind === 'layer' ? [[dec.key, dec.names.map((_, i) => (arch[dec.key]?.[0] === i ? 1 : 0))] as const] : [])));
      const metrics: Record<string, number> = {
        trainLoss: meter.loss,
        trainAccuracy: meter.accuracy,
        expectedLatencyUs: fbnetLatency(fbnetDistribution(ctx.space, state), table),
        derivedLatencyUs: fbnetLatency(oneHot, table),
        tau,
        lr,
      };
      if (searching) {
        metrics['archLoss'] = steps === 0 ? NaN : archLoss / steps;
        metrics['sampledLatencyUs'] = steps === 0 ? NaN : sampledLatency / steps;
      }
      return E.right({ state, rng, metrics });
    },
    distribution: (space, s) => fbnetDistribution(space, s),
    export: (space, s) => fbnetExport(space, s),
    encode: (s) => encodeFbnetState(s),
    decode: (space, json) => decodeFbnetState(space, json),
  };
};
