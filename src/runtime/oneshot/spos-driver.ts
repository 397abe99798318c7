/**
 * SPOS on the device (Guo et al. 2020; NNI's defaults). Training: every step trains ONE uniformly sampled path —
 * optionally rejection-sampled into MACs bins between a lower and an upper bound — as its own subnet, weights
 * shared by path (`sampledStep`). Search (`finish`, after the last epoch): the evolutionary search of
 * src/search/oneshot/spos-evolution.ts over the trained supernet, each candidate scored by its accuracy on the
 * validation set with the shared weights after its BatchNorm statistics are re-estimated on `recalibrationBatches`
 * training batches; candidates over `macsLimit` are never proposed.
 *
 * @example
 * const d = sposDriver({ generations: 20, population: 50 }, { macsLimit: 2e6, bins: { lower: 0.5e6, upper: 2e6, bins: 3 } });
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import type { Architecture } from '../../ir/apply.ts';
import { architectureKey, firstArchitecture } from '../../ir/architecture.ts';
import type { SearchSpace } from '../../ir/space.ts';
import { type ArchSampler, type FlopsBins, checkFlopsBins, flopsBinSampler, uniformSampler } from '../../search/oneshot/spos.ts';
import { type SposEvolutionOptions, type SposState, sposEvolution } from '../../search/oneshot/spos-evolution.ts';
import type { KeyVectors } from '../../search/oneshot/types.ts';
import { type StrategyError, architectureCodec, decodeWith, optionError, rngCodec, spaceFingerprint } from '../../search/strategy.ts';
import { subset } from '../data/batches.ts';
import { type Driver, type DriverContext, EpochMeter, type EpochOutcome, nonFinite, shuffledBatches } from './driver.ts';

/** How many candidates the evolution proposes at most (its generations' sizes summed; fewer in a small space). */
export const evolutionBudget = (o: Omit<SposEvolutionOptions, 'constraint'>): number => {
  const population = o.population ?? 50;
  const perGeneration = Math.max(population, (o.mutations ?? 25) + (o.crossovers ?? 25));
  return population + Math.max(0, (o.generations ?? 20) - 1) * perGeneration;
};
import type { SupernetError } from './supernet.ts';

export interface SposDriverOptions {
  /** Never propose (in the search) an architecture with more multiply-accumulates per image than this. */
  readonly macsLimit?: number;
  /** Train paths rejection-sampled into MACs bins (default: uniform paths). */
  readonly bins?: FlopsBins;
  /** Training batches each candidate's BatchNorm statistics are re-estimated on (default 20). */
  readonly recalibrationBatches?: number;
  /** Validation images each candidate is scored on (default: the whole validation set). */
  readonly evalSize?: number;
}

const memberCodec = t.type({ arch: architectureCodec, accuracy: t.number });
/** The evolution in progress (checkpointed after every generation, so an interrupted search resumes inside it). */
const searchCodec = t.type({ evolution: t.unknown, rng: rngCodec, calibration: rngCodec });
const stateCodec = t.intersection([
  t.type({ strategy: t.literal('spos'), space: t.string, best: t.union([memberCodec, t.null]), evaluated: t.number }),
  t.partial({ search: t.union([searchCodec, t.null]) }),
]);
export type SposDriverState = t.TypeOf<typeof stateCodec>;

