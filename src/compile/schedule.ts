/**
 * Learning-rate schedules as pure functions of the optimizer step: the training loop asks for the rate of each
 * step and writes it into the optimizer's per-step scalar buffer, so a schedule never recompiles a Program.
 *
 * The shapes follow PyTorch's schedulers as they are usually driven (`scheduler.step()` once per epoch):
 * - `constant`: the base rate;
 * - `step`: StepLR, `base · gamma^⌊epoch / stepSize⌋`;
 * - `cosine`: CosineAnnealingLR in its closed form, `etaMin + (base − etaMin)(1 + cos(π·T/tMax))/2` with T the
 *   epoch (or the step, with `per: 'step'`);
 * - an optional linear warm-up over the first `warmup.steps` optimizer steps (LinearLR chained with the
 *   schedule): the rate is multiplied by `startFactor + (1 − startFactor)·t / steps`, reaching 1 at `steps`.
 *
 * @example
 * const s: LrSchedule = { kind: 'cosine', tMax: 10, etaMin: 1e-4, warmup: { steps: 100 } };
 * learningRate(s, 0.1, { step: 250, stepsPerEpoch: 50 }); // epoch 5 of 10, after warm-up: 0.05005
 */
import * as E from 'fp-ts/lib/Either.js';

/** A linear warm-up over the first `steps` optimizer steps, from `startFactor` times the scheduled rate up to it. */
export interface Warmup {
  readonly steps: number;
  /** The factor of step 0; default 0 (PyTorch's LinearLR defaults to 1/3; warm-ups in papers start near 0). */
  readonly startFactor?: number;
}

/** Whether the schedule advances once per epoch (PyTorch's usual `scheduler.step()` placement) or per step. */
export type ScheduleUnit = 'epoch' | 'step';

export type LrSchedule =
  | { readonly kind: 'constant'; readonly warmup?: Warmup }
  | { readonly kind: 'step'; readonly stepSize: number; readonly gamma: number; readonly per?: ScheduleUnit; readonly warmup?: Warmup }
  | { readonly kind: 'cosine'; readonly tMax: number; readonly etaMin?: number; readonly per?: ScheduleUnit; readonly warmup?: Warmup };

/** Where training is: the optimizer step (0-based, counting every step of every epoch) and the epoch length. */
export interface SchedulePosition {
  readonly step: number;
  readonly stepsPerEpoch: number;
}

export interface ScheduleError {
  readonly tag: 'InvalidSchedule';
  readonly field: string;
  readonly message: string;
}

const unitOf = (s: LrSchedule): ScheduleUnit => (s.kind === 'constant' ? 'step' : s.per ?? 'epoch');

/** The warm-up factor at step `t` (1 when there is no warm-up or it is over). */
export const warmupFactor = (w: Warmup | undefined, t: number): number => {
  if (w === undefined || w.steps <= 0 || t >= w.steps) return 1;
  const start = w.startFactor ?? 0;
  return start + ((1 - start) * t) / w.steps;
};

/**
 * The learning rate of optimizer step `pos.step` under `schedule`, from the base rate `base`.
 *
 * @example
 * learningRate({ kind: 'step', stepSize: 2, gamma: 0.1 }, 1, { step: 5, stepsPerEpoch: 2 }); // epoch 2 → 0.1
 */
export const learningRate = (schedule: LrSchedule, base: number, pos: SchedulePosition): number => {
  const t = unitOf(schedule) === 'epoch' ? Math.floor(pos.step / Math.max(1, pos.stepsPerEpoch)) : pos.step;
  const warm = warmupFactor(schedule.warmup, pos.step);
  switch (schedule.kind) {
    case 'constant':
      return base * warm;
    case 'step':
      return base * schedule.gamma ** Math.floor(t / schedule.stepSize) * warm;
    case 'cosine': {
      const etaMin = schedule.etaMin ?? 0;
      return (etaMin + ((base - etaMin) * (1 + Math.cos((Math.PI * t) / schedule.tMax))) / 2) * warm;
    }
    default: {
      const never: never = schedule;
      throw new Error(`unknown schedule ${JSON.stringify(never)}`);
    }
  }
};

/**
 * Every problem of a schedule (non-positive step sizes or tMax, negative gamma or etaMin, a bad warm-up).
 *
 * @example
 * checkSchedule({ kind: 'step', stepSize: 0, gamma: 0.1 }); // left([{ field: 'stepSize', … }])
 */
export const checkSchedule = (s: LrSchedule): E.Either<readonly ScheduleError[], LrSchedule> => {
  const errors: ScheduleError[] = [];
  const err = (field: string, why: string): void => void errors.push({ tag: 'InvalidSchedule', field, message: `${s.kind} schedule: ${field} ${why}` });
  if (s.kind === 'step') {
    if (!(Number.isInteger(s.stepSize) && s.stepSize > 0)) err('stepSize', `must be a positive integer, got ${s.stepSize}`);
    if (!(Number.isFinite(s.gamma) && s.gamma >= 0)) err('gamma', `must be a finite non-negative number, got ${s.gamma}`);
  }
  if (s.kind === 'cosine') {
    if (!(Number.isInteger(s.tMax) && s.tMax > 0)) err('tMax', `must be a positive integer, got ${s.tMax}`);
    if (s.etaMin !== undefined && !(Number.isFinite(s.etaMin) && s.etaMin >= 0)) err('etaMin', `must be a finite non-negative number, got ${s.etaMin}`);
  }
  if (s.warmup !== undefined) {
    if (!(Number.isInteger(s.warmup.steps) && s.warmup.steps >= 0)) err('warmup.steps', `must be a non-negative integer, got ${s.warmup.steps}`);
    const f = s.warmup.startFactor;
    if (f !== undefined && !(Number.isFinite(f) && f >= 0 && f <= 1)) err('warmup.startFactor', `must be in [0, 1], got ${f}`);
  }
  return errors.length > 0 ? E.left(errors) : E.right(s);
};
