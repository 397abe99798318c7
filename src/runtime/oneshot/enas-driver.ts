/**
 * ENAS on the device (Pham et al. 2018; NNI's defaults). Each epoch has two phases:
 * 1. child phase: one step per train batch on the shared weights, each with a FRESH architecture drawn from the
 *    controller, trained as its own subnet (`sampledStep`: weights shared by path through the parameter pool);
 * 2. controller phase: architectures drawn from the controller are scored on valid batches with the shared weights
 *    (eval form: BatchNorm running statistics), reward = that batch's accuracy; every `samplesPerStep` of them make
 *    one REINFORCE update of the LSTM (src/search/oneshot/enas.ts: entropy bonus, moving-average baseline, skip
 *    penalty for nChosen = null).
 * The controller runs on the CPU in float64: per architecture it does a few dozen 64-unit LSTM steps
 * (microseconds to a millisecond), against tens to thousands of milliseconds for the child's step on the device —
 * a compiled Program for it would cost more in dispatches and readbacks than it computes.
 *
 * @example
 * const d = enasDriver({}, { controllerSamples: 40 });
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Architecture } from '../../ir/apply.ts';
import type { Rng } from '../../ir/rng.ts';
import {
  type EnasOptions,
  type EnasSample,
  type EnasState,
  decodeEnasState,
  encodeEnasState,
  enasCheck,
  enasDistribution,
  enasExport,
  enasInit,
  enasSample,
  enasSettings,
  enasUpdate,
} from '../../search/oneshot/enas.ts';
import type { Dataset } from '../data/batches.ts';
import { type Driver, EpochMeter, nonFinite, shuffledBatches } from './driver.ts';
import type { StepBatch } from './supernet.ts';

export interface EnasDriverOptions {
  /** Architectures scored per epoch in the controller phase (default: one per valid batch, at least `samplesPerStep`). */
  readonly controllerSamples?: number;
}

/** A batch as a data set of its own, for `Supernet.evaluate`. */
export const batchDataset = (b: StepBatch, like: Dataset, n: number): Dataset => ({
  images: b.images,
  labels: Int32Array.from({ length: n }, (_, i) => b.labels[i]!),
  n,
  shape: like.shape,
  classes: like.classes,
});

/** The ENAS driver (child weights: SGD 0.05, momentum 0.9, Nesterov, wd 1e-4, cosine to 0.001, clip 5; NNI's example). */
export const enasDriver = (options: EnasOptions = {}, d: EnasDriverOptions = {}): Driver<EnasState> => {
  const settings = enasSettings(options);
  return {
    name: 'enas',
    options: { ...settings, ...(d.controllerSamples === undefined ? {} : { controllerSamples: d.controllerSamples }) } as unknown as Readonly<Record<string, unknown>>,
    supports: ['layer', 'input', 'input-any'],
    weights: { optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4 }, clipGradNorm: 5, schedule: { kind: 'cosine', tMax: 1, etaMin: 1e-3, per: 'epoch' } },
    check: (space) => enasCheck(space, options),
    init: (space, rng) => enasInit(space, rng, options),
    async epoch(ctx, state0, epoch, rng0) {
      let state = state0;
      let rng: Rng = rng0;
      const t = shuffledBatches(ctx.train, ctx.batchSize, rng);
      rng = t.rng;
      const lr = ctx.lr(epoch);
      ctx.progress.epochStart(epoch + 1, ctx.epochs, t.count);
      const meter = new EpochMeter(ctx.net.classes, t.count, ctx.progress);
      for (const b of t.batches) {
        const draw = enasSample(ctx.space, state, rng);
        rng = draw.rng;
        const step = await ctx.net.sampledStep(b, draw.arch, { lr });
        if (E.isLeft(step)) return step;
        if (!Number.isFinite(step.right.loss)) return E.left([nonFinite('child', step.right.loss)]);
        meter.add(step.right.loss, step.right.logits, b.labels, ctx.batchSize);
      }
      // Controller phase.
      const v = shuffledBatches(ctx.valid, ctx.batchSize, rng);
      rng = v.rng;
      const total = d.controllerSamples ?? Math.max(settings.samplesPerStep, v.count);
      const validBatches = [...take(v.batches, v.count)].map((b) => batchDataset(b, ctx.valid, ctx.batchSize));
      let pending: EnasSample[] = [];
      let rewardSum = 0;
      let updates = 0;
      for (let i = 0; i < total && validBatches.length > 0; i++) {
        const draw = enasSample(ctx.space, state, rng);
        rng = draw.rng;
        const scored = await ctx.net.evaluate(validBatches[i % validBatches.length]!, { arch: draw.arch });
        if (E.isLeft(scored)) return scored;
        pending.push({ arch: draw.arch, reward: scored.right.accuracy });
        rewardSum += scored.right.accuracy;
        if (pending.length === settings.samplesPerStep) {
          state = enasUpdate(ctx.space, state, pending);
          pending = [];
          updates++;
        }
      }
      if (pending.length > 0) {
        state = enasUpdate(ctx.space, state, pending);
        updates++;
      }
      return E.right({ state, rng, metrics: { trainLoss: meter.loss, trainAccuracy: meter.accuracy, meanReward: total === 0 ? NaN : rewardSum / total, controllerUpdates: updates, lr } });
    },
    distribution: (space, s) => enasDistribution(space, s),
    export: (space, s): Architecture => enasExport(space, s),
    encode: (s) => encodeEnasState(s),
    decode: (space, json) => decodeEnasState(space, json),
  };
};

/** The batches of an epoch copied out of the rotating buffers (a controller phase reuses them). */
function* take(batches: Iterable<StepBatch>, n: number): Generator<StepBatch> {
  let i = 0;
  for (const b of batches) {
    if (i++ >= n) return;
    yield { images: b.images.slice(), labels: Array.from(b.labels) };
  }
}