/** The SPOS driver (weights: SGD 0.015 — the paper's 0.5 at batch 1024 scaled to batch 32 —, momentum 0.9, wd 4e-5, cosine to 0, clip 5). */
export const sposDriver = (evolution: Omit<SposEvolutionOptions, 'constraint'> = {}, d: SposDriverOptions = {}): Driver<SposDriverState> => {
  const recal = d.recalibrationBatches ?? 20;
  let sampler: ArchSampler | undefined;
  const samplerFor = (ctx: DriverContext): ArchSampler => {
    if (sampler !== undefined) return sampler;
    const cache = new Map<string, number>();
    const cost = (arch: Architecture): number => {
      const k = architectureKey(arch);
      const hit = cache.get(k);
      if (hit !== undefined) return hit;
      const c = ctx.macs(arch);
      cache.set(k, c);
      return c;
    };
    sampler = d.bins === undefined ? uniformSampler : flopsBinSampler(d.bins, cost);
    return sampler;
  };
  const optionErrors = (): readonly StrategyError[] => [
    ...(d.bins === undefined ? [] : checkFlopsBins(d.bins).map((e): StrategyError => ({ tag: 'InvalidOption', strategy: 'spos', option: `bins.${e.tag === 'InvalidBins' ? e.option : ''}`, message: e.message }))),
    ...optionError('spos', 'recalibrationBatches', Number.isInteger(recal) && recal >= 0, `must be an integer ≥ 0, got ${recal}`),
    ...optionError('spos', 'macsLimit', d.macsLimit === undefined || (Number.isFinite(d.macsLimit) && d.macsLimit > 0), `must be a positive number, got ${d.macsLimit}`),
    ...optionError('spos', 'evalSize', d.evalSize === undefined || (Number.isInteger(d.evalSize) && d.evalSize >= 1), `must be a positive integer, got ${d.evalSize}`),
  ];
  return {
    name: 'spos',
    options: { ...evolution, ...d } as unknown as Readonly<Record<string, unknown>>,
    supports: ['layer', 'input', 'input-any'],
    // Clipped as DARTS and ENAS: a fresh path every step makes single gradients large (without it the supernet of
    // examples/fashion-cells.ts diverged: train loss above ln 10 after 2 epochs).
    // The paper's 0.5 at batch 1024, scaled linearly to batch 32 (0.05 diverged on examples/fashion-cells.ts).
    weights: { optimizer: { kind: 'sgd', lr: 0.015, momentum: 0.9, weightDecay: 4e-5 }, clipGradNorm: 5, schedule: { kind: 'cosine', tMax: 1, etaMin: 0, per: 'epoch' } },
    check: (space) => [...sposEvolution(evolution).check(space), ...optionErrors()],
    init: (space, rng) => [{ strategy: 'spos', space: spaceFingerprint(space), best: null, evaluated: 0 }, rng],
    async epoch(ctx, state, epoch, rng0) {
      const t0 = shuffledBatches(ctx.train, ctx.batchSize, rng0);
      let rng = t0.rng;
      const lr = ctx.lr(epoch);
      const sample = samplerFor(ctx);
      ctx.progress.epochStart(epoch + 1, ctx.epochs, t0.count);
      const meter = new EpochMeter(ctx.net.classes, t0.count, ctx.progress);
      for (const b of t0.batches) {
        const s = sample(ctx.space, rng);
        if (E.isLeft(s)) return E.left(s.left.map((e) => ({ tag: 'Model', message: `spos: ${e.message}` })));
        const [arch, next] = s.right;
        rng = next;
        const step = await ctx.net.sampledStep(b, arch, { lr });
        if (E.isLeft(step)) return step;
        if (!Number.isFinite(step.right.loss)) return E.left([nonFinite('weight', step.right.loss)]);
        meter.add(step.right.loss, step.right.logits, b.labels, ctx.batchSize);
      }
      return E.right({ state, rng, metrics: { trainLoss: meter.loss, trainAccuracy: meter.accuracy, lr } });
    },
    async finish(ctx, state, rng0) {
      const limit = d.macsLimit;
      const strategy = sposEvolution({ ...evolution, ...(limit === undefined ? {} : { constraint: (a: Architecture) => ctx.macs(a) <= limit }) });
      const valid = d.evalSize === undefined || d.evalSize >= ctx.valid.n ? ctx.valid : subset(ctx.valid, Array.from({ length: d.evalSize }, (_, i) => i));
      // Resumed mid-evolution: the population, the generator and the calibration batches' order come back from the
      // checkpoint of the last finished generation.
      const saved = state.search ?? null;
      let st: SposState;
      if (saved === null) st = strategy.init(ctx.space);
      else {
        const decoded = strategy.decodeState(ctx.space, saved.evolution);
        if (E.isLeft(decoded)) return E.left(decoded.left.map((e) => ({ tag: 'Model', message: `spos: the checkpointed evolution: ${e.message}` })));
        st = decoded.right;
      }
      const calibrationRng = saved === null ? rng0 : saved.calibration;
      let best = state.best;
      let evaluated = state.evaluated;
      const calib = shuffledBatches(ctx.train, ctx.batchSize, calibrationRng);
      let rng = saved === null ? calib.rng : saved.rng;
      const calibration = [...calib.batches].slice(0, recal).map((b) => ({ images: b.images.slice(), labels: Array.from(b.labels) }));
      const scoreOf = async (arch: Architecture): Promise<E.Either<readonly SupernetError[], number>> => {
        const r = await ctx.net.recalibrate(arch, calibration);
        if (E.isLeft(r)) return r;
        const s = await ctx.net.evaluate(valid, { arch });
        return E.isLeft(s) ? s : E.right(s.right.accuracy);
      };
      const budget = evolutionBudget(evolution);
      const total = Math.max(evaluated, ctx.space.size < BigInt(budget) ? Number(ctx.space.size) : budget);
      const outcome = (aborted: boolean): EpochOutcome<SposDriverState> => ({
        state: { ...state, best, evaluated, search: { evolution: strategy.encodeState(st), rng, calibration: calibrationRng } },
        rng,
        metrics: { candidates: evaluated, bestValidAccuracy: best?.accuracy ?? NaN },
        ...(aborted ? { aborted } : {}),
      });
      ctx.progress.phaseStart?.('evolution', total, evaluated);
      for (;;) {
        const p = strategy.propose(ctx.space, st, 64, rng);
        st = p.state;
        rng = p.rng;
        if (p.archs.length === 0) break;
        const results: { arch: Architecture; objective: number }[] = [];
        for (const arch of p.archs) {
          const acc = await scoreOf(arch);
          if (E.isLeft(acc)) return acc;
          evaluated++;
          results.push({ arch, objective: acc.right });
          if (best === null || acc.right > best.accuracy) best = { arch: arch as Record<string, number[]>, accuracy: acc.right };
          ctx.progress.phaseStep?.(evaluated, Math.max(total, evaluated), `best ${best === null ? '—' : (100 * best.accuracy).toFixed(2)}%`);
        }
        st = strategy.observe(ctx.space, st, results);
        if (ctx.checkpoint !== undefined) {
          const c = await ctx.checkpoint(outcome(false).state);
          if (E.isLeft(c)) return c;
        }
        if (p.exhausted) break;
        if (ctx.signal?.aborted === true) {
          ctx.progress.phaseEnd?.();
          return E.right(outcome(true));
        }
      }
      ctx.progress.phaseEnd?.();
      return E.right(outcome(false));
    },
    distribution: (space: SearchSpace): KeyVectors =>
      Object.fromEntries(space.decisions.map((dd) => [dd.key, dd.names.map(() => 1 / dd.names.length)] as const)),
    export: (space, s) => (s.best === null ? firstArchitecture(space) : s.best.arch),
    encode: (s) => stateCodec.encode(s),
    decode: (space, json) => decodeWith('spos', stateCodec as unknown as t.Type<SposDriverState, unknown, unknown>, space, json),
  };
};
