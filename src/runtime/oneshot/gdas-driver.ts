/**
 * GDAS on the device (Dong & Yang 2019): each step draws Gumbel noise g and runs the mixed supernet under the HARD
 * one-hot of softmax((α + g)/τ) — the forward pass is exactly the sampled architecture's — while the gradient to α
 * goes through the SOFT sample (straight-through; src/search/oneshot/gdas.ts). τ falls linearly from 10 to 0.1
 * over the epochs. As DARTS: an architecture step on a valid batch, then a weight step on a train batch, each with
 * its own sample.
 *
 * The mixed supernet computes every candidate (the paper computes only the sampled one and passes the others'
 * gate values through); here ∂L/∂h_j is exact for every j, at the cost of computing the unsampled candidates.
 *
 * @example
 * const d = gdasDriver({ tauMax: 10, tauMin: 0.1 });
 */
import * as E from 'fp-ts/lib/Either.js';
import {
  type GdasOptions,
  type GdasState,
  decodeGdasState,
  encodeGdasState,
  gdasArchStep,
  gdasCheck,
  gdasDistribution,
  gdasExport,
  gdasInit,
  gdasSample,
  gdasTemperature,
  resolveGdasOptions,
} from '../../search/oneshot/gdas.ts';
import { type Driver, EpochMeter, nonFinite, pairedBatches, shuffledBatches } from './driver.ts';

/** The GDAS driver (weights as DARTS: SGD 0.025, momentum 0.9, wd 3e-4, cosine to 1e-3, clip 5). */
export const gdasDriver = (options: GdasOptions = {}): Driver<GdasState> => {
  const o = resolveGdasOptions(options);
  return {
    name: 'gdas',
    options: o as unknown as Readonly<Record<string, unknown>>,
    supports: ['layer', 'input'],
    weights: { optimizer: { kind: 'sgd', lr: 0.025, momentum: 0.9, weightDecay: 3e-4 }, clipGradNorm: 5, schedule: { kind: 'cosine', tMax: 1, etaMin: 1e-3, per: 'epoch' } },
    check: (space) => gdasCheck(space, o),
    init: (space, rng) => gdasInit(space, rng, o),
    async epoch(ctx, state0, epoch, rng0) {
      let state = state0;
      const t = shuffledBatches(ctx.train, ctx.batchSize, rng0);
      const v = shuffledBatches(ctx.valid, ctx.batchSize, t.rng);
      let rng = v.rng;
      const count = Math.min(t.count, v.count);
      const tau = gdasTemperature(epoch, ctx.epochs, o);
      const lr = ctx.lr(epoch);
      ctx.progress.epochStart(epoch + 1, ctx.epochs, count);
      const meter = new EpochMeter(ctx.net.classes, count, ctx.progress);
      let archLoss = 0;
      let steps = 0;
      for (const [train, valid] of pairedBatches(t.batches, v.batches)) {
        const a = gdasSample(ctx.space, state.alphas, tau, rng);
        const g = await ctx.net.mixedStep(valid, a.weights, { lr, update: false });
        if (E.isLeft(g)) return g;
        archLoss += g.right.loss;
        state = gdasArchStep(ctx.space, state, a.soft, tau, g.right.choiceGrads);
        const w = gdasSample(ctx.space, state.alphas, tau, a.rng);
        rng = w.rng;
        const step = await ctx.net.mixedStep(train, w.weights, { lr });
        if (E.isLeft(step)) return step;
        if (!Number.isFinite(step.right.loss)) return E.left([nonFinite('weight', step.right.loss)]);
        meter.add(step.right.loss, step.right.logits, train.labels, ctx.batchSize);
        steps++;
      }
      return E.right({ state, rng, metrics: { trainLoss: meter.loss, trainAccuracy: meter.accuracy, archLoss: steps === 0 ? NaN : archLoss / steps, tau, lr } });
    },
    distribution: (space, s) => gdasDistribution(space, s),
    export: (space, s) => gdasExport(space, s),
    encode: (s) => encodeGdasState(s),
    decode: (space, json) => decodeGdasState(space, json),
  };
};
