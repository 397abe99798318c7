/**
 * DARTS on the device (Liu et al. 2019; NNI's defaults). Each step: an architecture step on a valid batch, then a
 * weight step on a train batch, both through the mixed supernet under w = softmax(α) per layer key (the extra
 * "zero" logit dropped after the softmax; input choices summed).
 *
 * First order: ∂L_val/∂w at the current weights → ∂/∂α (src/search/oneshot/darts.ts) → Adam.
 * Second order ("unrolled", the paper's eq. 7–8, which NNI's own implementation never applied): the virtual step
 * θ' = θ − ξ(∇θ L_train + wd·θ) is WRITTEN to the device, ∂L_val/∂w and ∇θ' L_val are taken there, then the
 * Hessian-vector product by central differences at θ ± ε∇θ' L_val (ε = 0.01/‖∇θ' L_val‖), and θ is restored
 * (with its BatchNorm statistics) before the weight step.
 *
 * @example
 * const d = dartsDriver({ order: 2 });
 */
import * as E from 'fp-ts/lib/Either.js';
import {
  type DartsOptions,
  type DartsState,
  dartsArchStep,
  dartsCheck,
  dartsDistribution,
  dartsExport,
  dartsInit,
  dartsWeights,
  decodeDartsState,
  encodeDartsState,
  hvpEpsilon,
  perturb,
  resolveDartsOptions,
  unrolledArchGrad,
  virtualStep,
} from '../../search/oneshot/darts.ts';
import type { KeyVectors } from '../../search/oneshot/types.ts';
import { type Driver, type DriverContext, EpochMeter, nonFinite, pairedBatches, shuffledBatches } from './driver.ts';
import type { StepBatch, SupernetError } from './supernet.ts';

/** Weight decay of DARTS' weight optimizer (also used by the virtual step). */
const WEIGHT_DECAY = 3e-4;

/** The second-order architecture gradient ∂L_val(θ')/∂w − ξ·(∂L_train(θ⁺)/∂w − ∂L_train(θ⁻)/∂w)/2ε (see the module comment). */
const unrolledGrad = async (ctx: DriverContext, w: KeyVectors, train: StepBatch, valid: StepBatch, xi: number): Promise<E.Either<readonly SupernetError[], { readonly grad: KeyVectors; readonly loss: number }>> => {
  const net = ctx.net;
  // ∇θ L_train first: it also binds every parameter of the mixed supernet, so the read below sees them all.
  const gTrain = await net.mixedStep(train, w, { lr: 0, update: false, paramGrads: true });
  if (E.isLeft(gTrain)) return gTrain;
  const saved = await net.readParams();
  if (E.isLeft(saved)) return saved;
  const restore = async (): Promise<E.Either<readonly SupernetError[], void>> => net.writeParams(saved.right);
  const fail = async <T>(r: E.Either<readonly SupernetError[], T>): Promise<E.Either<readonly SupernetError[], never>> => {
    await restore();
    return r as E.Either<readonly SupernetError[], never>;
  };
  const theta = new Map([...gTrain.right.paramGrads!.keys()].map((p) => [p, saved.right.get(p)!] as const));
  const w1 = await net.writeParams(virtualStep(theta, gTrain.right.paramGrads!, xi, WEIGHT_DECAY));
  if (E.isLeft(w1)) return fail(w1);
  const atVirtual = await net.mixedStep(valid, w, { lr: 0, update: false, paramGrads: true });
  if (E.isLeft(atVirtual)) return fail(atVirtual);
  const dw = atVirtual.right.paramGrads!;
  const eps = hvpEpsilon(dw);
  const side = async (sign: 1 | -1): Promise<E.Either<readonly SupernetError[], KeyVectors>> => {
    const wrote = await net.writeParams(perturb(theta, dw, sign * eps));
    if (E.isLeft(wrote)) return wrote;
    const r = await net.mixedStep(train, w, { lr: 0, update: false });
    return E.isLeft(r) ? r : E.right(r.right.choiceGrads);
  };
  const plus = await side(1);
  if (E.isLeft(plus)) return fail(plus);
  const minus = await side(-1);
  if (E.isLeft(minus)) return fail(minus);
  const back = await restore();
  if (E.isLeft(back)) return back;
  return E.right({ grad: unrolledArchGrad(atVirtual.right.choiceGrads, plus.right, minus.right, xi, eps), loss: atVirtual.right.loss });
};

/** The DARTS driver; `options` as `DartsOptions` (order 1 or 2, the architecture optimizer). */
export const dartsDriver = (options: Partial<DartsOptions> = {}): Driver<DartsState> => {
  const o = resolveDartsOptions(options);
  return {
    name: 'darts',
    options: o as unknown as Readonly<Record<string, unknown>>,
    supports: ['layer', 'input'],
    weights: {
      optimizer: { kind: 'sgd', lr: 0.025, momentum: 0.9, weightDecay: WEIGHT_DECAY },
      clipGradNorm: 5,
      schedule: { kind: 'cosine', tMax: 1, etaMin: 1e-3, per: 'epoch' },
    },
    check: (space) => dartsCheck(space, o),
    init: (space, rng) => dartsInit(space, rng, o),
    async epoch(ctx, state0, epoch, rng0) {
      let state = state0;
      const t = shuffledBatches(ctx.train, ctx.batchSize, rng0);
      const v = shuffledBatches(ctx.valid, ctx.batchSize, t.rng);
      const count = Math.min(t.count, v.count);
      ctx.progress.epochStart(epoch + 1, ctx.epochs, count);
      const meter = new EpochMeter(ctx.net.classes, count, ctx.progress);
      const lr = ctx.lr(epoch);
      let archLoss = 0;
      let steps = 0;
      for (const [train, valid] of pairedBatches(t.batches, v.batches)) {
        const w = dartsWeights(ctx.space, state);
        let dLdw: KeyVectors;
        if (o.order === 2) {
          const g = await unrolledGrad(ctx, w, train, valid, o.unrolledLr ?? lr);
          if (E.isLeft(g)) return g;
          dLdw = g.right.grad;
          archLoss += g.right.loss;
        } else {
          const g = await ctx.net.mixedStep(valid, w, { lr, update: false });
          if (E.isLeft(g)) return g;
          dLdw = g.right.choiceGrads;
          archLoss += g.right.loss;
        }
        state = dartsArchStep(ctx.space, state, dLdw);
        const step = await ctx.net.mixedStep(train, dartsWeights(ctx.space, state), { lr });
        if (E.isLeft(step)) return step;
        if (!Number.isFinite(step.right.loss)) return E.left([nonFinite('weight', step.right.loss)]);
        meter.add(step.right.loss, step.right.logits, train.labels, ctx.batchSize);
        steps++;
      }
      return E.right({ state, rng: v.rng, metrics: { trainLoss: meter.loss, trainAccuracy: meter.accuracy, archLoss: steps === 0 ? NaN : archLoss / steps, lr } });
    },
    distribution: (space, s) => dartsDistribution(space, s),
    export: (space, s) => dartsExport(space, s),
    encode: (s) => encodeDartsState(s),
    decode: (space, json) => decodeDartsState(space, json),
  };
};
